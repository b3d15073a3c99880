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
from backprop_cli.engines import ACTIVATIONS, CHUNK, LOSSES, OPTIMIZERS, REDUCTIONS, fused_threads, unsupported
from backprop_cli.engines.base import Engine, EngineSettings, Logged, batch_bounds, logged_mask, to_floats
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
        self.S = np.zeros((network.outputs + 5, width), dtype=dtype)  # scratch: softmax's and exp's rows
        self.parts: list[tuple[Any, ...]] = [(self.G, self.A, self.D, self.P, self.S)]
        """Each thread's G and buffers (G, A, D, P, S), this thread's first (``_gradients``)."""
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
            self.kernels.gradients(copies[0], copies[3], *self._layout(), self.code, self.loss_code, self.consts,
                                   *one, 0, 1, 8, 1, self.A, self.D, self.P, self.S)
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
        threads = fused_threads(min(self.settings.batch_size, self.samples))
        with np.errstate(all="ignore"):
            if threads > 1:
                done, recorded = self._run_threads(threads, count, mask, history, stop)
                return done, [(epoch, float(value)) for epoch, value in zip(epochs[:recorded], history, strict=False)]
            self.steps = self._train(self.params, self.M, self.V, self.G, self.steps, (self.XT, self.YT), count,
                                     mask, history)
        return count, [(epoch, float(value)) for epoch, value in zip(epochs, history, strict=True)]

    def _run_threads(self, threads: int, count: int, mask: Any, history: Any, stop: list[bool]) -> tuple[int, int]:
        """``train``'s epochs with each batch's gradient worked out by ``threads`` threads, a part of
        the batch's columns each (``_gradients``), then the update: the same chunks as one thread's,
        only the parts' sums added in another order. Ends after an epoch where ``stop[0]`` is true;
        returns the epochs done and the losses recorded."""
        from concurrent.futures import ThreadPoolExecutor

        kernels, units = self.kernels, self.network.outputs
        recorded = 0
        with ThreadPoolExecutor(threads - 1, thread_name_prefix="backprop-fused") as pool:
            for k in range(count):
                if mask[k] and not self.full_batch:
                    history[recorded] = self._loss()
                    recorded += 1
                for lo, hi in batch_bounds(self.samples, self.settings.batch_size):
                    share = kernels.divisor(hi - lo, units, self.reduction)
                    total = self._gradients(pool, lo, hi, share)
                    if self.full_batch and mask[k]:
                        history[recorded] = total / share
                        recorded += 1
                    self.steps += 1
                    kernels.update(self.params, self.G, self.M, self.V, self.trainable, self.optimizer, self.consts,
                                   self.steps)
                if stop[0]:
                    return k + 1, recorded
        return count, recorded

    def _gradients(self, pool: Any, start: int, stop: int, share: int) -> float:
        """The gradient of samples start … stop − 1 into G, split over ``fused_threads`` threads (this
        one and the pool's), each a run of whole chunks with its own G and buffers; the loss terms' sum."""
        import numpy as np

        kernels = self.kernels
        chunk = int(kernels.even(stop - start, self.A.shape[1]))
        chunks = -(-(stop - start) // chunk)
        threads = min(fused_threads(stop - start), chunks)
        while len(self.parts) < threads:
            self.parts.append(tuple(np.zeros_like(array) for array in (self.G, self.A, self.D, self.P, self.S)))
        cuts = [min(stop, start + chunk * (chunks * t // threads)) for t in range(threads + 1)]
        common = (*self._layout(), self.code, self.loss_code, self.consts, self.XT, self.YT)
        futures = [pool.submit(kernels.gradients, self.params, G, *common, cuts[t], cuts[t + 1], chunk, share,
                               A, D, P, S)
                   for t, (G, A, D, P, S) in enumerate(self.parts[1:threads], start=1)]
        total = float(kernels.gradients(self.params, self.G, *common, cuts[0], cuts[1], chunk, share, self.A,
                                        self.D, self.P, self.S))
        for future, part in zip(futures, self.parts[1:threads], strict=True):
            total += future.result()
            np.add(self.G, part[0], out=self.G)
        return total

    def _loss(self) -> float:
        """The loss over every sample."""
        return float(self.kernels.loss_of(self.params, *self._layout(), self.code, self.loss_code, self.reduction,
                                          self.consts, self.XT, self.YT, self.A, self.D, self.P, self.S))

    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        import numpy as np

        with np.errstate(all="ignore"):
            loss = self._loss()
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
