"""A safe parser for activation formulas such as ``x/(1+abs(x))`` or ``x*sigmoid(x)``.

The text is parsed by Python's ``ast`` into a tree that is checked against a whitelist (numbers,
the variable ``x``, + − * / **, unary signs and a fixed set of functions) and then turned into a
sympy expression node by node. Nothing is evaluated: no user text reaches eval, exec or sympify.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable

import sympy as sp

from backprop_cli.errors import FormulaError

MAX_LENGTH = 200
MAX_NODES = 200
MAX_EXPONENT = 64
MAX_LITERAL = 1e12


def _sigmoid(arg: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-arg))


FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], int]] = {
    "exp": (sp.exp, 1),
    "log": (sp.log, 1),
    "sqrt": (sp.sqrt, 1),
    "abs": (sp.Abs, 1),
    "tanh": (sp.tanh, 1),
    "sinh": (sp.sinh, 1),
    "cosh": (sp.cosh, 1),
    "sin": (sp.sin, 1),
    "cos": (sp.cos, 1),
    "atan": (sp.atan, 1),
    "erf": (sp.erf, 1),
    "sigmoid": (_sigmoid, 1),
    "max": (sp.Max, 2),
    "min": (sp.Min, 2),
}
CONSTANTS = {"pi": sp.pi, "e": sp.E}

Builder = Callable[[sp.Expr], sp.Expr]


def parse_formula(text: str) -> Builder:
    """Check ``text`` and return a builder: a function from the variable to the sympy expression.

    The builder constructs the tree afresh on each call, so it honours ``sympy.evaluate(False)``
    (for printing the formula as written) as well as normal evaluation (for calculus).

    Raises:
        FormulaError: naming what is not accepted.
    """
    source = text.strip()
    if not source:
        raise FormulaError("activation: the formula is empty; write it in x, e.g. x/(1+abs(x))")
    if len(source) > MAX_LENGTH:
        raise FormulaError(f"activation: the formula is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise FormulaError(
            f"activation: {source!r} is neither a known activation nor a valid formula in x"
        ) from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise FormulaError(f"activation: the formula has more than {MAX_NODES} parts")
    body = tree.body
    if isinstance(body, ast.Name) and body.id not in ("x", *CONSTANTS):
        from difflib import get_close_matches

        from backprop_cli.model import ACTIVATIONS

        close = get_close_matches(body.id, ACTIVATIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise FormulaError(
            f"activation: unknown activation {body.id!r}{hint}; choose {', '.join(ACTIVATIONS)}"
            " or a formula in x such as 'x/(1+abs(x))'")
    _check(body, source)
    if not any(isinstance(n, ast.Name) and n.id == "x" for n in ast.walk(body)):
        raise FormulaError(f"activation: {source!r} does not use x; write the activation in x")
    return lambda variable: _build(body, variable)


def _is_constant(node: ast.AST) -> bool:
    return not any(isinstance(n, ast.Name) and n.id == "x" for n in ast.walk(node))


def _literal(node: ast.AST) -> float | None:
    """The value of a plain number, possibly signed; None for anything else."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _literal(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _check(node: ast.AST, source: str) -> None:
    where = f"activation: in {source!r},"
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(f"{where} {node.value!r} is not a number")
        if not math.isfinite(node.value) or abs(node.value) > MAX_LITERAL:
            raise FormulaError(f"{where} the number {node.value!r} is too large")
        return
    if isinstance(node, ast.Name):
        if node.id != "x" and node.id not in CONSTANTS:
            hint = f" (did you mean {node.id}(x)?)" if node.id in FUNCTIONS else ""
            raise FormulaError(f"{where} unknown name {node.id!r}: only x, pi and e{hint}")
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, source)
        return
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
        _check(node.left, source)
        _check(node.right, source)
        if isinstance(node.op, ast.Pow) and _is_constant(node.right):
            exponent = _literal(node.right)
            if exponent is None or abs(exponent) > MAX_EXPONENT:
                raise FormulaError(
                    f"{where} a constant exponent must be a plain number of at most {MAX_EXPONENT}"
                )
        return
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS:
            shown = name if name else ast.unparse(node.func)
            raise FormulaError(
                f"{where} {shown!r} is not an accepted function;"
                f" use {', '.join(sorted(FUNCTIONS))}"
            )
        arity = FUNCTIONS[name][1]
        if node.keywords or len(node.args) != arity or any(isinstance(a, ast.Starred) for a in node.args):
            raise FormulaError(f"{where} {name}() takes {arity} plain argument{'s' if arity > 1 else ''}")
        for arg in node.args:
            _check(arg, source)
        return
    shown = type(node).__name__.lower()
    raise FormulaError(
        f"{where} {shown} expressions are not accepted; use numbers, x, + - * / ** and functions"
    )


def _build(node: ast.AST, variable: sp.Expr) -> sp.Expr:
    if isinstance(node, ast.Constant):
        value = node.value
        return sp.Integer(value) if isinstance(value, int) else sp.Float(value)
    if isinstance(node, ast.Name):
        return variable if node.id == "x" else CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = _build(node.operand, variable)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = _build(node.left, variable), _build(node.right, variable)
        op = node.op
        if isinstance(op, ast.Add):
            return left + right
        if isinstance(op, ast.Sub):
            return left - right
        if isinstance(op, ast.Mult):
            return left * right
        if isinstance(op, ast.Div):
            return left / right
        return left**right
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    function = FUNCTIONS[node.func.id][0]
    return function(*(_build(arg, variable) for arg in node.args))
