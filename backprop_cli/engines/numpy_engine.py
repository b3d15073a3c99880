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
order (equal to rounding); float32 stays float32 throughout. Over the whole training batch, on
Linux, forked helper processes work runs of the chunks beside the engine (``numpy_processes``), to
the same numbers bit for bit.
"""

from __future__ import annotations

import weakref
from collections.abc import Container, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from importlib.util import find_spec
from typing import Any

import numpy as np

from backprop_cli import functions, losses
from backprop_cli.engines import chunk_rows, helpers_for, numpy_epoch_seconds
from backprop_cli.engines.base import Engine, EngineSettings, Logged, batch_bounds, to_floats
from backprop_cli.engines.codegen import array_function
from backprop_cli.engines.numpy_processes import Helpers, one_blas_thread
from backprop_cli.layers import leaves
from backprop_cli.layers.base import NumpyRun, Path
from backprop_cli.layers.dense import Layer
from backprop_cli.layers.elementwise import NumpyActivation, broadcast, numpy_activation
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.optimizers.base import slot_names

Array = Any  # numpy.ndarray

FUSED_FORMULA_CLASSES = 16
"""Up to this many classes, softmax with cross-entropy's ∂𝓛/∂z is compiled from sympy's derivative of
the two as one function (``functions.Softmax.fused_delta``), as the page derives it; past it, whose
derivation grows with the square of the classes (a vocabulary of 1,000 tokens: minutes), from its closed
form p·Σₖyₖ − y, which is what that derivative is (and what torch's CrossEntropyLoss computes). The
same for softmax with another loss: up to it, the Jacobian's entries are compiled from sympy's; past
it, the Jacobian is applied in its closed form, p ⊙ (g − Σₖgₖpₖ) (``Softmax.array_backward``, as
torch's softmax backward computes it)."""


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
        self._open_helpers: Helpers | None = None
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
        Without ``backward``, the loss alone (no gradients). Over the whole training batch, while
        helper processes are open (``_chunked``), each works a run of the chunks: the numbers are the
        same (each chunk's gradient has its slot, and the slots and the chunks' loss terms are summed
        in the chunks' order)."""
        helpers = self._open_helpers if X is self.X else None
        if helpers is not None:
            pass_ = self._chunk_pass(with_loss, backward, helpers)
            try:
                pass_.work(helpers.start(self.params, with_loss, backward))
                helpers.finish(pass_)
            except BaseException:  # Ctrl-C mid-pass: the helpers' answers would be read by the next pass
                self.close()
                raise
        else:
            pass_ = _ChunkedPass(self, self._columns(X), Y, with_loss, backward)
            pass_.work(range(pass_.chunks))
        grads: dict[tuple[Path, str], Array] = {}
        for i in range(len(self.network.layers) if backward else 0):
            total = pass_.sums[i].sum(axis=0)
            width = pass_.weights[i].shape[1]
            grads[((i,), "weight")] = total[:, :width]
            if total.shape[1] > width:
                grads[((i,), "bias")] = total[:, width]
        return grads, (sum(pass_.terms.tolist()) / self._divisor(len(X)) if with_loss else None)

    def _chunk_pass(self, with_loss: bool, backward: bool, helpers: Helpers) -> _ChunkedPass:
        """A chunked pass over the whole training batch into ``helpers``' shared slots and terms."""
        return _ChunkedPass(self, self._columns(self.X), self.Y, with_loss, backward, helpers.slots, helpers.terms)

    @contextmanager
    def _chunked(self, epochs: int) -> Iterator[None]:
        """BLAS held to one thread while the context is open, where the chunked pass runs; and, for
        ``epochs`` epochs over the whole batch (or the whole training's, ``EngineSettings.epochs``,
        where more), helper processes where they repay their forks (``numpy_processes``), forked
        once and kept until ``close`` (BLAS on one thread till then)."""
        if not (self.chunkable and min(self.settings.batch_size, self.samples) > self.chunk_rows):
            yield
            return
        if self._open_helpers is None and self.full_batch and self.settings.order is None:
            chunks = -(-self.samples // self.chunk_rows)
            seconds = numpy_epoch_seconds(self.network, self.samples, self.settings.dtype, one_process=True)
            count = helpers_for(chunks, max(epochs, self.settings.epochs or 0), seconds)
            if count:
                try:
                    self._open_helpers = Helpers(self, count, chunks)
                except OSError:
                    pass  # the system refused a fork or the shared memory: one process, the same numbers
                else:
                    weakref.finalize(self, self._open_helpers.close)
        with self._one_blas_thread():
            yield

    def _one_blas_thread(self) -> AbstractContextManager[Any]:
        """BLAS held to one thread; nothing to do while helpers are open, which hold it so already
        (setting it again after their forks would start OpenBLAS's threads anew)."""
        return nullcontext() if self._open_helpers is not None else one_blas_thread()

    def close(self) -> None:
        """End the helper processes, if any were forked."""
        if self._open_helpers is not None:
            self._open_helpers.close()
            self._open_helpers = None

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
        with np.errstate(all="ignore"), self._chunked(count):
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
                with self._one_blas_thread():
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


class _ChunkedPass:
    """One chunked pass's weights (each bias a column of its weight matrix, a sigmoid's negated),
    the slots of the chunks' gradients, and the forward and backward pass of one chunk
    (``NumpyEngine._chunked_gradients``)."""

    def __init__(self, engine: NumpyEngine, Xt: Array, Y: Array, with_loss: bool, backward: bool,
                 sums: list[Array] | None = None, terms: Array | None = None) -> None:
        self.engine, self.Xt, self.Yt = engine, Xt, Y.T
        self.with_loss, self.backward = with_loss, backward
        samples = Xt.shape[1]
        self.size = min(engine.chunk_rows, samples)
        self.chunks = -(-samples // self.size)
        self.terms = np.zeros(self.chunks) if terms is None else terms
        layers = engine.network.layers
        self.last = last = len(layers) - 1
        self.divisor = engine._divisor(Xt.shape[1])
        self.functions = [numpy_activation(layer.activation) for layer in layers]
        self.weights: list[Array] = []
        self.transposed: list[Array] = []
        self.joined: list[Array] = []
        self.fold: list[bool] = []
        for i in range(len(layers)):
            W, b = engine.params[((i,), "weight")], engine.params.get(((i,), "bias"))
            Wb = W if b is None else np.concatenate([W, b[:, None]], axis=1)
            # An activation that reads −z (the sigmoid's 1/(1 + exp(−z))) has its weights negated
            # instead of z; only softmax's fused loss reads the output layer's z itself.
            self.fold.append(self.functions[i].of_negated and not (i == last and engine.fused))
            self.weights.append(W)
            # Wᵀ for δ below = Wᵀδ, copied into rows of its own: BLAS multiplies a contiguous Wᵀ
            # 1.2–1.3× faster than the transposed view of W (docs/benchmarks.md, "The numpy engine
            # on every core").
            self.transposed.append(np.ascontiguousarray(W.T))
            self.joined.append(-Wb if self.fold[i] else Wb)
        slots = self.chunks if backward else 0
        self.sums = sums if sums is not None else [
            np.empty((slots, *Wb.shape), dtype=engine.np_dtype) for Wb in self.joined]

    def work(self, chunks: range) -> None:
        """Chunks ``chunks`` (of ``size`` samples, the last may be shorter): their gradients into
        their slots, their loss terms into ``terms``."""
        size = self.size
        buffers = self.engine._chunk_buffers(size)
        samples = self.Xt.shape[1]
        for chunk in chunks:
            lo = chunk * size
            self.terms[chunk] = self.chunk(chunk, lo, min(lo + size, samples), buffers)

    def chunk(self, chunk: int, lo: int, hi: int, buffers: list[tuple[Array, Array, Array, Array]]) -> float:
        """Samples lo … hi − 1 through ``buffers``: their gradient into slot ``chunk`` of ``sums``
        (with ``backward``), and the sum of their loss terms (with ``with_loss``, else 0)."""
        engine, functions_, last = self.engine, self.functions, self.last
        rows = hi - lo
        below = self.Xt[:, lo:hi]
        ins = []
        for i in range(last + 1):
            a_ones, z = buffers[i][0][:, :rows], buffers[i][1][:, :rows]
            a = a_ones[:len(z)]
            A = below if self.joined[i].shape[1] == len(below) else below[:-1]  # [a; 1], or a without a bias
            ins.append(A)
            if self.fold[i]:
                product(self.joined[i], A, a)
                functions_[i].negated_into(a)
            else:
                product(self.joined[i], A, z)
                if i == last and functions_[i].softmax:
                    a.T[...] = functions_[i].forward(z.T)
                else:
                    functions_[i].forward_into(z, a)
            below = a_ones
        z, yhat, y = buffers[last][1][:, :rows], buffers[last][0][:len(self.Yt), :rows], self.Yt[:, lo:hi]
        terms = float(engine._elements(z.T, yhat.T, y.T).sum()) if self.with_loss else 0.0
        if not self.backward:
            return terms
        delta = buffers[last][2][:, :rows]
        engine._output_delta(z.T, yhat.T, y.T, self.divisor, out=delta.T)
        for i in range(last, -1, -1):
            np.matmul(delta, ins[i].T, out=self.sums[i][chunk])
            if i == 0:
                break
            a_ones, z, G, scratch = (array[:, :rows] for array in buffers[i - 1])
            product(self.transposed[i], delta, G)
            delta = functions_[i - 1].backward_into(z, a_ones[:len(z)], G, scratch)
        return terms


def product(A: Array, B: Array, out: Array) -> Array:
    """``A @ B`` into ``out``; where the inner dimension is 1 (a layer of one unit), as the outer
    product it is (one multiplication per entry: the same numbers, without a matrix product's setup)."""
    if A.shape[1] == 1:
        return np.multiply(A, B, out=out)
    return np.matmul(A, B, out=out)
