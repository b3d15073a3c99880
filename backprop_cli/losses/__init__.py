"""The losses, one module each, registered here by name; a formula in yhat and y is a loss too.

Adding a loss is its module (a ``base.Loss`` named ``LOSS``, or ``loss(beta)`` where it takes a
setting), one line in ``LOSSES``, its name in the locales where a page names it, and its tests.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import SpecError

if TYPE_CHECKING:
    from backprop_cli.losses.base import Loss

@dataclass(frozen=True)
class Entry:
    """A registered loss: its module, and what the network's checks need before sympy is loaded."""

    module: str
    output: str | None = None
    """The output activation it needs."""
    probabilities: bool = False
    """Its targets are probabilities, in [0, 1]."""
    classes: bool = False
    """Its targets may be class indices, one integer per sample (then one-hot rows), as torch takes them."""
    one_hot: bool = False
    """Its targets must be one-hot rows."""


LOSSES: dict[str, Entry] = {
    "bce": Entry("backprop_cli.losses.bce", probabilities=True),
    "mse": Entry("backprop_cli.losses.mse"),
    "sse": Entry("backprop_cli.losses.sse"),
    "half_sse": Entry("backprop_cli.losses.half_sse"),
    "cross_entropy": Entry("backprop_cli.losses.cross_entropy", output="softmax", probabilities=True, classes=True),
    "nll": Entry("backprop_cli.losses.nll", output="log_softmax", probabilities=True, classes=True, one_hot=True),
    "l1": Entry("backprop_cli.losses.l1"),
    "smooth_l1": Entry("backprop_cli.losses.smooth_l1"),
}
"""Name → where its module is; a module is imported when its loss is asked for."""

NAMES = tuple(LOSSES)


@cache
def loss(name: str, beta: float = 1.0) -> Loss:
    """The loss called ``name`` (smooth_l1 with ``beta``), or a formula in ``yhat`` and ``y``."""
    if name in LOSSES:
        module = importlib.import_module(LOSSES[name].module)
        found: Loss = module.loss(beta) if hasattr(module, "loss") else module.LOSS
        return found
    if is_formula(name):
        from backprop_cli.losses.formula import formula_loss

        return formula_loss(name)
    raise unknown(name)


def is_formula(name: str) -> bool:
    """Whether ``name`` is written as a formula (in yhat and y) rather than a loss's name."""
    return any(letter in name for letter in "()+-*/ ") or "yhat" in name


def unknown(name: str) -> SpecError:
    from difflib import get_close_matches


    close = get_close_matches(name, LOSSES, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return SpecError(f"loss: unknown loss {name!r}; {hint}choose one of {', '.join(LOSSES)}, or a formula in"
                     " yhat and y such as '(yhat - y)**4'")


def of(network: Any) -> Loss:
    """The loss of ``network`` (its name, with its settings)."""
    return loss(network.loss, network.beta)
