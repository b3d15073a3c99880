"""A training run as a report document in Markdown, LaTeX or HTML, the three drawn from one outline.

``TrainDocument`` draws the outline once: the title, the facts of the run, the loss table, the loss
curve, the trained parameters, the predictions, and the derivations of the ``--show-steps`` epochs.
Each format's report class draws the parts with its page printer's hooks (``render/base.py``'s
``DocumentPrinter``: title, facts, heading, paragraph, table, matrix …), as a derivation page does,
and adds the few a report needs: the loss curve, a remark that stands out, a table cell of text and
a line of formulas. The curve is a Mermaid chart and a text plot in Markdown (and the ``--plot``
image, linked), an SVG image in HTML, and a ``picture`` in LaTeX (``render/curve.py``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from html import escape
from typing import Any

from backprop_cli.derivation import Matrix
from backprop_cli.layers import numbered
from backprop_cli.layers.base import parameter_symbols
from backprop_cli.printing import ExprPrinter, kernel_rows
from backprop_cli.render.base import DocumentPrinter
from backprop_cli.render.curve import curve_lines, frame, latex_picture, log_scale, mermaid_xychart, svg_chart
from backprop_cli.render.html import CSS, HtmlPrinter
from backprop_cli.render.latex import LatexPrinter, latex_text
from backprop_cli.render.markdown import MarkdownPrinter
from backprop_cli.render.train_base import TrainPage
from backprop_cli.training import EpochStep, TrainResult

STEP_DEPTH = 2
"""A ``--show-steps`` derivation sits under its epoch's heading: its title and headings this many
levels down."""


class _Embedded(DocumentPrinter):
    """A derivation page inside the report: its title a heading, every heading ``STEP_DEPTH`` down."""

    def title(self, text: str) -> list[str]:
        return self.heading(1, text)

    def heading(self, level: int, text: str) -> list[str]:
        return super().heading(level + STEP_DEPTH, text)


class MarkdownStep(_Embedded, MarkdownPrinter):
    """A derivation inside the Markdown report."""


class LatexStep(_Embedded, LatexPrinter):
    """A derivation inside the LaTeX report."""


class HtmlStep(_Embedded, HtmlPrinter):
    """A derivation inside the HTML report."""


class TrainDocument(TrainPage, DocumentPrinter):
    """The outline of the report; a subclass per format draws the parts (see the module's docstring)."""

    title_key = "title.train"
    command = "backprop train"
    step_printer: type[DocumentPrinter] = DocumentPrinter
    """The format's derivation printer, headings moved down (``_Embedded``)."""

    def _print_TrainResult(self, result: TrainResult) -> str:
        lines = self.title(self.say(self.title_key))
        facts: list[tuple[str | None, str]] = list(self.fact_rows(result))
        lines += self.facts(facts)
        note = self.interrupted(result)
        if note:
            lines += self.alert(note)
        for section in (self.loss_section, self.curve_section, self.parameter_section, self.prediction_section):
            lines += self.section_block(section(result))
        for step in result.steps:
            lines += self.section_block(self.step_section(step))
        return self.document(lines)

    def loss_section(self, result: TrainResult) -> list[str]:
        lines = self.heading(2, self.say("train.loss")) + self.paragraph(self.loss_intro())
        rows = [[self.cell_text(label), self.cell_number(loss)]
                + (["" if other is None else self.cell_number(other)] if result.validation_samples else [])
                for label, loss, other in self.history_entries(result)]
        header = self.history_header(result)
        lines += self.table(header, rows, align="r" * len(header))
        return lines + self.paragraph(self.final_words(result) + ".")

    def curve_section(self, result: TrainResult) -> list[str]:
        lines = self.heading(2, self.say("train.curve")) + self.curve(result)
        if result.validation:
            lines += self.heading(2, self.say("train.validation.curve")) + self.curve(
                replace(result, curve=result.validation))
        return lines

    def axis_note(self, result: TrainResult) -> str:
        """Whether the curve's loss axis is logarithmic, in words."""
        values = [loss for _, loss in result.curve if math.isfinite(loss)]
        return self.say("train.curve.log" if log_scale(values) else "train.curve.linear")

    def parameter_section(self, result: TrainResult) -> list[str]:
        lines = self.heading(2, self.say("train.parameters"))
        symbols = ExprPrinter(precision=self.precision, style=self.math_style)
        for index, _, layer in numbered(result.network.layers):
            parts = []
            for name, symbol in parameter_symbols(layer, index):
                value = kernel_rows(layer.parameters()[name])
                rows = value if value and isinstance(value[0], (tuple, list)) else tuple((v,) for v in value)
                parts.append([symbols.doprint(symbol), self.matrix(Matrix(tuple(map(tuple, rows))))])
            if parts:
                lines += self.formulas(parts)
        return lines

    def prediction_section(self, result: TrainResult) -> list[str]:
        lines = self.heading(2, self.say("train.predictions"))
        header = [self.say(k) for k in ("table.sample", "table.input", "table.prediction", "table.target")]
        rows = [[self.cell_text(n), self.cell_text(self.vector(inputs)), self.cell_text(prediction),
                 self.cell_text(target)]
                for (n, prediction, target), inputs in zip(self.prediction_rows(result), result.inputs, strict=False)]
        lines += self.table(header, rows, align="rlll")
        note, more = self.classes_note(result), self.more_samples(result)
        return lines + (self.paragraph(note) if note else []) + (self.paragraph(more) if more else [])

    def step_section(self, step: EpochStep) -> list[str]:
        title = (self.say("train.step", epoch=step.epoch) if step.batches == 1 else
                 self.say("train.step.batch", epoch=step.epoch, batch=step.batch, batches=step.batches))
        page = self.step_printer(lang=self.lang, precision=self.precision)
        return self.heading(2, title) + page.body(step.derivation)

    # --- the parts a report adds to its format's page printer ------------------------------------

    def curve(self, result: TrainResult) -> list[str]:
        """The loss curve, and under it whether its axis is logarithmic."""
        raise NotImplementedError

    def alert(self, text: str) -> list[str]:
        """A remark that stands out (the run was stopped by Ctrl-C)."""
        raise NotImplementedError

    def cell_text(self, text: str) -> str:
        """Plain text in a table cell."""
        raise NotImplementedError

    def formulas(self, parts: list[list[str]]) -> list[str]:
        """A line of equations side by side, each ``a = b …`` given as its sides (in the format's math)."""
        raise NotImplementedError


class MarkdownReport(TrainDocument, MarkdownPrinter):
    """The report in Markdown: ``$$`` math, a Mermaid ``xychart-beta`` chart that GitHub draws, and
    the same curve as text for viewers without Mermaid; with ``plot``, the image linked above them."""

    _default_settings: dict[str, Any] = {**TrainDocument._default_settings, "plot": None}
    step_printer = MarkdownStep

    def curve(self, result: TrainResult) -> list[str]:
        lines: list[str] = []
        plot = self._settings["plot"]
        if plot:
            target = f"<{plot}>" if any(c in str(plot) for c in " ()<>") else plot
            lines += [f"![{self.say('train.curve')}]({target})", ""]
        chart = mermaid_xychart(result.curve, self.say("table.epoch"), self.say("table.loss"),
                                self.say("train.curve.log10"), self.precision)
        if chart:
            lines += ["```mermaid", *chart, "```", ""]
        text, _ = curve_lines(result.curve, precision=self.precision)
        if text:
            lines += ["```text", *text, "```", ""]
        return lines + self.note(self.axis_note(result))

    def alert(self, text: str) -> list[str]:
        return [f"**{text}**", ""]

    def cell_text(self, text: str) -> str:
        return text.replace("|", r"\|")

    def formulas(self, parts: list[list[str]]) -> list[str]:
        return ["$$", r",\quad ".join(" = ".join(sides) for sides in parts), "$$", ""]


LONG_TABLE_ROWS = 40
"""A LaTeX table with more rows is a ``longtable``, which runs on over pages (its column widths
settle on a second pdflatex run); shorter ones are a ``tabular``, right on the first."""


class LatexReport(TrainDocument, LatexPrinter):
    """The report as a standalone LaTeX document; the curve is a ``picture`` (no package needed), a
    long table a ``longtable``."""

    _default_settings: dict[str, Any] = dict(TrainDocument._default_settings)
    packages = ("longtable",)
    step_printer = LatexStep

    def curve(self, result: TrainResult) -> list[str]:
        plot = frame(result.curve)
        lines = [] if plot is None else latex_picture(plot, latex_text(self.say("table.epoch")),
                                                       latex_text(self.say("table.loss")))
        return lines + self.note(self.axis_note(result))

    def alert(self, text: str) -> list[str]:
        return [rf"\textbf{{{latex_text(text)}}}", ""]

    def cell_text(self, text: str) -> str:
        return latex_text(text)

    def formulas(self, parts: list[list[str]]) -> list[str]:
        return [r"\[", r",\quad ".join(" = ".join(sides) for sides in parts), r"\]", ""]

    def table(self, header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
        if len(rows) <= LONG_TABLE_ROWS:
            return LatexPrinter.table(self, header, rows, align)
        align = align or "l" + "r" * (len(header) - 1)
        lines = [r"\begin{longtable}{" + align + "}", r"\toprule",
                 " & ".join(latex_text(h) for h in header) + r" \\", r"\midrule", r"\endhead"]
        lines += [" & ".join(row) + r" \\" for row in rows]
        return lines + [r"\bottomrule", r"\end{longtable}", ""]


REPORT_CSS = """
.backprop th.number { text-align: right; }
.backprop th.text { text-align: left; }
.backprop .alert { font-weight: bold; color: #a15c00; }
.backprop figure.curve { margin: 0.5rem 0 1rem; }
.backprop figure.curve figcaption { font-style: italic; opacity: 0.75; }
.backprop svg.curve { display: block; max-width: 100%; height: auto; font-size: 12px; }
.backprop svg.curve text { fill: currentColor; }
.backprop svg.curve text.title { font-style: italic; }
.backprop svg.curve .axis { stroke: currentColor; fill: none; }
.backprop svg.curve .grid { stroke: #8883; }
.backprop svg.curve .line { fill: none; stroke: #2563eb; stroke-width: 2; stroke-linejoin: round; }
.backprop svg.curve circle.line { fill: #2563eb; }
""".strip()


class HtmlReport(TrainDocument, HtmlPrinter):
    """The report as one self-contained HTML page (``fragment=True``: the ``<div>`` a notebook shows);
    the curve is an inline SVG image."""

    _default_settings: dict[str, Any] = {**TrainDocument._default_settings, "fragment": False}
    style = CSS + "\n" + REPORT_CSS
    step_printer = HtmlStep

    def curve(self, result: TrainResult) -> list[str]:
        plot = frame(result.curve)
        caption = self.axis_note(result)
        if plot is None:
            return self.note(caption)
        image = svg_chart(plot, escape(self.say("table.epoch")), escape(self.say("table.loss")),
                          escape(self.say("train.curve")))
        return ['<figure class="curve">', *image, f"<figcaption>{escape(caption)}</figcaption>", "</figure>"]

    def alert(self, text: str) -> list[str]:
        return [f'<p class="alert">{escape(text)}</p>']

    def cell_text(self, text: str) -> str:
        return escape(text)

    def formulas(self, parts: list[list[str]]) -> list[str]:
        lines: list[str] = []
        for sides in parts:
            lines += self.equation(sides, value=False)
        return lines


REPORTS: dict[str, type[TrainDocument]] = {"markdown": MarkdownReport, "latex": LatexReport, "html": HtmlReport}


def report(result: TrainResult, fmt: str, **settings: Any) -> str:
    """The report of a training run in ``fmt`` (``markdown``, ``latex`` or ``html``); the format
    modules' ``render`` call this for a TrainResult.

    Args:
        result: the training run.
        fmt: the format.
        **settings: ``lang``, ``precision``, ``timings`` (False: no run time, the same report on
            every run); Markdown also ``plot`` (an image of the loss curve to link), HTML ``fragment``.
    """
    text: str = REPORTS[fmt](**settings).doprint(result)
    return text
