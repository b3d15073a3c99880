"""Numbers from the expressions of a derivation, in float64 with IEEE semantics.

The scalar derivation evaluates each line from the same sympy tree it prints, with Python floats
(``math``), so that printed numbers and values come from one expression and ``backprop step``
needs no numpy. Overflow gives ±inf and undefined operations give nan, as in IEEE arithmetic,
instead of Python's exceptions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp

from backprop_cli.notation import FirstMax, Partial, clamp_min

Values = Mapping[sp.Basic, Any]


def exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def log(value: float) -> float:
    if value > 0:
        return math.log(value)
    if value == 0:
        return -math.inf
    return math.nan


def power(base: float, exponent: float) -> float:
    if math.isnan(base) or math.isnan(exponent):
        return 1.0 if exponent == 0 else math.nan
    integral = exponent.is_integer()
    odd = integral and abs(exponent) < 2**53 and int(exponent) % 2 == 1
    if base == 0 and exponent < 0:
        return math.copysign(math.inf, base) if odd else math.inf
    if base < 0 and not integral:
        return math.nan
    try:
        return math.pow(base, exponent)
    except OverflowError:
        return -math.inf if base < 0 and odd else math.inf
    except ValueError:
        return math.nan


def divide(numerator: float, denominator: float) -> float:
    if denominator == 0:
        if numerator == 0 or math.isnan(numerator):
            return math.nan
        sign = math.copysign(1.0, numerator) * math.copysign(1.0, denominator)
        return math.copysign(math.inf, sign)
    return numerator / denominator


def _sqrt(value: float) -> float:
    return math.sqrt(value) if value >= 0 else math.nan


def _clamp_min(value: float, floor: float) -> float:
    return value if value >= floor or math.isnan(value) else floor


def _sign(value: float) -> float:
    return float((value > 0) - (value < 0))


_FUNCTIONS: dict[type, Callable[..., float]] = {
    sp.exp: exp,
    sp.log: log,
    sp.tanh: math.tanh,
    sp.sinh: lambda v: math.copysign(math.inf, v) if abs(v) > 710 else math.sinh(v),
    sp.cosh: lambda v: math.inf if abs(v) > 710 else math.cosh(v),
    sp.sin: lambda v: math.sin(v) if math.isfinite(v) else math.nan,
    sp.cos: lambda v: math.cos(v) if math.isfinite(v) else math.nan,
    sp.atan: math.atan,
    sp.erf: math.erf,
    sp.Abs: abs,
    sp.sign: _sign,
    clamp_min: _clamp_min,
}


class Evaluator:
    """Evaluates expressions given the values of their nodes, in Python floats.

    The arithmetic goes through a few primitive methods (``_exp``, ``_log``, ``_divide`` …) so
    that :class:`backprop_cli.evaluate_array.ArrayEvaluator` can run the same walk over numpy
    arrays for the matrix form.

    Args:
        values: the numbers of nodes (and partial derivatives) computed so far.
        log_floor: logs are clamped below at this value (PyTorch's bce).
        denominator_floor: a product's denominator is clamped below at this value (PyTorch's bce
            backward).
    """

    def __init__(self, values: Values, log_floor: float | None = None,
                 denominator_floor: float | None = None) -> None:
        self.values = values
        self.log_floor = log_floor
        self.denominator_floor = denominator_floor

    def __call__(self, expr: sp.Basic) -> Any:
        value = self.values.get(expr)
        if value is not None:
            return value
        if isinstance(expr, sp.Number):
            return float(expr)
        if isinstance(expr, sp.Add):
            return self._sum([self(arg) for arg in expr.args])
        if isinstance(expr, sp.Mul):
            return self._mul(expr)
        if isinstance(expr, sp.Pow):
            base, exponent = self(expr.base), self(expr.exp)
            # Only a constant exponent picks 1/b or √b: a symbolic one (2**x) is an array in the
            # matrix form.
            if isinstance(expr.exp, sp.Number):
                if exponent == -1:
                    return self._divide(1.0, base)
                if exponent == 0.5:
                    return self._sqrt(base)
            return self._power(base, exponent)
        if isinstance(expr, sp.log):
            value = self._log(self(expr.args[0]))
            return value if self.log_floor is None else self._floor(value, self.log_floor)
        if isinstance(expr, sp.Piecewise):
            return self._piecewise(expr)
        if isinstance(expr, FirstMax):
            x, m, *earlier = (self(arg) for arg in expr.args)
            return 1.0 if x == m and all(e != m for e in earlier) else 0.0
        if isinstance(expr, (sp.Max, sp.Min)):
            return self._extreme([self(arg) for arg in expr.args], isinstance(expr, sp.Max))
        if isinstance(expr, sp.Heaviside):
            at_zero = self(expr.args[1]) if len(expr.args) > 1 else 0.5
            return self._heaviside(self(expr.args[0]), at_zero)
        if isinstance(expr, sp.NumberSymbol):
            return float(expr)
        function = self._function(type(expr))
        if function is not None:
            return function(*(self(arg) for arg in expr.args))
        if isinstance(expr, (sp.Symbol, Partial)):
            raise KeyError(f"no value for {expr}")
        return self._other(expr)

    # --- primitives (floats) -------------------------------------------------------------

    def _sum(self, values: list[Any]) -> Any:
        total = values[0]
        for value in values[1:]:
            total = total + value
        return total

    def _product(self, values: list[Any]) -> Any:
        total = values[0]
        for value in values[1:]:
            total = total * value
        return total

    def _divide(self, numerator: Any, denominator: Any) -> Any:
        return divide(numerator, denominator)

    def _power(self, base: Any, exponent: Any) -> Any:
        return power(base, exponent)

    def _sqrt(self, value: Any) -> Any:
        return _sqrt(value)

    def _log(self, value: Any) -> Any:
        return log(value)

    def _floor(self, value: Any, floor: float) -> Any:
        return max(value, floor)

    def _extreme(self, values: list[Any], largest: bool) -> Any:
        return _nanmax(values, max if largest else min)

    def _heaviside(self, value: Any, at_zero: Any) -> Any:
        return 1.0 if value > 0 else (at_zero if value == 0 else 0.0)

    def _function(self, kind: type) -> Callable[..., Any] | None:
        return _FUNCTIONS.get(kind)

    def _piecewise(self, expr: sp.Piecewise) -> Any:
        for piece, condition in expr.args:
            if condition is sp.true or self._truth(condition):
                return self(piece)
        return math.nan

    def _other(self, expr: sp.Basic) -> Any:
        # Any other sympy function of numbers (from a formula activation's derivative).
        arguments = [sp.Float(self(arg)) for arg in expr.args]
        try:
            return float(expr.func(*arguments).evalf())
        except TypeError:  # a complex value ((-π)^x, log of a negative number): not a real number
            return math.nan

    def _truth(self, condition: sp.Basic) -> Any:
        if isinstance(condition, sp.core.relational.Relational):
            lhs, rhs = self(condition.lhs), self(condition.rhs)
            return {"<": lhs < rhs, "<=": lhs <= rhs, ">": lhs > rhs, ">=": lhs >= rhs,
                    "==": lhs == rhs, "!=": lhs != rhs}[condition.rel_op]
        if isinstance(condition, sp.And):
            return all(self._truth(c) for c in condition.args)
        if isinstance(condition, sp.Or):
            return any(self._truth(c) for c in condition.args)
        return bool(condition)

    def _mul(self, expr: sp.Mul) -> Any:
        top: list[Any] = []
        bottom: list[Any] = []
        for arg in expr.args:
            if isinstance(arg, sp.Pow) and arg.exp.is_Number and arg.exp.is_negative:
                base = arg.base if arg.exp == -1 else sp.Pow(arg.base, -arg.exp, evaluate=False)
                bottom.append(self(base))
            else:
                top.append(self(arg))
        numerator = self._product(top) if top else 1.0
        if not bottom:
            return numerator
        denominator = self._product(bottom)
        if self.denominator_floor is not None:
            denominator = self._floor(denominator, self.denominator_floor)
        return self._divide(numerator, denominator)


def _nanmax(values: list[float], pick: Callable[..., float]) -> float:
    return math.nan if any(math.isnan(v) for v in values) else pick(values)


def evaluate(expr: sp.Basic, values: Values, **options: float | None) -> Any:
    """The float64 value of ``expr`` given ``values`` (see :class:`Evaluator`)."""
    return Evaluator(values, **options)(expr)
