"""Every matrix printed beside a line is the value of the symbol it is labelled with.

The reference is independent of the builder's own table: inputs and targets are the samples, a
parameter (W⁽ˡ⁾, W⁽ˡ⁾(t)) is the network's, an optimizer state before the step (v[W](t),
m[W](t-1)) is the state handed in (zeros for a fresh optimizer), and anything else is the value of
the line above that defines it.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli.build import build_derivation
from backprop_cli.derivation import MatrixStep, Options
from backprop_cli.model import SEED, SEED_X, SEED_Y, Optimizer, OptimizerSlots
from backprop_cli.notation import Node, State
from backprop_cli.printing import to_text
from backprop_cli.render.terminal import render
from tests.strategies import networks

SLOT_NAMES = {"sgd": (), "momentum": ("v",), "adam": ("m", "v")}


def _slots(network, optimizer: str, seed: int) -> OptimizerSlots | None:
    if seed < 0 or optimizer == "sgd":
        return None
    rng = np.random.default_rng(seed)
    slots = {}
    for name in SLOT_NAMES[optimizer]:
        layers = []
        for layer in network.layers:
            weight = rng.uniform(0.0 if name == "v" and optimizer == "adam" else -1.0, 1.0,
                                 (layer.units, layer.inputs))
            bias = None if layer.bias is None else tuple(rng.uniform(0.0, 1.0, layer.units).tolist())
            layers.append((tuple(map(tuple, weight.tolist())), bias))
        slots[name] = tuple(layers)
    return OptimizerSlots(3, slots)


def _parameter(network, symbol: Node) -> np.ndarray | None:
    glyph = symbol.glyph
    if glyph.base not in ("W", "b") or glyph.layer is None or glyph.suffix not in ("", "(t)"):
        return None
    layer = network.layers[int(glyph.layer) - 1]
    return np.array(layer.weight if glyph.base == "W" else [layer.bias], dtype=float)


def _state(network, slots: OptimizerSlots | None, symbol: State) -> np.ndarray | None:
    if symbol.time not in ("t", "t-1"):
        return None
    glyph = symbol.parameter.glyph
    layer = int(glyph.layer) - 1
    shape = (network.layers[layer].units, network.layers[layer].inputs) if glyph.base == "W" \
        else (1, network.layers[layer].units)
    if slots is None:
        return np.zeros(shape)
    weight, bias = slots.slots[symbol.kind.glyph.base][layer]
    return np.array(weight if glyph.base == "W" else [bias], dtype=float)


def _leaves(expr) -> set:
    """The subexpressions a line is written with; v[W](t) is one, the W inside its name is not."""
    if isinstance(expr, (State, Node)):
        return {expr}
    return {expr}.union(*(_leaves(arg) for arg in expr.args))


def check_operands(network, xs, ys, slots: OptimizerSlots | None = None) -> int:
    """Assert every operand of every matrix line; the number of operands checked."""
    derivation = build_derivation(network, xs, ys, Options(form="matrix"), slots)
    defined: dict[object, np.ndarray] = {}
    checked = 0
    for section in derivation.sections:
        for group in section.groups:
            for step in group.steps:
                assert isinstance(step, MatrixStep)
                if step.numbers is not None:
                    leaves = _leaves(step.numbers)
                    labels = {symbol for symbol, _ in step.operands}
                    assert labels <= leaves, f"{to_text(step.target)}: operands {labels - leaves} not in the line"
                    states = {leaf for leaf in leaves if isinstance(leaf, State)}
                    assert states <= labels, f"{to_text(step.target)}: {states - labels} not printed"
                for symbol, matrix in step.operands:
                    got = np.array(matrix.rows, dtype=float)
                    if symbol in (Node("X"), Node("A", layer=0)):
                        expected = np.array(xs, dtype=float)
                    elif symbol == Node("Y"):
                        expected = np.array(ys, dtype=float)
                    elif isinstance(symbol, State) and symbol not in defined:
                        expected = _state(network, slots, symbol)
                    elif isinstance(symbol, Node) and _parameter(network, symbol) is not None:
                        expected = _parameter(network, symbol)
                    else:
                        expected = defined.get(symbol)
                    assert expected is not None, f"{to_text(symbol)} is printed before any line defines it"
                    assert got.shape == np.atleast_2d(expected).shape, to_text(symbol)
                    np.testing.assert_allclose(got, np.atleast_2d(expected), rtol=1e-12, atol=1e-12,
                                               err_msg=f"operand labelled {to_text(symbol)}")
                    checked += 1
                value = np.array(step.value.rows, dtype=float)
                for name in (step.target, *step.lead):
                    defined[name] = value
    return checked


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=30)
@given(networks(max_depth=3, max_width=4, max_samples=3), st.sampled_from(["sgd", "momentum", "adam"]),
       st.one_of(st.just(-1), st.integers(0, 2**16)))
def test_every_operand_is_the_value_of_its_label(case, optimizer, seed):
    network, xs, ys = case
    network = dataclasses.replace(network, optimizer=Optimizer(optimizer))
    assert check_operands(network, xs, ys, _slots(network, optimizer, seed)) > 0


def test_momentum_velocity_before_the_first_step_is_zero_in_every_format():
    """The seed with momentum: v[W⁽¹⁾](t) is printed as zeros, never as W⁽¹⁾'s weights."""
    network = dataclasses.replace(SEED, optimizer=Optimizer("momentum"))
    check_operands(network, SEED_X, SEED_Y)
    derivation = build_derivation(network, SEED_X, SEED_Y, Options(form="matrix"))
    velocity = [operand for section in derivation.sections for group in section.groups
                for step in group.steps for operand in step.operands
                if isinstance(operand[0], State) and operand[0].time == "t"]
    assert velocity and all(not any(any(row) for row in m.rows) for _, m in velocity)
    assert {to_text(symbol) for symbol, _ in velocity} == {"v[W⁽¹⁾](t)", "v[b⁽¹⁾](t)", "v[W⁽²⁾](t)",
                                                          "v[b⁽²⁾](t)"}
    text = render(derivation, width=120)
    header = re.search(r"v\[W⁽¹⁾\]\(t\)\s+2×2.*\n\s*(.*)\n\s*(.*)\n", text)
    assert header is not None, text
    assert re.match(r"0\s+0\s", header.group(1).strip("│ ")), header.group(1)
