"""Printing sympy expressions of a derivation: as plain text for the terminal, LaTeX and MathML.

One printer walks the tree; a style says how each construct is drawn. Given a table of values,
the printer draws every node that has a value as its number instead of its symbol, which gives
the "numbers substituted" line of a step from the same tree as its symbolic line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sympy as sp

from backprop_cli.derivation import Matrix
from backprop_cli.notation import (
    ColumnSum,
    Convolve,
    Correlate,
    ElementSum,
    Elementwise,
    Elided,
    FirstMax,
    Glyph,
    Hadamard,
    MatMul,
    Node,
    Partial,
    State,
    Transpose,
)


def escape(text: str) -> str:
    """Text for a MathML element (``html.escape`` without loading the ``html`` package on every step)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


ATOM, FUNC, POW, MUL, NEG, ADD, REL = 100, 90, 60, 40, 35, 20, 10

_SUB = str.maketrans("0123456789+-()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")
_SUP = str.maketrans("0123456789+-()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿ")
_VULGAR = {(1, 2): "½", (1, 3): "⅓", (2, 3): "⅔", (1, 4): "¼", (3, 4): "¾", (1, 5): "⅕",
           (1, 6): "⅙", (1, 8): "⅛"}
_LATEX_FUNCTIONS = {"exp", "log", "tanh", "sinh", "cosh", "sin", "cos", "max", "min", "arctan"}
_TEXT_NAMES = {"atan": "arctan", "Max": "max", "Min": "min", "sign": "sgn", "Heaviside": "H"}
_RELATIONS = {"<": ("<", "<"), "<=": ("≤", r"\leq"), ">": (">", ">"), ">=": ("≥", r"\geq"),
              "==": ("=", "="), "!=": ("≠", r"\neq")}
STYLES = ("text", "latex", "mathml")
# MathML glyphs of the node letters that are not one plain letter (notation._BASES has the others).
_MATHML_BASES = {"yhat": "y", "Yhat": "Y", "mhat": "m", "vhat": "v", "L": "ℒ", "Xhat": "X", "xhat": "x"}
_MATHML_MINUS = "<mo>−</mo>"
_MATHML_TOKEN = re.compile(r"\d+(?:\.\d+)?|[^\W\d_]+|\S")


SIGNIFICANT = 3
"""The fewest significant digits a number prints with: below that fixed decimals give way to
scientific notation."""


def format_number(value: float, precision: int, latex: bool = False) -> str:
    """A number as a derivation prints it.

    Integers print as integers; other values with ``precision`` decimals, or in scientific
    notation with ``precision`` decimals of mantissa where fixed decimals would show fewer than
    ``SIGNIFICANT`` significant digits (2.6e-4 prints 2.6316e-4, never 0.0003).
    """
    if math.isnan(value):
        return r"\mathrm{NaN}" if latex else "nan"
    if math.isinf(value):
        sign = "-" if value < 0 else ""
        return sign + (r"\infty" if latex else "inf")
    magnitude = abs(value)
    if value == int(value) and magnitude < 1e6:
        return str(int(value))
    if magnitude >= 1e6 or magnitude < 10.0 ** (min(SIGNIFICANT, precision) - 1 - precision):
        mantissa, exponent = f"{value:.{precision}e}".split("e")
        if latex:
            return rf"{mantissa} \times 10^{{{int(exponent)}}}"
        return f"{mantissa}e{int(exponent)}"
    return f"{value:.{precision}f}"


def format_given(value: float) -> str:
    """A number the user gave (an input, a target, a setting) as it was typed: 0.5, -1, 0.1, 1e-8.

    Computed values print with ``format_number``'s fixed decimals; given ones are exact as they
    stand, and padding them (0.5000 beside -1, α = 0.1000 beside μ = 0.9) says nothing more.
    """
    if math.isfinite(value) and value == int(value) and abs(value) < 1e16:
        return str(int(value))
    text = repr(float(value))
    if "e" in text:
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    return text


MATRIX_LIMIT = 8
"""Rows and columns shown of a matrix; beyond it the first 4 and the last 3, with ⋮ or ⋯ between
(``elide``)."""


def elide(count: int, limit: int = MATRIX_LIMIT) -> list[int | None]:
    """The indices of rows (or columns) to show; None marks the elided middle."""
    if count <= limit:
        return list(range(count))
    head = limit // 2
    tail = limit - head - 1
    return [*range(head), None, *range(count - tail, count)]


def elided_cells(matrix: Matrix, cell: Callable[[float], str], dots: tuple[str, str, str],
                 limit: int = MATRIX_LIMIT) -> list[list[str]]:
    """The cells of ``matrix`` to print, each number drawn by ``cell``, the elided middle drawn with
    ``dots``: (the row's ⋯, the column's ⋮, the corner's ⋱).
    """
    horizontal, vertical, diagonal = dots
    rows, columns = elide(matrix.shape[0], limit), elide(matrix.shape[1], limit)
    out = []
    for i in rows:
        if i is None:
            out.append([diagonal if j is None else vertical for j in columns])
        else:
            out.append([horizontal if j is None else cell(matrix.rows[i][j]) for j in columns])
    return out


def kernel_rows(value: Any) -> Any:
    """A parameter of more than two axes (a convolution's kernels) as rows, one per output channel
    (its other axes read in C order); other values as they are."""
    if value and isinstance(value[0], (tuple, list)) and value[0] and isinstance(value[0][0], (tuple, list)):
        def flat(item: Any) -> list[float]:
            return [v for part in item for v in flat(part)] if isinstance(item, (tuple, list)) else [item]

        return tuple(tuple(flat(row)) for row in value)
    return value


def round_printed(value: float, precision: int) -> float:
    """The value as printed: what is carried to the next line with ``--rounding carry``."""
    return float(format_number(value, precision))


def subscript(text: str) -> str:
    converted = text.translate(_SUB)
    return converted if all(c not in "abcdefghijklmnopqrstuvwxyz" for c in converted) else f"_{text}"


def superscript(text: str) -> str:
    return text.translate(_SUP)


def mathml_tokens(text: str) -> str:
    """Short plain text (``1``, ``(t+1)``, ``tanh``) as MathML tokens: numbers, names, operators."""
    out = []
    for token in _MATHML_TOKEN.findall(text):
        if token[0].isdigit():
            out.append(f"<mn>{token}</mn>")
        elif token[0].isalpha():
            out.append(f"<mi>{escape(token)}</mi>")
        elif token in "()":
            out.append(f'<mo stretchy="false">{token}</mo>')
        else:
            out.append(_MATHML_MINUS if token == "-" else f"<mo>{escape(token)}</mo>")
    return "".join(out)


def mathml_fence(inner: str, left: str = "(", right: str = ")") -> str:
    """``(inner)`` in MathML; the fences grow only around something tall (a fraction, a matrix).

    The inside is an ``<mrow>`` of its own, so that a leading minus reads as a sign, not as a
    subtraction with space on both sides.
    """
    tall = any(tag in inner for tag in ("<mfrac", "<mtable", "<munder", "<msqrt"))
    attribute = "" if tall else ' stretchy="false"'
    return f"<mrow><mo{attribute}>{left}</mo><mrow>{inner}</mrow><mo{attribute}>{right}</mo></mrow>"


def mathml_number(text: str) -> str:
    """A number as ``format_number`` prints it (``-0.0162``, ``1.2000e-05``, ``inf``), in MathML."""
    sign = _MATHML_MINUS if text.startswith("-") else ""
    body = text.lstrip("-")
    if body == "nan":
        return "<mi>NaN</mi>"
    if body == "inf":
        return sign + "<mi>∞</mi>"
    if "e" in body:
        mantissa, exponent = body.split("e")
        power = mathml_tokens(exponent)
        return (f"{sign}<mn>{mantissa}</mn><mo>×</mo>"
                f"<msup><mn>10</mn><mrow>{power}</mrow></msup>")
    return f"{sign}<mn>{body}</mn>"


@dataclass(frozen=True)
class Piece:
    """A printed subexpression: its text, its precedence and whether it starts with a minus."""

    text: str
    prec: int
    neg: bool = False
    kind: str = "atom"  # atom | func | partial | number | group


class ExprPrinter:
    """Prints an expression as text, LaTeX or MathML, with numbers where ``values`` has them.

    Args:
        latex: LaTeX instead of plain text (the same as ``style="latex"``).
        values: nodes (or other subexpressions) to draw as their numbers.
        precision: decimals of printed numbers.
        style: ``text``, ``latex`` or ``mathml`` (presentation MathML, the inside of a ``<math>``
            element); when given it overrides ``latex``.
        lang: the language of the words around a function's cases (``1 if x > 0 else 0``).
    """

    def __init__(self, latex: bool = False, values: Mapping[sp.Basic, float] | None = None,
                 precision: int = 4, style: str | None = None, lang: str = "en") -> None:
        style = style or ("latex" if latex else "text")
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, not {style!r}")
        self.style = style
        self.latex = style == "latex"
        self.mathml = style == "mathml"
        self.minus = _MATHML_MINUS if self.mathml else "-"
        self.values = values
        self.precision = precision
        self.lang = lang

    def doprint(self, expr: sp.Basic) -> str:
        return self._print(expr).text

    # --- helpers -------------------------------------------------------------------------

    def _paren(self, piece: Piece) -> str:
        if self.mathml:
            return mathml_fence(piece.text)
        return rf"\left({piece.text}\right)" if self.latex else f"({piece.text})"

    def _wrap(self, piece: Piece, minimum: int) -> str:
        return self._paren(piece) if piece.prec < minimum else piece.text

    def _number(self, value: float) -> Piece:
        text = format_number(value, self.precision, self.latex)
        neg = text.startswith("-")
        if self.mathml:
            text = mathml_number(text)
        return Piece(text, NEG if neg else ATOM, neg, "number")

    # --- dispatch ------------------------------------------------------------------------

    def _print(self, expr: sp.Basic) -> Piece:
        if self.values is not None:
            value = self.values.get(expr)
            if value is not None and not isinstance(value, Matrix):
                return self._number(value)
        if isinstance(expr, Node):
            return self._print_node(expr)
        if isinstance(expr, FirstMax):
            x, m = (self._print(arg).text for arg in expr.args[:2])
            if self.mathml:
                return Piece(f"<mn>𝟙</mn><mo>[</mo>{x}<mo>=</mo>{m}<mo>]</mo>", ATOM)
            if self.latex:
                return Piece(rf"\mathbf{{1}}[{x} = {m}]", ATOM)
            return Piece(f"𝟙[{x} = {m}]", ATOM)
        if isinstance(expr, Elided):
            return Piece({"text": "⋯", "latex": r"\cdots", "mathml": "<mi>⋯</mi>"}[self.style], ATOM)
        if isinstance(expr, Partial):
            return self._print_partial(expr)
        if isinstance(expr, State):
            return self._print_state(expr)
        if isinstance(expr, (MatMul, Transpose, Hadamard, ColumnSum, Elementwise, Correlate, Convolve)):
            return self._print_matrix_op(expr)
        if isinstance(expr, ElementSum):
            inner = self._print(expr.args[0])
            body = inner.text if inner.prec > ADD else self._paren(inner)
            if self.mathml:
                over = "<mo>,</mo>".join(f"<mi>{name}</mi>" for name in expr.over.split(","))
                return Piece(f"<munder><mo>∑</mo><mrow>{over}</mrow></munder>{body}", MUL, kind="func")
            if self.latex:
                return Piece(rf"\sum_{{{expr.over}}} {body}", MUL, kind="func")
            return Piece(f"Σ{subscript(expr.over.replace(',', ''))} {body}", MUL, kind="func")
        if isinstance(expr, sp.Add):
            return self._print_add(expr)
        if isinstance(expr, sp.Mul):
            return self._print_mul(list(expr.args))
        if isinstance(expr, sp.Pow):
            return self._print_pow(expr)
        if isinstance(expr, sp.Rational):
            return self._print_rational(expr)
        if isinstance(expr, sp.Float):
            return self._number(float(expr))
        if isinstance(expr, sp.NumberSymbol):
            if self.mathml:
                return Piece(f"<mi>{escape(sp.pretty(expr, use_unicode=True))}</mi>", ATOM)
            return Piece(sp.latex(expr) if self.latex else sp.pretty(expr, use_unicode=True), ATOM)
        if isinstance(expr, sp.Piecewise):
            return self._print_piecewise(expr)
        if isinstance(expr, sp.Abs):
            body = self._print(expr.args[0]).text
            if self.mathml:
                return Piece(mathml_fence(body, "|", "|"), ATOM)
            return Piece(rf"\left|{body}\right|" if self.latex else f"|{body}|", ATOM)
        if isinstance(expr, sp.core.relational.Relational):
            return self._print_relational(expr)
        if isinstance(expr, sp.exp):
            return self._print_exp(expr)
        if isinstance(expr, (sp.Function, sp.Max, sp.Min)):
            return self._print_function(expr)
        if isinstance(expr, sp.Symbol):
            return self._print_symbol(expr)
        if self.mathml:
            return Piece(f"<mtext>{escape(sp.sstr(expr))}</mtext>", ATOM)
        return Piece(sp.latex(expr) if self.latex else sp.sstr(expr), ATOM)

    def _print_node(self, node: Node) -> Piece:
        glyph = node.glyph
        if self.mathml:
            return Piece(self._mathml_node(glyph), ATOM)
        if self.latex:
            text = glyph.base_latex
            if glyph.index:
                text += f"_{{{glyph.index}}}"
            marks = [f"({m})" for m in (glyph.layer, glyph.sample) if m]
            if marks:
                text += "^{" + "".join(marks) + "}"
            return Piece(text + glyph.suffix, ATOM)
        text = glyph.base_text
        if glyph.index:
            text += subscript(glyph.index)
        for mark in (glyph.layer, glyph.sample):
            if mark:
                text += superscript(f"({mark})")
        return Piece(text + glyph.suffix, ATOM)

    def _mathml_node(self, glyph: Glyph) -> str:
        base = f"<mi>{_MATHML_BASES.get(glyph.base, glyph.base_text)}</mi>"
        if glyph.base.endswith("hat"):
            base = f'<mover accent="true">{base}<mo>^</mo></mover>'
        marks = "".join(f"({m})" for m in (glyph.layer, glyph.sample) if m)
        index = mathml_tokens(glyph.index) if glyph.index else ""
        if index and marks:
            text = f"<msubsup>{base}<mrow>{index}</mrow><mrow>{mathml_tokens(marks)}</mrow></msubsup>"
        elif index:
            text = f"<msub>{base}<mrow>{index}</mrow></msub>"
        elif marks:
            text = f"<msup>{base}<mrow>{mathml_tokens(marks)}</mrow></msup>"
        else:
            text = base
        return text + mathml_tokens(glyph.suffix)

    def _print_symbol(self, symbol: sp.Symbol) -> Piece:
        if self.latex:
            return Piece(sp.latex(symbol), ATOM)
        from sympy.printing.pretty.pretty_symbology import pretty_symbol

        if self.mathml:
            return Piece(f"<mi>{escape(pretty_symbol(symbol.name))}</mi>", ATOM)
        return Piece(pretty_symbol(symbol.name), ATOM)

    def _print_partial(self, partial: Partial) -> Piece:
        of, wrt = self._print(partial.of).text, self._print(partial.wrt).text
        if self.mathml:
            return Piece(f"<mfrac><mrow><mo>∂</mo>{of}</mrow><mrow><mo>∂</mo>{wrt}</mrow></mfrac>",
                         ATOM, kind="partial")
        if self.latex:
            return Piece(rf"\frac{{\partial {of}}}{{\partial {wrt}}}", ATOM, kind="partial")
        return Piece(f"∂{of}/∂{wrt}", MUL, kind="partial")

    def _print_matrix_op(self, expr: sp.Basic) -> Piece:
        if isinstance(expr, Transpose):
            inner = self._print(expr.args[0])
            base = inner.text if inner.prec >= ATOM else self._paren(inner)
            if self.mathml:
                return Piece(f"<msup><mrow>{base}</mrow><mi>⊤</mi></msup>", POW)
            if self.latex:
                return Piece(f"{{{base}}}^{{\\top}}", POW)
            return Piece(base + "ᵀ", POW)
        if isinstance(expr, MatMul):
            pieces = [self._print(f) for f in expr.args]
            texts = [p.text if p.prec >= MUL else self._paren(p) for p in pieces]
            return Piece((" " if self.latex else "").join(texts), MUL, kind="group")
        if isinstance(expr, (Hadamard, Correlate, Convolve)):
            pieces = [self._print(f) for f in expr.args]
            texts = [p.text if p.prec > MUL or p.kind in ("partial", "number") else self._paren(p) for p in pieces]
            signs = {Hadamard: ("⊙", r"\odot"), Correlate: ("⋆", r"\star"), Convolve: ("∗", r"\ast")}[type(expr)]
            operator = {"text": f" {signs[0]} ", "latex": f" {signs[1]} ", "mathml": f"<mo>{signs[0]}</mo>"}[self.style]
            return Piece(operator.join(texts), MUL, kind="group")
        if isinstance(expr, ColumnSum):
            inner = self._print(expr.args[0])
            if self.mathml:
                return Piece(f"<msup><mn>𝟏</mn><mi>⊤</mi></msup>{self._wrap(inner, ATOM)}", MUL, kind="group")
            if self.latex:
                return Piece(rf"\mathbf{{1}}^{{\top}} {self._wrap(inner, ATOM)}", MUL, kind="group")
            return Piece(f"1ᵀ{self._wrap(inner, ATOM)}", MUL, kind="group")
        assert isinstance(expr, Elementwise)
        arg = self._print(expr.arg).text
        name = {"sigmoid": "σ", "identity": "id"}.get(expr.name, expr.name)
        if self.mathml:
            mark = "<mo>′</mo>" if expr.prime else ""
            return Piece(f"<mi>{escape(name)}</mi>{mark}{mathml_fence(arg)}", FUNC,
                         kind="func")
        if self.latex:
            head = r"\sigma" if name == "σ" else rf"\operatorname{{{name}}}"
            mark = "'" if expr.prime else ""
            return Piece(rf"{head}{mark}\left({arg}\right)", FUNC, kind="func")
        return Piece(f"{name}{'′' if expr.prime else ''}({arg})", FUNC, kind="func")

    def _print_state(self, state: State) -> Piece:
        kind, parameter = self._print(state.kind).text, self._print(state.parameter).text
        time = f"({state.time})" if state.time else ""
        if self.mathml:
            return Piece(f"<msub>{kind}<mrow>{parameter}</mrow></msub>{mathml_tokens(time)}", ATOM)
        if self.latex:
            return Piece(f"{kind}_{{{parameter}}}{time}", ATOM)
        return Piece(f"{kind}[{parameter}]{time}", ATOM)

    def _print_rational(self, number: sp.Rational) -> Piece:
        p, q = int(number.p), int(number.q)
        if q == 1:
            return self._number(float(p))
        if 10**6 % q == 0 and (p, q) not in ((1, 2), (1, 4), (3, 4)):
            text = format(Decimal(p) / Decimal(q), "f")
            if self.mathml:
                text = mathml_number(text)
            return Piece(text, NEG if p < 0 else ATOM, p < 0, "number")
        sign = "-" if p < 0 else ""
        if self.mathml:
            text = f"<mfrac><mn>{abs(p)}</mn><mn>{q}</mn></mfrac>"
            return Piece((self.minus if p < 0 else "") + text, NEG if p < 0 else ATOM, p < 0, "number")
        if self.latex:
            return Piece(rf"{sign}\frac{{{abs(p)}}}{{{q}}}", NEG if p < 0 else ATOM, p < 0, "number")
        vulgar = _VULGAR.get((abs(p), q))
        text = vulgar if vulgar else f"({abs(p)}/{q})"
        return Piece(sign + text, NEG if p < 0 else ATOM, p < 0, "number")

    def _print_add(self, expr: sp.Add) -> Piece:
        terms = list(expr.args)
        # Terms without a leading minus first, in their order: "ŷ - y", "1 - ŷ".
        terms.sort(key=lambda t: 1 if t.could_extract_minus_sign() else 0)
        pieces = [self._print(t) for t in terms]
        parts = []
        for i, piece in enumerate(pieces):
            text = piece.text if piece.prec > ADD or piece.neg else self._paren(piece)
            if i == 0:
                parts.append(text)
            elif piece.neg and text.startswith(self.minus):
                parts.append((self.minus if self.mathml else " - ") + text[len(self.minus):])
            else:
                parts.append(("<mo>+</mo>" if self.mathml else " + ") + text)
        return Piece("".join(parts), ADD, pieces[0].neg, "group")

    def _argument(self, expr: sp.Basic) -> Piece:
        """A function's argument; -z with z = 0 prints 0 (exp(0), not exp(-0))."""
        if (self.values is not None and isinstance(expr, sp.Mul) and len(expr.args) == 2
                and expr.args[0] == -1 and _is_zero(self.values.get(expr.args[1]))):
            return self._print(expr.args[1])
        return self._print(expr)

    def _print_exp(self, expr: sp.exp) -> Piece:
        arg = self._argument(expr.args[0])
        if self.mathml:
            return Piece(f"<msup><mi>e</mi><mrow>{arg.text}</mrow></msup>", POW, kind="func")
        if self.latex:
            return Piece(f"e^{{{arg.text}}}", POW, kind="func")
        return Piece(f"exp({arg.text})", FUNC, kind="func")

    def _print_function(self, expr: sp.Basic) -> Piece:
        name = type(expr).__name__
        name = _TEXT_NAMES.get(name, name)
        if self.mathml:
            inside = "<mo>,</mo>".join(self._argument(a).text for a in expr.args)
            return Piece(f"<mi>{escape(name)}</mi><mo>&#x2061;</mo>{mathml_fence(inside)}",
                         FUNC, kind="func")
        args = ", ".join(self._argument(a).text for a in expr.args)
        if self.latex:
            head = f"\\{name}" if name in _LATEX_FUNCTIONS else rf"\operatorname{{{name}}}"
            return Piece(rf"{head}{{\left({args}\right)}}", FUNC, kind="func")
        return Piece(f"{name}({args})", FUNC, kind="func")

    def _print_relational(self, expr: sp.Basic) -> Piece:
        text_op, latex_op = _RELATIONS[expr.rel_op]
        lhs, rhs = self._print(expr.lhs).text, self._print(expr.rhs).text
        if self.mathml:
            return Piece(f"{lhs}<mo>{escape(text_op)}</mo>{rhs}", REL)
        return Piece(f"{lhs} {latex_op if self.latex else text_op} {rhs}", REL)

    def _print_piecewise(self, expr: sp.Piecewise) -> Piece:
        from backprop_cli.locales import Message

        rows = [Message(f"math.{'otherwise' if c is sp.true else 'case'}.{self.style}",
                        {"value": self._print(e).text, "condition": "" if c is sp.true else self._print(c).text}
                        ).text(self.lang) for e, c in expr.args]
        if self.mathml:
            cells = "".join(f"<mtr>{row}</mtr>" for row in rows)
            return Piece(f'<mrow><mo>{{</mo><mtable class="cases">{cells}</mtable></mrow>', ATOM, kind="group")
        if self.latex:
            return Piece(r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}", ATOM, kind="group")
        return Piece("(" + Message("math.cases.separator").text(self.lang).join(rows) + ")", ATOM, kind="group")

    def _print_pow(self, expr: sp.Pow) -> Piece:
        base, exponent = expr.args
        if exponent.is_Number and exponent.is_negative:
            return self._print_mul([expr])
        if exponent == sp.S.Half:
            inner = self._print(base)
            if self.mathml:
                return Piece(f"<msqrt>{inner.text}</msqrt>", ATOM)
            if self.latex:
                return Piece(rf"\sqrt{{{inner.text}}}", ATOM)
            return Piece("√" + self._wrap(inner, ATOM), FUNC)
        base_piece = self._print(base)
        base_text = self._wrap(base_piece, POW + 1) if not base_piece.neg else self._paren(base_piece)
        if self.mathml:
            return Piece(f"<msup><mrow>{base_text}</mrow><mrow>{self._print(exponent).text}</mrow></msup>", POW)
        if self.latex:
            return Piece(f"{{{base_text}}}^{{{self._print(exponent).text}}}", POW)
        if exponent.is_Integer and exponent > 0:
            return Piece(base_text + superscript(str(int(exponent))), POW)
        return Piece(f"{base_text}^{self._wrap(self._print(exponent), ATOM)}", POW)

    def _print_mul(self, args: list[sp.Basic]) -> Piece:
        coefficient: sp.Expr = sp.S.One
        numerator: list[sp.Basic] = []
        denominator: list[sp.Basic] = []
        flat: list[sp.Basic] = []
        for arg in args:
            flat.extend(arg.args if isinstance(arg, sp.Mul) else [arg])
        for arg in flat:
            if isinstance(arg, sp.Pow) and arg.exp.is_Number and arg.exp.is_negative:
                denominator.append(arg.base if arg.exp == -1 else sp.Pow(arg.base, -arg.exp, evaluate=False))
            elif arg.is_Number and not numerator:
                coefficient = sp.Mul(coefficient, arg, evaluate=True)
            else:
                numerator.append(arg)
        numerator = _atoms_first(numerator)
        denominator = _atoms_first(denominator)
        if isinstance(coefficient, sp.Rational) and coefficient.q != 1 and denominator:
            denominator.insert(0, sp.Integer(coefficient.q))
            coefficient = sp.Integer(coefficient.p)
        negative = bool(coefficient.is_negative)
        if negative:
            coefficient = -coefficient
        factors = ([coefficient] if coefficient != 1 else []) + numerator
        one = "<mn>1</mn>" if self.mathml else "1"
        top = self._join(factors) if factors else Piece(one, ATOM, kind="number")
        if top.neg and negative and len(factors) == 1:
            # -(-0.3415) is 0.3415.
            top, negative = Piece(top.text[len(self.minus):], ATOM, False, top.kind), False
        if denominator:
            bottom = self._join(denominator)
            if self.mathml:
                top = Piece(f"<mfrac><mrow>{top.text}</mrow><mrow>{bottom.text}</mrow></mfrac>", ATOM, False,
                            "group")
            elif self.latex:
                top = Piece(rf"\frac{{{top.text}}}{{{bottom.text}}}", ATOM, False, "group")
            else:
                numerator_text = top.text if top.prec >= MUL and not top.neg else self._paren(top)
                if " " in numerator_text and not numerator_text.startswith("("):
                    numerator_text = f"({numerator_text})"
                simple = bottom.prec > MUL and len(denominator) == 1
                bottom_text = bottom.text if simple and not bottom.neg else self._paren(bottom)
                top = Piece(f"{numerator_text}/{bottom_text}", MUL, False, "group")
        if negative:
            text = top.text if top.prec > ADD else self._paren(top)
            return Piece(self.minus + text, NEG, True, top.kind)
        return top

    def _join(self, factors: list[sp.Basic]) -> Piece:
        pieces = [self._print(f) for f in factors]
        if len(pieces) == 1:
            return pieces[0]
        numbers = self.values is not None
        texts = []
        for i, piece in enumerate(pieces):
            leading_number = i == 0 and piece.kind == "number"
            needs = (piece.prec < MUL and not leading_number) or (piece.neg and i > 0)
            texts.append(self._paren(piece) if needs else piece.text)
        out = texts[0]
        for i in range(1, len(pieces)):
            out += self._separator(pieces[i - 1], pieces[i], numbers) + texts[i]
        return Piece(out, MUL, pieces[0].neg, "group")

    def _separator(self, left: Piece, right: Piece, numbers: bool) -> str:
        if self.mathml:
            if numbers or (left.kind == "number" and right.kind == "number"):
                return "<mo>×</mo>"
            if left.kind == "partial" and right.kind == "partial":
                return "<mo>⋅</mo>"
            # A thin space before and after a function, as LaTeX's \log gives.
            return '<mspace width="0.1667em"/>' if "func" in (left.kind, right.kind) else ""
        if numbers:
            return r" \times " if self.latex else " × "
        if left.kind == "partial" and right.kind == "partial":
            return r" \cdot " if self.latex else " · "
        if self.latex:
            return " "
        if right.kind in ("func", "partial") or left.kind in ("func", "partial"):
            return " "
        if left.kind == "number" and right.kind == "number":
            return " × "
        return ""


def _is_zero(value: object) -> bool:
    return isinstance(value, (int, float)) and value == 0


def _atoms_first(factors: list[sp.Basic]) -> list[sp.Basic]:
    """σ(1 - σ) rather than (1 - σ)σ: sums after symbols, unless a function is among the factors."""
    if any(isinstance(f, sp.Function) for f in factors):
        return factors
    return sorted(factors, key=lambda f: 1 if isinstance(f.as_base_exp()[0], sp.Add) else 0)


def to_text(expr: sp.Basic, values: Mapping[sp.Basic, float] | None = None, precision: int = 4,
            lang: str = "en") -> str:
    """Plain-text form of ``expr``; with ``values``, nodes that have one are drawn as numbers."""
    return ExprPrinter(False, values, precision, lang=lang).doprint(expr)


def to_latex(expr: sp.Basic, values: Mapping[sp.Basic, float] | None = None, precision: int = 4,
            lang: str = "en") -> str:
    """LaTeX form of ``expr``; with ``values``, nodes that have one are drawn as numbers."""
    return ExprPrinter(True, values, precision, lang=lang).doprint(expr)


def to_mathml(expr: sp.Basic, values: Mapping[sp.Basic, float] | None = None, precision: int = 4,
            lang: str = "en") -> str:
    """Presentation MathML of ``expr`` (the inside of a ``<math>`` element)."""
    return ExprPrinter(False, values, precision, style="mathml", lang=lang).doprint(expr)
