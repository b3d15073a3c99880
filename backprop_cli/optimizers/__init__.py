"""The optimizers, one module each, registered here by name (torch.optim's rules).

Adding an optimizer is its module (a ``base.Rule``), one line in ``RULES``, its sentences in the
locales (``intro.update.<name>``, ``train.optimizer.<name>``), and its tests.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

from backprop_cli.errors import SpecError

if TYPE_CHECKING:
    from backprop_cli.optimizers.base import Rule

RULES: dict[str, str] = {
    "sgd": "backprop_cli.optimizers.sgd:SGD",
    "momentum": "backprop_cli.optimizers.momentum:Momentum",
    "adam": "backprop_cli.optimizers.adam:Adam",
    "adamw": "backprop_cli.optimizers.adamw:AdamW",
    "rmsprop": "backprop_cli.optimizers.rmsprop:RMSprop",
}
"""Name → ``module:class``; a rule's module is imported when it is asked for."""

OPTIMIZERS = tuple(RULES)


@cache
def rule(name: str) -> Rule:
    """The update rule of the optimizer called ``name``."""
    if name not in RULES:
        raise SpecError(f"optimizer: unknown optimizer {name!r}; choose one of {', '.join(RULES)}")
    module, _, cls = RULES[name].partition(":")
    found: Rule = getattr(importlib.import_module(module), cls)()
    return found
