"""The update lines of a derivation for SGD, SGD with momentum and Adam (torch.optim's rules).

``backprop step`` works one step from a fresh optimizer (velocity and moments at zero, t = 1);
``backprop train --show-steps`` passes the state the optimizer has at that epoch. The lines are
the rules of ``torch.optim.SGD`` (``v ← μv + g``, ``θ ← θ − αv``; dampening 0, no Nesterov) and
``torch.optim.Adam`` (``m ← β₁m + (1 − β₁)g``, ``v ← β₂v + (1 − β₂)g²``, ``θ ← θ − α m̂/(√v̂ + ε)``
with ``m̂ = m/(1 − β₁ᵗ)``, ``v̂ = v/(1 − β₂ᵗ)``; no weight decay, no amsgrad).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sympy as sp

from backprop_cli.derivation import Group, Step
from backprop_cli.locales import say
from backprop_cli.model import OptimizerSlots
from backprop_cli.notation import ALPHA, LOSS, Node, Partial, State, add, at_time, mul, neg, power, updated

if TYPE_CHECKING:
    from backprop_cli.build import _ScalarBuilder

Values = dict[sp.Basic, float]
WeightSymbols = Sequence[Sequence[Sequence[Node]]]
BiasSymbols = Sequence[Sequence[Node] | None]

SLOTS: dict[str, dict[str, tuple[str, str]]] = {
    "sgd": {},
    "momentum": {"v": ("t", "t+1")},
    "adam": {"m": ("t-1", "t"), "v": ("t-1", "t")},
}
"""Per optimizer, its slots and the times their State symbols carry before and after a step."""

STEP = Node("t")
"""Adam's step number t (1 at the first update)."""


@dataclass(frozen=True)
class OptimizerState:
    """Per-parameter state before a step: ``{"v": {W₁: 0.0, …}}``, and the step number t."""

    step: int = 1
    slots: Mapping[str, Mapping[sp.Basic, float]] = field(default_factory=dict)

    def get(self, kind: str, parameter: sp.Basic) -> float:
        return self.slots.get(kind, {}).get(parameter, 0.0)


def _positions(weights: WeightSymbols, biases: BiasSymbols) -> list[tuple[Node, int, int, int | None]]:
    """(symbol, layer, row, column) of every parameter; a bias has no column."""
    out: list[tuple[Node, int, int, int | None]] = []
    for layer, rows in enumerate(weights):
        out += [(symbol, layer, j, k) for j, row in enumerate(rows) for k, symbol in enumerate(row)]
        bias = biases[layer]
        if bias is not None:
            out += [(symbol, layer, j, None) for j, symbol in enumerate(bias)]
    return out


def state_by_symbol(slots: OptimizerSlots | None, weights: WeightSymbols, biases: BiasSymbols) -> OptimizerState:
    """The state of ``slots`` (arrays per layer) keyed by the derivation's parameter symbols."""
    if slots is None:
        return OptimizerState()
    by_symbol: dict[str, dict[sp.Basic, float]] = {}
    for kind, layers in slots.slots.items():
        table = by_symbol.setdefault(kind, {})
        for symbol, layer, j, k in _positions(weights, biases):
            weight, bias = layers[layer]
            if k is not None:
                table[symbol] = weight[j][k]
            elif bias is not None:
                table[symbol] = bias[j]
    return OptimizerState(slots.steps + 1, by_symbol)


def slots_from_symbols(optimizer: str, steps: int, value: Mapping[sp.Basic, float] | None,
                       weights: WeightSymbols, biases: BiasSymbols, time: int = 1) -> OptimizerSlots:
    """Arrays per layer from state values keyed by symbol.

    Args:
        optimizer: sgd, momentum or adam.
        steps: updates done.
        value: the values of the State symbols; None gives zeros.
        weights: the weight symbols per layer (rows of units, columns of inputs).
        biases: the bias symbols per layer, or None.
        time: which of ``SLOTS``' two times to read: 0 before a step, 1 after it.
    """
    slots = {}
    for kind, times in SLOTS[optimizer].items():
        def read(symbol: Node, kind: str = kind, at: str = times[time]) -> float:
            return 0.0 if value is None else value.get(State(kind, symbol, at), 0.0)

        slots[kind] = tuple(
            (tuple(tuple(read(w) for w in row) for row in rows),
             None if bias is None else tuple(read(b) for b in bias))
            for rows, bias in zip(weights, biases, strict=True))
    return OptimizerSlots(steps, slots)


def slots_after(optimizer: str, step: int, values: Mapping[sp.Basic, float],
                weights: WeightSymbols, biases: BiasSymbols) -> OptimizerSlots:
    """The state a derivation's update lines leave: step ``step`` done."""
    return slots_from_symbols(optimizer, step, values, weights, biases, time=1)


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
            before, after = (State("v", symbol, time) for time in SLOTS["momentum"]["v"])
            values[before] = state.get("v", symbol)
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
    beta1, beta2, eps, t = Node("beta", 1), Node("beta", 2), Node("epsilon"), STEP
    values.update({beta1: optimizer.beta1, beta2: optimizer.beta2, eps: optimizer.eps,
                   t: float(state.step)})
    m0, m = (State("m", symbol, time) for time in SLOTS["adam"]["m"])
    v0, v = (State("v", symbol, time) for time in SLOTS["adam"]["v"])
    values[m0], values[v0] = state.get("m", symbol), state.get("v", symbol)
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
