"""The terminal report of ``backprop verify``: a table of every gradient against its references."""

from __future__ import annotations

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.console import Group as Stack
from rich.panel import Panel
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from backprop_cli.locales import Message
from backprop_cli.render.base import PagePrinter
from backprop_cli.verification import AUTOGRAD, CENTRAL, CENTRAL_STEP, Comparison, GradientCheck, Verification


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

    def table(self, report: Verification) -> GradientTable:
        headers = ["\n" + self.say("table.parameter"), "\n" + self.say("table.derivation")]
        if report.torch_version is not None:
            headers += [self.say("table.autograd_abs"), self.say("table.rel")]
        headers += [self.say("table.fd_abs"), self.say("table.rel"), ""]
        rows = []
        for check in report.checks:
            cells: list[Text] = [Text(check.parameter.name), Text(self.number(check.gradient))]
            comparisons = [check.autograd] if check.autograd is not None else []
            for comparison in (*comparisons, check.finite_difference):
                cells += self.errors(comparison)
            mark = "✓" if check.ok else "✗"
            if _tie(check):
                mark += " " + self.say("verify.mark.tie")
            elif check.finite_difference.method in ("kink", "floor"):
                mark += " " + self.say(f"verify.mark.{check.finite_difference.method}")
            cells.append(Text(mark, style="green" if check.ok else "bold red"))
            rows.append((cells, "" if check.ok else "red"))
        return GradientTable(headers, rows)

    def errors(self, comparison: Comparison) -> list[Text]:
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
            if any(check.finite_difference.method == method and not _tie(check) for check in report.checks):
                lines.append(self.say(f"verify.{method}"))
        if any(_tie(check) for check in report.checks):
            lines.append(self.say("verify.tie"))
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
        autograd = error_text(max((check.autograd.abs_error for check in report.checks
                                   if check.autograd and not _tie(check)), default=0.0))
        ties = sum(_tie(check) for check in report.checks)
        text = self.say("verify.ok.both" + one, count=count, autograd=autograd, fd=fd)
        if ties:
            text += " " + self.say("verify.ok.ties", ties=ties)
        return Text(text, style="bold green")


def _tie(check: GradientCheck) -> bool:
    return check.autograd is not None and check.autograd.method == "tie"


class GradientTable:
    """The table of every gradient: a parameter's name left, the numbers right, a failed row red.

    Laid out as ``rich.table.Table`` lays out ``box.SIMPLE_HEAD`` with ``padding=(0, 1)`` and no
    edge, but written as segments directly: the table measures and renders every cell of every
    row, which takes seconds for ten thousand parameters, where a column's width is the widest of
    its lines. Where the table is wider than the console, the rich table does it (it shrinks and
    crops columns).
    """

    def __init__(self, headers: list[str], rows: list[tuple[list[Text], str]]) -> None:
        self.headers = headers
        self.rows = rows

    def widths(self) -> list[int]:
        from rich.cells import cell_len

        widths = [max(cell_len(line) for line in header.split("\n")) for header in self.headers]
        widths[-1] = max(widths[-1], 6)
        for cells, _ in self.rows:
            for column, cell in enumerate(cells):
                widths[column] = max(widths[column], cell.cell_len)
        return widths

    def rich_table(self) -> Table:
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
        last = len(self.headers) - 1
        for column, header in enumerate(self.headers):
            table.add_column(header, style="bold" if column == 0 else None,
                             justify="left" if column in (0, last) else "right", no_wrap=True,
                             min_width=6 if column == last else None)
        for cells, style in self.rows:
            table.add_row(*cells, style=style or None)
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self.widths()
        if sum(widths) + 3 * len(widths) - 1 > options.max_width:
            yield self.rich_table()
            return
        last = len(widths) - 1
        header_lines = [header.split("\n") for header in self.headers]
        height = max(len(lines) for lines in header_lines)
        bold = Style(bold=True)
        for line in range(height):
            pieces: list[tuple[str, Style | None]] = []
            for column, lines in enumerate(header_lines):
                if column:
                    pieces.append((" ", None))
                pieces += _cell(Text(lines[line] if line < len(lines) else ""), widths[column],
                                column not in (0, last), bold, console)
            yield from _merged(pieces)
        yield Segment("─" * (sum(widths) + 3 * len(widths) - 1))
        yield Segment.line()
        for cells, row in self.rows:
            row_style = console.get_style(row) if row else None
            pieces = []
            for column, cell in enumerate(cells):
                if column:
                    pieces.append((" ", None))
                base = (row_style + bold if row_style else bold) if column == 0 else row_style
                pieces += _cell(cell, widths[column], column not in (0, last), base, console)
            yield from _merged(pieces)


def _cell(text: Text, width: int, right: bool, base: Style | None,
          console: Console) -> list[tuple[str, Style | None]]:
    """A cell's pieces: a space, the text justified in ``width``, a space, all on ``base``."""
    gap = " " * (width - text.cell_len)
    if not (text.spans or text.style):
        return [((" " + gap + text.plain + " ") if right else (" " + text.plain + gap + " "), base)]
    inner = [(segment.text, (base + segment.style) if base and segment.style else (segment.style or base))
             for segment in text.render(console)]
    return [(" " + gap if right else " ", base), *inner, (" " if right else gap + " ", base)]


def _merged(pieces: list[tuple[str, Style | None]]) -> RenderResult:
    """One line's segments, neighbours of the same style joined, and its line break."""
    text, style = pieces[0]
    for next_text, next_style in pieces[1:]:
        if next_style == style:
            text += next_text
        else:
            yield Segment(text, style)
            text, style = next_text, next_style
    yield Segment(text, style)
    yield Segment.line()


def verification_renderable(report: Verification, **settings: object) -> RenderableType:
    """The rich renderable of a verification report."""
    result: RenderableType = VerificationPrinter(**settings).doprint(report)
    return result
