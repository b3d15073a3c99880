"""Markdown: headings, prose and ``$$ … $$`` display math (GitHub and MathJax blogs render it)."""

from __future__ import annotations

from typing import Any

from backprop_cli.derivation import Derivation, Group, MatrixStep, Section, Step
from backprop_cli.locales import Message
from backprop_cli.printing import to_latex
from backprop_cli.render.base import PagePrinter


class MarkdownPrinter(PagePrinter):
    """Prints a derivation as a Markdown document."""

    def words_key(self, key: str, **params: Any) -> str:
        return Message(key, params).text(self.lang)

    def _print_Derivation(self, derivation: Derivation) -> str:
        facts = self.summary_words()
        lines = [
            f"# {self.words_key('title.step')}",
            "",
            f"- **{self.words_key('network')}:** {facts['network']}",
            f"- **{self.words_key('sample')}:** {facts['sample']}",
            f"- {facts['rounding']}",
            "",
        ]
        for number, section in enumerate(derivation.sections, start=1):
            lines += self.section(number, section)
        lines += self.summary(derivation, len(derivation.sections) + 1)
        return "\n".join(lines).rstrip("\n") + "\n"

    def section(self, number: int, section: Section) -> list[str]:
        lines = [f"## {number}. {self.words_key('section.' + section.key)}", ""]
        if section.intro is not None:
            lines += [self.words(section.intro), ""]
        for group in section.groups:
            lines += self._print(group)
        return lines

    def _print_Group(self, group: Group) -> list[str]:
        lines: list[str] = []
        if group.title is not None:
            lines += [f"### {self.words(group.title)}", ""]
        for step in group.steps:
            lines += self._print(step)
        return lines

    def _print_Step(self, step: Step) -> list[str]:
        lines = ["$$", " = ".join(self.equation_parts(step, latex=True)), "$$", ""]
        if step.note is not None:
            lines += [f"*{self.words(step.note)}*", ""]
        return lines

    def _print_MatrixStep(self, step: MatrixStep) -> list[str]:
        lines = ["$$", " = ".join(self.matrix_equation_parts(step, latex=True)), "$$", ""]
        if step.note is not None:
            lines += [f"*{self.words(step.note)}*", ""]
        return lines

    def summary(self, derivation: Derivation, number: int) -> list[str]:
        lines = [f"## {number}. {self.words_key('section.summary')}", ""]
        header = [self.words_key(k) for k in ("table.parameter", "table.before", "table.gradient", "table.after")]
        if derivation.parameters:
            lines += ["| " + " | ".join(header) + " |", "|---|---:|---:|---:|"]
        for row in derivation.parameters:
            after = self.number(row.after) + (" \\*" if row.frozen else "")
            lines.append(f"| ${to_latex(row.symbol)}$ | {self.number(row.before)} | "
                         f"{self.number(row.gradient)} | {after} |")
        if derivation.parameters:
            lines.append("")
        if any(row.frozen for row in derivation.parameters):
            lines += [f"\\* {self.words_key('note.frozen')}", ""]
        lines.append(self.words_key("loss.before_after", before=self.number(derivation.loss),
                                    after=self.number(derivation.loss_after)) + ".")
        return lines


def render(obj: Any, **settings: Any) -> str:
    """The derivation (or training report) as Markdown."""
    if not isinstance(obj, Derivation):
        from backprop_cli.render.train_report import markdown_report

        return markdown_report(obj, **settings)
    text: str = MarkdownPrinter(**settings).doprint(obj)
    return text
