"""The terminal page, drawn with rich: a panel per phase, each line broken at ``=`` to fit.

Formulas go into ``rich.text.Text`` pieces, never markup strings, so brackets in math are never
read as markup.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from rich import box
from rich.console import Console, RenderableType
from rich.console import Group as Stack
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from backprop_cli.derivation import Derivation, Group, MatrixStep, Section, Step
from backprop_cli.render.base import PagePrinter
from backprop_cli.render.equation import STYLES, Equation


class TerminalPrinter(PagePrinter):
    """Builds the rich renderables of a derivation."""

    def _print_Derivation(self, derivation: Derivation) -> RenderableType:
        parts: list[RenderableType] = [self.header(derivation)]
        if derivation.options.figure:
            parts += self.figure(derivation)
        for number, section in enumerate(derivation.sections, start=1):
            parts.append(self.section_panel(number, section))
        parts.append(self.summary_panel(derivation, len(derivation.sections) + 1))
        code = derivation.extra.get("code")
        if code:
            from rich.syntax import Syntax

            title = Text(f"{len(derivation.sections) + 2}. {self.words_key('section.code')}", style="bold")
            parts.append(Panel(Stack(Text(self.words_key("intro.code"), style=STYLES["intro"]),
                                     Syntax(code, "python", theme="ansi_dark", word_wrap=True)),
                               title=title, title_align="left", box=box.ROUNDED, border_style="blue",
                               padding=(0, 1)))
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

    def figure(self, derivation: Derivation) -> list[RenderableType]:
        """The network drawn in text (``figure_terminal.py``) for a small dense network, a line saying
        why not for a wider one, nothing for a network of other kinds."""
        from backprop_cli.render.figure import PAGE_UNITS, figure
        from backprop_cli.render.figure_terminal import TextFigure

        drawn = figure(derivation.network, derivation.options.layout == "transposed")
        if drawn is None:
            return []
        if max(derivation.network.widths) > PAGE_UNITS:
            return [Text(self.words_key("figure.too_many", units=PAGE_UNITS), style="dim")]
        body = TextFigure(drawn, self.words_key("figure.too_wide"))
        return [Panel(body, title=Text(self.words_key("figure.title"), style="bold"), title_align="left",
                      box=box.ROUNDED, border_style="blue", padding=(0, 1))]

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
        if group.intro is not None:
            out.append(Text(self.words(group.intro), style=STYLES["intro"]))
        for message in group.why:
            out.append(Text(self.words(message), style=STYLES["why"]))
        for step in group.steps:
            out.extend(self._print(step))
        for message in group.remarks:
            out.append(Text(self.words(message), style=STYLES["why"]))
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
            elif i >= names + len(step.forms) and step.substitute:
                style = STYLES["numbers"]
            else:
                style = STYLES["form"]
            styled.append((text, style))
        out: list[RenderableType] = [Equation(styled)]
        if step.note is not None:
            out.append(Padding(Text(self.words(step.note), style=STYLES["note"]), (0, 0, 0, 4)))
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


def page_renderable(derivation: Derivation, **settings: Any) -> RenderableType:
    """The rich renderable of a derivation."""
    result: RenderableType = TerminalPrinter(**settings).doprint(derivation)
    return result


def plain_text(renderable: RenderableType, width: int = 100) -> str:
    """A renderable as plain text (no colour), ``width`` columns wide."""
    buffer = io.StringIO()
    console = Console(width=width, file=buffer, color_system=None, force_terminal=False,
                      legacy_windows=False, emoji=False, highlight=False)
    console.print(renderable)
    return buffer.getvalue()


def render(obj: Derivation, width: int = 100, **settings: Any) -> str:
    """The terminal page as plain text (no colour), ``width`` columns wide."""
    return plain_text(page_renderable(obj, **settings), width)
