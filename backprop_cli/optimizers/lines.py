"""The update section of a page: each parameter's lines by its optimizer's rule, and the
optimizer's state between steps, by parameter symbol.

``backprop step`` works one step from a fresh optimizer (velocity and moments at zero, t = 1);
``backprop train --show-steps`` passes the state the optimizer has at that epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sympy as sp

from backprop_cli.derivation import Group, Step
from backprop_cli.locales import say
from backprop_cli.notation import LOSS, Node, Partial, State, updated
from backprop_cli.optimizers.base import OptimizerSlots

Values = dict[sp.Basic, float]
WeightSymbols = Sequence[Sequence[Sequence[Node]]]
BiasSymbols = Sequence[Sequence[Node] | None]

class Page(Protocol):
    """What the update lines need of a page (the scalar builder, the matrix page, the kinds' page)."""

    network: Any
    options: Any

    def record(self, values: Any, target: sp.Basic, forms: tuple[sp.Basic, ...], **options: Any) -> Any: ...

    def parameters(self) -> list[tuple[int, Node, bool]]: ...


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


def slots_from_symbols(optimizer: Any, steps: int, value: Mapping[sp.Basic, float] | None,
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
    for kind, times in optimizer.rule.slots(optimizer).items():
        def read(symbol: Node, kind: str = kind, at: str = times[time]) -> float:
            return 0.0 if value is None else value.get(State(kind, symbol, at), 0.0)

        slots[kind] = tuple(
            (tuple(tuple(read(w) for w in row) for row in rows),
             None if bias is None else tuple(read(b) for b in bias))
            for rows, bias in zip(weights, biases, strict=True))
    return OptimizerSlots(steps, slots)


def slots_after(optimizer: Any, step: int, values: Mapping[sp.Basic, float],
                weights: WeightSymbols, biases: BiasSymbols) -> OptimizerSlots:
    """The state a derivation's update lines leave: step ``step`` done."""
    return slots_from_symbols(optimizer, step, values, weights, biases, time=1)


def update_steps(builder: Page, values: Values, state: OptimizerState | None = None) -> list[Group]:
    """One group of update lines per layer, each parameter's by the optimizer's rule: the output layer
    first, in the reverse order of the layers, as the seed page updates them (계층의 역순으로)."""
    state = state or OptimizerState()
    optimizer = builder.network.optimizer
    rule = optimizer.rule
    groups: list[Group] = []
    by_layer: dict[int, list[Step]] = {}
    for layer, symbol, frozen in builder.parameters():
        steps = by_layer.setdefault(layer, [])
        if frozen:
            steps.append(builder.record(values, updated(symbol), (symbol,), substitute=False,
                                        note=say("note.frozen")))
            continue
        expr = rule.lines(builder, values, steps, symbol, Partial(LOSS, symbol), state, optimizer)
        steps.append(builder.record(values, updated(symbol), (expr,)))
    for layer, steps in reversed(by_layer.items()):
        why = (say("intro.update.order"),) if not groups and len(by_layer) > 1 and not builder.options.brief else ()
        groups.append(Group(say("group.update_layer", layer=layer + 1), tuple(steps), why=why))
    return groups
