"""The network's figure in the terminal: a text drawing of a small dense network (``figure.Figure``).

Units stand in columns, inputs first; between two columns a bus line joins every unit of the one to
every unit of the next, and the arrow into each unit carries its weights, in the order of its
inputs, and the unit its bias::

    x₁ ──┬─ W₁ W₂ ─▶ σ₁ +b₁ ──┐
         │                    ├─ W₅ W₆ ─▶ ŷ +b₃
    x₂ ──┴─ W₃ W₄ ─▶ σ₂ +b₂ ──┘

A drawing wider than the page is not drawn; a line says so.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from backprop_cli.printing import to_text
from backprop_cli.render.figure import Figure, Unit

# The bus character by (a unit on the left, a unit on the right, the bus goes up, the bus goes down).
_BUS = {
    (True, True, False, False): "─", (True, True, False, True): "┬", (True, True, True, False): "┴",
    (True, True, True, True): "┼", (True, False, False, True): "┐", (True, False, True, False): "┘",
    (True, False, True, True): "┤", (False, True, False, True): "┌", (False, True, True, False): "└",
    (False, True, True, True): "├", (False, False, True, True): "│", (True, False, False, False): "╴",
    (False, True, False, False): "╶",
}


def _label(unit: Unit) -> str:
    return to_text(unit.symbol) + (f" +{to_text(unit.bias)}" if unit.bias is not None else "")


def drawing(fig: Figure) -> list[str]:
    """The figure as lines of text (units two lines apart, each column centred)."""
    columns = [[u for u in fig.units if u.column == c] for c in range(fig.columns)]
    height = 2 * fig.rows - 1
    at: list[dict[int, Unit]] = [{2 * u.row + fig.rows - len(units): u for u in units} for units in columns]
    names = [[_label(u) for u in units] for units in columns]
    widths = [max(cell_len(n) for n in column) for column in names]
    weights = {key: " ".join(to_text(w) for source, target, w in fig.edges if target == key)
               for key in {target for _, target, _ in fig.edges}}
    spans = [max(cell_len(weights[u.key]) for u in column) for column in columns[1:]]
    lines = []
    for i in range(height):
        parts: list[str] = []
        for c, column in enumerate(at):
            unit = column.get(i)
            if c > 0:
                span = spans[c - 1]
                if unit is None:
                    parts.append(" " * (span + 6))
                else:
                    label = weights[unit.key]
                    parts.append("─ " + label + " " + "─" * (span - cell_len(label)) + "─▶ ")
            text = "" if unit is None else _label(unit)
            if c == len(at) - 1:
                parts.append(text)
                break
            parts.append(text + (" " + "─" * (widths[c] - cell_len(text) + 1) if unit is not None
                                 else " " * (widths[c] - cell_len(text) + 2)))
            rows = sorted(column) + sorted(at[c + 1])
            top, bottom = min(rows), max(rows)
            if top <= i <= bottom:
                parts.append(_BUS[(unit is not None, i in at[c + 1], i > top, i < bottom)])
            else:
                parts.append(" ")
        lines.append("".join(parts).rstrip())
    return lines


class TextFigure:
    """The drawing, indented; where the page is narrower than it, ``note`` instead."""

    def __init__(self, fig: Figure, note: str, indent: int = 2) -> None:
        self.lines = drawing(fig)
        self.note = note
        self.indent = indent

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if max(cell_len(line) for line in self.lines) + self.indent > options.max_width:
            yield Text(self.note, style="dim")
            return
        for line in self.lines:
            yield Text(" " * self.indent + line, no_wrap=True)
