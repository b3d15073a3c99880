"""Checking every gradient of a derivation against independent references.

Two references, each computed without the derivation's chain rule:

* PyTorch autograd (where torch is installed): the network rebuilt as ``torch.nn.Linear`` layers
  in float64, the loss as torch defines it (``BCELoss``, ``MSELoss``, ``CrossEntropyLoss`` on the
  logits), ``loss.backward()``.
* Central finite differences, always: the loss as a function of one parameter θ, computed by the
  derivation's own forward pass and loss lines (``derive.network_loss``), differentiated
  numerically: (𝓛(θ + h) − 𝓛(θ − h)) / 2h.

Tolerances (``|g − reference| ≤ rtol·|reference| + atol·s`` with the scale
``s = max(1, |𝓛|, largest |∂𝓛/∂θ|)``):

* autograd: rtol 1e-9, atol 1e-9. Both sides are float64 (ε = 2.2e-16); they differ only in
  the order of sums and products, which costs a few ulps per operation, far below 1e-9. The
  absolute part is for gradients that are 0 in exact arithmetic (a shift or a scale that a
  normalisation removes): the two sides' rounding is then all there is, and each normalisation
  over values of (nearly) no variance divides it by √eps ≈ 3e-3, so two of them in a row turn
  ulps into 1e-11 or 1e-10 (a layer norm of one feature, then two batch norms: autograd gives
  −8.9e-11 for a γ whose gradient is 0).
* finite differences: h = ε^(1/3)·max(1, |θ|) ≈ 6.1e-6·max(1, |θ|), the step that balances the
  truncation error h²/6·|𝓛'''| against the rounding error ε·|𝓛|/h; both are then about
  ε^(2/3) ≈ 4e-11 times the size of the loss and its derivatives. rtol 1e-6 and atol 1e-8 leave
  a margin of more than a hundred over that, and still catch any error in the chain rule (a
  wrong term changes a gradient by far more than one part in a million).
* bce near a saturated output: PyTorch's bce backward floors ŷ(1 − ŷ) at 1e-12 (and so does the
  derivation, to equal it), so where an output is within 1e-12 of 0 or 1 the gradient is that
  convention, not the loss's derivative. Finite differences then disagree; the row is marked
  ``floor`` and autograd alone decides (without torch, such a row fails: it cannot be checked).
* at a kink (relu at 0, abs, max, min) the loss has no derivative, and the derivation reports
  PyTorch's choice (relu'(0) = 0). Where the central difference disagrees in a network with such
  functions, the left and right derivatives are taken (one-sided differences, h = ε^(1/2)·max(1,
  |θ|), rtol 1e-5, atol 1e-6): a gradient between them (a subgradient) is accepted and marked
  ``kink``. Autograd still checks PyTorch's exact choice. Where a unit sits exactly at its kink,
  PyTorch's choice can differ even from a derivative the loss does have (two samples at the kink,
  one on each side); such a row is marked ``kink`` and autograd alone decides (without torch it
  fails: it cannot be checked). In a network with a max pool, where no unit sits at its
  activation's kink, the derivation's gradient is one side's derivative and autograd's the other's,
  the two took different sides of a tie in the pool (two equal values, which PyTorch's rounding of
  its convolution tells apart): both are accepted, and the row is marked ``tie``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from backprop_cli import losses
from backprop_cli.autograd import Autograd
from backprop_cli.layers import at, numbered, walk
from backprop_cli.model import Network, Vector

if TYPE_CHECKING:
    from backprop_cli.derivation import Derivation

EPSILON = sys.float_info.epsilon
CENTRAL_STEP = EPSILON ** (1 / 3)
"""Relative step of the central differences, ≈ 6.1e-6."""
ONE_SIDED_STEP = EPSILON**0.5
"""Relative step of the one-sided differences taken at a kink, ≈ 1.5e-8."""


@dataclass(frozen=True)
class Tolerance:
    """``|value − reference| ≤ rtol·|reference| + atol·scale``."""

    rtol: float
    atol: float

    def allows(self, value: float, reference: float, scale: float) -> bool:
        return abs(value - reference) <= self.rtol * abs(reference) + self.atol * scale


AUTOGRAD = Tolerance(rtol=1e-9, atol=1e-9)
CENTRAL = Tolerance(rtol=1e-6, atol=1e-8)
ONE_SIDED = Tolerance(rtol=1e-5, atol=1e-6)


@dataclass(frozen=True)
class Parameter:
    """One element of a parameter: where it sits and how the derivation names it (W₁, b₃, γ⁽²⁾[1])."""

    path: tuple[int, ...]
    kind: str  # the parameter's name: weight, bias …
    row: int
    column: int | None
    number: int
    glyph: str = ""
    """The page's letter for a matrix-form name (γ⁽²⁾[1]); empty for the scalar form's W₁, b₃."""
    more: tuple[int, ...] = ()
    """Indices after the column, for kernels (out, in, kernel_h, kernel_w)."""

    @property
    def index(self) -> tuple[int, ...]:
        return (self.row,) if self.column is None else (self.row, self.column, *self.more)

    @property
    def layer(self) -> int:
        return self.path[0]

    @property
    def key(self) -> str:
        """The spec-file path: ``layers[0].weight[1][0]``, ``layers[1].bias[0]``."""
        where = "].layers[".join(map(str, self.path))
        return f"layers[{where}].{self.kind}" + "".join(f"[{i}]" for i in self.index)

    @property
    def name(self) -> str:
        from backprop_cli.notation import Node
        from backprop_cli.printing import subscript, to_text

        if not self.glyph:
            # What to_text(Node("W", number)) prints, without a sympy symbol for each of thousands.
            return ("W" if self.kind == "weight" else "b") + subscript(str(self.number))
        index = ",".join(str(i + 1) for i in self.index)
        return f"{to_text(Node(self.glyph, layer=self.number))}[{index}]"

    def _element(self, value: Any) -> float:
        for i in self.index:
            value = value[i]
        return float(value)

    def value(self, network: Network) -> float:
        return self._element(at(network.layers, self.path).parameters()[self.kind])

    def value_in(self, values: dict[tuple[tuple[int, ...], str], Any]) -> float:
        """This parameter's value in ``Network.parameter_values()`` (one call for thousands of them)."""
        return self._element(values[(self.path, self.kind)])

    def gradient(self, layers: Sequence[dict[str, Any]]) -> float:
        """This parameter's gradient in the layers of ``Derivation.to_dict()``."""
        entry = layers[self.path[0]]
        for index in self.path[1:]:
            entry = entry["layers"][index]
        return self._element(entry[f"grad_{self.kind}"])

    def set(self, network: Network, value: float) -> Network:
        """``network`` with this parameter set to ``value``."""
        def put(current: Any, index: tuple[int, ...]) -> Any:
            if not index:
                return value
            return tuple(put(v, index[1:]) if j == index[0] else v for j, v in enumerate(current))

        current = at(network.layers, self.path).parameters()[self.kind]
        return network.with_values({(self.path, self.kind): put(current, self.index)})


def parameters(network: Network) -> list[Parameter]:
    """Every parameter element in the derivation's order: per layer, weights row by row, then biases
    (W₁ … and b₁ … numbered through the network in the scalar form)."""
    out: list[Parameter] = []
    counts: dict[str, int] = {}
    scalar = network.scalar_form
    for number, path, layer in numbered(network.layers):
        for name, value in layer.parameters().items():
            import numpy as np

            shape = np.shape(value)
            for index in np.ndindex(*shape):
                counts[name] = counts.get(name, 0) + 1
                out.append(Parameter(path, name, index[0], index[1] if len(index) > 1 else None,
                                     counts[name] if scalar else number, "" if scalar else layer.glyphs[name],
                                     tuple(index[2:])))
    return out


@dataclass(frozen=True)
class Comparison:
    """A gradient against one reference value.

    Args:
        reference: the reference's value (for a kink: the nearest point between the left and
            right derivatives).
        abs_error: ``|gradient − reference|``.
        rel_error: ``abs_error / |reference|`` (0 when both are 0, inf when only the reference is).
        ok: within the tolerance.
        method: ``autograd`` (``tie`` where autograd's value differs but is a subgradient too),
            ``central``, ``one-sided``, ``kink`` or ``floor``.
        sides: the left and right derivatives, for ``one-sided`` and ``kink``.
    """

    reference: float
    abs_error: float
    rel_error: float
    ok: bool
    method: str
    sides: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.reference, "abs_error": self.abs_error,
                               "rel_error": self.rel_error, "ok": self.ok, "method": self.method}
        if self.sides is not None:
            out["left"], out["right"] = self.sides
        return out


def compare(gradient: float, reference: float, tolerance: Tolerance, scale: float, method: str,
            sides: tuple[float, float] | None = None) -> Comparison:
    error = abs(gradient - reference)
    relative = error / abs(reference) if reference != 0 else (0.0 if error == 0 else math.inf)
    ok = math.isfinite(gradient) and tolerance.allows(gradient, reference, scale)
    return Comparison(reference, error, relative, ok, method, sides)


@dataclass(frozen=True)
class GradientCheck:
    """One parameter: the derivation's gradient and what the references say."""

    parameter: Parameter
    value: float
    gradient: float
    autograd: Comparison | None
    finite_difference: Comparison

    @property
    def ok(self) -> bool:
        return self.finite_difference.ok and (self.autograd is None or self.autograd.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.parameter.name,
            "key": self.parameter.key,
            "value": self.value,
            "gradient": self.gradient,
            "autograd": None if self.autograd is None else self.autograd.to_dict(),
            "finite_difference": self.finite_difference.to_dict(),
            "ok": self.ok,
        }


@dataclass(frozen=True)
class Verification:
    """The result of ``backprop verify``: every gradient of ``derivation`` checked.

    Args:
        derivation: the derivation whose gradients were checked.
        checks: one per parameter, in the derivation's order.
        torch_version: PyTorch's version, or None where torch is not installed.
        scale: ``max(1, |𝓛|, largest |∂𝓛/∂θ|)``, the scale of the absolute tolerances.
    """

    derivation: Derivation
    checks: tuple[GradientCheck, ...]
    torch_version: str | None
    scale: float
    forward: str = "scalar"

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> tuple[GradientCheck, ...]:
        return tuple(check for check in self.checks if not check.ok)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``backprop verify --format json``."""
        autograd = None if self.torch_version is None else {
            "torch": self.torch_version, "rtol": AUTOGRAD.rtol, "atol": AUTOGRAD.atol}
        return {
            "ok": self.ok,
            "loss": self.derivation.loss,
            "scale": self.scale,
            "references": {
                "autograd": autograd,
                "finite_differences": {
                    "forward": self.forward,
                    "step": CENTRAL_STEP, "rtol": CENTRAL.rtol, "atol": CENTRAL.atol,
                    "one_sided_step": ONE_SIDED_STEP, "one_sided_rtol": ONE_SIDED.rtol,
                    "one_sided_atol": ONE_SIDED.atol},
            },
            "parameters": [check.to_dict() for check in self.checks],
        }


def check_gradients(network: Network, xs: Sequence[Vector], ys: Sequence[Vector], *,
                    form: str = "auto", use_torch: bool = True, autograd: Autograd | None = None) -> Verification:
    """Work out the derivation and check each of its gradients against the references.

    Args:
        network: the network (its loss is differentiated; the optimizer plays no part).
        xs: inputs, one tuple per sample.
        ys: targets, one tuple per sample.
        form: the derivation's form (``auto``, ``scalar``, ``matrix``).
        use_torch: compare with PyTorch autograd when torch is installed.
        autograd: a child started by ``Autograd.ahead()`` (the command line's), sent the network
            here; without one, autograd starts here.

    Raises:
        BackpropError: when the network or samples are not valid.
    """
    from backprop_cli.errors import BackpropError

    xs, ys = tuple(xs), tuple(ys)
    if any(layer.truncates_gradients() for _, layer in walk(network.layers)):
        raise BackpropError("bptt: truncated BPTT's gradients are not the loss's derivative, so finite"
                            " differences cannot check them; verify the network without bptt")
    pending = autograd if use_torch else None
    if pending is not None:
        pending.send(network, xs, ys)
    elif use_torch:
        pending = Autograd(network, xs, ys)
    try:
        return _checked(network, xs, ys, form, pending)
    finally:
        if pending is not None:
            pending.close()


def _checked(network: Network, xs: tuple[Vector, ...], ys: tuple[Vector, ...], form: str,
             pending: Autograd | None) -> Verification:
    from backprop_cli.build import build_derivation, network_loss
    from backprop_cli.derivation import Options

    derivation = build_derivation(network, xs, ys, Options(form=form))
    layers = derivation.to_dict()["layers"]
    chosen = parameters(network)
    gradients = [p.gradient(layers) for p in chosen]
    scale = max(1.0, abs(derivation.loss), *(abs(g) for g in gradients if math.isfinite(g)))
    kinks = has_kinks(network)
    floored = bce_floored(network, derivation)
    at_kink = kinks and units_at_kinks(network, layers)
    ties = any(getattr(layer, "largest", False) for _, layer in walk(network.layers))  # a max pool
    forward = "scalar" if len(chosen) * len(xs) <= SCALAR_FORWARD_LIMIT else "numpy"
    matrix_loss = _MatrixLoss(network, xs, ys) if forward == "numpy" else None
    centrals = central_losses(network, xs, ys, chosen) if forward == "numpy" and network.scalar_form else None
    values = network.parameter_values()
    numerics = []
    for index, (parameter, gradient) in enumerate(zip(chosen, gradients, strict=True)):

        def loss_at(theta: float, parameter: Parameter = parameter) -> float:
            if matrix_loss is not None:
                return matrix_loss(parameter, theta)
            return network_loss(parameter.set(network, theta), xs, ys)

        numerics.append(finite_difference(loss_at, parameter.value_in(values), derivation.loss, gradient, scale,
                                          kinks, None if centrals is None else centrals[index]))
    # Autograd's numbers are asked for last: its child imports torch meanwhile.
    reference = pending.result() if pending is not None else None
    checks = []
    for index, (parameter, gradient, numeric) in enumerate(zip(chosen, gradients, numerics, strict=True)):
        autograd = None
        if reference is not None:
            autograd = compare(gradient, reference[1][index], AUTOGRAD, scale, "autograd")
        if not numeric.ok and (floored or at_kink):
            # There the gradient is PyTorch's convention, not the loss's derivative: autograd decides.
            numeric = replace(numeric, method="floor" if floored else "kink",
                              ok=autograd is not None and autograd.ok)
        elif (ties and not at_kink and autograd is not None and not autograd.ok
              and opposite_sides(gradient, autograd.reference, numeric, scale)):
            # A max pool's tie that PyTorch's rounding breaks the other way: each value is one side's
            # derivative of the loss (module docstring).
            autograd = replace(autograd, ok=True, method="tie")
        checks.append(GradientCheck(parameter, parameter.value_in(values), gradient, autograd, numeric))
    return Verification(derivation, tuple(checks), None if reference is None else reference[0], scale, forward)


SCALAR_FORWARD_LIMIT = 200
"""Parameters × samples above which finite differences take the loss from the numpy engine's
matrix forward pass instead of the derivation's scalar lines: each loss is then a few matrix
products, not a sympy pass over every unit, so verify grows linearly with the parameters."""


class _MatrixLoss:
    """The loss with one parameter changed, by the numpy engine's forward pass (float64)."""

    def __init__(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector]) -> None:
        from backprop_cli.engines.base import EngineSettings
        from backprop_cli.engines.numpy_engine import NumpyEngine

        self.engine = NumpyEngine(network, xs, ys, EngineSettings(len(xs)))

    def __call__(self, parameter: Parameter, theta: float) -> float:
        array = self.engine.params[(parameter.path, parameter.kind)]
        where = (parameter.row, parameter.column) if parameter.column is not None else (parameter.row,)
        old = float(array[where])
        array[where] = theta
        try:
            return self.engine.evaluate(0)[0]
        finally:
            array[where] = old


def central_losses(network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
                   chosen: Sequence[Parameter]) -> list[tuple[float, float]]:
    """𝓛(θ − h) and 𝓛(θ + h) of every parameter, the perturbations worked as one batch a layer
    (``perturbed.PerturbedLosses``: a network of dense layers)."""
    from backprop_cli.perturbed import PerturbedLosses

    batch = PerturbedLosses(network, xs, ys)
    out: list[tuple[float, float]] = [(0.0, 0.0)] * len(chosen)
    groups: dict[tuple[tuple[int, ...], str], list[int]] = {}
    values = network.parameter_values()
    for index, parameter in enumerate(chosen):
        groups.setdefault((parameter.path, parameter.kind), []).append(index)
    for (path, kind), indices in groups.items():
        cells = [(chosen[i].row, chosen[i].column) for i in indices]
        steps = [_step(chosen[i].value_in(values), CENTRAL_STEP) for i in indices]
        losses_at = batch.losses(path, kind, cells + cells, [s[0] for s in steps] + [s[1] for s in steps])
        for k, i in enumerate(indices):
            out[i] = (float(losses_at[k]), float(losses_at[len(indices) + k]))
    return out


def _step(theta: float, relative: float) -> tuple[float, float, float]:
    """θ − h, θ + h and h for a step of ``relative``·max(1, |θ|), h exactly representable."""
    h = relative * max(1.0, abs(theta))
    plus, minus = theta + h, theta - h
    return minus, plus, (plus - minus) / 2


def finite_difference(loss_at: Callable[[float], float], theta: float, loss: float, gradient: float,
                      scale: float, kinks: bool, central: tuple[float, float] | None = None) -> Comparison:
    """``gradient`` against the central difference of ``loss_at`` at ``theta`` (see the module doc).

    Args:
        loss_at: the loss as a function of the parameter.
        theta: the parameter's value.
        loss: the loss at ``theta``.
        gradient: the derivation's gradient.
        scale: the scale of the absolute tolerance.
        kinks: whether the network has functions with kinks (then one-sided differences are
            taken where the central difference disagrees).
        central: 𝓛(θ − h) and 𝓛(θ + h) where already worked out (``central_losses``).
    """
    minus, plus, h = _step(theta, CENTRAL_STEP)
    below, above = central if central is not None else (loss_at(minus), loss_at(plus))
    result = compare(gradient, (above - below) / (2 * h), CENTRAL, scale, "central")
    if result.ok or not kinks:
        return result
    minus, plus, h = _step(theta, ONE_SIDED_STEP)
    left = (loss - loss_at(minus)) / h
    right = (loss_at(plus) - loss) / h
    low, high = min(left, right), max(left, right)
    nearest = min(max(gradient, low), high)
    method = "one-sided" if ONE_SIDED.allows(left, right, scale) else "kink"
    return compare(gradient, nearest, ONE_SIDED, scale, method, (left, right))


def opposite_sides(gradient: float, reference: float, numeric: Comparison, scale: float) -> bool:
    """Whether, at a kink that ``numeric`` found, ``gradient`` is one side's derivative of the loss and
    ``reference`` the other's (each within the one-sided differences' tolerance)."""
    if numeric.method != "kink" or numeric.sides is None or not numeric.ok:
        return False
    left, right = numeric.sides

    def near(value: float, side: float) -> bool:
        return ONE_SIDED.allows(value, side, scale)

    return (near(gradient, left) and near(reference, right)) or (near(gradient, right) and near(reference, left))


def bce_floored(network: Network, derivation: Derivation) -> bool:
    """Whether bce's derivative floors ŷ(1 − ŷ) somewhere (at 1e−12, as ``torch.nn.BCELoss`` does).

    Where an output is that close to 0 or 1, the gradient PyTorch and the derivation compute is
    no longer the derivative of the loss, so finite differences cannot confirm it.
    """

    floor = losses.of(network).denominator_floor
    if floor is None:
        return False
    return any(p * (1 - p) < floor for row in derivation.output for p in row)


def units_at_kinks(network: Network, layers: Sequence[dict[str, Any]]) -> bool:
    """Whether a unit's input to its activation sits at a kink (relu at exactly 0).

    Found numerically, so formulas count too: the activation's left and right slopes there differ.
    """
    from backprop_cli import functions
    from backprop_cli.evaluate import evaluate

    for layer, inputs in _activation_inputs(network.layers, layers, network):
        activation = functions.activation(layer.activation or "identity")
        if not isinstance(activation, functions.Activation):
            continue
        for z in {value for row in inputs for value in row}:
            h = ONE_SIDED_STEP * max(1.0, abs(z))
            f = [evaluate(activation.expr, {functions.X: z + d}) for d in (-h, 0.0, h)]
            left, right = (f[1] - f[0]) / h, (f[2] - f[1]) / h
            if abs(left - right) > 1e-3 * max(1.0, abs(left), abs(right)):
                return True
    return False


def _activation_inputs(layers: Sequence[Any], results: Sequence[dict[str, Any]],
                       network: Network, before: Any = None) -> list[tuple[Any, Any]]:
    """(layer, the values its activation is applied to) for every layer that ends with one."""
    out = []
    for layer, result in zip(layers, results, strict=True):
        if layer.children():
            out += _activation_inputs(layer.children(), result["layers"], network, before)
        elif layer.activation is not None:
            out.append((layer, result["z"] if "z" in result else before))
        before = result["output"]
    return [(layer, values) for layer, values in out if values is not None]


def has_kinks(network: Network) -> bool:
    """Whether an activation has a point without a derivative (relu, leaky_relu, abs, max, min)."""
    import sympy as sp

    from backprop_cli import functions

    for _, layer in walk(network.layers):
        if layer.activation is None:
            continue
        activation = functions.activation(layer.activation)
        if isinstance(activation, functions.Activation) and activation.expr.has(
                sp.Piecewise, sp.Abs, sp.Max, sp.Min, sp.Heaviside, sp.sign):
            return True
    return False
