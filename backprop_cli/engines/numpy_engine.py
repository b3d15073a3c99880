"""The numpy engine: the matrix form, vectorised over the samples of a batch.

Each layer kind runs its own forward and backward over arrays (``Kind.np_forward``,
``np_backward``; a dense layer: ``Z = A Wᵀ + b``, ``A = f(Z)``, ``δ = ∂𝓛/∂A ⊙ f′``, ``∂𝓛/∂W = δᵀA``,
``∂𝓛/∂b = 1ᵀδ``, ``∂𝓛/∂A_prev = δW``); this engine works the loss and the update. The
element-wise functions (activations, their derivatives, the loss and its derivative with PyTorch's
floors) are compiled from their sympy definitions in
``functions.py`` by the compiled engine's printer (``codegen.array_function``); softmax is
computed row by row with its maximum subtracted, as PyTorch does. Optimizers follow
``torch.optim``'s update order.

A network of dense layers alone works a batch of more than a chunk's samples (``chunk_rows``) chunk
by chunk (``_chunked_gradients``): each chunk's forward and backward pass runs through arrays
allocated once and small enough to stay in the processor's cache, the samples as columns (units ×
samples) over a row of ones, so that each bias is a column of its weight matrix (z = [W b][a; 1] and
[∂W ∂b] = δ[a; 1]ᵀ, one product each); a sigmoid takes its weights negated (exp(−z) straight from the
product), its derivative σ(1 − σ) from the stored σ, in place; each chunk's gradients go to a slot of
their own, summed once, and the loss's terms are summed while the chunk's outputs are at hand. BLAS
is held to one thread meanwhile (threadpoolctl). The sums are those of the whole batch in another
order (equal to rounding); float32 stays float32 throughout.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from contextlib import AbstractContextManager, nullcontext
from importlib.util import find_spec
from typing import Any

import numpy as np

from backprop_cli import functions, losses
from backprop_cli.engines.base import Engine, EngineSettings, Logged, batch_bounds, to_floats
from backprop_cli.engines.codegen import array_function
from backprop_cli.layers import leaves
from backprop_cli.layers.base import NumpyRun, Path
from backprop_cli.layers.dense import Layer
from backprop_cli.layers.elementwise import NumpyActivation, broadcast, numpy_activation
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.optimizers.base import slot_names

Array = Any  # numpy.ndarray

CHUNK_VALUES = 3 * 2**14
"""The most values an array of a chunk holds (samples × a layer's units): 3,072 samples of a 16-unit
layer, 384 KiB in float64. Measured on 2-16-16-1 (docs/benchmarks.md), chunks of 3,072 to 3,584
samples were fastest in float64 and float32 alike; a power of two rows long (2,048, 4,096) was slower
than its neighbours, its rows falling in the same cache sets."""
CHUNK_ROWS = 6144
"""The most samples a chunk takes, however narrow the layers."""
CHUNK_PRODUCTS = 2**18
"""Where threadpoolctl is missing, chunks are also kept to at most this many multiply-adds in a
layer's product (samples × (inputs + 1) × units), under which OpenBLAS multiplies on one thread: its
threads cost more than they save on products this small, many times more on a busy machine. With
threadpoolctl the chunked pass holds BLAS to one thread instead (``one_blas_thread``)."""
MIN_CHUNK_ROWS = 256
FUSED_FORMULA_CLASSES = 16
"""Up to this many classes, softmax with cross-entropy's ∂𝓛/∂z is compiled from sympy's derivative of
the two as one function (``functions.Softmax.fused_delta``), as the page derives it; past it, whose
derivation grows with the square of the classes (a vocabulary of 1,000 tokens: minutes), from its closed
form p·Σₖyₖ − y, which is what that derivative is (and what torch's CrossEntropyLoss computes). The
same for softmax with another loss: up to it, the Jacobian's entries are compiled from sympy's; past
it, the Jacobian is applied in its closed form, p ⊙ (g − Σₖgₖpₖ) (``Softmax.array_backward``, as
torch's softmax backward computes it)."""


def chunk_rows(widths: Sequence[int], one_thread: bool = True) -> int:
    """The samples of a chunk for a network of these widths (inputs, then each layer's units);
    ``one_thread``: whether BLAS is held to one thread while the chunks run."""
    rows = CHUNK_VALUES // max(widths[1:])
    if not one_thread:
        rows = min(rows, CHUNK_PRODUCTS // max((a + 1) * b for a, b in zip(widths, widths[1:], strict=False)))
    return max(MIN_CHUNK_ROWS, min(CHUNK_ROWS, rows))


def one_blas_thread() -> AbstractContextManager[Any]:
    """A context holding BLAS to one thread (threadpoolctl's); none where threadpoolctl is missing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


class NumpyEngine(Engine):
    """Vectorised matrix training over numpy arrays; see the module's docstring."""

    name = "numpy"

    def __init__(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
                 settings: EngineSettings) -> None:
        super().__init__(network, xs, ys, settings)
        self.np_dtype = np.dtype(settings.dtype)
        self.X = np.asarray(xs, dtype=self.np_dtype).reshape(len(xs), -1)
        self.Y = np.asarray(ys, dtype=self.np_dtype).reshape(len(ys), -1)
        # Parameters by (path, name); optimizer slots and gradients follow the same keys.
        self.params: dict[tuple[Path, str], Array] = {
            key: np.array(value, dtype=self.np_dtype) for key, value in network.parameter_values().items()}
        self.frozen = {(path, name) for path, layer in leaves(network.layers)
                       for name in layer.parameters() if layer.frozen(name)}
        self.buffers: dict[tuple[Path, str], object] = {}
        last = network.layers[-1]
        self.output_activation = None if last.activation is None else NumpyActivation(last.activation)
        self.loss = losses.of(network)
        self.fused = self.loss.fused
        self._loss_value = array_function(self.loss.clamped(self.loss.expr_at(functions.YHAT, functions.Y)),
                                       functions.YHAT, functions.Y)
        self._loss_grad = array_function(self.loss.clamped(self.loss.derivative(1)), functions.YHAT, functions.Y)
        if self.output_activation is not None and self.output_activation.row_wise is not None:
            row_wise = self.output_activation.row_wise
            units = network.classes
            _, ps, ys_ = row_wise._symbols(units)
            if units > FUSED_FORMULA_CLASSES:
                # The closed forms (``_output_delta``): p·Σy − y fused, else the Jacobian applied row by
                # row; the formulas' units² entries would take minutes to compile for many classes.
                self._fused, self._jacobian = None, None
            elif self.fused:
                self._fused = [array_function(d, *ps, *ys_) for d in row_wise.fused_delta(self.loss, units, 1)]
            else:
                self._jacobian = [[array_function(entry, *ps) for entry in row] for row in row_wise.jacobian(units)]
        self.optimizer = network.optimizer
        self.steps = 0
        self.epoch_lr = network.lr
        self.slots: dict[str, dict[tuple[Path, str], Array]] = {
            kind: {key: np.zeros_like(value) for key, value in self.params.items()}
            for kind in self.optimizer.rule.slots(self.optimizer)}
        self.chunk_rows = chunk_rows(network.widths, find_spec("threadpoolctl") is not None)
        self.chunkable = network.positions == 1 and all(type(layer) is Layer for layer in network.layers)
        self._chunk_arrays: dict[int, list[tuple[Array, Array, Array, Array]]] = {}
        self._X_columns: Array | None = None

    # --- the matrix form ------------------------------------------------------------------

    def _forward(self, X: Array, rows: Array | None = None) -> tuple[NumpyRun, Array]:
        run = NumpyRun(self.params, rows, self.samples)
        out = X
        for index, layer in enumerate(self.network.layers):
            out = layer.np_forward(run, (index,), out)
        return run, out

    def _pre_activation(self, run: NumpyRun) -> Array | None:
        cache = run.cache.get((len(self.network.layers) - 1,), {})
        return cache.get("z")

    def _divisor(self, rows: int) -> int:
        """The loss's divisor for ``rows`` rows of the loss (samples × positions)."""
        return self.loss.divisor(rows, self.network.classes)

    def _loss(self, z: Array, yhat: Array, Y: Array) -> float:
        rows = self.network.per_position
        return float(self._elements(rows(z), rows(yhat), rows(Y)).sum() / self._divisor(len(rows(Y))))

    def _elements(self, z: Array, yhat: Array, Y: Array) -> Array:
        """The loss's terms, one per output element, before the reduction (one row per position)."""
        if self.fused:
            # From the logits, as torch.nn.CrossEntropyLoss: log softmax by log-sum-exp.
            top = z.max(axis=1, keepdims=True)
            log_softmax = z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))
            return -(Y * log_softmax)
        return broadcast(self._loss_value(yhat, Y), yhat)

    def copy_losses(self, z: Array, yhat: Array, copies: int) -> Array:
        """The loss of each of ``copies`` networks whose outputs on all the samples are stacked
        copy by copy in ``z`` (pre-activation) and ``yhat`` (``backprop verify``'s perturbations)."""
        Y = np.tile(self.Y, (copies, 1))
        rows = self.network.per_position
        terms = self._elements(rows(z), rows(yhat), rows(Y)).reshape(copies, -1)
        return terms.sum(axis=1) / self._divisor(self.samples * self.network.positions)

    def _output_delta(self, z: Array, yhat: Array, Y: Array, divisor: int | None = None,
                      out: Array | None = None) -> Array:
        """∂𝓛/∂z at the output layer, written into ``out`` where it is given."""
        scale = 1.0 / (self._divisor(len(Y)) if divisor is None else divisor)
        layer = self.output_activation
        assert layer is not None
        if layer.softmax:
            columns = [*yhat.T]
            formula = self._fused if self.fused else None
            if self.fused and formula is None:
                delta = (yhat * Y.sum(axis=1, keepdims=True) - Y) * scale
            elif formula is not None:
                targets = [*Y.T]
                delta = np.stack([broadcast(d(*columns, *targets), yhat[:, 0]) for d in formula], axis=1) * scale
            elif self._jacobian is None:
                assert layer.row_wise is not None
                delta = layer.row_wise.array_backward(yhat, broadcast(self._loss_grad(yhat, Y), yhat) * scale)
            else:
                grad = broadcast(self._loss_grad(yhat, Y), yhat) * scale
                units = yhat.shape[1]
                delta = np.stack([sum(grad[:, k] * broadcast(self._jacobian[k][i](*columns), yhat[:, 0])
                                      for k in range(units)) for i in range(units)], axis=1)
            if out is None:
                return delta
            out[...] = delta
            return out
        grad = broadcast(self._loss_grad(yhat, Y), yhat)
        if out is None:
            return grad * scale * layer.local(z, yhat)
        np.multiply(grad, scale, out=out)
        out *= layer.local(z, yhat)
        return out

    def _gradients(self, X: Array, Y: Array, rows: Array | None = None
                   ) -> tuple[dict[tuple[Path, str], Array], Array | None, Array]:
        run, yhat = self._forward(X, rows)
        z = self._pre_activation(run)
        layers = self.network.layers
        last = len(layers) - 1
        if self.output_activation is not None:
            rows = self.network.per_position
            delta = self._output_delta(rows(z), rows(yhat), rows(Y)).reshape(yhat.shape)
            G = layers[last].np_backward(run, (last,), delta, pre_activation=True)
        else:
            G = layers[last].np_backward(run, (last,), broadcast(self._loss_grad(yhat, Y), yhat)
                                         / self._divisor(len(Y)))
        for index in range(last - 1, -1, -1):
            G = layers[index].np_backward(run, (index,), G)
        self._keep_buffers(run)
        return run.grads, z, yhat

    def _chunk_buffers(self, rows: int) -> list[tuple[Array, Array, Array, Array]]:
        """Each layer's output a (with a row of ones under it, the next layer's bias input), z, δ and
        scratch arrays for chunks of ``rows`` samples, made once, units by samples (the module's docstring)."""
        if rows not in self._chunk_arrays:
            def empty(width: int) -> Array:
                return np.empty((width, rows), dtype=self.np_dtype)

            arrays = []
            for width in self.network.widths[1:]:
                a = empty(width + 1)
                a[width] = 1
                arrays.append((a, empty(width), empty(width), empty(width)))
            self._chunk_arrays[rows] = arrays
        return self._chunk_arrays[rows]

    def _chunked_gradients(self, X: Array, Y: Array, with_loss: bool, backward: bool = True
                           ) -> tuple[dict[tuple[Path, str], Array], float | None]:
        """The gradients of a network of dense layers over ``X``, ``Y``, chunk by chunk (the module's
        docstring), and the loss where ``with_loss``: the whole batch's, as ``_gradients`` gives them.
        Without ``backward``, the loss alone (no gradients)."""
        layers = self.network.layers
        last = len(layers) - 1
        samples, inputs = X.shape
        divisor = self._divisor(samples)
        size = min(self.chunk_rows, samples)
        chunks = -(-samples // size)
        buffers = self._chunk_buffers(size)
        # The samples as columns, with a row of ones under them: each layer's bias is a column of its
        # weight matrix, so z = [W b] [a; 1] is one product and [∂W ∂b] = δ [a; 1]ᵀ another.
        Xt, Yt = self._columns(X), Y.T
        functions_ = [numpy_activation(layer.activation) for layer in layers]
        weights, joined, fold, sums = [], [], [], []
        for i in range(len(layers)):
            W, b = self.params[((i,), "weight")], self.params.get(((i,), "bias"))
            Wb = W if b is None else np.concatenate([W, b[:, None]], axis=1)
            # An activation that reads −z (the sigmoid's 1/(1 + exp(−z))) has its weights negated
            # instead of z; only softmax's fused loss reads the output layer's z itself.
            fold.append(functions_[i].of_negated and not (i == last and self.fused))
            weights.append(W)
            joined.append(-Wb if fold[i] else Wb)
            sums.append(np.empty((chunks, *Wb.shape), dtype=self.np_dtype))
        terms = 0.0
        for chunk, lo in enumerate(range(0, samples, size)):
            hi = min(lo + size, samples)
            rows = hi - lo
            below = Xt[:, lo:hi]
            ins = []
            for i in range(len(layers)):
                a_ones, z = buffers[i][0][:, :rows], buffers[i][1][:, :rows]
                units = len(z)
                a = a_ones[:units]
                A = below if joined[i].shape[1] == len(below) else below[:-1]  # [a; 1], or a without a bias
                ins.append(A)
                if fold[i]:
                    product(joined[i], A, a)
                    functions_[i].negated_into(a)
                else:
                    product(joined[i], A, z)
                    if i == last and functions_[i].softmax:
                        a.T[...] = functions_[i].forward(z.T)
                    else:
                        functions_[i].forward_into(z, a)
                below = a_ones
            z, yhat, y = buffers[last][1][:, :rows], buffers[last][0][:len(Yt), :rows], Yt[:, lo:hi]
            if with_loss:
                terms += float(self._elements(z.T, yhat.T, y.T).sum())
            if not backward:
                continue
            delta = buffers[last][2][:, :rows]
            self._output_delta(z.T, yhat.T, y.T, divisor, out=delta.T)
            for i in range(last, -1, -1):
                np.matmul(delta, ins[i].T, out=sums[i][chunk])
                if i == 0:
                    break
                a_ones, z, G, scratch = (array[:, :rows] for array in buffers[i - 1])
                product(weights[i].T, delta, G)
                delta = functions_[i - 1].backward_into(z, a_ones[:len(z)], G, scratch)
        grads: dict[tuple[Path, str], Array] = {}
        for i in range(len(layers) if backward else 0):
            total = sums[i].sum(axis=0)
            width = weights[i].shape[1]
            grads[((i,), "weight")] = total[:, :width]
            if total.shape[1] > width:
                grads[((i,), "bias")] = total[:, width]
        return grads, (terms / divisor if with_loss else None)

    def _columns(self, X: Array) -> Array:
        """``X``'s samples as columns over a row of ones (kept for the training set's own ``X``)."""
        if X is self.X and self._X_columns is not None:
            return self._X_columns
        samples, inputs = X.shape
        Xt = np.empty((inputs + 1, samples), dtype=self.np_dtype)
        Xt[:inputs] = X.T
        Xt[inputs] = 1
        if X is self.X:
            self._X_columns = Xt
        return Xt

    def _keep_buffers(self, run: NumpyRun) -> None:
        """What a training forward pass updates besides parameters (batch_norm's running statistics)."""
        from backprop_cli.layers import at

        for path, cache in run.cache.items():
            for name, value in at(self.network.layers, path).buffers_after(cache).items():
                self.buffers[(path, name)] = value
        if self.buffers:
            self.network = self.network.with_values(self.buffers)

    def _update(self, grads: dict[tuple[Path, str], Array]) -> None:
        self.steps += 1
        optimizer, lr = self.optimizer, self.epoch_lr
        rule = optimizer.rule
        if self.settings.clip is not None:
            from backprop_cli.schedules import clip_numpy

            clip_numpy(self.settings.clip, {key: grads[key] for key in self.params if key not in self.frozen})
        for key, param in self.params.items():
            if key not in self.frozen:
                slots = {kind: table[key] for kind, table in self.slots.items()}
                rule.numpy_update(optimizer, lr, param, grads[key], slots, self.steps)

    # --- the engine interface -------------------------------------------------------------

    def run(self, start: int, count: int, logged: Container[int], stop: list[bool]) -> tuple[int, Logged]:
        recorded: Logged = []
        size = self.settings.batch_size
        order = self.settings.order
        whole = self.full_batch and order is None
        bounds = batch_bounds(self.samples, size)
        done = 0
        chunked = self.chunkable and min(size, self.samples) > self.chunk_rows
        with np.errstate(all="ignore"), one_blas_thread() if chunked else nullcontext():
            for epoch in range(start, start + count):
                self.epoch_lr = self.lr(epoch)
                if whole and self.chunkable and self.samples > self.chunk_rows:
                    grads, loss = self._chunked_gradients(self.X, self.Y, epoch in logged)
                    if loss is not None:
                        recorded.append((epoch, loss))
                    self._update(grads)
                elif whole:
                    grads, z, yhat = self._gradients(self.X, self.Y)
                    if epoch in logged:
                        recorded.append((epoch, self._loss(z, yhat, self.Y)))
                    self._update(grads)
                else:
                    if epoch in logged:
                        recorded.append((epoch, self.evaluate(0)[0]))
                    permutation = None if order is None else np.asarray(order(epoch))
                    for lo, hi in bounds:
                        index = slice(lo, hi) if permutation is None else permutation[lo:hi]
                        rows = np.arange(lo, hi) if permutation is None else index
                        if self.chunkable and hi - lo > self.chunk_rows:
                            grads, _ = self._chunked_gradients(self.X[index], self.Y[index], False)
                        else:
                            grads, _, _ = self._gradients(self.X[index], self.Y[index], rows)
                        self._update(grads)
                done += 1
                if stop[0]:
                    break
        return done, recorded

    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        with np.errstate(all="ignore"):
            if self.chunkable and self.samples > self.chunk_rows:
                with one_blas_thread():
                    loss = self._chunked_gradients(self.X, self.Y, True, backward=False)[1]
                assert loss is not None
                if not rows:
                    return loss, ()
                _, yhat = self._forward(self.X[:rows])
            else:
                run, yhat = self._forward(self.X)
                loss = self._loss(self._pre_activation(run), yhat, self.Y)
        return loss, to_floats(yhat[:rows].tolist())

    def parameters(self) -> dict[tuple[Path, str], Any]:
        return {key: to_floats(value.tolist()) for key, value in self.params.items()} | self.buffers

    def optimizer_state(self) -> OptimizerSlots:
        def slot(table: dict[tuple[Path, str], Array], path: Path, name: str) -> Any:
            key = (path, name)
            if key not in table or key in self.frozen:
                return None
            return to_floats(table[key].tolist())

        return OptimizerSlots(self.steps, {
            kind: tuple(tuple(slot(table, path, name) for name in slot_names(layer))
                        for path, layer in leaves(self.network.layers))
            for kind, table in self.slots.items()})


def product(A: Array, B: Array, out: Array) -> Array:
    """``A @ B`` into ``out``; where the inner dimension is 1 (a layer of one unit), as the outer
    product it is (one multiplication per entry: the same numbers, without a matrix product's setup)."""
    if A.shape[1] == 1:
        return np.multiply(A, B, out=out)
    return np.matmul(A, B, out=out)
