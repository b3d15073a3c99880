"""What every optimizer declares, and the settings it reads (torch.optim's names and defaults).

An optimizer is one module of this package with one :class:`Rule`: its slots (the state it keeps
per parameter), its update lines for the page (sympy, per parameter symbol, so any layer kind's
parameters get them), the numpy update the numpy engine runs, the ``torch.optim`` object of the
torch engine, and its sentence for the page's introduction (``intro.update.<name>``) and the
training report (``train.optimizer.<name>``). The compiled engine compiles the page's lines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

from backprop_cli.errors import SpecError

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.derivation import Step
    from backprop_cli.locales import Message
    from backprop_cli.optimizers.lines import OptimizerState, Page

Matrix = tuple[tuple[float, ...], ...]
Vector = tuple[float, ...]
Array = Any  # numpy.ndarray

SETTINGS = ("momentum", "beta1", "beta2", "eps", "alpha", "weight_decay", "centered")
"""Every optimizer setting a spec file or the command line may give (each rule reads some)."""

DEFAULTS: dict[str, float] = {"momentum": 0.9, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "alpha": 0.99,
                              "weight_decay": 0.0}
"""torch.optim's defaults (momentum's 0.9 is the momentum optimizer's; a rule may set its own)."""


@dataclass(frozen=True)
class Optimizer:
    """Optimizer settings with PyTorch's definitions and defaults (``torch.optim``).

    Args:
        name: a registered optimizer (``optimizers.RULES``).
        momentum: SGD's and RMSprop's momentum.
        beta1: Adam's β₁.
        beta2: Adam's β₂.
        eps: Adam's and RMSprop's ε.
        alpha: RMSprop's smoothing constant.
        weight_decay: L2 decay added to the gradient (AdamW: decoupled, applied to the weight).
        centered: RMSprop's centered variant.
    """

    name: str = "sgd"
    momentum: float = None  # type: ignore[assignment]
    beta1: float = None  # type: ignore[assignment]
    beta2: float = None  # type: ignore[assignment]
    eps: float = None  # type: ignore[assignment]
    alpha: float = None  # type: ignore[assignment]
    weight_decay: float = None  # type: ignore[assignment]
    centered: bool = False

    def __post_init__(self) -> None:
        from backprop_cli.optimizers import rule

        found = rule(self.name)
        for key, default in DEFAULTS.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, found.defaults.get(key, default))
        for key in ("momentum", "beta1", "beta2", "alpha"):
            value = getattr(self, key)
            if not (math.isfinite(value) and 0.0 <= value < 1.0):
                raise SpecError(f"{key}: must be in [0, 1), got {value:g}")
        for key in ("eps", "weight_decay"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0.0):
                raise SpecError(f"{key}: must be 0 or a positive number, got {value:g}")

    @property
    def rule(self) -> Rule:
        from backprop_cli.optimizers import rule

        return rule(self.name)

    def settings(self) -> dict[str, Any]:
        """The settings this optimizer reads, by name (for spec files)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in self.rule.settings}


LayerSlot = tuple[Any, ...]
"""One layer's share of an optimizer slot: an array shaped like each parameter :func:`slot_names`
names (its weight and its bias; a recurrent layer's weight_ih, weight_hh, bias_ih and bias_hh)."""


def slot_names(layer: Any) -> tuple[str, ...]:
    """The parameters a layer's share of an optimizer slot holds, in order: ``weight`` and ``bias``
    (None where the layer has none), or the kind's own names where it has others."""
    names: tuple[str, ...] = layer.parameter_names
    return names if not set(names) <= {"weight", "bias"} else ("weight", "bias")


@dataclass(frozen=True)
class OptimizerSlots:
    """An optimizer's running state as plain numbers, as training leaves it between updates.

    Args:
        steps: updates done so far (Adam's t is ``steps + 1`` at the next update).
        slots: per slot name, one :data:`LayerSlot` per layer that holds parameters: ``v`` is SGD
            momentum's velocity (``momentum_buffer`` in torch.optim), ``m`` and ``v`` are Adam's first
            and second moments (``exp_avg``, ``exp_avg_sq``) … A missing slot, or a frozen bias's
            None, is zero.
    """

    steps: int = 0
    slots: Mapping[str, tuple[LayerSlot, ...]] = field(default_factory=dict)


class Rule:
    """An optimizer's update; see the module's docstring."""

    name: ClassVar[str]
    settings: ClassVar[tuple[str, ...]] = ("weight_decay",)
    """The settings it reads (spec keys, CLI options)."""
    defaults: ClassVar[dict[str, float]] = {}
    counts_steps: ClassVar[bool] = False
    """Whether its update uses the step number t (Adam's bias correction)."""

    def slots(self, optimizer: Optimizer) -> dict[str, tuple[str, str]]:
        """Its state per parameter: slot name → the times its symbols carry before and after a step."""
        return {}

    def torch_keys(self, optimizer: Optimizer) -> dict[str, str]:
        """Slot name → the key of ``torch.optim``'s state that holds it."""
        return {}

    def lines(self, page: Page, values: dict[Any, float], steps: list[Step], symbol: Any, gradient: sp.Basic,
              state: OptimizerState, optimizer: Optimizer) -> sp.Basic:
        """Its update lines for one parameter (appended to ``steps``); the right side of θ(t+1)."""
        raise NotImplementedError

    def numpy_update(self, optimizer: Optimizer, lr: float, param: Array, grad: Array,
                     slots: dict[str, Array], step: int) -> None:
        """The update in place, as torch.optim does it; ``step`` counts from 1."""
        raise NotImplementedError

    def torch_optimizer(self, torch: Any, params: list[Any], lr: float, optimizer: Optimizer) -> Any:
        raise NotImplementedError

    def intro(self, optimizer: Optimizer, lr: str, step: int) -> Message:
        """The update section's introduction."""
        raise NotImplementedError

    def page_intro(self, optimizer: Optimizer, lr: str, step: int, options: Any) -> Message:
        """The introduction for a page with these ``Options`` (a rule written another way on request
        says so: momentum's textbook form)."""
        return self.intro(optimizer, lr, step)

    def summary(self, optimizer: Optimizer, lr: str) -> Message:
        """The training report's line."""
        raise NotImplementedError


def decayed_array(optimizer: Optimizer, param: Array, grad: Array) -> Array:
    """``decayed`` on arrays, for the training engines: ``grad + λ param`` (``grad`` itself without decay)."""
    return grad + optimizer.weight_decay * param if optimizer.weight_decay else grad


def decayed(page: Page, values: dict[Any, float], steps: list[Step], symbol: Any, gradient: sp.Basic,
            optimizer: Optimizer) -> sp.Basic:
    """The gradient with L2 weight decay added, as torch.optim adds it: g = ∂𝓛/∂θ + λθ(t)."""
    if not optimizer.weight_decay:
        return gradient
    from backprop_cli.notation import Node, State, add, at_time, mul

    decay = Node("lambda")
    values[decay] = optimizer.weight_decay
    current = at_time(symbol)
    values[current] = values[symbol]
    g = State("g", symbol)
    steps.append(page.record(values, g, (add(gradient, mul(decay, current)),)))
    return g


def decay_words(optimizer: Optimizer) -> str:
    """``, λ = …`` (the weight decay) for a sentence, or nothing."""
    return f", λ = {optimizer.weight_decay:g}" if optimizer.weight_decay else ""
