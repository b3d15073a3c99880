"""The terminal report of ``backprop verify``: a table of every gradient against its references."""

from __future__ import annotations

from rich import box
from rich.console import Group as Stack
from rich.console import RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from backprop_cli.locales import Message
from backprop_cli.render.base import PagePrinter
from backprop_cli.verification import AUTOGRAD, CENTRAL, CENTRAL_STEP, Comparison, Verification


def error_text(value: float) -> str:
    """An error as the report prints it: 0, or two significant digits."""
    return "0" if value == 0 else f"{value:.1e}"


class VerificationPrinter(PagePrinter):
    """Builds the rich renderable of a :class:`Verification`."""

    _default_settings = {"lang": None, "precision": 8}

    def say(self, key: str, **params: object) -> str:
        return Message(key, dict(params)).text(self.lang)

    def _print_Verification(self, report: Verification) -> RenderableType:
        self.derivation = report.derivation
        facts = self.summary_words()
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row(self.say("network"), Text(facts["network"]))
        grid.add_row(self.say("sample") if len(report.derivation.xs) == 1 else "", Text(facts["sample"]))
        grid.add_row(self.say("verify.loss"), Text(f"𝓛 = {self.number(report.derivation.loss)}"))
        header = Panel(grid, title=Text(self.say("title.verify"), style="bold"), box=box.ROUNDED,
                       border_style="magenta", padding=(0, 1))
        return Stack(header, self.table(report), Text(""), *self.notes(report), self.verdict(report))

    def table(self, report: Verification) -> Table:
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
        table.add_column("\n" + self.say("table.parameter"), style="bold", no_wrap=True)
        table.add_column("\n" + self.say("table.derivation"), justify="right", no_wrap=True)
        if report.torch_version is not None:
            table.add_column(self.say("table.autograd_abs"), justify="right", no_wrap=True)
            table.add_column(self.say("table.rel"), justify="right", no_wrap=True)
        table.add_column(self.say("table.fd_abs"), justify="right", no_wrap=True)
        table.add_column(self.say("table.rel"), justify="right", no_wrap=True)
        table.add_column("", no_wrap=True, min_width=6)
        for check in report.checks:
            cells: list[str | Text] = [check.parameter.name, self.number(check.gradient)]
            comparisons = [check.autograd] if check.autograd is not None else []
            for comparison in (*comparisons, check.finite_difference):
                cells += self.errors(comparison)
            mark = "✓" if check.ok else "✗"
            if check.finite_difference.method in ("kink", "floor"):
                mark += " " + self.say(f"verify.mark.{check.finite_difference.method}")
            cells.append(Text(mark, style="green" if check.ok else "bold red"))
            table.add_row(*cells, style=None if check.ok else "red")
        return table

    def errors(self, comparison: Comparison) -> list[str | Text]:
        style = "" if comparison.ok else "bold red"
        return [Text(error_text(comparison.abs_error), style=style),
                Text(error_text(comparison.rel_error), style=style)]

    def notes(self, report: Verification) -> list[RenderableType]:
        lines = []
        if report.torch_version is None:
            lines.append(self.say("verify.no_torch"))
        else:
            lines.append(self.say("verify.autograd", version=report.torch_version, rtol=f"{AUTOGRAD.rtol:g}",
                                  atol=f"{AUTOGRAD.atol:g}"))
        lines.append(self.say("verify.fd", step=f"{CENTRAL_STEP:.1e}", rtol=f"{CENTRAL.rtol:g}",
                              atol=f"{CENTRAL.atol:g}"))
        if report.forward == "numpy":
            lines.append(self.say("verify.fd_numpy"))
        lines.append(self.say("verify.scale", scale=f"{report.scale:.4g}"))
        for method in ("kink", "floor"):
            if any(check.finite_difference.method == method for check in report.checks):
                lines.append(self.say(f"verify.{method}"))
        return [Text(line, style="dim") for line in lines]

    def verdict(self, report: Verification) -> Text:
        count = len(report.checks)
        if not report.ok:
            names = ", ".join(check.parameter.name for check in report.failures)
            return Text(self.say("verify.fail", failed=len(report.failures), count=count, names=names),
                        style="bold red")
        fd = error_text(max(check.finite_difference.abs_error for check in report.checks))
        one = ".one" if count == 1 else ""
        if report.torch_version is None:
            return Text(self.say("verify.ok.fd" + one, count=count, fd=fd), style="bold green")
        autograd = error_text(max(check.autograd.abs_error for check in report.checks if check.autograd))
        return Text(self.say("verify.ok.both" + one, count=count, autograd=autograd, fd=fd), style="bold green")


def verification_renderable(report: Verification, **settings: object) -> RenderableType:
    """The rich renderable of a verification report."""
    result: RenderableType = VerificationPrinter(**settings).doprint(report)
    return result
