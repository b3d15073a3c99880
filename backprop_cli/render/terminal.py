"""The terminal page, drawn with rich: a panel per phase, each line broken at ``=`` to fit.

Formulas go into ``rich.text.Text`` pieces, never markup strings, so brackets in math are never
read as markup.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.console import Group as Stack
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from backprop_cli.derivation import Derivation, Group, MatrixStep, Section, Step
from backprop_cli.render.base import PagePrinter

STYLES = {"target": "bold", "form": "", "numbers": "cyan", "value": "bold green", "eq": "dim",
          "note": "italic dim", "intro": "italic", "title": "bold"}


def split_terms(text: str) -> list[str]:
    """Cut a long side before its top-level ``+`` and ``-`` (outside any brackets)."""
    pieces, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and i > start and text[i - 1 : i + 2] in (" + ", " - "):
            pieces.append(text[start : i - 1])
            start = i
    pieces.append(text[start:])
    return pieces


class Equation:
    """``a = b = c`` that breaks before an ``=`` when it does not fit, continuation lines aligned.

    A side that is wider than the page on its own is cut before its top-level + and - signs.
    """

    def __init__(self, parts: list[tuple[str, str]], indent: int = 2) -> None:
        self.parts = parts
        self.indent = indent

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(20, options.max_width - self.indent)
        head_text, head_style = self.parts[0]
        hang = cell_len(head_text) + 1
        line = Text(" " * self.indent, no_wrap=True)
        line.append(head_text, style=head_style)
        used = cell_len(head_text)
        for text, style in self.parts[1:]:
            piece = cell_len(text) + 3
            if used + piece > width and used > hang:
                yield line
                line = Text(" " * (self.indent + hang), no_wrap=True)
                used = hang
                line.append("= ", style=STYLES["eq"])
                used += 2
            else:
                line.append(" = ", style=STYLES["eq"])
                used += 3
            chunks = split_terms(text) if used + cell_len(text) > width else [text]
            for index, chunk in enumerate(chunks):
                if index and used + 1 + cell_len(chunk) > width:
                    yield line
                    line = Text(" " * (self.indent + hang + 2), no_wrap=False)
                    used = hang + 2
                    chunk = chunk.lstrip()
                elif index:
                    line.append(" ")  # split_terms cut the space before the sign
                    used += 1
                line.append(chunk, style=style)
                used += cell_len(chunk)
        yield line


class TerminalPrinter(PagePrinter):
    """Builds the rich renderables of a derivation."""

    def _print_Derivation(self, derivation: Derivation) -> RenderableType:
        parts: list[RenderableType] = [self.header(derivation)]
        for number, section in enumerate(derivation.sections, start=1):
            parts.append(self.section_panel(number, section))
        parts.append(self.summary_panel(derivation, len(derivation.sections) + 1))
        return Stack(*parts)

    def header(self, derivation: Derivation) -> RenderableType:
        facts = self.summary_words()
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row(self.words_key("network"), Text(facts["network"]))
        grid.add_row(self.words_key("sample"), Text(facts["sample"]))
        grid.add_row("", Text(facts["rounding"], style="dim"))
        return Panel(grid, title=Text(self.words_key("title.step"), style="bold"), box=box.ROUNDED,
                     border_style="magenta", padding=(0, 1))

    def section_panel(self, number: int, section: Section) -> RenderableType:
        body: list[RenderableType] = []
        if section.intro is not None:
            body.append(Text(self.words(section.intro), style=STYLES["intro"]))
        for group in section.groups:
            body.extend(self._print(group))
        title = Text(f"{number}. {self.words_key('section.' + section.key)}", style="bold")
        return Panel(Stack(*body), title=title, title_align="left", box=box.ROUNDED,
                     border_style="blue", padding=(0, 1))

    def _print_Group(self, group: Group) -> Iterable[RenderableType]:
        out: list[RenderableType] = []
        out.append(Text(""))
        if group.title is not None:
            out.append(Text(self.words(group.title), style=STYLES["title"]))
        for step in group.steps:
            out.extend(self._print(step))
        return out

    def _print_Step(self, step: Step) -> Iterable[RenderableType]:
        parts = self.equation_parts(step, latex=False)
        names = len(step.lead) + 1
        styled = []
        for i, text in enumerate(parts):
            if i < names:
                style = STYLES["target"]
            elif i == len(parts) - 1:
                style = STYLES["value"]
            elif i == len(parts) - 2 and step.substitute and len(parts) > names + len(step.forms):
                style = STYLES["numbers"]
            else:
                style = STYLES["form"]
            styled.append((text, style))
        out: list[RenderableType] = [Equation(styled)]
        if step.note is not None:
            out.append(Text("    " + self.words(step.note), style=STYLES["note"]))
        return out

    def _print_MatrixStep(self, step: MatrixStep) -> Iterable[RenderableType]:
        from backprop_cli.render.matrix_terminal import matrix_step

        return matrix_step(self, step)

    def summary_panel(self, derivation: Derivation, number: int) -> RenderableType:
        body: list[RenderableType] = []
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
        table.add_column(self.words_key("table.parameter"), style="bold")
        for key in ("table.before", "table.gradient", "table.after"):
            table.add_column(self.words_key(key), justify="right")
        from backprop_cli.printing import to_text

        for row in derivation.parameters:
            after = self.number(row.after) + (" *" if row.frozen else "")
            table.add_row(to_text(row.symbol), self.number(row.before), self.number(row.gradient),
                          Text(after, style="green"))
        loss = Text()
        loss.append("𝓛  ", style="bold")
        loss.append(self.number(derivation.loss), style="bold")
        loss.append("  →  ", style="dim")
        loss.append(self.number(derivation.loss_after), style="bold green")
        change = derivation.loss_after - derivation.loss
        loss.append(f"   ({'+' if change >= 0 else ''}{self.number(change)})", style="dim")
        if derivation.parameters:
            body += [table, Text("")]
        body.append(loss)
        if any(row.frozen for row in derivation.parameters):
            body.append(Text("* " + self.words_key("note.frozen"), style=STYLES["note"]))
        title = Text(f"{number}. {self.words_key('section.summary')}", style="bold")
        return Panel(Stack(*body), title=title, title_align="left", box=box.ROUNDED,
                     border_style="green", padding=(0, 1))


def renderable(obj: Any, **settings: Any) -> RenderableType:
    """The rich renderable of a derivation (or a training result)."""
    if not isinstance(obj, Derivation):
        from backprop_cli.render.train_terminal import training_renderable

        return training_renderable(obj, **settings)
    result: RenderableType = TerminalPrinter(**settings).doprint(obj)
    return result


def render(obj: Any, width: int = 100, **settings: Any) -> str:
    """The terminal page as plain text (no colour), ``width`` columns wide."""
    buffer = io.StringIO()
    console = Console(width=width, file=buffer, color_system=None, force_terminal=False,
                      legacy_windows=False, emoji=False, highlight=False)
    console.print(renderable(obj, **settings))
    return buffer.getvalue()
