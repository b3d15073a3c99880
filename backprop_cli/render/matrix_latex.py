"""A matrix-form step in LaTeX, for the Markdown page (``$$ … $$``) and the LaTeX document.

``Z⁽¹⁾ = A⁽⁰⁾W⁽¹⁾ᵀ + b⁽¹⁾ = [numbers][numbers]ᵀ + [numbers] = [result]``: the symbolic forms, the last
form again with every operand drawn as its matrix, and the value, each matrix as a ``bmatrix``
with its shape below, large ones elided in the middle (``\\cdots``, ``\\vdots``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backprop_cli.derivation import Matrix, MatrixStep
from backprop_cli.printing import ExprPrinter
from backprop_cli.render.base import MatrixSubstitution, elided_cells

if TYPE_CHECKING:
    from backprop_cli.render.base import DocumentPrinter


def bmatrix(printer: DocumentPrinter, matrix: Matrix) -> str:
    """``matrix`` as a LaTeX ``bmatrix`` with its shape under it."""
    cells = elided_cells(matrix, lambda v: printer.number(v, latex=True), (r"\cdots", r"\vdots", r"\ddots"))
    body = r" \\ ".join(" & ".join(row) for row in cells)
    rows, columns = matrix.shape
    return rf"\underset{{{rows} \times {columns}}}{{\begin{{bmatrix}} {body} \end{{bmatrix}}}}"


def matrix_step_parts(printer: DocumentPrinter, step: MatrixStep) -> list[str]:
    """The LaTeX sides of ``target = forms… = operands substituted = value``."""
    symbols = ExprPrinter(True, None, printer.precision)
    parts = [symbols.doprint(e) for e in (step.target, *step.forms)]
    if step.operands and step.forms:
        matrices = {symbol: bmatrix(printer, matrix) for symbol, matrix in step.operands}
        values = printer.derivation.values if printer.derivation is not None else None
        parts.append(MatrixSubstitution(matrices, values, printer.precision, "latex").doprint(step.forms[-1]))
    parts.append(bmatrix(printer, step.value))
    return parts


def matrix_step_lines(printer: DocumentPrinter, step: MatrixStep, markdown: bool) -> list[str]:
    """The lines of a matrix step: one ``$$`` block in Markdown, aligned lines in the LaTeX document."""
    parts = matrix_step_parts(printer, step)
    if markdown:
        lines = ["$$", " = ".join(parts), "$$", ""]
    else:
        lines = [r"\begin{align*}", parts[0] + " &= " + parts[1] + (r" \\" if len(parts) > 2 else "")]
        lines += ["&= " + part + (r" \\" if i < len(parts) - 1 else "") for i, part in enumerate(parts) if i > 1]
        lines += [r"\end{align*}", ""]
    return lines + printer.step_note(step)
