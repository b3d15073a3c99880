"""What the page printers share: settings, dispatch over the derivation's parts, equation parts,
the outline of a document page (Markdown, LaTeX, HTML) and how a large matrix is elided."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sympy as sp

from backprop_cli.derivation import Derivation, Group, Matrix, MatrixStep, ParameterRow, Section, Step
from backprop_cli.locales import Message, named
from backprop_cli.printing import ATOM, ExprPrinter, Piece, elide, format_given, format_number, mathml_number

if TYPE_CHECKING:
    from backprop_cli.render.figure import Figure

INLINE_COLUMNS = 12
"""A matrix line writes its operands out inside the line when they have at most this many printed
columns together; wider ones are written out on lines of their own, one operand a line."""


def operands_inline(operands: tuple[tuple[Any, Matrix], ...]) -> bool:
    """Whether a matrix step's operands fit written out inside its line (``INLINE_COLUMNS``)."""
    return sum(len(elide(matrix.shape[1])) for _, matrix in operands) <= INLINE_COLUMNS


class MatrixSubstitution(ExprPrinter):
    """An expression printer that draws the given subexpressions as given text: a matrix-form line
    printed again with every operand written out as its matrix.
    """

    def __init__(self, matrices: Mapping[sp.Basic, str], values: Mapping[sp.Basic, float] | None,
                 precision: int, style: str, lang: str = "en") -> None:
        super().__init__(values=values, precision=precision, style=style, lang=lang)
        self.matrices = matrices

    def _print(self, expr: sp.Basic) -> Piece:
        text = self.matrices.get(expr)
        if text is not None:
            return Piece(text, ATOM, kind="group")
        return super()._print(expr)


class PagePrinter:
    """Base of the page printers, in the manner of sympy's printers.

    Subclasses implement ``_print_<Kind>`` for the parts they draw; settings are checked against
    ``_default_settings`` so that an unknown one is an error, not silently ignored.
    """

    _default_settings: dict[str, Any] = {"lang": None, "precision": None}

    def __init__(self, **settings: Any) -> None:
        unknown = set(settings) - set(self._default_settings)
        if unknown:
            raise TypeError(f"unknown setting(s) for {type(self).__name__}: {', '.join(sorted(unknown))}")
        self._settings = {**self._default_settings, **settings}
        self.derivation: Derivation | None = None

    def setting(self, name: str) -> Any:
        value = self._settings[name]
        if value is None and self.derivation is not None and hasattr(self.derivation.options, name):
            return getattr(self.derivation.options, name)
        return value

    @property
    def lang(self) -> str:
        return str(self.setting("lang") or "en")

    @property
    def precision(self) -> int:
        value = self.setting("precision")
        return 4 if value is None else int(value)

    def doprint(self, obj: Any) -> Any:
        if isinstance(obj, Derivation):
            self.derivation = obj
        return self._print(obj)

    def _print(self, obj: Any) -> Any:
        for cls in type(obj).__mro__:
            method = getattr(self, f"_print_{cls.__name__}", None)
            if method is not None:
                return method(obj)
        raise TypeError(f"{type(self).__name__} cannot print {type(obj).__name__}")

    def words(self, message: Message | None) -> str:
        return "" if message is None else message.text(self.lang)

    def words_key(self, key: str, **params: Any) -> str:
        return Message(key, params).text(self.lang)

    def number(self, value: float, latex: bool = False) -> str:
        return format_number(value, self.precision, latex)

    def equation_parts(self, step: Step, latex: bool = False, style: str | None = None) -> list[str]:
        """The sides of ``lead = target = forms… = numbers = value``, printed, repeats dropped.

        Args:
            step: the line.
            latex: LaTeX instead of plain text.
            style: ``text``, ``latex`` or ``mathml``; overrides ``latex`` when given.
        """
        assert self.derivation is not None
        symbols = ExprPrinter(latex, None, self.precision, style=style, lang=self.lang)
        parts = [symbols.doprint(e) for e in (*step.lead, step.target, *step.forms)]
        value = self.number(step.value, symbols.latex)
        if symbols.mathml:
            value = mathml_number(value)
        if step.substitute and step.forms:
            numbers = ExprPrinter(latex, self.derivation.values, self.precision, style=style,
                                  lang=self.lang).doprint(step.forms[-1])
            parts.append(numbers)
            if step.reduced is not None:
                parts.append(ExprPrinter(latex, self.derivation.values, self.precision, style=style,
                                         lang=self.lang).doprint(step.reduced))
        parts.append(value)
        out: list[str] = []
        for part in parts:
            if not out or out[-1] != part:
                out.append(part)
        return out

    def summary_words(self) -> dict[str, str]:
        """The header facts: network, samples, rounding."""
        assert self.derivation is not None
        d = self.derivation
        network = d.network
        summaries = {layer.summary_in(self.lang) for layer in network.layers}
        facts = {"loss": named(network.loss, self.lang), "lr": format_given(network.lr)}
        if len(summaries) == 1:
            widths = " → ".join(network.sizes)
            summary = Message("network.summary", {"widths": widths, "activations": summaries.pop(), **facts})
        else:
            # Each layer's function beside its width: "5 → 4, 3 → 1, relu, sigmoid" hid which is which.
            widths = " → ".join([network.sizes[0]] + [f"{w} ({layer.summary_in(self.lang)})" for w, layer in
                                                      zip(network.sizes[1:], network.layers, strict=True)])
            summary = Message("network.summary.layers", {"widths": widths, **facts})
        if len(d.xs) == 1:
            sample = f"x = {given_vector(d.xs[0], self)}, y = {given_vector(d.ys[0], self)}"
        else:
            sample = Message("samples", {"count": len(d.xs)}).text(self.lang)
        rounding = Message(f"rounding.{d.options.rounding}", {"precision": self.precision})
        return {"network": self.words(summary), "sample": sample, "rounding": self.words(rounding)}


def given_vector(values: tuple[float, ...], printer: PagePrinter) -> str:
    return "(" + ", ".join(format_given(v) for v in values) + ")"


class DocumentPrinter(PagePrinter):
    """The outline of the page as a document, shared by Markdown, LaTeX and HTML.

    The outline (title, facts, numbered sections, groups, steps, the summary table and the loss
    before and after) is drawn here once; a subclass draws the parts: each hook returns the lines
    of its part, and ``document`` joins them.
    """

    title_key = "title.step"
    """The message key of the document's title (the training report has its own)."""

    command = "backprop step"
    """The command that writes this kind of document, named in the LaTeX file's first lines."""

    def _print_Derivation(self, derivation: Derivation) -> str:
        return self.document(self.body(derivation))

    def body(self, derivation: Derivation) -> list[str]:
        """The page's lines without the document around them (the training report embeds them)."""
        self.derivation = derivation
        facts = self.summary_words()
        lines = self.title(self.words_key("title.step"))
        lines += self.facts([(self.words_key("network"), facts["network"]),
                             (self.words_key("sample"), facts["sample"]), (None, facts["rounding"])])
        if derivation.options.figure:
            from backprop_cli.render.figure import page_figure

            drawn = page_figure(derivation.network, derivation.options.layout == "transposed")
            if drawn is not None:
                lines += self.figure(drawn)
        for number, section in enumerate(derivation.sections, start=1):
            lines += self._print_section(number, section)
        lines += self.summary(derivation, len(derivation.sections) + 1)
        code = derivation.extra.get("code")
        if code:
            lines += self.section_block(self.heading(2, f"{len(derivation.sections) + 2}. "
                                                        f"{self.words_key('section.code')}")
                                        + self.paragraph(self.words_key("intro.code"))
                                        + self.code_block(code))
        lines += self.appendix(derivation, len(derivation.sections) + (3 if code else 2))
        return lines

    def code_block(self, code: str) -> list[str]:
        """Python source, as this format sets code (``--with-code``)."""
        raise NotImplementedError

    def figure(self, drawn: Figure) -> list[str]:
        """The network's figure (``render/figure.py``) in this format."""
        return []

    def _print_section(self, number: int, section: Section) -> list[str]:
        lines = self.heading(2, f"{number}. {self.words_key('section.' + section.key)}")
        if section.intro is not None:
            lines += self.intro(self.words(section.intro))
        for group in section.groups:
            lines += self._print(group)
        return self.section_block(lines)

    def _print_Group(self, group: Group) -> list[str]:
        lines: list[str] = []
        if group.title is not None:
            lines += self.heading(3, self.words(group.title))
        if group.intro is not None:
            lines += self.paragraph(self.words(group.intro))
        for message in group.why:
            lines += self.why(self.words(message))
        lines += self.steps(group.steps)
        for message in group.remarks:
            lines += self.why(self.words(message))
        return lines

    def why(self, text: str) -> list[str]:
        """A "why" line: what a textbook says beside the numbers (``why.py``)."""
        return self.paragraph(text)

    def steps(self, steps: tuple[Step | MatrixStep, ...]) -> list[str]:
        """A group's lines (LaTeX sets them in one ``align*``, HTML aligns them on ``=``)."""
        return [line for step in steps for line in self._print(step)]

    def summary(self, derivation: Derivation, number: int) -> list[str]:
        lines = self.heading(2, f"{number}. {self.words_key('section.summary')}")
        header = [self.words_key(k) for k in ("table.parameter", "table.before", "table.gradient", "table.after")]
        if derivation.parameters:
            lines += self.table(header, [self.summary_row(row) for row in derivation.parameters])
        if any(row.frozen for row in derivation.parameters):
            lines += self.footnote(self.words_key("note.frozen"))
        lines += self.paragraph(self.words_key("loss.before_after", before=self.number(derivation.loss),
                                               after=self.number(derivation.loss_after)) + ".")
        return self.section_block(lines)

    def summary_row(self, row: ParameterRow) -> list[str]:
        """The cells of a summary row: the symbol (inline math) and three numbers."""
        return [self.inline_math(row.symbol), self.cell_number(row.before), self.cell_number(row.gradient),
                self.cell_number(row.after) + (self.frozen_mark() if row.frozen else "")]

    # --- the parts a format draws ---------------------------------------------------------------

    def document(self, lines: list[str]) -> str:
        raise NotImplementedError

    def title(self, text: str) -> list[str]:
        raise NotImplementedError

    def facts(self, items: list[tuple[str | None, str]]) -> list[str]:
        """The header facts: (label, text) pairs; a fact without a label is a remark."""
        raise NotImplementedError

    def heading(self, level: int, text: str) -> list[str]:
        raise NotImplementedError

    def paragraph(self, text: str) -> list[str]:
        raise NotImplementedError

    def intro(self, text: str) -> list[str]:
        """A section's introduction."""
        return self.paragraph(text)

    def note(self, text: str) -> list[str]:
        """A remark under a step."""
        raise NotImplementedError

    def footnote(self, text: str) -> list[str]:
        """The remark the frozen mark points to."""
        raise NotImplementedError

    def table(self, header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
        """A table: the first column text, the others numbers (right-aligned); or, given ``align``,
        one letter per column, ``l`` or ``r``."""
        raise NotImplementedError

    def inline_math(self, expr: Any) -> str:
        raise NotImplementedError

    def cell_number(self, value: float) -> str:
        raise NotImplementedError

    def frozen_mark(self) -> str:
        raise NotImplementedError

    def section_block(self, lines: list[str]) -> list[str]:
        """A whole section's lines (HTML wraps them in ``<section>``)."""
        return lines

    def appendix(self, derivation: Derivation, number: int) -> list[str]:
        """What a format adds after the summary (Markdown: the computation graph)."""
        return []

    def matrix(self, matrix: Matrix) -> str:
        """A matrix drawn in this format's math, with its shape (LaTeX's ``bmatrix`` by default)."""
        from backprop_cli.render.matrix_latex import bmatrix

        return bmatrix(self, matrix)

    def heat_matrix(self, matrix: Matrix) -> str:
        """A matrix of weights from 0 to 1 (attention's A), shaded by size where the format can."""
        return self.matrix(matrix)

    math_style = "latex"
    """The expression printer's style for this format's math."""

    def matrix_step_rows(self, step: MatrixStep) -> list[tuple[str, list[str]]]:
        """The lines of a matrix step, each a left side and its ``= …`` parts.

        ``target = forms… = operands substituted = value`` on one line when the operands fit in it
        (``operands_inline``); else ``target = forms…``, a line ``operand = matrix`` for each
        operand, and ``target = value``. A 1 × 1 value (the loss) is a number.
        """
        symbols = ExprPrinter(precision=self.precision, style=self.math_style, lang=self.lang)
        target = symbols.doprint(step.target)
        lead = [symbols.doprint(e) for e in step.lead]
        forms = [symbols.doprint(e) for e in step.forms]
        if step.value.shape == (1, 1):
            value = symbols.doprint(sp.Float(step.value.rows[0][0]))
        else:
            value = self.heat_matrix(step.value) if step.heat else self.matrix(step.value)
        head = (lead + [target])[0]
        names = (lead + [target])[1:]
        if not step.operands or step.numbers is None:
            # A constant right side (id′(Z) = 1) is its own value.
            return [(head, [*names, *forms] if forms and forms[-1] == value else [*names, *forms, value])]
        if operands_inline(step.operands):
            matrices = {symbol: self.matrix(matrix) for symbol, matrix in step.operands}
            values = self.derivation.values if self.derivation is not None else None
            numbers = MatrixSubstitution(matrices, values, self.precision, self.math_style,
                                         self.lang).doprint(step.numbers)
            return [(head, [*names, *forms, numbers, value])]
        rows = [(head, [*names, *forms])]
        rows += [(symbols.doprint(symbol), [self.matrix(matrix)]) for symbol, matrix in step.operands]
        return rows + [(target, [value])]

    def step_note(self, step: Step | Any) -> list[str]:
        return [] if step.note is None else self.note(self.words(step.note))
