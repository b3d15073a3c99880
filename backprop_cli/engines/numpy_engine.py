"""The numpy engine: the matrix form, vectorised over the samples of a batch.

``Z = A Wᵀ + b``, ``A = f(Z)``, ``δ = ∂𝓛/∂A ⊙ f′``, ``∂𝓛/∂W = δᵀA``, ``∂𝓛/∂b = 1ᵀδ``,
``∂𝓛/∂A_prev = δW``. The element-wise functions (activations, their derivatives, the loss and
its derivative with PyTorch's floors) are compiled from their sympy definitions in
``functions.py`` by the compiled engine's printer (``codegen.array_function``); softmax is
computed row by row with its maximum subtracted, as PyTorch does. Optimizers follow
``torch.optim``'s update order.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

import numpy as np

from backprop_cli import functions
from backprop_cli.engines.base import Engine, EngineSettings, Logged, batch_bounds, to_floats
from backprop_cli.engines.codegen import array_function
from backprop_cli.model import Matrix, Network, OptimizerSlots, Vector
from backprop_cli.optimizers import SLOTS

Array = Any  # numpy.ndarray


class _Layer:
    """One layer's function and derivative, from its sympy definition."""

    def __init__(self, name: str) -> None:
        activation = functions.activation(name)
        self.softmax = isinstance(activation, functions.Softmax)
        self.of_output = True
        if isinstance(activation, functions.Activation):
            self.f = array_function(activation.expr, functions.X)
            in_output = activation.derivative_of_output
            self.of_output = in_output is not None
            if in_output is not None:
                self.df = array_function(in_output, functions.OUT)
            else:
                self.df = array_function(activation.derivative, functions.X)

    def forward(self, z: Array) -> Array:
        if self.softmax:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return _array(self.f(z), z)

    def local(self, z: Array, a: Array) -> Array:
        """f′ at this layer's units, element-wise."""
        return self.df(a) if self.of_output else self.df(z)


def _array(value: Any, like: Array) -> Array:
    return value if np.shape(value) == like.shape else np.broadcast_to(value, like.shape).astype(like.dtype)


class NumpyEngine(Engine):
    """Vectorised matrix training over numpy arrays; see the module's docstring."""

    name = "numpy"

    def __init__(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
                 settings: EngineSettings) -> None:
        super().__init__(network, xs, ys, settings)
        self.np_dtype = np.dtype(settings.dtype)
        self.X = np.asarray(xs, dtype=self.np_dtype).reshape(len(xs), -1)
        self.Y = np.asarray(ys, dtype=self.np_dtype).reshape(len(ys), -1)
        self.W = [np.array(layer.weight, dtype=self.np_dtype) for layer in network.layers]
        self.b = [None if layer.bias is None else np.array(layer.bias, dtype=self.np_dtype)
                  for layer in network.layers]
        self.frozen = [layer.freeze_bias for layer in network.layers]
        self.layers = [_Layer(layer.activation) for layer in network.layers]
        self.loss = functions.loss(network.loss)
        self.fused = network.loss == "cross_entropy"
        self._loss_value = array_function(self.loss.clamped(self.loss.expr_at(functions.YHAT, functions.Y)),
                                       functions.YHAT, functions.Y)
        self._loss_grad = array_function(self.loss.clamped(self.loss.derivative(1)), functions.YHAT, functions.Y)
        if self.layers[-1].softmax:
            units = network.outputs
            _, ps, ys_ = functions.SOFTMAX._symbols(units)
            if self.fused:
                self._fused = [array_function(d, *ps, *ys_) for d in
                               functions.SOFTMAX.fused_delta(self.loss, units, 1)]
            else:
                self._jacobian = [[array_function(entry, *ps) for entry in row]
                                  for row in functions.SOFTMAX.jacobian(units)]
        self.optimizer = network.optimizer
        self.steps = 0
        self.slots: dict[str, list[tuple[Array, Array]]] = {
            kind: [(np.zeros_like(w), None if b is None else np.zeros_like(b))
                   for w, b in zip(self.W, self.b, strict=True)]
            for kind in SLOTS[self.optimizer.name]}

    # --- the matrix form ------------------------------------------------------------------

    def _forward(self, X: Array) -> tuple[list[Array | None], list[Array]]:
        zs: list[Array | None] = []
        activations = [X]
        a = X
        last = len(self.layers) - 1
        for index, (W, b, layer) in enumerate(zip(self.W, self.b, self.layers, strict=True)):
            z = a @ W.T
            if b is not None:
                z += b
            a = layer.forward(z)
            # Z is kept where a derivative or the loss needs it; σ′ = σ(1 − σ) needs only A.
            zs.append(z if index == last or not layer.of_output else None)
            activations.append(a)
        return zs, activations

    def _divisor(self, samples: int) -> int:
        return self.loss.divisor(samples, self.network.outputs)

    def _loss(self, z: Array, yhat: Array, Y: Array) -> float:
        if self.fused:
            # From the logits, as torch.nn.CrossEntropyLoss: log softmax by log-sum-exp.
            top = z.max(axis=1, keepdims=True)
            log_softmax = z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))
            return float(-(Y * log_softmax).sum() / self._divisor(len(Y)))
        return float(_array(self._loss_value(yhat, Y), yhat).sum() / self._divisor(len(Y)))

    def _output_delta(self, z: Array, yhat: Array, Y: Array) -> Array:
        scale = 1.0 / self._divisor(len(Y))
        layer = self.layers[-1]
        if layer.softmax:
            columns = [*yhat.T]
            if self.fused:
                targets = [*Y.T]
                return np.stack([_array(d(*columns, *targets), yhat[:, 0]) for d in self._fused], axis=1) * scale
            grad = _array(self._loss_grad(yhat, Y), yhat) * scale
            units = yhat.shape[1]
            return np.stack([sum(grad[:, k] * _array(self._jacobian[k][i](*columns), yhat[:, 0])
                                 for k in range(units)) for i in range(units)], axis=1)
        grad = _array(self._loss_grad(yhat, Y), yhat) * scale
        return grad * layer.local(z, yhat)

    def _gradients(self, X: Array, Y: Array) -> tuple[list[Array], list[Array | None], Array, Array]:
        zs, activations = self._forward(X)
        delta = self._output_delta(zs[-1], activations[-1], Y)
        gW: list[Array] = [None] * len(self.W)
        gb: list[Array | None] = [None] * len(self.W)
        for i in range(len(self.W) - 1, -1, -1):
            gW[i] = delta.T @ activations[i]
            if self.b[i] is not None:
                gb[i] = delta.sum(axis=0)
            if i:
                back = delta @ self.W[i]
                back *= self.layers[i - 1].local(zs[i - 1], activations[i])
                delta = back
        return gW, gb, zs[-1], activations[-1]

    def _update(self, gW: list[Array], gb: list[Array | None]) -> None:
        self.steps += 1
        opt, lr = self.optimizer, self.network.lr
        for i in range(len(self.W)):
            pairs = [(self.W[i], gW[i], 0)]
            b, g = self.b[i], gb[i]
            if b is not None and g is not None and not self.frozen[i]:
                pairs.append((b, g, 1))
            for param, grad, which in pairs:
                if opt.name == "sgd":
                    param -= lr * grad
                elif opt.name == "momentum":
                    v = self.slots["v"][i][which]
                    v *= opt.momentum
                    v += grad
                    param -= lr * v
                else:
                    m, v = self.slots["m"][i][which], self.slots["v"][i][which]
                    m *= opt.beta1
                    m += (1 - opt.beta1) * grad
                    v *= opt.beta2
                    v += (1 - opt.beta2) * grad * grad
                    m_hat = m / (1 - opt.beta1 ** self.steps)
                    v_hat = v / (1 - opt.beta2 ** self.steps)
                    param -= lr * (m_hat / (np.sqrt(v_hat) + opt.eps))

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
                if whole:
                    gW, gb, z, yhat = self._gradients(self.X, self.Y)
                    if epoch in logged:
                        recorded.append((epoch, self._loss(z, yhat, self.Y)))
                    self._update(gW, gb)
                else:
                    if epoch in logged:
                        recorded.append((epoch, self.evaluate(0)[0]))
                    permutation = None if order is None else np.asarray(order(epoch))
                    for lo, hi in bounds:
                        index = slice(lo, hi) if permutation is None else permutation[lo:hi]
                        gW, gb, _, _ = self._gradients(self.X[index], self.Y[index])
                        self._update(gW, gb)
                done += 1
                if stop[0]:
                    break
        return done, recorded

    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        with np.errstate(all="ignore"):
            zs, activations = self._forward(self.X)
            loss = self._loss(zs[-1], activations[-1], self.Y)
        return loss, to_floats(activations[-1][:rows].tolist())

    def parameters(self) -> tuple[tuple[Matrix, ...], tuple[Vector | None, ...]]:
        return (tuple(to_floats(W.tolist()) for W in self.W),
                tuple(None if b is None else to_floats(b.tolist()) for b in self.b))

    def optimizer_state(self) -> OptimizerSlots:
        return OptimizerSlots(self.steps, {
            kind: tuple((to_floats(w.tolist()), None if b is None or self.frozen[i] else to_floats(b.tolist()))
                        for i, (w, b) in enumerate(layers))
            for kind, layers in self.slots.items()})
