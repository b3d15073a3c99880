"""The numpy engine: the matrix form, vectorised over the samples of a batch.

Each layer kind runs its own forward and backward over arrays (``Kind.np_forward``,
``np_backward``; a dense layer: ``Z = A Wᵀ + b``, ``A = f(Z)``, ``δ = ∂𝓛/∂A ⊙ f′``, ``∂𝓛/∂W = δᵀA``,
``∂𝓛/∂b = 1ᵀδ``, ``∂𝓛/∂A_prev = δW``); this engine works the loss and the update. The
element-wise functions (activations, their derivatives, the loss and its derivative with PyTorch's
floors) are compiled from their sympy definitions in
``functions.py`` by the compiled engine's printer (``codegen.array_function``); softmax is
computed row by row with its maximum subtracted, as PyTorch does. Optimizers follow
``torch.optim``'s update order.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import numpy as np

from backprop_cli import functions, losses
from backprop_cli.engines.base import Engine, EngineSettings, Logged, batch_bounds, to_floats
from backprop_cli.engines.codegen import array_function
from backprop_cli.layers import leaves
from backprop_cli.layers.base import NumpyRun, Path
from backprop_cli.layers.elementwise import NumpyActivation, broadcast
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.optimizers.base import slot_names

Array = Any  # numpy.ndarray


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
            units = network.outputs
            _, ps, ys_ = row_wise._symbols(units)
            if self.fused:
                self._fused = [array_function(d, *ps, *ys_) for d in row_wise.fused_delta(self.loss, units, 1)]
            else:
                self._jacobian = [[array_function(entry, *ps) for entry in row] for row in row_wise.jacobian(units)]
        self.optimizer = network.optimizer
        self.steps = 0
        self.epoch_lr = network.lr
        self.slots: dict[str, dict[tuple[Path, str], Array]] = {
            kind: {key: np.zeros_like(value) for key, value in self.params.items()}
            for kind in self.optimizer.rule.slots(self.optimizer)}

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

    def _divisor(self, samples: int) -> int:
        return self.loss.divisor(samples, self.network.outputs)

    def _loss(self, z: Array, yhat: Array, Y: Array) -> float:
        return float(self._elements(z, yhat, Y).sum() / self._divisor(len(Y)))

    def _elements(self, z: Array, yhat: Array, Y: Array) -> Array:
        """The loss's terms, one per output element, before the reduction."""
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
        terms = self._elements(z, yhat, Y).reshape(copies, -1)
        return terms.sum(axis=1) / self._divisor(self.samples)

    def _output_delta(self, z: Array, yhat: Array, Y: Array) -> Array:
        scale = 1.0 / self._divisor(len(Y))
        layer = self.output_activation
        assert layer is not None
        if layer.softmax:
            columns = [*yhat.T]
            if self.fused:
                targets = [*Y.T]
                return np.stack([broadcast(d(*columns, *targets), yhat[:, 0]) for d in self._fused], axis=1) * scale
            grad = broadcast(self._loss_grad(yhat, Y), yhat) * scale
            units = yhat.shape[1]
            return np.stack([sum(grad[:, k] * broadcast(self._jacobian[k][i](*columns), yhat[:, 0])
                                 for k in range(units)) for i in range(units)], axis=1)
        grad = broadcast(self._loss_grad(yhat, Y), yhat) * scale
        return grad * layer.local(z, yhat)

    def _gradients(self, X: Array, Y: Array, rows: Array | None = None
                   ) -> tuple[dict[tuple[Path, str], Array], Array | None, Array]:
        run, yhat = self._forward(X, rows)
        z = self._pre_activation(run)
        layers = self.network.layers
        last = len(layers) - 1
        if self.output_activation is not None:
            G = layers[last].np_backward(run, (last,), self._output_delta(z, yhat, Y), pre_activation=True)
        else:
            G = layers[last].np_backward(run, (last,), broadcast(self._loss_grad(yhat, Y), yhat)
                                         / self._divisor(len(Y)))
        for index in range(last - 1, -1, -1):
            G = layers[index].np_backward(run, (index,), G)
        self._keep_buffers(run)
        return run.grads, z, yhat

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
        with np.errstate(all="ignore"):
            for epoch in range(start, start + count):
                self.epoch_lr = self.lr(epoch)
                if whole:
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
                        grads, _, _ = self._gradients(self.X[index], self.Y[index], rows)
                        self._update(grads)
                done += 1
                if stop[0]:
                    break
        return done, recorded

    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        with np.errstate(all="ignore"):
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
