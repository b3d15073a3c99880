"""A loss: its value for one output element as a sympy expression (its derivative by sympy), how the
elements are reduced, PyTorch's floors, and what the builders and engines ask of it.

Each loss is one module of this package (a ``Loss`` instance named ``LOSS``), registered by name
in ``losses/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sympy as sp

# sympy is imported by the methods that build expressions, not here: ``backprop verify``'s autograd
# reference reads a loss's torch criterion (``torch_loss``) in a process that never loads sympy.


@dataclass(frozen=True, eq=False)
class Loss:
    """A loss, defined by its value for one output element and how elements are reduced.

    Args:
        name: the loss name.
        builder: ℓ(ŷ, y) for one element.
        reduction: ``mean`` over all elements, ``sum``, or ``sample_mean`` (sum over a sample's
            outputs, mean over samples).
        log_floor: logs are clamped below at this value (PyTorch's bce).
        denominator_floor: the derivative's denominator is clamped below at this value (PyTorch's
            bce backward).
    """

    name: str
    builder: Callable[[sp.Expr, sp.Expr], sp.Expr]
    reduction: str
    log_floor: float | None = None
    denominator_floor: float | None = None
    probabilities: bool = False
    """Targets are probabilities, in [0, 1] (bce, cross_entropy)."""
    one_hot: bool = False
    """Targets are one-hot rows (a class index per sample is turned into one), as torch's NLLLoss takes."""
    needs_probabilities: bool = False
    """Predictions must lie in [0, 1] (torch.nn.BCELoss refuses others)."""
    output: str | None = None
    """The output activation this loss needs (cross_entropy: softmax)."""
    fused: bool = False
    """Computed from the output layer's logits with its activation, as one function (torch's
    CrossEntropyLoss): its δ comes from differentiating the composition."""
    simplifies_with: str | None = None
    """An output activation with which δ = ∂𝓛/∂z simplifies to (ŷ − y)/n (bce with sigmoid)."""
    criterion: Callable[[Any, float], Any] | None = None
    """``criterion(torch, beta)`` → f(output, logits, target): the loss as torch computes it."""
    beta: float = 1.0
    """smooth_l1's β (the other losses ignore it)."""

    def expr_at(self, yhat: sp.Expr, y: sp.Expr) -> sp.Expr:
        return self.builder(yhat, y)

    @cached_property
    def display(self) -> sp.Expr:
        """ℓ(ŷ, y) as written, in ``YHAT`` and ``Y``."""
        import sympy as sp

        from backprop_cli.functions import YHAT, Y

        with sp.evaluate(False):
            return self.builder(YHAT, Y)

    def display_at(self, yhat: sp.Expr, y: sp.Expr) -> sp.Expr:
        """ℓ as written, for this prediction and target."""
        from backprop_cli.functions import YHAT, Y
        from backprop_cli.notation import replace

        return replace(self.display, {YHAT: yhat, Y: y})

    def divisor(self, samples: int, outputs: int) -> int:
        """The number the summed elements are divided by."""
        if self.reduction == "mean":
            return samples * outputs
        if self.reduction == "sample_mean":
            return samples
        return 1

    def derivative(self, divisor: int) -> sp.Expr:
        """∂𝓛/∂ŷ for one element, in ``YHAT`` and ``Y``, by sympy."""
        return _loss_derivative(self, divisor)

    def clamped(self, expr: sp.Basic) -> sp.Basic:
        """``expr`` with this loss's PyTorch floors written out with :class:`clamp_min`.

        Every log becomes ``clamp_min(log(u), log_floor)`` and every product's denominator
        ``clamp_min(denominator, denominator_floor)``; without floors the expression is returned as is.
        """
        if self.log_floor is None and self.denominator_floor is None:
            return expr
        return _clamped(expr, self.log_floor, self.denominator_floor)

    def torch_loss(self, torch: Any, output: Any, logits: Any, target: Any) -> Any:
        """The loss of ``output`` (or, fused, ``logits``) as PyTorch computes it."""
        assert self.criterion is not None
        return self.criterion(torch, self.beta)(output, logits, target)

    def total(self, pairs: Sequence[tuple[sp.Expr, sp.Expr]], divisor: int) -> sp.Expr:
        """The printed right side of 𝓛 for these (prediction, target) pairs."""
        import sympy as sp

        from backprop_cli.notation import add, mul

        body = add(*(self.display_at(yhat, y) for yhat, y in pairs))
        return body if divisor == 1 else mul(sp.Rational(1, divisor), body)


def _clamped(expr: sp.Basic, log_floor: float | None, denominator_floor: float | None) -> sp.Basic:
    import sympy as sp

    from backprop_cli.notation import clamp_min, mul, power, rebuild

    if not expr.args:
        return expr
    args = [_clamped(arg, log_floor, denominator_floor) for arg in expr.args]
    if isinstance(expr, sp.log) and log_floor is not None:
        return clamp_min(sp.log(args[0], evaluate=False), sp.Float(log_floor), evaluate=False)
    if isinstance(expr, sp.Mul) and denominator_floor is not None:
        numerator = [a for a in args if not _is_reciprocal(a)]
        denominator = [a.base if a.exp == -1 else power(a.base, -a.exp) for a in args if _is_reciprocal(a)]
        if denominator:
            floored = clamp_min(mul(*denominator), sp.Float(denominator_floor), evaluate=False)
            return mul(*numerator, power(floored, -1))
    return rebuild(expr, args)


def _is_reciprocal(expr: sp.Basic) -> bool:
    import sympy as sp

    return isinstance(expr, sp.Pow) and bool(expr.exp.is_Number) and bool(expr.exp.is_negative)


@cache
def _loss_derivative(loss: Loss, divisor: int) -> sp.Expr:
    import sympy as sp

    from backprop_cli.derived import derivatives_agree, derived
    from backprop_cli.functions import YHAT, Y, tidy
    from backprop_cli.notation import mul

    points = [{YHAT: 0.3719, Y: 0.0}, {YHAT: 0.8123, Y: 1.0}, {YHAT: 0.6143, Y: 0.25}]
    return derived("loss.derivative", f"{sp.srepr(loss.display)}|{divisor}",
                   lambda: tidy(sp.together(sp.diff(loss.builder(YHAT, Y), YHAT) / divisor)),
                   check=lambda d: derivatives_agree(
                       [(d, mul(sp.Rational(1, divisor), loss.display), YHAT)], points))


BCE_FLOOR = 9.999999960041972e-13
"""1e-12 as a float32: the floor PyTorch's bce backward puts under ŷ(1 − ŷ) (its EPSILON constant is
single precision even for float64 tensors, which matters only where a sigmoid saturates)."""
