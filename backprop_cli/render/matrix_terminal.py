"""Matrix-form steps in the terminal: the equation, then each matrix as a small table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.columns import Columns
from rich.console import Group as Stack
from rich.console import RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from backprop_cli.derivation import Matrix, MatrixStep
from backprop_cli.printing import elide, to_text
from backprop_cli.render.equation import STYLES, Equation

if TYPE_CHECKING:
    from backprop_cli.render.terminal import TerminalPrinter


def matrix_table(printer: TerminalPrinter, name: str, matrix: Matrix, style: str = "cyan",
                 heat: bool = False) -> RenderableType:
    """``matrix`` as a borderless table under its name and shape; large ones elided; with ``heat``,
    each cell on a background shaded by its value (0 white, 1 deep blue), as a heat-map."""
    rows, cols = matrix.shape
    table = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 1))
    col_index = elide(cols)
    for _ in col_index:
        table.add_column(justify="right", style=style, header_style="dim")
    table.show_header = False
    for i in elide(rows):
        if i is None:
            table.add_row(*("⋱" if j is None else "⋮" for j in col_index))
        else:
            table.add_row(*("⋯" if j is None else heat_cell(printer.number(matrix.rows[i][j]), matrix.rows[i][j])
                            if heat else printer.number(matrix.rows[i][j]) for j in col_index))
    return Stack(Text(f"{name}  {rows}×{cols}", style="bold"), table)


def matrix_step(printer: TerminalPrinter, step: MatrixStep) -> list[RenderableType]:

    names = [to_text(e, lang=printer.lang) for e in (*step.lead, step.target)]
    forms = [to_text(f, lang=printer.lang) for f in step.forms]
    parts = [(n, STYLES["target"]) for n in names] + [(f, STYLES["form"]) for f in forms if f not in names]
    scalar = step.value.shape == (1, 1)
    if scalar and printer.number(step.value.rows[0][0]) not in forms[-1:]:
        # A constant right side (id′(Z) = 1) is its own value.
        parts.append((printer.number(step.value.rows[0][0]), STYLES["value"]))
    out: list[RenderableType] = [Equation(parts)]
    tables: list[RenderableType] = [matrix_table(printer, to_text(symbol), matrix)
                                    for symbol, matrix in step.operands]
    if not scalar:
        if tables:
            # On the value's middle row, below the names: one-row matrices keep it on their row.
            tables.append(Text("\n" * (1 + (len(elide(step.value.shape[0])) - 1) // 2) + "=", style="dim"))
        tables.append(matrix_table(printer, names[-1], step.value, style="bold green", heat=step.heat))
    if tables:
        out.append(Padding(Columns(tables, padding=(0, 3)), (0, 0, 0, 4)))
    if step.note is not None:
        out.append(Padding(Text(printer.words(step.note), style=STYLES["note"]), (0, 0, 0, 4)))
    return out


def heat_cell(text: str, value: float) -> Text:
    """A cell of a heat-map: its number on a background from white (0) to deep blue (1)."""
    from backprop_cli.render.html import heat_color

    red, green, blue = heat_color(value)
    ink = "white" if value > 0.55 else "black"
    return Text(f" {text} ", style=f"{ink} on rgb({red},{green},{blue})")
