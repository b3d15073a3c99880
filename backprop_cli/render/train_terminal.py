"""A training run in the terminal, drawn with rich: the facts, the loss table and curve, the
trained parameters and the predictions; before them the derivations of ``--show-steps`` epochs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from rich import box
from rich.console import Group as Stack
from rich.console import RenderableType
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from backprop_cli.layers import numbered
from backprop_cli.printing import kernel_rows
from backprop_cli.render.curve import curve_lines
from backprop_cli.render.terminal import page_renderable, plain_text
from backprop_cli.render.train_base import TrainPage
from backprop_cli.training import TrainResult

TABLE_ROWS = 40
"""Longer loss tables show their first and last rows here (the report and JSON have them all)."""

MATRIX_EDGE = 6
"""Rows and columns of a printed weight matrix beyond this many are elided in the middle."""


class TrainTerminal(TrainPage):
    """Rich renderables of a training run."""

    def _print_TrainResult(self, result: TrainResult) -> RenderableType:
        parts: list[RenderableType] = []
        if result.steps:
            for step in result.steps:
                title = (self.say("train.step", epoch=step.epoch) if step.batches == 1 else
                         self.say("train.step.batch", epoch=step.epoch, batch=step.batch, batches=step.batches))
                page = page_renderable(step.derivation, lang=self._settings["lang"],
                                       precision=self._settings["precision"])
                parts += [Rule(Text(title, style="bold")), page]
        parts += [self.header(result), self.loss(result), self.curve(result)]
        if result.validation:
            parts.append(self.curve(replace(result, curve=result.validation), "train.validation.curve"))
        parts += [self.parameters(result),
                  self.predictions(result)]
        return Stack(*parts)

    def panel(self, body: Sequence[RenderableType], title: str, colour: str) -> Panel:
        return Panel(Stack(*body), title=Text(title, style="bold"), title_align="left", box=box.ROUNDED,
                     border_style=colour, padding=(0, 1))

    def header(self, result: TrainResult) -> RenderableType:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        for label, text in self.fact_rows(result):
            grid.add_row(label, Text(text))
        body: list[RenderableType] = [grid]
        note = self.interrupted(result)
        if note:
            body.append(Text(note, style="bold yellow"))
        return Panel(Stack(*body), title=Text(self.say("train.title"), style="bold"), box=box.ROUNDED,
                     border_style="magenta", padding=(0, 1))

    def loss(self, result: TrainResult) -> RenderableType:
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
        for heading in self.history_header(result):
            table.add_column(heading, justify="right")
        rows = self.history_rows(result)
        body: list[RenderableType] = [Text(self.loss_intro(), style="italic")]
        if len(rows) > TABLE_ROWS:
            half = TABLE_ROWS // 2
            for row in rows[:half]:
                table.add_row(*row)
            table.add_row(*["⋮"] * len(rows[0]))
            for row in rows[-half:]:
                table.add_row(*row)
            body += [table, Text(self.say("train.rows.elided", count=len(rows) - 2 * half), style="dim")]
        else:
            for row in rows:
                table.add_row(*row)
            body.append(table)
        final = Text()
        final.append(self.final_words(result), style="bold green")
        body += [Text(""), final]
        return self.panel(body, self.say("train.loss"), "blue")

    def curve(self, result: TrainResult, title: str = "train.curve") -> RenderableType:
        lines, logarithmic = curve_lines(result.curve, precision=self.precision)
        body: list[RenderableType] = [Text("\n".join(lines), style="cyan")]
        body.append(Text(self.say("train.curve.log" if logarithmic else "train.curve.linear"), style="dim"))
        return self.panel(body, self.say(title), "blue")

    def elided(self, rows: Sequence[Sequence[float]]) -> str:
        def cut(items: Sequence[Any], filler: Any) -> list[Any]:
            if len(items) <= MATRIX_EDGE:
                return list(items)
            return [*items[:MATRIX_EDGE // 2], filler, *items[-(MATRIX_EDGE // 2):]]

        lines = []
        for row in cut(rows, None):
            if row is None:
                lines.append("⋮")
                continue
            lines.append("  ".join(x if isinstance(x, str) else self.number(x) for x in cut(row, "⋯")))
        return "\n".join(lines)

    def parameters(self, result: TrainResult) -> RenderableType:
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
        for key in ("table.layer", "table.weight", "table.bias"):
            table.add_column(self.say(key))
        for index, _, layer in numbered(result.network.layers):
            present = layer.parameters()
            if not present:
                continue
            weight = kernel_rows(present.get("weight"))
            rows: Any = weight if weight and isinstance(weight[0], (tuple, list)) else (weight,)
            bias = present.get("bias")
            table.add_row(str(index), "—" if weight is None else self.elided(rows),
                          "—" if bias is None else self.elided([[b] for b in bias]))
        return self.panel([table], self.say("train.parameters"), "green")

    def predictions(self, result: TrainResult) -> RenderableType:
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), show_edge=False)
        for key, justify in (("table.sample", "right"), ("table.input", "left"), ("table.prediction", "left"),
                             ("table.target", "left")):
            table.add_column(self.say(key), justify=justify)  # type: ignore[arg-type]
        for (n, prediction, target), inputs in zip(self.prediction_rows(result), result.inputs, strict=False):
            table.add_row(n, self.vector(inputs), Text(prediction, style="green"), target)
        body: list[RenderableType] = [table]
        note = self.classes_note(result)
        if note:
            body.append(Text(note, style="dim"))
        more = self.more_samples(result)
        if more:
            body.append(Text(more, style="dim"))
        return self.panel(body, self.say("train.predictions"), "green")


def training_renderable(result: TrainResult, **settings: Any) -> RenderableType:
    """The rich renderable of a training run."""
    rendered: RenderableType = TrainTerminal(**settings).doprint(result)
    return rendered


def render(result: TrainResult, width: int = 100, **settings: Any) -> str:
    """The terminal report of a training run as plain text, ``width`` columns wide."""
    return plain_text(training_renderable(result, **settings), width)


class ProgressBar:
    """A rich progress bar on stderr (epoch, loss, epochs/s), shown once training has run for
    ``delay`` seconds, and gone when it ends. Called between chunks of epochs (``train.Progress``)."""

    def __init__(self, enabled: bool, delay: float = 0.5, lang: str = "en",
                 before: Callable[[], None] | None = None) -> None:
        self.enabled = enabled
        self.before = before
        """Ends what was shown before the epochs began (the preparing line)."""
        self.delay = delay
        self.lang = lang
        self.bar: Any = None
        self.task: Any = None
        self.start = 0.0

    def __enter__(self) -> ProgressBar:
        import time

        self.start = time.perf_counter()
        return self

    def __call__(self, done: int, total: int, loss: float | None) -> None:
        if not self.enabled:
            return
        import time

        elapsed = time.perf_counter() - self.start
        if self.before is not None:
            self.before()
            self.before = None
        if self.bar is None:
            if elapsed < self.delay:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            from backprop_cli.locales import Message

            def word(key: str, **params: str) -> str:
                return Message(key, params).text(self.lang)

            self.bar = Progress(TextColumn(word("table.epoch") + " {task.completed:.0f}/{task.total:.0f}"),
                                BarColumn(), TextColumn(word("table.loss") + " {task.fields[loss]}"),
                                TextColumn(word("train.progress.rate", rate="{task.fields[rate]}")),
                                TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("train", total=total, completed=done, loss="…", rate="…")
            self.bar.start()
        from backprop_cli.printing import format_number

        self.bar.update(self.task, completed=done, loss="…" if loss is None else format_number(loss, 4),
                        rate=f"{done / elapsed:,.0f}" if elapsed > 0 else "…")

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
