"""Markdown: headings, prose and ``$$ … $$`` display math (GitHub and MathJax blogs render it)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from backprop_cli.derivation import Derivation, MatrixStep, Step
from backprop_cli.printing import to_latex
from backprop_cli.render.base import DocumentPrinter

if TYPE_CHECKING:
    from backprop_cli.render.figure import Figure

_LIQUID_OPENING = re.compile(r"\{(?=[{%])")


def liquid_safe(text: str) -> str:
    """``text`` with a space inside every ``{{`` and ``{%``: Jekyll's Liquid reads those as its own
    tags and rejects the page, while TeX reads ``{ {`` as it reads ``{{``."""
    return _LIQUID_OPENING.sub("{ ", text)


class MarkdownPrinter(DocumentPrinter):
    """Prints a derivation as a Markdown document."""

    def document(self, lines: list[str]) -> str:
        return liquid_safe("\n".join(lines).rstrip("\n") + "\n")

    def title(self, text: str) -> list[str]:
        return [f"# {text}", ""]

    def facts(self, items: list[tuple[str | None, str]]) -> list[str]:
        return [f"- **{label}:** {text}" if label else f"- {text}" for label, text in items] + [""]

    def heading(self, level: int, text: str) -> list[str]:
        return [f"{'#' * level} {text}", ""]

    def paragraph(self, text: str) -> list[str]:
        return [text, ""]

    def note(self, text: str) -> list[str]:
        return [f"*{text}*", ""]

    def why(self, text: str) -> list[str]:
        return [f"> {text}", ""]

    def footnote(self, text: str) -> list[str]:
        return [f"\\* {text}", ""]

    def table(self, header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
        align = align or "l" + "r" * (len(header) - 1)
        lines = ["| " + " | ".join(header) + " |", "|" + "".join("---:|" if a == "r" else "---|" for a in align)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return lines + [""]

    def inline_math(self, expr: Any) -> str:
        return f"${to_latex(expr)}$"

    def cell_number(self, value: float) -> str:
        return self.number(value)

    def frozen_mark(self) -> str:
        return " \\*"

    def appendix(self, derivation: Derivation, number: int) -> list[str]:
        """The computation graph, a Mermaid flowchart (GitHub and many blogs draw it)."""
        from backprop_cli.graph import build_graph
        from backprop_cli.render.graph import mermaid

        graph = build_graph(derivation)
        intro = (self.words_key("intro.graph") if graph.samples == 1
                 else self.words_key("intro.graph.batch", count=graph.samples))
        lines = self.heading(2, f"{number}. {self.words_key('section.graph')}") + self.paragraph(intro)
        return lines + ["```mermaid", *mermaid(graph, self.precision).splitlines(), "```", ""]

    def figure(self, drawn: Figure) -> list[str]:
        from backprop_cli.render.figure import mermaid

        return mermaid(drawn)

    def code_block(self, code: str) -> list[str]:
        return ["```python", *code.rstrip("\n").split("\n"), "```", ""]

    def _print_Step(self, step: Step) -> list[str]:
        """One display; a long one broken before an ``=`` onto ``aligned`` lines, so that MathJax
        without automatic line breaking (GitHub's, most blogs') shows it whole."""
        from backprop_cli.render.latex import line_breaks

        parts = self.equation_parts(step, latex=True)
        widths = [len(p) for p in self.equation_parts(step, latex=False)]
        lines = line_breaks(widths) if len(widths) == len(parts) else [list(range(len(parts)))]
        if len(lines) == 1:
            return ["$$", " = ".join(parts), "$$", ""] + self.step_note(step)
        body = [(parts[i[0]] + " &= " + " = ".join(parts[j] for j in i[1:])) if n == 0 else
                "&= " + " = ".join(parts[j] for j in i) for n, i in enumerate(lines)]
        return ["$$", r"\begin{aligned}", *(line + r" \\" for line in body[:-1]), body[-1], r"\end{aligned}", "$$",
                ""] + self.step_note(step)

    def _print_MatrixStep(self, step: MatrixStep) -> list[str]:
        from backprop_cli.render.matrix_latex import matrix_step_lines

        return matrix_step_lines(self, step, markdown=True)


def render(obj: Any, **settings: Any) -> str:
    """The derivation (or training report) as Markdown."""
    text: str = MarkdownPrinter(**settings).doprint(obj)
    return text
