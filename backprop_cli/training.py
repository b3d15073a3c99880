"""Training for many epochs: batching, shuffling, the loss history, snapshots for derivations, Ctrl-C.

An epoch is one pass over the data in batches of ``batch_size`` samples (the last may be smaller),
one update per batch. ``--shuffle`` orders the samples of each epoch by a permutation drawn once
per epoch from ``numpy.random.default_rng(seed)``; every engine gets the same permutations.

The history holds, for each logged epoch k, the loss over all the data with the parameters
before epoch k's first update: with full batches exactly what a PyTorch loop printing
``loss.item()`` after the forward pass of epoch k sees; with smaller batches the loss over all the
data at the start of the epoch (not the loss of one batch).

Ctrl-C stops after the epoch running when it is pressed; the result so far is returned, marked
``interrupted``. A second Ctrl-C stops at once.
"""

from __future__ import annotations

import math
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import BackpropError, DataError
from backprop_cli.layers import layer_state
from backprop_cli.model import Network, OptimizerSlots, Vector, check_samples
from backprop_cli.schedules import Clip, Schedule

if TYPE_CHECKING:
    from backprop_cli.derivation import Derivation, Options
    from backprop_cli.engines.base import Engine
    from backprop_cli.locales import Message

PREDICTION_ROWS = 10
"""Predictions kept for the report (the first samples)."""

CURVE_POINTS = 200
"""The loss is recorded at about this many epochs for the curve, besides the logged ones."""

DERIVATION_SAMPLES = 64
"""``--show-steps`` derives steps of at most this many samples."""

CHUNK_SECONDS = 0.1
"""Epochs are run in chunks of about this long, between which progress is reported."""

Progress = Callable[[int, int, float | None], None]
"""Called between chunks with (epochs done, epochs asked for, latest recorded loss)."""


@dataclass(frozen=True)
class TrainSettings:
    """How to train.

    Args:
        epochs: passes over the data.
        batch_size: samples per update; None for the whole data set.
        shuffle: a new sample order every epoch.
        seed: seeds the shuffling (0 when None).
        backend: ``auto``, ``compiled``, ``numpy`` or ``torch``.
        device: ``cpu`` or ``cuda`` (torch).
        dtype: ``float64`` or ``float32`` (torch, numpy).
        log_every: record the loss every this many epochs (and at the first and last); None for
            about ten rows.
        show_steps: epochs whose steps to keep for a full derivation.
        schedule: the learning rate epoch by epoch, as a torch.optim.lr_scheduler stepped after every
            epoch (``schedules.Schedule``); None keeps the network's.
        clip: gradient clipping before every update (``schedules.Clip``), or None.
        validation: the share of the samples held out (0 ≤ f < 1), chosen by ``seed``; their loss is
            recorded beside the training loss, before each logged epoch's updates.
        early_stop: stop when the loss watched (the validation loss if held out, else the training
            loss) has not fallen by more than this for ``patience`` epochs in a row; None trains on.
        patience: epochs without such an improvement before stopping.
    """

    epochs: int = 100
    batch_size: int | None = None
    shuffle: bool = False
    seed: int | None = None
    backend: str = "auto"
    device: str = "cpu"
    dtype: str = "float64"
    log_every: int | None = None
    show_steps: tuple[int, ...] = ()
    schedule: Schedule | None = None
    clip: Clip | None = None
    validation: float = 0.0
    early_stop: float | None = None
    patience: int = 10

    def every(self) -> int:
        """The logging interval: ``log_every``, or about a tenth of the epochs."""
        return self.log_every if self.log_every is not None else max(1, self.epochs // 10)


@dataclass(frozen=True)
class Snapshot:
    """What a derivation of an epoch needs: the parameters and optimizer state at its start,
    and the samples of each of its batches, in order."""

    epoch: int
    network: Network
    state: OptimizerSlots
    batches: tuple[tuple[tuple[Vector, ...], tuple[Vector, ...]], ...]


@dataclass(frozen=True)
class EpochStep:
    """One step of a ``--show-steps`` epoch, derived: batch ``batch`` of ``batches``."""

    epoch: int
    batch: int
    batches: int
    derivation: Derivation


@dataclass(frozen=True)
class TrainResult:
    """A training run: settings, the loss history and curve, final parameters and predictions.

    Args:
        initial: the network before training.
        network: the network after the last epoch done.
        settings: how it was trained.
        epochs: epochs done (fewer than asked for when interrupted).
        backend: the engine that ran.
        reason: why ``auto`` picked it (None when named).
        seconds: wall time of the training loop itself (the engine's epochs).
        history: (epoch, loss before its updates) for every logged epoch.
        curve: (epoch, loss) for the loss curve: the history and about 200 more points.
        final_loss: the loss over all the data after the last epoch done.
        samples: how many samples.
        predictions: the trained network's outputs for the first samples.
        targets: the targets of those samples.
        interrupted: stopped by Ctrl-C.
        snapshots: the state at the start of each ``show_steps`` epoch reached.
        data: where the samples came from: a data set's name, a file, ``seed``, ``options``, ``spec``.
        inputs: the inputs of the first samples (those of ``predictions``).
        steps: derivations of the ``show_steps`` epochs, once made (:func:`with_derivations`).
        options: how the report and the ``show_steps`` derivations are printed (precision,
            language, form); None for the defaults.
    """

    initial: Network
    network: Network
    settings: TrainSettings
    epochs: int
    backend: str
    reason: Message | None
    seconds: float
    history: tuple[tuple[int, float], ...]
    curve: tuple[tuple[int, float], ...]
    final_loss: float
    samples: int
    predictions: tuple[Vector, ...]
    targets: tuple[Vector, ...]
    interrupted: bool = False
    snapshots: tuple[Snapshot, ...] = ()
    validation: tuple[tuple[int, float], ...] = ()
    """(epoch, loss of the held-out samples before its updates) for every logged epoch."""
    final_validation: float | None = None
    validation_samples: int = 0
    stopped: int | None = None
    """The epoch early stopping ended the run before (its updates not done), or None."""
    data: str = ""
    inputs: tuple[Vector, ...] = ()
    steps: tuple[EpochStep, ...] = ()
    options: Options | None = None

    @property
    def device(self) -> str:
        return self.settings.device

    def __repr__(self) -> str:
        widths = "-".join(str(w) for w in self.network.widths)
        first = self.history[0][1] if self.history else math.nan
        stopped = ", interrupted" if self.interrupted else ""
        return (f"<TrainResult {widths} {self.network.loss}, {self.network.optimizer.name}, {self.samples} sample(s),"
                f" {self.epochs} epochs on {self.backend}{stopped}: loss {first:.6g} -> {self.final_loss:.6g}>")

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``backprop train --format json`` (DESIGN.md).

        With ``--show-steps`` a ``steps`` list follows: per derived step its epoch, batch and the
        ``backprop step --format json`` object of that step.
        """
        out: dict[str, Any] = {
            "epochs": self.epochs,
            "backend": self.backend,
            "device": self.device,
            "seconds": self.seconds,
            "history": [{"epoch": epoch, "loss": loss} for epoch, loss in self.history],
            "final_loss": self.final_loss,
            **({"schedule": self.settings.schedule.describe()} if self.settings.schedule else {}),
            **({"clip": self.settings.clip.describe()} if self.settings.clip else {}),
            "layers": [layer_state(layer) for layer in self.network.layers],
        }
        if self.validation_samples:
            out["validation_history"] = [{"epoch": epoch, "loss": loss} for epoch, loss in self.validation
                                         if epoch in dict(self.history)]
            out["final_validation_loss"] = self.final_validation
        if self.settings.early_stop is not None:
            out["stopped_early"] = self.stopped
        if self.steps:
            out["steps"] = [{"epoch": step.epoch, "batch": step.batch, **step.derivation.to_dict()}
                            for step in self.steps]
        return out

    def to_json(self) -> str:
        """The JSON of ``backprop train --format json``."""
        from backprop_cli.render import render

        return render(self, "json")

    def to_markdown(self, **settings: Any) -> str:
        """The report in Markdown; ``settings``: ``lang``, ``precision``, ``timings`` (False leaves the
        run time out), ``plot`` (an image of the loss curve to link)."""
        from backprop_cli.render import render

        return render(self, "markdown", **settings)

    def to_latex(self, **settings: Any) -> str:
        """The report as a standalone LaTeX document; ``settings`` as for :meth:`to_markdown`, but ``plot``."""
        from backprop_cli.render import render

        return render(self, "latex", **settings)

    def to_html(self, **settings: Any) -> str:
        """The report as one self-contained HTML page; ``fragment=True`` for the part a notebook shows."""
        from backprop_cli.render import render

        return render(self, "html", **settings)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return self.to_html(fragment=True)


class EpochOrder:
    """The sample order of each epoch under ``--shuffle``: one permutation per epoch, drawn in turn
    from ``numpy.random.default_rng(seed)``. Asked for epochs in increasing order (or the last again)."""

    def __init__(self, samples: int, seed: int) -> None:
        import numpy as np

        self.samples = samples
        self.generator = np.random.default_rng(seed)
        self.epoch = 0
        self.last: Any = None

    def __call__(self, epoch: int) -> Any:
        if epoch < self.epoch:
            raise ValueError(f"epoch {epoch} was drawn already; the order is drawn forward only")
        while self.epoch < epoch:
            self.last = self.generator.permutation(self.samples)
            self.epoch += 1
        return self.last


MAX_EPOCHS = 100_000_000
"""More epochs than this is refused (the seed network alone would train for minutes)."""
MAX_SHOWN_STEPS = 20
"""``--show-steps`` derives at most this many epochs in full."""


def check_settings(settings: TrainSettings, samples: int) -> None:
    """Raise a one-line BackpropError for settings that cannot work."""
    if settings.epochs < 1:
        raise BackpropError(f"epochs: must be at least 1, got {settings.epochs}")
    if settings.epochs > MAX_EPOCHS:
        raise BackpropError(f"epochs: at most {MAX_EPOCHS:,}, got {settings.epochs}")
    if len(settings.show_steps) > MAX_SHOWN_STEPS:
        raise BackpropError(f"show-steps: at most {MAX_SHOWN_STEPS} epochs are derived in full, got"
                            f" {len(settings.show_steps)}")
    if settings.batch_size is not None and settings.batch_size < 1:
        raise BackpropError(f"batch-size: must be at least 1, got {settings.batch_size}")
    if settings.log_every is not None and settings.log_every < 1:
        raise BackpropError(f"log-every: must be at least 1, got {settings.log_every}")
    from backprop_cli.engines import BACKENDS

    if settings.backend not in BACKENDS:
        raise BackpropError(f"backend: unknown backend {settings.backend!r}; choose one of {', '.join(BACKENDS)}")
    if settings.dtype not in ("float64", "float32"):
        raise BackpropError(f"dtype: must be float64 or float32, not {settings.dtype!r}")
    if settings.device != "cpu" and re.fullmatch(r"cuda(:\d{1,3})?", settings.device) is None:
        raise BackpropError(f"device: unknown device {settings.device!r}; use cpu or cuda")
    if settings.device != "cpu" and settings.backend not in ("auto", "torch"):
        raise BackpropError(f"device: --device {settings.device} needs --backend torch (or auto)")
    if not 0 <= settings.validation < 1 or not math.isfinite(settings.validation):
        raise BackpropError("validation: the share held out must be at least 0 and below 1, got"
                            f" {settings.validation:g}")
    if settings.early_stop is not None and (not math.isfinite(settings.early_stop) or settings.early_stop < 0):
        raise BackpropError(f"early-stop: the improvement must be a number of at least 0, got {settings.early_stop:g}")
    if settings.patience < 1:
        raise BackpropError(f"patience: must be at least 1 epoch, got {settings.patience}")
    if settings.show_steps and settings.clip is not None:
        raise BackpropError("show-steps: the page works an update without clipping; leave out"
                            f" --clip-{settings.clip.kind} to derive a step, or --show-steps to clip")
    for epoch in settings.show_steps:
        if not 1 <= epoch <= settings.epochs:
            raise BackpropError(f"show-steps: epoch {epoch} is outside 1 … {settings.epochs}")
    if settings.show_steps and min(settings.batch_size or samples, samples) > DERIVATION_SAMPLES:
        raise BackpropError(
            f"show-steps: a step over {min(settings.batch_size or samples, samples)} samples is too long to"
            f" derive line by line; use --batch-size {DERIVATION_SAMPLES} or less")


def logged_epochs(settings: TrainSettings) -> tuple[set[int], set[int]]:
    """The epochs of the history, and those of the curve (a superset)."""
    last = settings.epochs
    every = settings.every()
    history = {1, last, *range(every, last + 1, every)}
    step = max(1, last // CURVE_POINTS)
    return history, history | set(range(1, last + 1, step))


def create_engine(network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
                  settings: TrainSettings) -> tuple[Engine, Message | None]:
    """The engine ``settings`` asks for (``auto`` picks one), and why it was picked."""
    from backprop_cli import engines
    from backprop_cli.engines.base import EngineSettings

    name, reason = settings.backend, None
    if name == "auto":
        scheduled = ("--schedule" if settings.schedule is not None else
                     f"--clip-{settings.clip.kind}" if settings.clip is not None else None)
        name, reason = engines.choose(network, len(xs), settings.shuffle, settings.device, settings.dtype,
                                      scheduled, settings.epochs, settings.batch_size)
    engines.check_size(name, network, settings.dtype)
    batch = min(settings.batch_size or len(xs), len(xs))
    order = EpochOrder(len(xs), settings.seed or 0) if settings.shuffle else None
    engine_settings = EngineSettings(batch, order, settings.dtype, settings.device, settings.schedule, settings.clip,
                                     settings.epochs)
    engine = engines.load(name, network, settings.dtype)(network, xs, ys, engine_settings)
    return engine, reason


@contextmanager
def _first_ctrl_c_stops(stop: list[bool]) -> Iterator[None]:
    """While training, Ctrl-C sets ``stop[0]`` (the epoch running finishes); a second one interrupts.

    Where SIGINT is ignored (``nohup``, a background job of a shell), it stays ignored.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is signal.SIG_IGN):
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop[0]:
            raise KeyboardInterrupt
        stop[0] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def train(network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
          settings: TrainSettings | None = None, progress: Progress | None = None,
          data: str = "") -> TrainResult:
    """Train ``network`` on the samples; see the module's docstring for what is recorded.

    Args:
        network: the network, its loss, learning rate and optimizer.
        xs: inputs, one tuple per sample.
        ys: targets, one tuple per sample.
        settings: epochs, batches, engine, logging.
        progress: called between chunks of epochs; raising KeyboardInterrupt there stops training
            after the epochs done, as Ctrl-C does.
        data: where the samples came from, for the report.

    Raises:
        BackpropError: for samples that do not fit the network or settings that cannot work.
    """
    settings = settings or TrainSettings()
    check_samples(network, xs, ys)
    check_settings(settings, len(xs))
    xs, ys, held_xs, held_ys = split(xs, ys, settings.validation, settings.seed or 0)
    engine, reason = create_engine(network, xs, ys, settings)
    check_bce_outputs(engine, network, len(xs))
    history_epochs, curve_epochs = logged_epochs(settings)
    snapshot_epochs = sorted(set(settings.show_steps))
    recorded: list[tuple[int, float]] = []
    snapshots: list[Snapshot] = []
    stop = [False]
    done, chunk, seconds = 0, 1, 0.0
    latest: float | None = None
    validation: list[tuple[int, float]] = []
    watch = bool(held_xs) or settings.early_stop is not None
    best, waited, stopped = math.inf, 0, None
    with _first_ctrl_c_stops(stop):
        try:
            while done < settings.epochs:
                if snapshot_epochs and snapshot_epochs[0] == done + 1:
                    snapshots.append(_snapshot(engine, done + 1, xs, ys, settings))
                    snapshot_epochs.pop(0)
                if watch:
                    # One epoch at a time: the held-out loss, and the watched one, before its updates.
                    held = loss_on(engine, held_xs, held_ys) if held_xs else None
                    if settings.early_stop is not None:
                        watched = held if held is not None else engine.evaluate(0)[0]
                        if watched < best - settings.early_stop:
                            best, waited = watched, 0
                        else:
                            waited += 1
                        if waited >= settings.patience:
                            stopped = done + 1
                            break
                    if held is not None and done + 1 in curve_epochs:
                        validation.append((done + 1, held))
                count = min(chunk, settings.epochs - done) if not watch else 1
                if snapshot_epochs:
                    count = min(count, snapshot_epochs[0] - 1 - done)
                began = time.perf_counter()
                ran, losses = engine.run(done + 1, count, curve_epochs, stop)
                spent = time.perf_counter() - began
                seconds += spent
                done += ran
                recorded += losses
                if losses:
                    latest = losses[-1][1]
                    if math.isnan(latest):
                        _trained(engine, done, latest)  # nan weights stay nan: say so now, not epochs later
                if stop[0]:
                    break
                # Chunks of about CHUNK_SECONDS, growing at most twofold.
                per_epoch = spent / max(ran, 1)
                chunk = max(1, min(2 * chunk, int(CHUNK_SECONDS / per_epoch) if per_epoch > 0 else 2 * chunk))
                if progress is not None:
                    progress(done, settings.epochs, latest)
                if stop[0]:  # Ctrl-C between chunks: the epoch it came in is done
                    break
        except KeyboardInterrupt:
            pass  # from ``progress``, between chunks: the epochs done are whole
        finally:
            engine.close()
    final_loss, predictions = engine.evaluate(PREDICTION_ROWS)
    final_validation = loss_on(engine, held_xs, held_ys) if held_xs else None
    return TrainResult(
        initial=network, network=_trained(engine, done, final_loss), settings=settings, epochs=done,
        backend=engine.name,
        reason=reason, seconds=seconds,
        history=tuple((e, loss) for e, loss in recorded if e in history_epochs),
        curve=tuple(recorded), final_loss=final_loss, samples=len(xs), predictions=predictions,
        targets=tuple(ys[:PREDICTION_ROWS]), interrupted=done < settings.epochs and stopped is None,
        snapshots=tuple(snapshots), data=data, inputs=tuple(xs[:PREDICTION_ROWS]),
        validation=tuple(validation), final_validation=final_validation, validation_samples=len(held_xs),
        stopped=stopped)


def split(xs: Sequence[Vector], ys: Sequence[Vector], share: float, seed: int
          ) -> tuple[tuple[Vector, ...], tuple[Vector, ...], tuple[Vector, ...], tuple[Vector, ...]]:
    """The samples trained on and those held out: ``round(share × N)`` of them (at least one where
    ``share`` > 0), drawn by ``random.Random(seed)``; both keep the samples' order.

    Raises:
        BackpropError: when no sample would be left to train on.
    """
    if share <= 0:
        return tuple(xs), tuple(ys), (), ()
    count = max(1, round(share * len(xs)))
    if count >= len(xs):
        raise BackpropError(f"validation: holding out {count} of {len(xs)} samples leaves none to train on;"
                            " use a smaller share or more samples")
    import random

    held = set(random.Random(seed).sample(range(len(xs)), count))
    kept = [i for i in range(len(xs)) if i not in held]
    chosen = sorted(held)
    return (tuple(xs[i] for i in kept), tuple(ys[i] for i in kept), tuple(xs[i] for i in chosen),
            tuple(ys[i] for i in chosen))


def loss_on(engine: Engine, xs: Sequence[Vector], ys: Sequence[Vector]) -> float:
    """The loss over ``xs``, ``ys`` with the engine's current parameters (the numpy engine's forward pass)."""
    from backprop_cli.engines.base import EngineSettings
    from backprop_cli.engines.numpy_engine import NumpyEngine

    return NumpyEngine(engine.trained(), xs, ys, EngineSettings(len(xs))).evaluate(0)[0]


def _trained(engine: Engine, epochs: int, loss: float) -> Network:
    """The trained network, or a one-line error when training diverged (inf or nan weights, as
    PyTorch would leave them, are no network to report or save)."""
    values = engine.parameters()
    if not all(math.isfinite(v) for v in _flat(values.values())):
        raise BackpropError(
            f"train: the weights are no longer finite after {epochs} epochs (the loss is {loss:g}): training"
            " diverged; try a smaller --lr, or another activation or loss")
    return engine.network.with_values(values)


def _flat(values: Any) -> Iterator[float]:
    for value in values:
        if isinstance(value, (tuple, list)) or hasattr(value, "__iter__"):
            yield from _flat(value)
        else:
            yield value


def check_bce_outputs(engine: Engine, network: Network, samples: int) -> None:
    """bce needs predictions in [0, 1] (``torch.nn.BCELoss`` refuses others): checked on the
    untrained network when the output activation does not guarantee it."""
    from backprop_cli import losses

    if not losses.of(network).needs_probabilities or network.layers[-1].activation in ("sigmoid", "softmax"):
        return
    _, outputs = engine.evaluate(samples)
    for row in outputs:
        for value in row:
            if not 0.0 <= value <= 1.0:
                raise DataError(
                    f"bce needs predictions in [0, 1] but ŷ = {value:.4g} comes out of"
                    f" {network.layers[-1].activation}; use sigmoid on the output layer or another loss")


def _snapshot(engine: Engine, epoch: int, xs: Sequence[Vector], ys: Sequence[Vector],
              settings: TrainSettings) -> Snapshot:
    from backprop_cli.engines.base import batch_bounds

    order = engine.settings.order
    permutation = list(range(len(xs))) if order is None else [int(i) for i in order(epoch)]
    batches = tuple((tuple(xs[i] for i in permutation[lo:hi]), tuple(ys[i] for i in permutation[lo:hi]))
                    for lo, hi in batch_bounds(len(xs), engine.settings.batch_size))
    # The epoch's learning rate, where a schedule sets it, is the one its page works with.
    network = replace(engine.trained(), lr=engine.lr(epoch))
    return Snapshot(epoch, network, engine.optimizer_state(), batches)


def with_derivations(result: TrainResult, options: Options | None = None) -> TrainResult:
    """``result`` with the derivation of every step of its ``show_steps`` epochs reached.

    Each derivation starts from the parameters and optimizer state the previous step left, so
    its update lines carry the velocity or moments the optimizer has at that point of training.
    """
    from backprop_cli.build import build_derivation
    from backprop_cli.derivation import Options

    options = options or result.options or Options()
    steps = []
    for snapshot in result.snapshots:
        network, state = snapshot.network, snapshot.state
        for index, (xs, ys) in enumerate(snapshot.batches, start=1):
            derivation = build_derivation(network, xs, ys, options, state=state)
            steps.append(EpochStep(snapshot.epoch, index, len(snapshot.batches), derivation))
            network = derivation.extra["network_after"]
            state = derivation.extra.get("optimizer_state", state)
    return replace(result, steps=tuple(steps), options=options)
