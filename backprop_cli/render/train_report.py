"""A training run as a Markdown report: settings, the loss table, the curve, the trained parameters,
the predictions, and the derivations of ``--show-steps`` epochs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backprop_cli.render.curve import curve_lines
from backprop_cli.render.train_base import TrainPage
from backprop_cli.training import TrainResult


class TrainReport(TrainPage):
    """Markdown of a training run."""

    _default_settings: dict[str, Any] = {"lang": None, "precision": None, "plot": None}

    def _print_TrainResult(self, result: TrainResult) -> str:
        lines = [f"# {self.say('title.train')}", "", "| | |", "|---|---|"]
        lines += [f"| **{label}** | {text} |" for label, text in self.facts(result)]
        lines.append("")
        note = self.interrupted(result)
        if note:
            lines += [f"**{note}**", ""]
        lines += [f"## {self.say('train.loss')}", "", self.say("train.loss.intro"), "",
                  f"| {self.say('table.epoch')} | {self.say('table.loss')} |", "|---:|---:|"]
        lines += [f"| {epoch} | {loss} |" for epoch, loss in self.history_rows(result)]
        lines += ["", self.say("train.loss.final", loss=self.number(result.final_loss)) + ".", ""]
        curve, logarithmic = curve_lines(result.curve, precision=self.precision)
        lines += [f"## {self.say('train.curve')}", ""]
        plot = self._settings["plot"]
        if plot:
            lines += [f"![{self.say('train.curve')}]({plot})", ""]
        lines += ["```text", *curve, "```", "",
                  f"*{self.say('train.curve.log' if logarithmic else 'train.curve.linear')}*", ""]
        lines += [f"## {self.say('train.parameters')}", ""]
        for index, layer in enumerate(result.network.layers, start=1):
            parts = [f"W^{{({index})}} = {self.bmatrix(layer.weight)}"]
            if layer.bias is not None:
                parts.append(f"b^{{({index})}} = {self.bmatrix([[b] for b in layer.bias])}")
            lines += ["$$", r",\quad ".join(parts), "$$", ""]
        lines += [f"## {self.say('train.predictions')}", "",
                  "| " + " | ".join(self.say(k) for k in ("table.sample", "table.input", "table.prediction",
                                                           "table.target")) + " |", "|---:|---|---|---|"]
        for (n, prediction, target), inputs in zip(self.prediction_rows(result), result.inputs, strict=False):
            lines.append(f"| {n} | {self.vector(inputs)} | {prediction} | {target} |")
        more = self.more_samples(result)
        lines += ["", *([more, ""] if more else [])]
        for step in result.steps:
            title = (self.say("train.step", epoch=step.epoch) if step.batches == 1 else
                     self.say("train.step.batch", epoch=step.epoch, batch=step.batch, batches=step.batches))
            lines += [f"## {title}", ""]
            from backprop_cli.render.markdown import MarkdownPrinter

            page = MarkdownPrinter(lang=self._settings["lang"], precision=self._settings["precision"])
            text: str = page.doprint(step.derivation)
            # Two levels down: the derivation's title sits under its epoch's heading.
            lines += [f"##{line}" if line.startswith("#") else line for line in text.splitlines()] + [""]
        return "\n".join(lines).rstrip("\n") + "\n"

    def bmatrix(self, rows: Sequence[Sequence[float]]) -> str:
        body = r" \\ ".join(" & ".join(self.number(v, latex=True) for v in row) for row in rows)
        return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def markdown_report(result: TrainResult, **settings: Any) -> str:
    """The Markdown report of a training run (``render/markdown.py`` calls this).

    Args:
        result: the training run.
        **settings: ``lang``, ``precision``, and ``plot``: an image of the loss curve to link.
    """
    text: str = TrainReport(**settings).doprint(result)
    return text
