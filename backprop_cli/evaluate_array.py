"""The evaluator of evaluate.py over numpy arrays: the numbers of the matrix form.

The same tree walk, with numpy's element-wise functions (IEEE semantics, warnings silenced) and
the matrix operations of notation.py: A @ B for MatMul, .T for Transpose, * for Hadamard, column
sums for ColumnSum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from backprop_cli.evaluate import Evaluator, Values
from backprop_cli.notation import ColumnSum, Elementwise, Hadamard, MatMul, Transpose

_ERF = np.vectorize(math.erf, otypes=[float])

_FUNCTIONS: dict[type, Callable[..., Any]] = {
    sp.exp: np.exp,
    sp.tanh: np.tanh,
    sp.sinh: np.sinh,
    sp.cosh: np.cosh,
    sp.sin: np.sin,
    sp.cos: np.cos,
    sp.atan: np.arctan,
    sp.erf: _ERF,
    sp.Abs: np.abs,
    sp.sign: np.sign,
}


class ArrayEvaluator(Evaluator):
    """Evaluates expressions whose nodes hold numpy arrays (samples × units, weights …).

    Args:
        values: arrays (or floats) of the nodes computed so far.
        log_floor: logs are clamped below at this value (PyTorch's bce).
        denominator_floor: denominators are clamped below at this value (PyTorch's bce backward).
        functions: numeric functions for ``Elementwise`` nodes, by name.
    """

    def __init__(self, values: Values, log_floor: float | None = None,
                 denominator_floor: float | None = None,
                 functions: dict[str, Callable[[Any], Any]] | None = None) -> None:
        super().__init__(values, log_floor, denominator_floor)
        self.functions = functions or {}

    def __call__(self, expr: sp.Basic) -> Any:
        with np.errstate(all="ignore"):
            if isinstance(expr, MatMul):
                result = self(expr.args[0])
                for factor in expr.args[1:]:
                    result = np.asarray(result) @ np.asarray(self(factor))
                return result
            if isinstance(expr, Transpose):
                return np.asarray(self(expr.args[0])).T
            if isinstance(expr, Hadamard):
                return self._product([self(f) for f in expr.args])
            if isinstance(expr, ColumnSum):
                return np.sum(np.asarray(self(expr.args[0])), axis=0, keepdims=True)
            if isinstance(expr, Elementwise) and expr in self.values:
                return self.values[expr]
            if isinstance(expr, Elementwise):
                name = expr.name + ("'" if expr.prime else "")
                return self.functions[name](self(expr.arg))
            return super().__call__(expr)

    def _divide(self, numerator: Any, denominator: Any) -> Any:
        return np.divide(numerator, denominator)

    def _power(self, base: Any, exponent: Any) -> Any:
        return np.power(np.asarray(base, dtype=float), exponent)

    def _sqrt(self, value: Any) -> Any:
        return np.sqrt(value)

    def _log(self, value: Any) -> Any:
        return np.log(value)

    def _floor(self, value: Any, floor: float) -> Any:
        return np.maximum(value, floor)

    def _extreme(self, values: list[Any], largest: bool) -> Any:
        pick = np.maximum if largest else np.minimum
        result = values[0]
        for value in values[1:]:
            result = pick(result, value)
        return result

    def _heaviside(self, value: Any, at_zero: Any) -> Any:
        return np.heaviside(value, at_zero)

    def _function(self, kind: type) -> Callable[..., Any] | None:
        return _FUNCTIONS.get(kind)

    def _piecewise(self, expr: sp.Piecewise) -> Any:
        conditions, choices = [], []
        for piece, condition in expr.args:
            conditions.append(True if condition is sp.true else self._truth(condition))
            choices.append(self(piece))
        shape = np.broadcast_shapes(*(np.shape(c) for c in choices + conditions))
        return np.select([np.broadcast_to(c, shape) for c in conditions],
                         [np.broadcast_to(np.asarray(c, dtype=float), shape) for c in choices],
                         default=np.nan)

    def _truth(self, condition: sp.Basic) -> Any:
        if isinstance(condition, sp.And):
            return np.logical_and.reduce([self._truth(c) for c in condition.args])
        if isinstance(condition, sp.Or):
            return np.logical_or.reduce([self._truth(c) for c in condition.args])
        return super()._truth(condition)

    def _other(self, expr: sp.Basic) -> Any:
        # Any other sympy function (from a formula activation's derivative), element by element.
        def scalar(*arguments: float) -> float:
            return float(expr.func(*(sp.Float(a) for a in arguments)).evalf())

        return np.vectorize(scalar, otypes=[float])(*(self(arg) for arg in expr.args))
