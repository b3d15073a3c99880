"""The fused numba engine for dense networks of any size (``--backend numba`` past the scalar one's).

The numba engine compiles the compiled engine's straight-line step, a line for every weight, so
its compile time grows with the network; this one runs any dense network through the same few
functions (``fused_kernels.py``), compiled once per machine and kept by numba's own cache: the
network is data (a flat parameter array, widths, offsets, codes), the epoch loop, the batches,
the layers' matrix loops, the loss and the optimizer's update all inside one call. It trains what
the matrix form of a dense network trains with these pieces (anything else is refused in one
line, naming the backend that trains it):

- activations: identity, sigmoid, tanh, relu, leaky_relu (0.01), softmax on the output layer;
- losses: mse, sse, half_sse, bce (PyTorch's clamps), cross_entropy from the logits;
- optimizers: sgd, momentum, adam, adamw (weight decay included), in torch.optim's order;
- batches in the order given, in float64 or float32 (the arithmetic stays in the dtype asked for).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from backprop_cli import losses
from backprop_cli.engines import ACTIVATIONS, CHUNK, LOSSES, OPTIMIZERS, REDUCTIONS, unsupported
from backprop_cli.engines.base import Engine, EngineSettings, Logged, logged_mask, to_floats
from backprop_cli.errors import BackpropError
from backprop_cli.model import Network, OptimizerSlots, Vector


class FusedEngine(Engine):
    """Any dense network through numba functions compiled once; see the module's docstring."""

    name = "numba"

    def __init__(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
                 settings: EngineSettings) -> None:
        import importlib.util

        if importlib.util.find_spec("numba") is None:
            raise BackpropError("backend: numba is not installed; pip install 'backprop-cli[fast]',"
                                " or use --backend numpy")
        super().__init__(network, xs, ys, settings)
        reason = unsupported(network, settings)
        if reason is not None:
            raise BackpropError(f"backend: the numba engine trains dense networks of its activations, losses"
                                f" and optimizers; {reason}")
        import numpy as np

        import backprop_cli.engines.fused_kernels as kernels

        self.kernels = kernels
        self.cache_folder = kernels.keep()
        """Where numba keeps the machine code (None: compiled in memory)."""
        dtype = self.np_dtype = np.dtype(settings.dtype)
        layers = network.dense_layers
        sizes = [network.inputs, *(len(layer.weight) for layer in layers)]
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.uoff = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        woff, boff, flat, trainable = [], [], [], []
        offset = 0
        for layer in layers:
            weight = np.asarray(layer.weight, dtype=np.float64)
            woff.append(offset)
            flat.append(weight.ravel())
            trainable.append(np.ones(weight.size, dtype=np.bool_))
            offset += weight.size
            if layer.bias is None:
                boff.append(-1)
            else:
                boff.append(offset)
                flat.append(np.asarray(layer.bias, dtype=np.float64))
                trainable.append(np.full(len(layer.bias), not layer.freeze_bias, dtype=np.bool_))
                offset += len(layer.bias)
        self.woff, self.boff = np.asarray(woff, dtype=np.int64), np.asarray(boff, dtype=np.int64)
        self.params = np.concatenate(flat).astype(dtype)
        self.trainable = np.concatenate(trainable)
        self.acts = np.asarray([ACTIVATIONS[layer.activation] for layer in layers], dtype=np.int64)
        self.code = int(self.acts[-1])
        loss = losses.of(network)
        self.loss_code, factor = LOSSES[network.loss]
        self.reduction = REDUCTIONS[loss.reduction]
        optimizer = network.optimizer
        self.optimizer = OPTIMIZERS[optimizer.name]
        first = optimizer.momentum if optimizer.name == "momentum" else optimizer.beta1
        self.consts = np.asarray([network.lr, first, optimizer.beta2, optimizer.eps, optimizer.weight_decay,
                                  factor, 0.0], dtype=dtype)
        self.M, self.V = np.zeros_like(self.params), np.zeros_like(self.params)
        self.G = np.zeros_like(self.params)
        self.steps = 0
        self.XT = np.ascontiguousarray(np.asarray(xs, dtype=dtype).reshape(self.samples, -1).T)
        self.YT = np.ascontiguousarray(np.asarray(ys, dtype=dtype).reshape(self.samples, -1).T)
        width = min(CHUNK, self.samples)
        self.A = np.zeros((int(self.uoff[-1]), width), dtype=dtype)
        self.D = np.zeros_like(self.A)
        self.P = np.zeros((network.outputs, width), dtype=dtype)
        self.S = np.zeros((network.outputs + 5, width))  # float64 scratch: softmax's and exp's rows
        self._warm_up()

    def _layout(self) -> tuple[Any, ...]:
        return self.sizes, self.acts, self.woff, self.boff, self.uoff

    def _warm_up(self) -> None:
        """Compile (or load from numba's cache) every function now, rather than in the first epoch:
        one epoch on the first sample with copies of the state."""
        import numpy as np

        one = self.XT[:, :1].copy(), self.YT[:, :1].copy()
        copies = self.params.copy(), self.M.copy(), self.V.copy(), self.G.copy()
        with np.errstate(all="ignore"):
            self._train(*copies, 0, one, 1, np.ones(1, dtype=np.bool_), np.zeros(1))
            self.kernels.loss_of(copies[0], *self._layout(), self.code, self.loss_code, self.reduction,
                                 self.consts, *one, self.A, self.D, self.P, self.S)
            self.kernels.predict(copies[0], *self._layout(), self.code, one[0], self.A, self.P, self.S,
                                 np.zeros((1, self.network.outputs), dtype=self.np_dtype))

    def _train(self, params: Any, M: Any, V: Any, G: Any, step: int, data: tuple[Any, Any], count: int,
               mask: Any, history: Any) -> int:
        steps: int = self.kernels.train(
            params, M, V, G, step, *self._layout(), self.code, self.loss_code, self.reduction, self.optimizer,
            self.consts, self.trainable, *data, self.settings.batch_size, count, mask, history,
            self.A, self.D, self.P, self.S)
        return steps

    def run(self, start: int, count: int, logged: Container[int], stop: list[bool]) -> tuple[int, Logged]:
        import numpy as np

        epochs, mask = logged_mask(start, count, logged)
        history = np.zeros(len(epochs))
        with np.errstate(all="ignore"):
            self.steps = self._train(self.params, self.M, self.V, self.G, self.steps, (self.XT, self.YT), count,
                                     mask, history)
        return count, [(epoch, float(value)) for epoch, value in zip(epochs, history, strict=True)]

    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        import numpy as np

        with np.errstate(all="ignore"):
            loss = float(self.kernels.loss_of(self.params, *self._layout(), self.code, self.loss_code,
                                              self.reduction, self.consts, self.XT, self.YT, self.A, self.D,
                                              self.P, self.S))
            out = np.zeros((min(rows, self.samples), self.network.outputs), dtype=self.np_dtype)
            self.kernels.predict(self.params, *self._layout(), self.code, self.XT, self.A, self.P, self.S, out)
        return loss, to_floats(out.tolist())

    def _tables(self, flat: Any) -> list[tuple[Any, Any]]:
        """(weight, bias or None) of each layer from a flat array, as Python floats."""
        tables = []
        for index, layer in enumerate(self.network.dense_layers):
            rows, columns = len(layer.weight), int(self.sizes[index])
            lo = int(self.woff[index])
            weight = to_floats(flat[lo:lo + rows * columns].reshape(rows, columns).tolist())
            b = int(self.boff[index])
            tables.append((weight, None if b < 0 else to_floats(flat[b:b + rows].tolist())))
        return tables

    def parameters(self) -> dict[tuple[tuple[int, ...], str], Any]:
        values: dict[tuple[tuple[int, ...], str], Any] = {}
        for index, (weight, bias) in enumerate(self._tables(self.params)):
            values[((index,), "weight")] = weight
            if bias is not None:
                values[((index,), "bias")] = bias
        return values

    def optimizer_state(self) -> OptimizerSlots:
        optimizer = self.network.optimizer
        arrays = {"momentum": {"v": self.M}, "adam": {"m": self.M, "v": self.V}, "adamw": {"m": self.M, "v": self.V}}
        slots = {}
        layers = self.network.dense_layers
        for kind, flat in arrays.get(optimizer.name, {}).items():
            if kind not in optimizer.rule.slots(optimizer):
                continue
            slots[kind] = tuple((weight, None if bias is None or layer.freeze_bias else bias)
                                for (weight, bias), layer in zip(self._tables(flat), layers, strict=True))
        return OptimizerSlots(self.steps, slots)
