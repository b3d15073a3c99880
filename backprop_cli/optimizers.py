"""The update lines of a derivation for SGD, SGD with momentum and Adam (torch.optim's rules).

``backprop step`` works one step from a fresh optimizer (velocity and moments at zero, t = 1);
``train --show-steps`` passes the state the optimizer has at that epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy as sp

from backprop_cli.derivation import Group, Step
from backprop_cli.locales import say
from backprop_cli.notation import ALPHA, LOSS, Node, Partial, State, add, at_time, mul, neg, power, updated

if TYPE_CHECKING:
    from backprop_cli.derive import _ScalarBuilder

Values = dict[sp.Basic, float]


@dataclass(frozen=True)
class OptimizerState:
    """Per-parameter state before a step: ``{"v": {W₁: 0.0, …}}``, and the step number t."""

    step: int = 1
    slots: Mapping[str, Mapping[sp.Basic, float]] = field(default_factory=dict)

    def get(self, kind: str, parameter: sp.Basic) -> float:
        return self.slots.get(kind, {}).get(parameter, 0.0)


def update_steps(builder: _ScalarBuilder, values: Values,
                 state: OptimizerState | None = None) -> list[Group]:
    """One group of update lines per layer, for the builder's optimizer."""
    state = state or OptimizerState()
    optimizer = builder.network.optimizer
    groups: list[Group] = []
    by_layer: dict[int, list[Step]] = {}
    for layer, symbol, frozen in builder.parameters():
        steps = by_layer.setdefault(layer, [])
        if frozen:
            steps.append(builder.record(values, updated(symbol), (symbol,), substitute=False,
                                        note=say("note.frozen")))
            continue
        gradient = Partial(LOSS, symbol)
        if optimizer.name == "momentum":
            mu = Node("mu")
            values[mu] = optimizer.momentum
            before = State("v", symbol, "t")
            values[before] = state.get("v", symbol)
            after = State("v", symbol, "t+1")
            steps.append(builder.record(values, after, (add(mul(mu, before), gradient),)))
            direction: sp.Basic = after
        elif optimizer.name == "adam":
            direction = _adam(builder, values, steps, symbol, gradient, state)
        else:
            direction = gradient
        current = at_time(symbol)
        values[current] = values[symbol]
        rule = add(current, mul(-1, ALPHA, direction))
        steps.append(builder.record(values, updated(symbol), (rule,)))
    for layer, steps in by_layer.items():
        groups.append(Group(say("group.update_layer", layer=layer + 1), tuple(steps)))
    return groups


def _adam(builder: _ScalarBuilder, values: Values, steps: list[Step], symbol: Node,
          gradient: Partial, state: OptimizerState) -> sp.Basic:
    optimizer = builder.network.optimizer
    beta1, beta2, eps, t = Node("beta", 1), Node("beta", 2), Node("epsilon"), Node("t")
    values.update({beta1: optimizer.beta1, beta2: optimizer.beta2, eps: optimizer.eps,
                   t: float(state.step)})
    m0, v0 = State("m", symbol, "t-1"), State("v", symbol, "t-1")
    values[m0], values[v0] = state.get("m", symbol), state.get("v", symbol)
    m, v = State("m", symbol, "t"), State("v", symbol, "t")
    mhat, vhat = State("mhat", symbol), State("vhat", symbol)
    def one_minus(term: sp.Basic) -> sp.Basic:
        return add(sp.S.One, neg(term))

    first = add(mul(beta1, m0), mul(one_minus(beta1), gradient))
    second = add(mul(beta2, v0), mul(one_minus(beta2), power(gradient, 2)))
    steps.append(builder.record(values, m, (first,)))
    steps.append(builder.record(values, v, (second,)))
    steps.append(builder.record(values, mhat, (mul(m, power(one_minus(power(beta1, t)), -1)),)))
    steps.append(builder.record(values, vhat, (mul(v, power(one_minus(power(beta2, t)), -1)),)))
    return mul(mhat, power(add(power(vhat, sp.S.Half), eps), -1))
