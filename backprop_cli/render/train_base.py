"""What the terminal view and the reports of a training run share: the facts in words, the rows of
the loss table, the parameters and the predictions, as text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from backprop_cli.locales import Message, messages, named
from backprop_cli.render.base import PagePrinter
from backprop_cli.training import TrainResult


class TrainPage(PagePrinter):
    """Words and numbers of a training run; subclasses lay them out.

    Settings: ``lang`` and ``precision`` (by default the result's ``options``, else English and 4),
    ``timings``: False leaves the run time out, for a report that is the same on every run, and
    ``history``: ``before`` labels the loss table by epoch (the loss before that epoch's updates, as
    a PyTorch loop prints it), ``after`` by iteration, as books do: the loss after i updates.
    """

    _default_settings: dict[str, Any] = {"lang": None, "precision": None, "timings": True, "history": "before"}

    result: TrainResult | None = None

    def doprint(self, obj: Any) -> Any:
        if isinstance(obj, TrainResult):
            self.result = obj
        return super().doprint(obj)

    def setting(self, name: str) -> Any:
        value = self._settings[name]
        options = self.result.options if self.result is not None else None
        if value is None and options is not None and hasattr(options, name):
            return getattr(options, name)
        return super().setting(name)

    def say(self, key: str, **params: Any) -> str:
        return Message(key, params).text(self.lang)

    def fact_rows(self, result: TrainResult) -> list[tuple[str, str]]:
        """(label, text) rows: network, optimizer, data, engine, run."""
        network = result.network
        names: list[str] = []
        for layer in network.layers:
            if not names or names[-1] != layer.summary_in(self.lang):
                names.append(layer.summary_in(self.lang))
        optimizer = network.optimizer
        lr = f"{network.lr:g}"
        settings = result.settings
        batch = min(settings.batch_size or result.samples, result.samples)
        updates = math.ceil(result.samples / batch)
        if batch >= result.samples:
            batches = self.say("train.batches.full")
        elif settings.shuffle:
            batches = self.say("train.batches.shuffled", size=batch, seed=settings.seed or 0, updates=updates)
        else:
            batches = self.say("train.batches.size", size=batch, updates=updates)
        rate = result.epochs / result.seconds if result.seconds > 0 else math.inf
        engine_key = "train.engine.auto" if result.reason else "train.engine.summary"
        rows = [
            (self.say("network"), self.say("train.network", widths=" → ".join(network.sizes),
                                           activations=", ".join(names),
                                           loss=named(network.loss, self.lang))),
            (self.say("train.optimizer"), optimizer.rule.summary(optimizer, lr).text(self.lang)
             + "".join(f"; {part.describe()}" for part in (settings.schedule, settings.clip) if part is not None)),
            (self.say("train.data"), self.say("train.data.summary", data=self.data_name(result.data),
                                              samples=self.say("samples.one") if result.samples == 1 else
                                              self.say("samples", count=result.samples), batches=batches)),
            (self.say("train.engine"), self.say(engine_key, backend=result.backend, device=result.device,
                                                dtype=settings.dtype, reason=result.reason)),
            (self.say("train.run"), self.say("train.run.summary", epochs=result.epochs,
                                             seconds=_seconds(result.seconds), rate=_rate(rate))
             if self._settings["timings"] else self.say("train.run.epochs", epochs=result.epochs)),
        ]
        return rows

    def data_name(self, data: str) -> str:
        key = f"data.{data}"
        return self.say(key) if key in messages(self.lang) or key in messages("en") else data

    def interrupted(self, result: TrainResult) -> str | None:
        if result.stopped is not None:
            return self.say("train.stopped", epoch=result.stopped, delta=f"{result.settings.early_stop:g}",
                            patience=result.settings.patience,
                            loss=self.say("train.watched.validation" if result.validation_samples
                                          else "train.watched.training"))
        if not result.interrupted:
            return None
        return self.say("train.interrupted", done=result.epochs, asked=result.settings.epochs)

    @property
    def after(self) -> bool:
        """Whether the loss table is labelled "after iteration i" (``history="after"``)."""
        history = self._settings["history"]
        if history not in ("before", "after"):
            from backprop_cli.errors import BackpropError

            raise BackpropError(f"history: must be before or after, not {history!r}")
        return bool(history == "after")

    def history_header(self, result: TrainResult) -> list[str]:
        """The loss table's columns: epoch (or iteration), loss and, with samples held out, their loss."""
        return [self.say("table.iteration" if self.after else "table.epoch"), self.say("table.loss")] + (
            [self.say("table.validation")] if result.validation_samples else [])

    def history_entries(self, result: TrainResult) -> list[tuple[str, float, float | None]]:
        """(label, loss, held-out loss) rows: by epoch, the loss before its updates; or after i updates,
        from 0 (the start) to the last, where the loss is the final one."""
        held = dict(result.validation)
        if not self.after:
            return [(str(epoch), loss, held.get(epoch)) for epoch, loss in result.history]
        batch = min(result.settings.batch_size or result.samples, result.samples)
        updates = math.ceil(result.samples / batch)
        rows = [(str((epoch - 1) * updates), loss, held.get(epoch)) for epoch, loss in result.history]
        last = str(result.epochs * updates)
        if result.epochs and (not rows or rows[-1][0] != last):
            rows.append((last, result.final_loss, result.final_validation))
        return rows

    def loss_intro(self) -> str:
        return self.say("train.loss.intro.after" if self.after else "train.loss.intro")

    def history_rows(self, result: TrainResult) -> list[tuple[str, ...]]:
        rows = self.history_entries(result)
        if not result.validation_samples:
            return [(label, self.number(loss)) for label, loss, _ in rows]
        return [(label, self.number(loss), "" if other is None else self.number(other)) for label, loss, other in rows]

    def final_words(self, result: TrainResult) -> str:
        """The loss after training, and the held-out samples' loss where there are some."""
        text = self.say("train.loss.final", loss=self.number(result.final_loss))
        if result.final_validation is not None:
            text += self.say("train.validation.final", loss=self.number(result.final_validation),
                             count=result.validation_samples)
        return text

    def vector(self, values: Sequence[float] | None) -> str:
        """A sample's numbers; past 8 (an image), the first 6 and how many there are."""
        if values is None:
            return "—"
        if len(values) > 8:
            return "[" + ", ".join(self.number(v) for v in values[:6]) + f", … {len(values)} values]"
        return "[" + ", ".join(self.number(v) for v in values) + "]"

    def prediction_rows(self, result: TrainResult) -> list[tuple[str, str, str]]:
        """A row per sample: its number, ŷ and y; with a softmax at every position, the class each
        position predicts (its largest ŷ) and the class it should, rather than every probability."""
        positions = result.network.positions
        shown = self.vector if positions == 1 else lambda values: self.classes(values, positions)
        return [(str(n), shown(prediction), shown(target))
                for n, (prediction, target) in enumerate(zip(result.predictions, result.targets, strict=False),
                                                         start=1)]

    @staticmethod
    def classes(values: Sequence[float], positions: int) -> str:
        """The largest entry's index at each of ``positions`` equal runs of ``values``: ``[1, 6, 5, 0]``."""
        width = len(values) // positions
        runs = [values[t * width:(t + 1) * width] for t in range(positions)]
        return "[" + ", ".join(str(max(range(width), key=run.__getitem__)) for run in runs) + "]"

    def more_samples(self, result: TrainResult) -> str | None:
        extra = result.samples - len(result.predictions)
        return self.say("train.predictions.more", count=extra) if extra > 0 else None

    def classes_note(self, result: TrainResult) -> str | None:
        """What the ŷ and y columns hold when they are classes at every position."""
        return self.say("train.predictions.classes") if result.network.positions > 1 else None


def _seconds(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _rate(value: float) -> str:
    if not math.isfinite(value):
        return "∞"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
