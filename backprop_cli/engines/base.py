"""What every training engine implements, and the batching they share.

An engine holds a network's parameters and optimizer state in its own form (Python floats, numpy
arrays, torch tensors) and trains them epoch by epoch; ``training.py`` drives it in chunks of
epochs, between which it reports progress, takes snapshots and checks for Ctrl-C.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from backprop_cli.errors import BackpropError
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.schedules import Clip, Schedule

EpochOrder = Callable[[int], Sequence[int]]
"""The order of the samples in an epoch (1-based epoch number in, a permutation out)."""

Logged = list[tuple[int, float]]
"""(epoch, loss over all the data before that epoch's updates)."""


@dataclass(frozen=True)
class EngineSettings:
    """How an engine trains.

    Args:
        batch_size: samples per update; the last batch of an epoch may be smaller.
        order: the sample order of each epoch (``--shuffle``), or None for the order given.
        dtype: ``float64`` or ``float32``.
        device: ``cpu`` or ``cuda`` (torch only).
        schedule: the learning rate epoch by epoch (``schedules.Schedule``), or None for a constant one.
        clip: gradient clipping before every update (``schedules.Clip``), or None.
        epochs: the epochs the whole training will run, where known: what an engine's start is
            weighed against (the numpy engine's helper processes), however the epochs come in runs.
    """

    batch_size: int
    order: EpochOrder | None = None
    dtype: str = "float64"
    device: str = "cpu"
    schedule: Schedule | None = None
    clip: Clip | None = None
    epochs: int | None = None


class Engine(ABC):
    """A numeric training backend.

    Args:
        network: the network to train (its parameters are the starting point).
        xs: inputs, one tuple per sample.
        ys: targets, one tuple per sample.
        settings: batch size, shuffling, dtype and device.
    """

    name: ClassVar[str]
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    """Devices it runs on (``cuda`` covers ``cuda:0`` …)."""
    dtypes: ClassVar[tuple[str, ...]] = ("float64", "float32")

    def __init__(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
                 settings: EngineSettings) -> None:
        if not settings.device.startswith(self.devices):
            raise BackpropError(f"device: the {self.name} backend runs on {' or '.join(self.devices)};"
                                f" use --backend torch for --device {settings.device}")
        if settings.dtype not in self.dtypes:
            hint = "" if "float32" in self.dtypes else "; use --backend numpy or torch for float32"
            raise BackpropError(f"dtype: the {self.name} backend computes in {' or '.join(self.dtypes)},"
                                f" not {settings.dtype}{hint}")
        self.network = network
        self.settings = settings
        self.samples = len(xs)

    @property
    def device(self) -> str:
        return self.settings.device

    @property
    def dtype(self) -> str:
        return self.settings.dtype

    def lr(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (1-based): the schedule's, else the network's."""
        schedule = self.settings.schedule
        return self.network.lr if schedule is None else schedule.lr(self.network.lr, epoch - 1)

    @property
    def full_batch(self) -> bool:
        """One update per epoch over every sample."""
        return self.settings.batch_size >= self.samples

    @abstractmethod
    def run(self, start: int, count: int, logged: Container[int], stop: list[bool]) -> tuple[int, Logged]:
        """Train epochs ``start`` … ``start + count - 1``.

        Args:
            start: the first epoch's number (1-based).
            count: how many epochs.
            logged: epochs whose loss to record: the loss over all the data before the epoch's updates.
            stop: checked after every epoch; ``stop[0]`` true ends the run there (Ctrl-C).

        Returns:
            The number of epochs done, and the (epoch, loss) pairs recorded.
        """

    @abstractmethod
    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        """The loss over all the data with the current parameters, and the first ``rows`` predictions."""

    @abstractmethod
    def parameters(self) -> dict[tuple[tuple[int, ...], str], Any]:
        """The current parameters (and buffers such as running statistics) by (layer path, name),
        as Python floats."""

    @abstractmethod
    def optimizer_state(self) -> OptimizerSlots:
        """The optimizer's current state, as Python floats."""

    def trained(self) -> Network:
        """The network with the current parameters."""
        return self.network.with_values(self.parameters())

    def close(self) -> None:  # noqa: B027 (most engines hold nothing to let go of)
        """Let go of what the engine holds beyond its arrays (the numpy engine's helper processes);
        it still evaluates and reports its parameters after it."""


def logged_mask(start: int, count: int, logged: Container[int]) -> tuple[list[int], Any]:
    """The logged epochs among ``start`` … ``start + count − 1``, and a numpy bool array marking them
    epoch by epoch (for engines whose whole chunk of epochs runs in one compiled call)."""
    import numpy as np

    stop_at = start + count
    if isinstance(logged, range | set | frozenset):
        epochs = sorted(e for e in logged if start <= e < stop_at)  # the logged ones, not every epoch
    else:
        epochs = [e for e in range(start, stop_at) if e in logged]
    mask = np.zeros(count, dtype=np.bool_)
    mask[np.asarray(epochs, dtype=np.int64) - start] = True
    return epochs, mask


def batch_bounds(samples: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch of an epoch, in order; the last may be smaller."""
    return [(lo, min(lo + batch_size, samples)) for lo in range(0, samples, batch_size)]


def to_floats(array: Any) -> Any:
    """Nested tuples of Python floats from an array-like (numpy, torch.tolist(), lists)."""
    if isinstance(array, (list, tuple)):
        return tuple(to_floats(item) for item in array)
    return float(array)
