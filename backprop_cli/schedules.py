"""Learning-rate schedules and gradient clipping, as torch has them.

A schedule gives each epoch's learning rate as ``torch.optim.lr_scheduler`` does when
``scheduler.step()`` is called once after every epoch: StepLR, ExponentialLR, CosineAnnealingLR
and LinearLR (a warm-up), in their closed forms. Clipping is ``torch.nn.utils.clip_grad_norm_``
(the gradients of every trainable parameter scaled by ``max_norm / (‖g‖₂ + 1e-6)`` where that is
below 1) or ``clip_grad_value_`` (each gradient clamped to [−v, v]), applied to every update's
gradients before the optimizer's step.

On the command line a schedule is ``NAME`` or ``NAME:key=value,…`` with torch's argument names
(``step:step_size=10,gamma=0.5``); it is parsed as numbers only, never evaluated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from backprop_cli.errors import BackpropError

SCHEDULES: dict[str, tuple[str, dict[str, float | None]]] = {
    "step": ("StepLR", {"step_size": None, "gamma": 0.1}),
    "exponential": ("ExponentialLR", {"gamma": None}),
    "cosine": ("CosineAnnealingLR", {"T_max": None, "eta_min": 0.0}),
    "linear": ("LinearLR", {"start_factor": 1.0 / 3, "end_factor": 1.0, "total_iters": 5}),
}
"""Each schedule: torch's class, and its arguments with their defaults (None: required)."""

INTEGER_ARGUMENTS = ("step_size", "T_max", "total_iters")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule: its name (``SCHEDULES``) and torch's arguments."""

    name: str
    arguments: tuple[tuple[str, float], ...] = ()

    def argument(self, key: str) -> float:
        return dict(self.arguments)[key]

    def lr(self, base: float, epoch: int) -> float:
        """The learning rate of the epoch after ``epoch`` epochs (0: the first epoch's)."""
        try:
            lr = self._lr(base, epoch)
        except OverflowError:
            lr = math.inf
        if not math.isfinite(lr):
            raise BackpropError(f"schedule: the learning rate of epoch {epoch + 1} overflows float64"
                                f" ({self.describe()}); use a smaller gamma or fewer epochs")
        return lr

    def _lr(self, base: float, epoch: int) -> float:
        a = dict(self.arguments)
        if self.name == "step":
            return base * a["gamma"] ** (epoch // int(a["step_size"]))
        if self.name == "exponential":
            return base * a["gamma"] ** epoch
        if self.name == "cosine":
            eta_min = a["eta_min"]
            return eta_min + (base - eta_min) * (1 + math.cos(math.pi * epoch / a["T_max"])) / 2
        start, end, total = a["start_factor"], a["end_factor"], int(a["total_iters"])
        return base * (start + (end - start) * min(total, epoch) / total)

    def torch_class(self) -> str:
        return SCHEDULES[self.name][0]

    def describe(self) -> str:
        """``StepLR(step_size=10, gamma=0.5)``."""
        shown = ", ".join(f"{k}={int(v) if k in INTEGER_ARGUMENTS else v:g}" for k, v in self.arguments)
        return f"{self.torch_class()}({shown})"


@dataclass(frozen=True)
class Clip:
    """Gradient clipping: ``norm`` (clip_grad_norm_, 2-norm over every gradient) or ``value``."""

    kind: str
    limit: float

    def describe(self) -> str:
        return f"clip_grad_{self.kind}_({self.limit:g})"


def parse_schedule(text: str | None) -> Schedule | None:
    """``step:step_size=10,gamma=0.5`` as a Schedule (None for None or ``none``).

    Raises:
        BackpropError: naming the unknown schedule, argument or value and the fix.
    """
    if text is None or text.strip() == "none":
        return None
    name, _, rest = text.strip().partition(":")
    if name not in SCHEDULES:
        raise BackpropError(f"schedule: unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}"
                            " (e.g. --schedule step:step_size=10,gamma=0.5)")
    torch_name, defaults = SCHEDULES[name]
    given: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        match = re.fullmatch(r"([A-Za-z_]+)\s*=\s*([-+0-9.eE]+)", part)
        if match is None:
            raise BackpropError(f"schedule: {part!r} is not key=number; write e.g. {name}:"
                                + ",".join(f"{k}={v if v is not None else 10}" for k, v in defaults.items()))
        key, value = match.groups()
        if key not in defaults:
            raise BackpropError(f"schedule: {torch_name} has no argument {key!r}; its arguments are"
                                f" {', '.join(defaults)}")
        if key in given:
            raise BackpropError(f"schedule: {key} is given twice; write it once")
        try:
            number = float(value)
        except ValueError:
            raise BackpropError(f"schedule: {key}={value} is not a number") from None
        given[key] = number
    arguments = []
    for key, default in defaults.items():
        value = given.get(key, default)
        if value is None:
            raise BackpropError(f"schedule: {torch_name} needs {key}; write e.g. --schedule {name}:{key}=10")
        if not math.isfinite(value):
            raise BackpropError(f"schedule: {key} must be a finite number")
        if key in INTEGER_ARGUMENTS and (value != int(value) or value < 1):
            raise BackpropError(f"schedule: {key} must be a whole number of at least 1, got {value:g}")
        arguments.append((key, float(value)))
    schedule = Schedule(name, tuple(arguments))
    a = dict(arguments)
    if name in ("step", "exponential") and not 0 < a["gamma"]:
        raise BackpropError(f"schedule: gamma must be positive, got {a['gamma']:g}")
    if name == "cosine" and a["eta_min"] < 0:
        raise BackpropError(f"schedule: eta_min must be at least 0, got {a['eta_min']:g}")
    if name == "linear" and not (0 < a["start_factor"] <= 1 and 0 <= a["end_factor"] <= 1):
        raise BackpropError("schedule: LinearLR takes 0 < start_factor ≤ 1 and 0 ≤ end_factor ≤ 1, as torch does")
    return schedule


def parse_clip(norm: float | None, value: float | None) -> Clip | None:
    """The clipping ``--clip-norm`` or ``--clip-value`` asks for (at most one).

    Raises:
        BackpropError: for both at once, or a limit that is not a positive number.
    """
    if norm is not None and value is not None:
        raise BackpropError("clip: give --clip-norm or --clip-value, not both")
    for kind, limit in (("norm", norm), ("value", value)):
        if limit is not None:
            if not math.isfinite(limit) or limit <= 0:
                raise BackpropError(f"clip-{kind}: must be a positive number, got {limit:g}")
            return Clip(kind, float(limit))
    return None


def clip_numpy(clip: Clip, grads: dict[Any, Any]) -> None:
    """Clip the numpy gradients ``grads`` (of the trainable parameters) in place, as torch does."""
    import numpy as np

    if clip.kind == "value":
        for g in grads.values():
            np.clip(g, -clip.limit, clip.limit, out=g)
        return
    total = float(np.linalg.norm([np.linalg.norm(g) for g in grads.values()]))
    coefficient = min(clip.limit / (total + 1e-6), 1.0)
    for g in grads.values():
        g *= coefficient


def clip_torch(torch: Any, clip: Clip, parameters: list[Any]) -> None:
    """``clip_grad_norm_`` or ``clip_grad_value_`` on ``parameters``."""
    if clip.kind == "value":
        torch.nn.utils.clip_grad_value_(parameters, clip.limit)
    else:
        torch.nn.utils.clip_grad_norm_(parameters, clip.limit)

