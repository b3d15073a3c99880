"""A safe parser for activation formulas such as ``x/(1+abs(x))`` or ``x*sigmoid(x)``.

The text is parsed by Python's ``ast`` into a tree that is checked against a whitelist (numbers,
the variable ``x``, the constants ``pi`` and ``e``, + − * / **, unary signs and the functions of
``FUNCTIONS``) and then turned into an expression node by node. Nothing is evaluated: no user
text reaches eval, exec or sympify. The checked tree is built with sympy (``parse_formula``, for
the derivation) or with any other set of operations (``formula_function``: torch tensors, for
``backprop verify``), so both follow one definition.

Limits keep every accepted formula cheap to work with: at most ``MAX_LENGTH`` characters and
``MAX_NODES`` parts, number literals up to ``MAX_LITERAL``, a constant exponent a plain number of
at most ``MAX_EXPONENT``, and no constant part whose exact value would need more than
``MAX_DIGITS`` digits (``(9**64)**64**…`` is refused before sympy would compute it).
"""

from __future__ import annotations

import ast
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

from backprop_cli.errors import FormulaError

MAX_LENGTH = 200
MAX_NODES = 200
MAX_EXPONENT = 64
MAX_LITERAL = 1e12
MAX_DIGITS = 300


def _sigmoid(arg: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-arg))


def _sqrt(arg: sp.Expr) -> sp.Expr:
    """√arg kept as a power: sympy would rewrite √(x²) as |x|, whose derivative at 0 is 0, where
    PyTorch's chain rule through sqrt gives 2x·½/√(x²) = nan; kept, the derivative is |x|/x."""
    return sp.Pow(arg, sp.S.Half, evaluate=False)


FUNCTIONS: dict[str, tuple[Callable[..., sp.Expr], int]] = {
    "exp": (sp.exp, 1),
    "log": (sp.log, 1),
    "sqrt": (_sqrt, 1),
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
"""The accepted functions: name -> (sympy definition, number of arguments)."""
CONSTANTS = {"pi": sp.pi, "e": sp.E}

Builder = Callable[[sp.Expr], sp.Expr]

_OPERATORS: dict[type, str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_REFUSED_OPERATORS = {ast.BitXor: "^", ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@",
                      ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>"}
_REFUSED_NODES = {
    "Attribute": "attributes (a.b)", "Subscript": "subscripts (a[i])", "Lambda": "lambdas",
    "Compare": "comparisons", "BoolOp": "and/or", "IfExp": "conditional expressions",
    "ListComp": "comprehensions", "SetComp": "comprehensions", "DictComp": "comprehensions",
    "GeneratorExp": "comprehensions", "NamedExpr": "assignments (:=)", "JoinedStr": "f-strings",
    "FormattedValue": "f-strings", "Tuple": "tuples", "List": "lists", "Set": "sets",
    "Dict": "dicts", "Starred": "starred arguments", "Await": "await", "Yield": "yield",
    "Slice": "slices",
}


@dataclass(frozen=True)
class Operations:
    """What a checked formula is built with: how numbers, constants and functions are made.

    Args:
        number: turns a literal (int or float) into a value of the target kind.
        constants: the value of ``pi`` and ``e``.
        functions: a callable for every name of ``FUNCTIONS``.
    """

    number: Callable[[int | float], Any]
    constants: Mapping[str, Any]
    functions: Mapping[str, Callable[..., Any]]


SYMPY = Operations(
    number=lambda value: sp.Integer(value) if isinstance(value, int) else sp.Float(value),
    constants=CONSTANTS,
    functions={name: function for name, (function, _) in FUNCTIONS.items()},
)


def parse_formula(text: str) -> Builder:
    """Check ``text`` and return a builder: a function from the variable to the sympy expression.

    The builder constructs the tree afresh on each call, so it honours ``sympy.evaluate(False)``
    (for printing the formula as written) as well as normal evaluation (for calculus).

    Raises:
        FormulaError: naming what is not accepted.
    """
    source, body = check_formula(text)
    try:
        expr = build(body, sp.Symbol("x", real=True), SYMPY)
    except (ValueError, TypeError, ArithmeticError):  # sympy refuses e.g. max(x, 1/0)
        expr = sp.nan
    if expr.has(sp.I, sp.zoo, sp.oo, sp.S.NegativeInfinity, sp.nan):
        raise FormulaError(
            f"activation: in {source!r}, a constant part is not a finite real number (such as 1/0,"
            " log(0) or sqrt(-1))")
    return lambda variable: build(body, variable, SYMPY)


def formula_function(text: str, operations: Operations) -> Callable[[Any], Any]:
    """The formula as a function built from ``operations`` (e.g. torch tensor functions).

    Raises:
        FormulaError: naming what is not accepted (the same checks as :func:`parse_formula`).
    """
    _, body = check_formula(text)
    return lambda variable: build(body, variable, operations)


def check_formula(text: str, variables: tuple[str, ...] = ("x",)) -> tuple[str, ast.expr]:
    """The stripped source and its checked ``ast`` body; ``variables`` are the names it may use
    (``x`` for an activation; ``yhat`` and ``y`` for a loss).

    Raises:
        FormulaError: naming the first part that is not accepted.
    """
    if variables != ("x",):
        return _check_in(text, variables)
    source = text.strip()
    if not source:
        raise FormulaError("activation: the formula is empty; write it in x, e.g. x/(1+abs(x))")
    if len(source) > MAX_LENGTH:
        raise FormulaError(f"activation: the formula is longer than {MAX_LENGTH} characters")
    try:
        with warnings.catch_warnings():  # "1if x" warns on stderr before failing; the error says enough
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise FormulaError(
            f"activation: {source!r} is neither a known activation nor a valid formula in x"
        ) from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise FormulaError(f"activation: the formula has more than {MAX_NODES} parts")
    body = tree.body
    if isinstance(body, ast.Name) and body.id not in ("x", *CONSTANTS):
        from difflib import get_close_matches

        from backprop_cli.names import ACTIVATIONS

        close = get_close_matches(body.id, ACTIVATIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise FormulaError(
            f"activation: unknown activation {body.id!r}{hint}; choose {', '.join(ACTIVATIONS)}"
            " or a formula in x such as 'x/(1+abs(x))'")
    _check(body, source)
    if not any(isinstance(n, ast.Name) and n.id == "x" for n in ast.walk(body)):
        raise FormulaError(f"activation: {source!r} does not use x; write the activation in x")
    return source, body


def _check_in(text: str, variables: tuple[str, ...]) -> tuple[str, ast.expr]:
    """``check_formula`` for other variable names: each is checked where x would be."""
    source = text.strip()
    try:
        tree = ast.parse(source, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise FormulaError(f"loss: {source!r} is neither a known loss nor a valid formula in"
                           f" {' and '.join(variables)}") from None
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    if "x" in used:
        raise FormulaError(f"loss: in {source!r}, unknown name 'x': only {', '.join(variables)}, pi and e")
    renamed = ast.unparse(_Renamed(set(variables)).visit(tree))
    _, body = check_formula(renamed)
    return source, _Renamed(set(variables), back=True).visit(ast.parse(source, mode="eval")).body


class _Renamed(ast.NodeTransformer):
    """The variables named ``x`` (to check a formula as an activation's), or left as they are."""

    def __init__(self, names: set[str], back: bool = False) -> None:
        self.names, self.back = names, back

    def visit_Name(self, node: ast.Name) -> ast.Name:  # noqa: N802 - ast's visitor naming
        if node.id in self.names and not self.back:
            return ast.copy_location(ast.Name("x", node.ctx), node)
        return node


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


def _digits(node: ast.AST) -> float:
    """An upper bound on the decimal digits of a checked constant part's exact value.

    sympy keeps integers and fractions exact, so ``(9**64)**64`` would be computed digit by digit;
    floats, pi and e stay bounded (a float's exponent grows, not its digits).
    """
    if isinstance(node, ast.Constant):
        value = node.value
        return len(str(abs(value))) if isinstance(value, int) else 1
    if isinstance(node, ast.Name):
        return 1
    if isinstance(node, ast.UnaryOp):
        return _digits(node.operand)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            exponent = _literal(node.right)
            assert exponent is not None  # _check refuses any other constant exponent
            return abs(exponent) * _digits(node.left) + 1
        return _digits(node.left) + _digits(node.right) + 1
    if isinstance(node, ast.Call):
        return sum(_digits(arg) for arg in node.args) + 1
    return math.inf


_FLOAT_FUNCTIONS: dict[str, Callable[..., float]] = {
    "exp": math.exp, "log": math.log, "sqrt": math.sqrt, "abs": abs, "tanh": math.tanh,
    "sinh": math.sinh, "cosh": math.cosh, "sin": math.sin, "cos": math.cos, "atan": math.atan,
    "erf": math.erf, "sigmoid": lambda v: 1 / (1 + math.exp(-v)), "max": max, "min": min,
}
_FLOAT_OPERATORS: dict[type, Callable[[float, float], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b,
}


def _float_value(node: ast.AST) -> float:
    """A checked constant part in float64 (math functions over the tree; nothing is evaluated).

    Raises:
        ArithmeticError, ValueError: where float64 overflows or the value is not real.
    """
    if isinstance(node, ast.Constant):
        return float(node.value)  # type: ignore[arg-type]
    if isinstance(node, ast.Name):
        return math.pi if node.id == "pi" else math.e
    if isinstance(node, ast.UnaryOp):
        value = _float_value(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        result = _FLOAT_OPERATORS[type(node.op)](_float_value(node.left), _float_value(node.right))
    else:
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        result = _FLOAT_FUNCTIONS[node.func.id](*(_float_value(arg) for arg in node.args))
    if isinstance(result, complex) or not math.isfinite(result):
        raise ValueError("not a finite real number")
    return float(result)


def _check_constant(node: ast.AST, where: str) -> None:
    """Refuse a constant part that float64 cannot hold or that sympy would compute digit by digit.

    Huge constants make sympy slow beyond any use (cos(cosh(1e11)) needs 1e11 bits to evaluate),
    and no activation needs one.
    """
    if not _is_constant(node):
        return
    if _digits(node) > MAX_DIGITS:
        raise FormulaError(f"{where} the constant {ast.unparse(node)} is too large to work with")
    try:
        _float_value(node)
    except (ArithmeticError, ValueError):
        raise FormulaError(
            f"{where} the constant {ast.unparse(node)} is not a finite real number in float64"
            " (it overflows or is undefined, like 1/0, log(0) or sqrt(-1))") from None


def _check(node: ast.AST, source: str) -> None:
    where = f"activation: in {source!r},"
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise FormulaError(f"{where} {node.value!r} is not a number")
        if not math.isfinite(node.value) or abs(node.value) > MAX_LITERAL:
            raise FormulaError(f"{where} the number {node.value!r} is too large (at most {MAX_LITERAL:g})")
        return
    if isinstance(node, ast.Name):
        if node.id != "x" and node.id not in CONSTANTS:
            hint = f" (did you mean {node.id}(x)?)" if node.id in FUNCTIONS else ""
            raise FormulaError(f"{where} unknown name {node.id!r}: only x, pi and e{hint}")
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            raise FormulaError(f"{where} only the signs + and - may stand before a term")
        _check(node.operand, source)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _OPERATORS:
            symbol = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            hint = " (for a power write **, e.g. x**2)" if symbol == "^" else ""
            raise FormulaError(f"{where} the operator {symbol} is not accepted; use + - * / **{hint}")
        _check(node.left, source)
        _check(node.right, source)
        if isinstance(node.op, ast.Pow) and _is_constant(node.right):
            exponent = _literal(node.right)
            if exponent is None or abs(exponent) > MAX_EXPONENT:
                raise FormulaError(
                    f"{where} a constant exponent must be a plain number of at most {MAX_EXPONENT}"
                )
        _check_constant(node, where)
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
        _check_constant(node, where)
        return
    kind = _REFUSED_NODES.get(type(node).__name__, type(node).__name__.lower() + " expressions")
    raise FormulaError(f"{where} {kind} are not accepted; use numbers, x, + - * / ** and functions")


def build(node: ast.AST, variable: Any, operations: Operations) -> Any:
    """The expression of a tree checked by :func:`check_formula`, made with ``operations``."""
    if isinstance(node, ast.Constant):
        assert isinstance(node.value, (int, float))
        return operations.number(node.value)
    if isinstance(node, ast.Name):
        if isinstance(variable, dict):  # several variables by name (a loss in yhat and y)
            return variable[node.id] if node.id in variable else operations.constants[node.id]
        return variable if node.id == "x" else operations.constants[node.id]
    if isinstance(node, ast.UnaryOp):
        operand = build(node.operand, variable, operations)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left, right = build(node.left, variable, operations), build(node.right, variable, operations)
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
    function = operations.functions[node.func.id]
    return function(*(build(arg, variable, operations) for arg in node.args))
