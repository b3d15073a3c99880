"""A matrix-form step in LaTeX, for the Markdown page (``$$ … $$``) and the LaTeX document.

``Z⁽¹⁾ = A⁽⁰⁾W⁽¹⁾ᵀ + b⁽¹⁾ = [numbers][numbers]ᵀ + [numbers] = [result]``: the symbolic forms, the last
form again with every operand drawn as its matrix, and the value, each matrix as a ``bmatrix``
with its shape below, large ones elided in the middle (``\\cdots``, ``\\vdots``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_cli.derivation import Matrix, MatrixStep
from backprop_cli.printing import elided_cells

if TYPE_CHECKING:
    from backprop_cli.render.base import DocumentPrinter


def bmatrix(printer: DocumentPrinter, matrix: Matrix) -> str:
    """``matrix`` as a LaTeX ``bmatrix`` with its shape under it."""
    cells = elided_cells(matrix, lambda v: printer.number(v, latex=True), (r"\cdots", r"\vdots", r"\ddots"))
    body = r" \\ ".join(" & ".join(row) for row in cells)
    rows, columns = matrix.shape
    return rf"\underset{{{rows} \times {columns}}}{{\begin{{bmatrix}} {body} \end{{bmatrix}}}}"


def matrix_step_lines(printer: DocumentPrinter, step: MatrixStep, markdown: bool) -> list[str]:
    """The lines of a matrix step: a ``$$`` block in Markdown, ``align*`` in the LaTeX document, one
    line for each part of a long line."""
    rows = printer.matrix_step_rows(step)
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
