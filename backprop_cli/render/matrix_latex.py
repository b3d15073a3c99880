"""A matrix-form step in LaTeX, for the Markdown page (``$$ … $$``) and the LaTeX document.

``Z⁽¹⁾ = A⁽⁰⁾W⁽¹⁾ᵀ + b⁽¹⁾ = [numbers][numbers]ᵀ + [numbers] = [result]``: the symbolic forms, the last
form again with every operand drawn as its matrix, and the value, each matrix as a ``bmatrix``
with its shape below, large ones elided in the middle (``\\cdots``, ``\\vdots``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_cli.derivation import Matrix, MatrixStep
from backprop_cli.printing import ExprPrinter
from backprop_cli.render.base import MatrixSubstitution, elided_cells, operands_inline

if TYPE_CHECKING:
    from backprop_cli.render.base import DocumentPrinter


def bmatrix(printer: DocumentPrinter, matrix: Matrix) -> str:
    """``matrix`` as a LaTeX ``bmatrix`` with its shape under it."""
    cells = elided_cells(matrix, lambda v: printer.number(v, latex=True), (r"\cdots", r"\vdots", r"\ddots"))
    body = r" \\ ".join(" & ".join(row) for row in cells)
    rows, columns = matrix.shape
    return rf"\underset{{{rows} \times {columns}}}{{\begin{{bmatrix}} {body} \end{{bmatrix}}}}"


def matrix_step_rows(printer: DocumentPrinter, step: MatrixStep) -> list[tuple[str, list[str]]]:
    """The LaTeX lines of a matrix step, each a left side and its ``= …`` parts.

    ``target = forms… = operands substituted = value`` on one line when the operands fit in it
    (``operands_inline``); else ``target = forms…``, a line ``operand = matrix`` for each operand,
    and ``target = value``.
    """
    symbols = ExprPrinter(True, None, printer.precision)
    target = symbols.doprint(step.target)
    forms = [symbols.doprint(e) for e in step.forms]
    value = bmatrix(printer, step.value)
    if not step.operands or not step.forms:
        return [(target, [*forms, value])]
    if operands_inline(step.operands):
        matrices = {symbol: bmatrix(printer, matrix) for symbol, matrix in step.operands}
        values = printer.derivation.values if printer.derivation is not None else None
        numbers = MatrixSubstitution(matrices, values, printer.precision, "latex").doprint(step.forms[-1])
        return [(target, [*forms, numbers, value])]
    rows = [(target, forms)]
    rows += [(symbols.doprint(symbol), [bmatrix(printer, matrix)]) for symbol, matrix in step.operands]
    return rows + [(target, [value])]


def matrix_step_lines(printer: DocumentPrinter, step: MatrixStep, markdown: bool) -> list[str]:
    """The lines of a matrix step: a ``$$`` block in Markdown, ``align*`` in the LaTeX document, one
    line for each part of a long line."""
    rows = matrix_step_rows(printer, step)
    if markdown and len(rows) == 1:
        lines = ["$$", " = ".join([rows[0][0], *rows[0][1]]), "$$", ""]
    else:
        body = []
        for left, parts in rows:
            body.append(f"{left} &= {parts[0]}")
            body += [f"&= {part}" for part in parts[1:]]
        begin, end = (r"\begin{aligned}", r"\end{aligned}") if markdown else (r"\begin{align*}", r"\end{align*}")
        joined = [line + r" \\" for line in body[:-1]] + body[-1:]
        lines = (["$$", begin] if markdown else [begin]) + joined + ([end, "$$", ""] if markdown else [end, ""])
    return lines + printer.step_note(step)
