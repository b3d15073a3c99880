"""The loss with one parameter moved, for every parameter at once: ``backprop verify``'s central
differences through the numpy engine's forward pass, the perturbations as one batch.

Moving the weight W⁽ˡ⁾[i, j] of a dense layer from θ to θ + d changes only the weighted sums of
unit i of that layer, by d·x[:, j] (x the layer's input), and a bias b⁽ˡ⁾[i] by d; the layers
below are untouched. So the forward pass runs once as it is, and each perturbed copy of the
network starts at layer l from that pass's z⁽ˡ⁾ with one column moved. The copies of one layer
are stacked along the samples (copy-major: K copies × n samples rows), so every later layer is
one matrix product with its unchanged parameters for all of them, and the loss is reduced per
copy. The batch is cut into chunks of at most ``CHUNK_ELEMENTS`` numbers a layer, which bounds the
memory whatever the network's size.

This holds for networks of dense layers, whose samples do not mix (``Network.scalar_form``); a
network with other kinds (batch statistics mix the samples) has its losses worked one parameter
at a time (``verification._MatrixLoss``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from backprop_cli.model import Network, Vector

Array = Any  # numpy.ndarray

CHUNK_ELEMENTS = 1 << 20
"""The most numbers (8 MiB of float64) one layer's activations of a chunk of copies may hold."""


class PerturbedLosses:
    """The loss of ``network`` on the samples with one parameter element set to another value,
    for many elements and values in one batched pass (see the module's docstring)."""

    def __init__(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector]) -> None:
        from backprop_cli.engines.base import EngineSettings
        from backprop_cli.engines.numpy_engine import NumpyEngine

        if not network.scalar_form:
            raise ValueError("batched perturbations need a network of dense layers")
        self.network = network
        self.engine = NumpyEngine(network, xs, ys, EngineSettings(len(xs)))
        with np.errstate(all="ignore"):
            self.run, _ = self.engine._forward(self.engine.X)
        self.samples = len(xs)
        self.widest = max(network.widths)

    def losses(self, path: tuple[int, ...], kind: str, cells: Sequence[tuple[int, int | None]],
               values: Sequence[float]) -> Array:
        """The loss with ``layers[path].kind[cell]`` set to ``value``, for each (cell, value) pair.

        Args:
            path: the layer's path (a dense layer at the top level).
            kind: ``weight`` or ``bias``.
            cells: (row, column) of each element; column None for a bias.
            values: the element's new value, one per cell.
        """
        (layer,) = path
        parameter = self.engine.params[(path, kind)]
        moved = np.asarray(values, dtype=np.float64) - np.asarray(
            [parameter[row] if column is None else parameter[row, column] for row, column in cells])
        rows = np.asarray([row for row, _ in cells])
        if kind == "weight":
            columns = np.asarray([column for _, column in cells])
            inputs = self.run.cache[path]["x"]
            shifts = moved[:, None] * inputs[:, columns].T  # copies × samples
        else:
            shifts = np.broadcast_to(moved[:, None], (len(cells), self.samples))
        chunk = max(1, CHUNK_ELEMENTS // (self.samples * self.widest))
        out = np.empty(len(cells))
        with np.errstate(all="ignore"):
            for lo in range(0, len(cells), chunk):
                hi = min(lo + chunk, len(cells))
                out[lo:hi] = self._chunk(layer, rows[lo:hi], shifts[lo:hi])
        return out

    def _chunk(self, layer: int, rows: Array, shifts: Array) -> Array:
        from backprop_cli.layers.base import NumpyRun

        copies = len(rows)
        cache = self.run.cache[(layer,)]
        z = np.repeat(cache["z"][None], copies, axis=0)  # copies × samples × units
        z[np.arange(copies), :, rows] += shifts
        z = z.reshape(copies * self.samples, -1)
        out = cache["f"].forward(z)
        run = NumpyRun(self.engine.params)
        layers = self.network.layers
        for index in range(layer + 1, len(layers)):
            out = layers[index].np_forward(run, (index,), out)
        last = run.cache.get((len(layers) - 1,), {}).get("z", z)
        return self.engine.copy_losses(last, out, copies)
