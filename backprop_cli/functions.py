"""Activations and losses, each defined once as a sympy expression.

Derivatives come from ``sympy.diff`` on that definition; the printed forms, the derivative in
terms of the unit's own output (σ(1 − σ), 1 − a²) and the numbers all follow from it.
PyTorch's numerical conventions are kept where they change a value: the derivative at a kink is
PyTorch's (relu'(0) = 0, leaky_relu'(0) = 0.01), bce's log is clamped at −100 and the
denominator of its derivative at 1e−12 (in float32, as ``torch.nn.BCELoss``), and softmax with cross-entropy
is differentiated as one function (``torch.nn.CrossEntropyLoss`` on the logits).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import sympy as sp

from backprop_cli.derived import SPOT_POINTS, derivatives_agree, derived
from backprop_cli.errors import SpecError
from backprop_cli.notation import add, mul, neg, power, rebuild, replace

X = sp.Symbol("x", real=True)
"""The variable activations are written in."""
OUT = sp.Symbol("a", real=True)
"""Stands for an activation's own output in its derivative (σ(1 − σ))."""
YHAT = sp.Symbol("yhat", real=True)
Y = sp.Symbol("y", real=True)

Builder = Callable[[sp.Expr], sp.Expr]


class clamp_min(sp.Function):
    """``torch.clamp_min(x, floor)``: x where it is at least ``floor``, else ``floor``; nan stays nan.

    Written into an expression where PyTorch clamps (bce's logs, its derivative's denominator), so
    that the numeric form of a line says exactly what is computed.
    """

    nargs = 2

    @classmethod
    def eval(cls, x: sp.Expr, floor: sp.Expr) -> sp.Expr | None:
        if x.is_Number and floor.is_Number and x is not sp.nan:
            return x if x >= floor else floor
        return None


def tidy(expr: sp.Expr) -> sp.Expr:
    """Write a derivative the way textbooks do: the shorter of it and its factored form, signs turned.

    ``-a**2 + a`` becomes ``a*(1 - a)`` and ``(y - yhat)/(yhat*(yhat - 1))`` becomes
    ``(yhat - y)/(yhat*(1 - yhat))``; ``1 - a**2`` stays as it is.
    """
    from backprop_cli.budget import cheap_enough, simplified

    if expr.has(sp.Piecewise) or not cheap_enough(expr):
        return expr
    candidates = [_turn_signs(expr)]
    if expr.is_rational_function():
        factored = simplified(lambda: _turn_signs(sp.factor(expr)), None)
        if factored is not None:
            candidates.insert(0, factored)
    # The factored form wins ties: σ(1 − σ) over σ − σ².
    return min(candidates, key=sp.count_ops)


def _turn_signs(expr: sp.Expr) -> sp.Expr:
    """Flip factors ``(s - c)`` with a negative constant; the coefficient or another factor pays."""
    if not isinstance(expr, sp.Mul):
        return expr
    coeff, factors = expr.as_coeff_mul()
    sign = -1 if coeff.is_negative else 1
    parts: list[sp.Expr] = list(factors)

    def flippable(factor: sp.Expr, negative_constant: bool) -> bool:
        base, exponent = factor.as_base_exp()
        if not (isinstance(base, sp.Add) and exponent.is_integer):
            return False
        constant = base.as_coeff_add()[0]
        return bool(constant.is_negative) if negative_constant else constant == 0

    def flip(factor: sp.Expr) -> tuple[sp.Expr, int]:
        base, exponent = factor.as_base_exp()
        flipped = -base if exponent == 1 else sp.Pow(-base, exponent, evaluate=False)
        return flipped, (-1 if exponent % 2 else 1)

    for i, factor in enumerate(parts):
        if flippable(factor, negative_constant=True):
            parts[i], cost = flip(factor)
            sign *= cost
    if sign < 0:
        for i, factor in enumerate(parts):
            if flippable(factor, negative_constant=False) and factor.as_base_exp()[1] % 2:
                parts[i], cost = flip(factor)
                sign *= cost
                break
    coeff = abs(coeff) * sign
    rest = parts
    return sp.Mul(*([coeff] if coeff != 1 else []), *rest, evaluate=False)


@dataclass(frozen=True, eq=False)
class Activation:
    """An element-wise activation ``a = f(z)``.

    Args:
        name: the built-in name, or the formula as written.
        builder: the definition, a function of the sympy variable.
        glyph: the letter its outputs are written with (``sigma`` for σ, else ``a``).
    """

    name: str
    builder: Builder
    glyph: str = "a"

    @cached_property
    def expr(self) -> sp.Expr:
        """The definition in ``x``, evaluated (for calculus)."""
        return self.builder(X)

    @cached_property
    def display(self) -> sp.Expr:
        """The definition in ``x`` as written (for printing)."""
        with sp.evaluate(False):
            return self.builder(X)

    @cached_property
    def derivative(self) -> sp.Expr:
        """f'(x), by sympy (kept between runs, see derived.py)."""
        return derived("activation.derivative", sp.srepr(self.display), lambda: tidy(sp.diff(self.expr, X)),
                       check=lambda d: derivatives_agree([(d, self.display, X)], [{X: p} for p in SPOT_POINTS]))

    @cached_property
    def derivative_of_output(self) -> sp.Expr | None:
        """f'(x) written in the output ``a = f(x)`` alone, where sympy can do so; else None."""
        return derived("activation.derivative_of_output", sp.srepr(self.display),
                       lambda: _in_terms_of_output(self.expr, self.derivative),
                       check=lambda d: d is None or derivatives_agree(
                           [(d, self.display, X)], [{X: p} for p in SPOT_POINTS], {OUT: self.display}))

    def apply(self, z: sp.Expr) -> sp.Expr:
        """The printed right side of ``a = f(z)``."""
        return replace(self.display, {X: z})

    def local_derivative(self, z: sp.Expr, a: sp.Expr) -> sp.Expr:
        """The printed right side of ``∂a/∂z``: in terms of ``a`` where possible, else of ``z``."""
        in_output = self.derivative_of_output
        if in_output is not None:
            return replace(in_output, {OUT: a})
        return replace(self.derivative, {X: z})


def _in_terms_of_output(f: sp.Expr, d: sp.Expr) -> sp.Expr | None:
    if X not in d.free_symbols:
        return d
    if f.has(sp.Piecewise):
        return None
    direct = d.subs(f, OUT)
    if X not in direct.free_symbols:
        return tidy(direct)
    # f rational in one exponential u = exp(c x): solve a = f(u) for u, which is linear.
    exponentials = f.atoms(sp.exp)
    if len(exponentials) != 1:
        return None
    (u_expr,) = exponentials
    u = sp.Dummy("u")
    g = f.xreplace({u_expr: u})
    if X in g.free_symbols:
        return None
    numerator, denominator = sp.fraction(sp.together(g))
    try:
        poly = sp.Poly(OUT * denominator - numerator, u)
    except sp.PolynomialError:  # u inside max, min or abs: not a polynomial in u
        return None
    if poly.degree() != 1:
        return None
    c1, c0 = poly.all_coeffs()
    solved = sp.cancel(d.subs(u_expr, -c0 / c1))
    if X in solved.free_symbols:
        return None
    return tidy(solved)


def _sigmoid(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


_BUILTIN: dict[str, tuple[Builder, str]] = {
    "sigmoid": (_sigmoid, "sigma"),
    "tanh": (sp.tanh, "a"),
    # Written with "x > 0" so that the derivative at the kink is PyTorch's.
    "relu": (lambda x: sp.Piecewise((x, x > 0), (0, True)), "a"),
    "leaky_relu": (lambda x: sp.Piecewise((x, x > 0), (sp.Rational(1, 100) * x, True)), "a"),
    "identity": (lambda x: x, "a"),
}


NAMES = (*_BUILTIN, "softmax")
"""The built-in activations."""


class Softmax:
    """softmax(z)ₖ = exp(zₖ)/Σⱼ exp(zⱼ), a function of the whole layer."""

    name = "softmax"
    glyph = "a"

    def apply(self, zs: Sequence[sp.Expr], k: int) -> sp.Expr:
        """The printed right side of ``aₖ = softmax(z)ₖ``."""
        return mul(sp.exp(zs[k]), power(add(*(sp.exp(z) for z in zs)), -1))

    @staticmethod
    def _symbols(units: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
        return _softmax_symbols(units)

    @staticmethod
    def _in_outputs(expr: sp.Expr, zs: Sequence[sp.Symbol], ps: Sequence[sp.Symbol]) -> sp.Expr:
        # zⱼ = log(pⱼ S): exact for softmax outputs pⱼ and any S > 0, which then cancels.
        s = sp.Symbol("S", positive=True)
        total = sp.Add(*(sp.exp(z) for z in zs))
        rewritten = expr.xreplace({total: s}).xreplace({z: sp.log(p * s) for z, p in zip(zs, ps, strict=True)})
        cancelled = sp.cancel(sp.expand_log(rewritten, force=True))
        return tidy(sp.collect(sp.expand(cancelled), list(ps)) if cancelled.is_polynomial() else cancelled)

    def stable(self, zs: Sequence[sp.Expr], k: int) -> sp.Expr:
        """softmax(z)ₖ as PyTorch computes it: the largest z subtracted first, so exp never overflows."""
        top = sp.Max(*zs, evaluate=False)
        shifted = [sp.exp(add(z, neg(top)), evaluate=False) for z in zs]
        return mul(shifted[k], power(add(*shifted), -1))

    def cross_entropy(self, zs: Sequence[sp.Expr], ys: Sequence[sp.Expr], divisor: int) -> sp.Expr:
        """-Σ yₖ log softmax(z)ₖ / divisor from the logits (log-sum-exp), as torch.nn.CrossEntropyLoss."""
        top = sp.Max(*zs, evaluate=False)
        shift = add(top, sp.log(add(*(sp.exp(add(z, neg(top)), evaluate=False) for z in zs)), evaluate=False))
        total = add(*(mul(y, add(z, neg(shift))) for z, y in zip(zs, ys, strict=True)))
        return mul(sp.Rational(-1, divisor), total)

    def jacobian(self, units: int) -> tuple[tuple[sp.Expr, ...], ...]:
        """``[k][i]`` = ∂aₖ/∂zᵢ in the outputs p₁…pₙ (symbols of ``_symbols``)."""
        return _softmax_jacobian(units)

    def fused_delta(self, loss: Loss, units: int, divisor: int) -> tuple[sp.Expr, ...]:
        """∂𝓛/∂zᵢ of ``loss(softmax(z), y)/divisor`` differentiated as one function."""
        return _softmax_fused_delta(loss, units, divisor)


@cache
def _softmax_symbols(units: int) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Symbol, ...], tuple[sp.Symbol, ...]]:
    zs = sp.symbols(f"z1:{units + 1}", real=True)
    ps = sp.symbols(f"p1:{units + 1}", positive=True)
    ys = sp.symbols(f"y1:{units + 1}", real=True)
    return zs, ps, ys


@cache
def _softmax_jacobian(units: int) -> tuple[tuple[sp.Expr, ...], ...]:
    zs, ps, _ = _softmax_symbols(units)
    total = sp.Add(*(sp.exp(z) for z in zs))
    outputs = {p: sp.exp(z) / total for p, z in zip(ps, zs, strict=True)}
    point = {z: SPOT_POINTS[i % 3] + i / 7 for i, z in enumerate(zs)}

    def check(jacobian: tuple[tuple[sp.Expr, ...], ...]) -> bool:
        # The first row and the diagonal: every kind of entry, in time linear in the units.
        entries = {(0, i) for i in range(units)} | {(k, k) for k in range(units)}
        return derivatives_agree([(jacobian[k][i], outputs[ps[k]], zs[i]) for k, i in sorted(entries)],
                                 [point], outputs)

    return derived("softmax.jacobian", str(units), lambda: _derive_softmax_jacobian(units), check=check)


def _derive_softmax_jacobian(units: int) -> tuple[tuple[sp.Expr, ...], ...]:
    zs, ps, _ = _softmax_symbols(units)
    total = sp.Add(*(sp.exp(z) for z in zs))
    return tuple(
        tuple(Softmax._in_outputs(sp.diff(sp.exp(zs[k]) / total, zs[i]), zs, ps) for i in range(units))
        for k in range(units)
    )


@cache
def _softmax_fused_delta(loss: Loss, units: int, divisor: int) -> tuple[sp.Expr, ...]:
    zs, ps, ys = _softmax_symbols(units)
    total = sp.Add(*(sp.exp(z) for z in zs))
    outputs = {p: sp.exp(z) / total for p, z in zip(ps, zs, strict=True)}
    composed = sp.Add(*(loss.expr_at(sp.exp(zs[k]) / total, ys[k]) for k in range(units))) / divisor
    point = {**{z: SPOT_POINTS[i % 3] + i / 7 for i, z in enumerate(zs)},
             **{y: (i + 1) / (units + 1) for i, y in enumerate(ys)}}
    return derived("softmax.fused_delta", f"{sp.srepr(loss.display)}|{units}|{divisor}",
                   lambda: _derive_softmax_fused_delta(loss, units, divisor),
                   check=lambda delta: derivatives_agree(
                       [(delta[i], composed, zs[i]) for i in range(units)], [point], outputs))


def _derive_softmax_fused_delta(loss: Loss, units: int, divisor: int) -> tuple[sp.Expr, ...]:
    zs, ps, ys = _softmax_symbols(units)
    total = sp.Add(*(sp.exp(z) for z in zs))
    composed = sp.Add(*(loss.expr_at(sp.exp(zs[k]) / total, ys[k]) for k in range(units)))
    composed = sp.expand_log(composed, force=True) / divisor
    return tuple(Softmax._in_outputs(sp.diff(composed, zs[i]), zs, ps) for i in range(units))


SOFTMAX = Softmax()


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

    def expr_at(self, yhat: sp.Expr, y: sp.Expr) -> sp.Expr:
        return self.builder(yhat, y)

    @cached_property
    def display(self) -> sp.Expr:
        """ℓ(ŷ, y) as written, in ``YHAT`` and ``Y``."""
        with sp.evaluate(False):
            return self.builder(YHAT, Y)

    def display_at(self, yhat: sp.Expr, y: sp.Expr) -> sp.Expr:
        """ℓ as written, for this prediction and target."""
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

    def total(self, pairs: Sequence[tuple[sp.Expr, sp.Expr]], divisor: int) -> sp.Expr:
        """The printed right side of 𝓛 for these (prediction, target) pairs."""
        body = add(*(self.display_at(yhat, y) for yhat, y in pairs))
        return body if divisor == 1 else mul(sp.Rational(1, divisor), body)


def _clamped(expr: sp.Basic, log_floor: float | None, denominator_floor: float | None) -> sp.Basic:
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
    return isinstance(expr, sp.Pow) and bool(expr.exp.is_Number) and bool(expr.exp.is_negative)


@cache
def _loss_derivative(loss: Loss, divisor: int) -> sp.Expr:
    points = [{YHAT: 0.3719, Y: 0.0}, {YHAT: 0.8123, Y: 1.0}, {YHAT: 0.6143, Y: 0.25}]
    return derived("loss.derivative", f"{sp.srepr(loss.display)}|{divisor}",
                   lambda: tidy(sp.together(sp.diff(loss.builder(YHAT, Y), YHAT) / divisor)),
                   check=lambda d: derivatives_agree(
                       [(d, mul(sp.Rational(1, divisor), loss.display), YHAT)], points))


BCE_FLOOR = 9.999999960041972e-13
"""1e-12 as a float32: the floor PyTorch's bce backward puts under ŷ(1 − ŷ) (its EPSILON constant is
single precision even for float64 tensors, which matters only where a sigmoid saturates)."""

LOSS_FUNCTIONS: dict[str, Loss] = {
    "bce": Loss(
        "bce",
        lambda yhat, y: -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat)),
        "mean",
        log_floor=-100.0,
        denominator_floor=BCE_FLOOR,
    ),
    "mse": Loss("mse", lambda yhat, y: (yhat - y) ** 2, "mean"),
    "sse": Loss("sse", lambda yhat, y: (yhat - y) ** 2, "sum"),
    "half_sse": Loss("half_sse", lambda yhat, y: sp.Rational(1, 2) * (yhat - y) ** 2, "sum"),
    "cross_entropy": Loss("cross_entropy", lambda yhat, y: -y * sp.log(yhat), "sample_mean"),
}


@cache
def activation(name: str) -> Activation | Softmax:
    """The activation for a built-in name or a formula in ``x``.

    Raises:
        SpecError: for an unknown name or a formula that is not accepted.
    """
    if name == "softmax":
        return SOFTMAX
    if name in _BUILTIN:
        builder, glyph = _BUILTIN[name]
        return Activation(name, builder, glyph)
    from backprop_cli.formula import parse_formula

    return Activation(name, parse_formula(name), "a")


def loss(name: str) -> Loss:
    """The loss of this name."""
    try:
        return LOSS_FUNCTIONS[name]
    except KeyError:
        raise SpecError(
            f"loss: unknown loss {name!r}; choose one of {', '.join(LOSS_FUNCTIONS)}"
        ) from None
