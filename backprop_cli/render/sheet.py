"""Exercise sheets in Markdown, LaTeX and HTML: the network's figure, the givens, and the page's
lines of the sections asked, each written in symbols with its value left blank.

The sheet printers are the page printers (``render/markdown.py``, ``latex.py``, ``html.py``) with
another body: what a line looks like, a table, a heading are drawn as on the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backprop_cli.derivation import Step
from backprop_cli.printing import ExprPrinter, format_given, format_number
from backprop_cli.render.base import DocumentPrinter, given_vector
from backprop_cli.render.figure import figure
from backprop_cli.render.html import HtmlPrinter
from backprop_cli.render.latex import LatexPrinter
from backprop_cli.render.markdown import MarkdownPrinter

if TYPE_CHECKING:
    from backprop_cli.exercise import Exercise

BLANK_LATEX = r"\underline{\phantom{-0.00000}}"
"""A blank in LaTeX and MathJax: a rule as wide as a signed number of five decimals."""

BLANK_MATHML = '<mrow class="blank"><mspace width="5em" height="1em"/></mrow>'

SHEET_FORMATS = ("markdown", "latex", "html")


class SheetBody(DocumentPrinter):
    """The body of a sheet; a format's printer supplies the parts (``blank``, ``figure``)."""

    title_key = "title.exercise.document"
    command = "backprop exercise"
    _default_settings = {**DocumentPrinter._default_settings, "figure": True}

    def _print_Exercise(self, exercise: Exercise) -> str:
        return self.document(self.sheet(exercise))

    def sheet(self, exercise: Exercise) -> list[str]:
        derivation = exercise.derivation
        self.derivation = derivation
        facts = self.summary_words()
        lines = self.title(self.words_key("title.exercise", number=exercise.number))
        lines += self.paragraph(self.words_key("exercise.instructions", precision=self.precision))
        drawn = figure(derivation.network) if self._settings["figure"] else None
        if drawn is not None:
            lines += self.figure(drawn)
        lines += self.heading(2, self.words_key("exercise.given"))
        givens: list[tuple[str | None, str]] = [(self.words_key("network"), facts["network"])]
        if len(derivation.xs) == 1:
            givens.append((self.words_key("sample"), facts["sample"]))
        else:
            givens += [(f"{self.words_key('sample')} {n}",
                        f"x = {given_vector(x, self)}, y = {given_vector(y, self)}")
                       for n, (x, y) in enumerate(zip(derivation.xs, derivation.ys, strict=True), 1)]
        lines += self.facts(givens)
        header = [self.words_key("table.parameter"), self.words_key("table.value")]
        rows = [[self.inline_math(row.symbol), self.cell_number(row.before)] for row in derivation.parameters]
        lines += self.table(header, rows)
        number = 0
        for section in derivation.sections:
            if not exercise.asked(section.key):
                continue
            number += 1
            part = self.heading(2, f"{number}. {self.words_key('section.' + section.key)}")
            if section.intro is not None:
                part += self.intro(self.words(section.intro))
            for group in section.groups:
                if group.title is not None:
                    part += self.heading(3, self.words(group.title))
                part += self.blanks([step for step in group.steps if isinstance(step, Step)])
            lines += self.section_block(part)
        return lines

    def number(self, value: float, latex: bool = False) -> str:
        """A given number as drawn (0.3, -1, 0.25); another with the page's precision."""
        return format_given(value) if round(value, 2) == value else format_number(value, self.precision, latex)

    def symbols(self, step: Step, style: str) -> list[str]:
        """The line's sides in symbols (``lead = target = forms…``), repeats dropped."""
        printer = ExprPrinter(precision=self.precision, style=style, lang=self.lang)
        out: list[str] = []
        for expr in (*step.lead, step.target, *step.forms):
            text = printer.doprint(expr)
            if not out or out[-1] != text:
                out.append(text)
        return out

    def blank(self, step: Step) -> list[str]:
        raise NotImplementedError

    def blanks(self, steps: list[Step]) -> list[str]:
        """A group's lines, each with its blank."""
        return [line for step in steps for line in self.blank(step)]


class MarkdownSheet(SheetBody, MarkdownPrinter):
    def blank(self, step: Step) -> list[str]:
        return ["$$", " = ".join([*self.symbols(step, "latex"), BLANK_LATEX]), "$$", ""]



class LatexSheet(SheetBody, LatexPrinter):
    def blank(self, step: Step) -> list[str]:
        parts = [*self.symbols(step, "latex"), BLANK_LATEX]
        widths = [len(p) for p in self.symbols(step, "text")] + [8]
        return self.display(parts, widths)

    def blanks(self, steps: list[Step]) -> list[str]:
        """A group's lines in one ``align*``, every first ``=`` under the others, as the key sets them;
        a long line broken before an ``=``."""
        from backprop_cli.render.latex import line_breaks

        if not steps:
            return []
        rows: list[str] = []
        for step in steps:
            parts = [*self.symbols(step, "latex"), BLANK_LATEX]
            widths = [len(p) for p in self.symbols(step, "text")] + [8]
            for number, indices in enumerate(line_breaks(widths)):
                texts = [parts[i] for i in indices]
                rows.append(texts[0] + " &= " + " = ".join(texts[1:]) if number == 0 else "&= " + " = ".join(texts))
        return [r"\begin{align*}", *(row + r" \\" for row in rows[:-1]), rows[-1], r"\end{align*}", ""]



class HtmlSheet(SheetBody, HtmlPrinter):
    _default_settings = {**HtmlPrinter._default_settings, "figure": True}
    style = HtmlPrinter.style + """
.backprop .blank { border-bottom: 1px solid currentColor; }"""

    def blank(self, step: Step) -> list[str]:
        return self.equation([*self.symbols(step, "mathml"), BLANK_MATHML], value=False)



PRINTERS: dict[str, type[SheetBody]] = {"markdown": MarkdownSheet, "latex": LatexSheet, "html": HtmlSheet}


def sheet_text(exercise: Exercise, fmt: str, **settings: Any) -> str:
    """One variant's sheet as a document."""
    text: str = PRINTERS[fmt](**settings).doprint(exercise)
    return text


def combined_latex(exercises: Sequence[Exercise], **settings: Any) -> str:
    """Every variant's sheet in one LaTeX document, a page each."""
    printer = LatexSheet(**settings)
    lines: list[str] = []
    for index, exercise in enumerate(exercises):
        lines += ([r"\clearpage", ""] if index else []) + printer.sheet(exercise)
    return printer.document(lines)


def combined_keys(exercises: Sequence[Exercise], **settings: Any) -> str:
    """Every variant's answer key (its page, as ``backprop step`` writes it) in one LaTeX document."""
    printer = LatexPrinter(**settings)
    printer.title_key = "title.exercise.keys"
    lines: list[str] = []
    for index, exercise in enumerate(exercises):
        lines += [r"\clearpage", ""] if index else []
        lines += printer.paragraph(printer.words_key("exercise.key", number=exercise.number))
        lines += printer.body(exercise.derivation)
    return printer.document(lines)
