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
from typing import TYPE_CHECKING, Any

import sympy as sp

from backprop_cli.derived import SPOT_POINTS, derivatives_agree, derived
from backprop_cli.errors import BackpropError
from backprop_cli.notation import Elementwise, Hadamard, add, mul, neg, power, replace

if TYPE_CHECKING:
    from backprop_cli.losses.base import Loss

X = sp.Symbol("x", real=True)
"""The variable activations are written in."""
OUT = sp.Symbol("a", real=True)
"""Stands for an activation's own output in its derivative (σ(1 − σ))."""
YHAT = sp.Symbol("yhat", real=True)
Y = sp.Symbol("y", real=True)

Builder = Callable[[sp.Expr], sp.Expr]


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


NAMES = (*_BUILTIN, "softmax", "log_softmax")
"""The built-in activations."""


class Softmax:
    """softmax(z)ₖ = exp(zₖ)/Σⱼ exp(zⱼ), a function of the whole layer."""

    name = "softmax"
    glyph = "a"
    note = "matrix.softmax"
    delta_note = "matrix.delta_softmax"

    def values(self, row: Sequence[float]) -> list[float]:
        """The layer's outputs for one sample's z, as PyTorch computes them (the maximum subtracted)."""
        from backprop_cli.evaluate import exp

        top = max(row)
        exps = [exp(v - top) for v in row]
        total = sum(exps)
        return [e / total for e in exps]

    def array(self, z: Any) -> Any:
        """The outputs for a batch (numpy, row by row)."""
        import numpy as np

        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def array_backward(self, a: Any, G: Any) -> Any:
        """∂𝓛/∂z from ∂𝓛/∂a = G, row by row: the Jacobian diag(a) − aaᵀ applied."""
        return a * (G - (G * a).sum(axis=1, keepdims=True))

    def matrix_delta(self, G: sp.Basic, A: sp.Basic) -> sp.Basic:
        """The matrix form of ``array_backward``."""
        return Hadamard(A, add(G, neg(Elementwise("rowsum", Hadamard(G, A)))))

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


class LogSoftmax(Softmax):
    """log_softmax(z)ₖ = zₖ − log Σⱼ exp(zⱼ), the log-probabilities ``nll`` expects (nn.LogSoftmax)."""

    name = "log_softmax"
    note = "matrix.log_softmax"
    delta_note = "matrix.delta_log_softmax"

    def apply(self, zs: Sequence[sp.Expr], k: int) -> sp.Expr:
        return add(zs[k], neg(sp.log(add(*(sp.exp(z) for z in zs)), evaluate=False)))

    def stable(self, zs: Sequence[sp.Expr], k: int) -> sp.Expr:
        """The largest z subtracted inside the log-sum-exp, as PyTorch computes it."""
        top = sp.Max(*zs, evaluate=False)
        total = add(*(sp.exp(add(z, neg(top)), evaluate=False) for z in zs))
        return add(zs[k], neg(add(top, sp.log(total, evaluate=False))))

    def values(self, row: Sequence[float]) -> list[float]:
        from backprop_cli.evaluate import exp, log

        top = max(row)
        shift = top + log(sum(exp(v - top) for v in row))
        return [v - shift for v in row]

    def array(self, z: Any) -> Any:
        import numpy as np

        top = z.max(axis=1, keepdims=True)
        return z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))

    def array_backward(self, a: Any, G: Any) -> Any:
        import numpy as np

        return G - np.exp(a) * G.sum(axis=1, keepdims=True)

    def matrix_delta(self, G: sp.Basic, A: sp.Basic) -> sp.Basic:
        return add(G, neg(Hadamard(sp.exp(A), Elementwise("rowsum", G))))

    def jacobian(self, units: int) -> tuple[tuple[sp.Expr, ...], ...]:
        """``[k][i]`` = ∂aₖ/∂zᵢ = [k = i] − exp(aᵢ), in the outputs p₁…pₙ (the log-probabilities)."""
        _, ps, _ = _softmax_symbols(units)
        return tuple(tuple((1 if k == i else 0) - sp.exp(ps[i]) for i in range(units)) for k in range(units))


ROW_WISE = {"softmax": SOFTMAX, "log_softmax": LogSoftmax()}
"""The activations of a whole layer, row by row."""


@cache
def activation(name: str) -> Activation | Softmax:
    """The activation for a built-in name or a formula in ``x``.

    Raises:
        SpecError: for an unknown name or a formula that is not accepted.
    """
    if name in ROW_WISE:
        return ROW_WISE[name]
    if name in _BUILTIN:
        builder, glyph = _BUILTIN[name]
        return Activation(name, builder, glyph)
    from backprop_cli.formula import parse_formula

    return Activation(name, parse_formula(name), "a")


def layer_activation(name: str, index: int) -> Activation | Softmax:
    """The activation of ``layers[index]``; an error names that key."""
    try:
        return activation(name)
    except BackpropError as error:
        message = str(error)
        prefix = "activation:"
        if message.startswith(prefix):
            message = f"layers[{index}].activation:" + message[len(prefix):]
        raise type(error)(message) from None
