"""Python source from sympy assignments: common subexpressions shared (``sympy.cse``), then printed.

Two printers: :class:`ScalarPrinter` for Python floats (``math`` functions, conditional
expressions) and :class:`ArrayPrinter` for numpy arrays (ufuncs, ``where``, ``maximum``). Both print
bare function names; the namespace the source runs in binds them (``SCALAR``, ``SCALAR_IEEE``,
``ARRAY``). Before anything is compiled, :func:`check_source` makes sure the source only names
what it may: the generated variables and those functions.
"""

from __future__ import annotations

import ast
import builtins
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.pycode import PythonCodePrinter

Assignment = tuple[sp.Symbol, sp.Basic]


class dot(sp.Function):
    """Σₙ aₙbₙ over the samples (arrays mode): a batch gradient of δ × input."""

    nargs = 2


class total(sp.Function):
    """Σₙ aₙ over the samples (arrays mode): a bias gradient, or the loss."""

    nargs = 1


class ScalarPrinter(PythonCodePrinter):
    """Python source over floats; floats print exactly (``repr``) so that no digit is lost."""

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": False})

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Rational(self, expr: sp.Rational) -> str:
        return repr(int(expr.p) / int(expr.q))

    def _print_Half(self, expr: sp.Rational) -> str:
        return "0.5"

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, exponent = expr.args
        if exponent.is_Integer and 2 <= int(exponent) <= 3:
            # x*x never raises, where float x**2 raises OverflowError; it is as exact.
            factor = self.parenthesize(base, PRECEDENCE["Mul"], strict=True)
            return "(" + "*".join([factor] * int(exponent)) + ")"
        text: str = super()._print_Pow(expr, rational=rational)
        return text

    def _print_clamp_min(self, expr: sp.Basic) -> str:
        value, floor = (self._print(arg) for arg in expr.args)
        return f"max({value}, {floor})"

    def _print_dot(self, expr: sp.Basic) -> str:
        return "dot({}, {})".format(*(self._print(arg) for arg in expr.args))

    def _print_total(self, expr: sp.Basic) -> str:
        return f"total({self._print(expr.args[0])})"

    def _print_FirstMax(self, expr: sp.Basic) -> str:  # noqa: N802 - sympy's printer naming
        x, m, *earlier = (self._print(arg) for arg in expr.args)
        others = "".join(f" and {e} != {m}" for e in earlier)
        return f"(1.0 if {x} == {m}{others} else 0.0)"


class ArrayPrinter(ScalarPrinter):
    """Python source over numpy arrays: ``where`` for branches, ``maximum`` for max."""

    def _nested(self, name: str, args: Sequence[sp.Basic]) -> str:
        text = self._print(args[0])
        for arg in args[1:]:
            text = f"{name}({text}, {self._print(arg)})"
        return text

    def _print_Max(self, expr: sp.Basic) -> str:
        return self._nested("maximum", expr.args)

    def _print_Min(self, expr: sp.Basic) -> str:
        return self._nested("minimum", expr.args)

    def _print_clamp_min(self, expr: sp.Basic) -> str:
        return self._nested("maximum", expr.args)

    def _print_sign(self, expr: sp.Basic) -> str:
        return f"sign({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr: sp.Basic) -> str:
        value = self._print(expr.args[0])
        middle = self._print(expr.args[1]) if len(expr.args) > 1 else "0.5"
        return f"where({value} > 0, 1.0, where({value} == 0, {middle}, 0.0))"

    def _print_FirstMax(self, expr: sp.Basic) -> str:  # noqa: N802 - sympy's printer naming
        x, m, *earlier = (self._print(arg) for arg in expr.args)
        text = f"({x} == {m})"
        for e in earlier:
            text = f"logical_and({text}, {e} != {m})"
        return f"where({text}, 1.0, 0.0)"

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        *branches, (last, condition) = expr.args
        text = self._print(last) if condition is sp.true else "nan"
        for value, cond in reversed(branches):
            text = f"where({self._print(cond)}, {self._print(value)}, {text})"
        return text


SCALAR: dict[str, Any] = {name: getattr(math, name) for name in (
    "exp", "log", "sqrt", "tanh", "sinh", "cosh", "sin", "cos", "atan", "erf", "copysign")}
"""Functions of the scalar printer's source over Python floats (fast; overflow raises)."""


def scalar_ieee() -> dict[str, Any]:
    """The same functions with IEEE results (inf, nan) instead of exceptions, over numpy float64."""
    import numpy as np

    table: dict[str, Any] = {name: getattr(np, name) for name in (
        "exp", "log", "sqrt", "tanh", "sinh", "cosh", "sin", "cos", "copysign")}
    table.update(atan=np.arctan, erf=math.erf)
    return table


def array_functions() -> dict[str, Any]:
    """The functions of the array printer's source."""
    import numpy as np

    table = scalar_ieee()
    table.update(atan=np.arctan, erf=np.vectorize(math.erf, otypes=[float]), maximum=np.maximum,
                 minimum=np.minimum, where=np.where, sign=np.sign, nan=math.nan, dot=np.dot, total=np.sum,
                 logical_and=np.logical_and)
    return table


CSE_SPAN = 200
"""Common subexpressions are looked for within runs of this many assignments."""


def emit(assignments: Sequence[Assignment], printer: PythonCodePrinter, prefix: str | Iterator[sp.Symbol],
         indent: str, share: bool = True) -> list[str]:
    """Source lines computing every assignment in order, common subexpressions computed once.

    Args:
        assignments: (variable, expression) pairs; an expression may use earlier variables.
        printer: how to print expressions.
        prefix: names for the shared subexpressions (``{prefix}0``, ``{prefix}1`` …), or a
            source of such names.
        indent: leading whitespace of every line.
        share: run ``sympy.cse``; without it each expression is printed as it is.
    """
    if not assignments:
        return []
    if len(assignments) > CSE_SPAN:
        # sympy.cse grows faster than linearly; lines far apart rarely share a subexpression.
        names = sp.numbered_symbols(prefix)
        return [line for start in range(0, len(assignments), CSE_SPAN)
                for line in emit(assignments[start:start + CSE_SPAN], printer, names, indent, share)]
    expressions = [expr for _, expr in assignments]
    if share:
        symbols = sp.numbered_symbols(prefix) if isinstance(prefix, str) else prefix
        replacements, reduced = sp.cse(expressions, symbols=symbols, order="none")
    else:
        replacements, reduced = [], expressions
    pending = dict(replacements)
    order = [symbol for symbol, _ in replacements]
    lines: list[str] = []

    def need(expr: sp.Basic) -> None:
        # Shared subexpressions are emitted just before their first use, after what they use.
        for symbol in order:
            if symbol in pending and expr.has(symbol):
                value = pending.pop(symbol)
                need(value)
                lines.append(f"{indent}{symbol} = {printer.doprint(value)}")

    for (target, _), expr in zip(assignments, reduced, strict=True):
        need(expr)
        lines.append(f"{indent}{target} = {printer.doprint(expr)}")
    return lines


def check_source(source: str, allowed: Iterable[str]) -> None:
    """Refuse source that names anything but generated variables, ``allowed`` names and a few builtins.

    The source is printed from sympy trees, never from user text; this makes sure of it.
    """
    permitted = set(allowed) | set(BUILTINS)
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr not in ("append", "pop"):
            raise RuntimeError(f"generated code uses an attribute: {node.attr}")
        if isinstance(node, ast.Name) and node.id not in permitted:
            if hasattr(builtins, node.id) or not node.id.isidentifier():
                raise RuntimeError(f"generated code names {node.id!r}")
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Lambda, ast.ClassDef, ast.Global)):
            raise RuntimeError("generated code holds a statement it should not")


BUILTINS = ("max", "min", "abs", "range", "len", "ArithmeticError", "ValueError", "slice", "float")
"""The builtins generated code may use (and the only ones its namespace holds)."""


def compile_source(source: str, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``source`` (checked by :func:`check_source`) in a fresh namespace holding ``namespace``'s
    functions and :data:`BUILTINS` only; returns that namespace, with the functions it defines."""
    check_source(source, namespace)
    scope: dict[str, Any] = {"__builtins__": {name: getattr(builtins, name) for name in BUILTINS}}
    scope.update(namespace)
    exec(compile(source, "<backprop-cli compiled>", "exec"), scope)  # noqa: S102 - printed from sympy, checked
    return scope


def array_function(expr: sp.Basic, *symbols: sp.Symbol) -> Any:
    """A numpy function of ``symbols`` computing ``expr``, printed by :class:`ArrayPrinter`.

    Unlike ``sympy.lambdify``, which prints 1/u as ``u**(-1.0)`` (``numpy.power``, several times
    slower than a division), reciprocals print as divisions.
    """
    names = [sp.Symbol(f"v{i}") for i in range(len(symbols))]
    body = emit([(sp.Symbol("result"), expr.xreplace(dict(zip(symbols, names, strict=True))))],
                ArrayPrinter(), "c", "    ")
    source = "\n".join([f"def function({', '.join(map(str, names))}):", *body, "    return result", ""])
    return compile_source(source, array_functions())["function"]
