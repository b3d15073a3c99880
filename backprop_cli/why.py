"""The "why" lines of the scalar page: what a textbook says beside the numbers, and ``--brief`` leaves out.

- the chain rule in its general form, δⱼ = f′(zⱼ) Σₖ Wₖⱼ δₖ, before the first hidden layer's numbers;
- why δ is ŷ − y for a sigmoid output with bce, and for softmax with cross-entropy, in two lines;
- a unit whose δ is 0 (a dead ReLU: its weights do not move this step);
- |δ| shrinking layer after layer on the way back (the vanishing gradient).

Each is a sentence (``locales``) put on a group of the page, before its lines (``Group.why``) or
after them (``Group.remarks``); no number of the page changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sympy as sp

from backprop_cli import functions
from backprop_cli.derivation import Group
from backprop_cli.locales import Message, say
from backprop_cli.notation import Node, Partial
from backprop_cli.printing import format_number, to_text

if TYPE_CHECKING:
    from backprop_cli.build import _ScalarBuilder
    from backprop_cli.build_matrix import MatrixPage

SHRINK = 0.5
"""|δ| "shrinks" when each layer's mean |δ| is at most this fraction of the layer's after it."""


def annotate_backward(builder: _ScalarBuilder, groups: Sequence[Group], values: dict[sp.Basic, Any]
                      ) -> list[Group]:
    """The backward pass's groups (each sample's layers, output first) with their why lines."""
    layers = len(builder.layers)
    out = list(groups)
    # Each sample's groups are its layers from the output back.
    per_sample = [out[i:i + layers] for i in range(0, len(out), layers)]
    if any(len(block) != layers for block in per_sample):
        return out
    for n, block in enumerate(per_sample):
        for offset, group in enumerate(block):
            index = layers - 1 - offset
            why: list[Message] = []
            remarks: list[Message] = []
            if index == layers - 1:
                remarks += _output_delta(builder)
            elif index == layers - 2 and n == 0:
                why.append(say("why.chain_rule"))
            if builder.samples == 1:
                remarks += _zero_deltas(builder, index, n, values)
            if offset == layers - 1 and builder.samples == 1:
                remarks += _shrinking(builder, n, values)
            if why or remarks:
                block[offset] = replace(group, why=group.why + tuple(why), remarks=group.remarks + tuple(remarks))
    return [group for block in per_sample for group in block]


def _output_delta(builder: _ScalarBuilder) -> list[Message]:
    """Why the output's δ is ŷ − y: the softmax with cross-entropy, or a sigmoid with bce."""
    last = len(builder.layers) - 1
    activation = builder.activations[last]
    if builder.fused:
        return [say("why.softmax_ce")]
    if builder.loss.simplifies_with != activation.name or not isinstance(activation, functions.Activation):
        return []
    derivative = builder.loss.derivative(builder.sample_divisor)
    slope = activation.local_derivative(functions.X, functions.YHAT)
    result = sp.factor(sp.cancel(derivative * slope))
    return [say("why.sigmoid_bce", derivative=_text(derivative), slope=_text(slope), result=_text(result))]


def _zero_deltas(builder: _ScalarBuilder, index: int, n: int, values: dict[sp.Basic, Any]) -> list[Message]:
    """A remark for each unit of layer ``index`` whose δ is 0: its parameters do not move."""
    out = []
    layer = builder.layers[index]
    for j in range(layer.units):
        delta = builder.delta(index, j, n)
        if values[delta] != 0:
            continue
        z, a = builder.z(index, j, n), builder.a(index, j, n)
        parameters = list(builder.weights[index][j])
        bias = builder.biases[index]
        if bias is not None:
            parameters.append(bias[j])
        names = ", ".join(to_text(p) for p in parameters)
        if values.get(Partial(a, z)) == 0:
            out.append(say("why.dead_unit", delta=to_text(delta), z=to_text(z),
                           value=format_number(values[z], builder.options.precision), parameters=names))
        else:
            out.append(say("why.no_error", delta=to_text(delta), parameters=names))
    return out


def _shrinking(builder: _ScalarBuilder, n: int, values: dict[sp.Basic, Any]) -> list[Message]:
    """A remark when the mean |δ| of each layer, from the output back, shrinks layer after layer."""
    means = []
    for index in range(len(builder.layers) - 1, -1, -1):
        units = builder.layers[index].units
        means.append(sum(abs(values[builder.delta(index, j, n)]) for j in range(units)) / units)
    # A layer whose every δ is 0 has its own remark (dead units), not this one.
    if len(means) < 2 or min(means) == 0 or not all(
            after <= SHRINK * before for before, after in zip(means, means[1:], strict=False)):
        return []
    sizes = " → ".join(format_number(m, builder.options.precision) for m in means)
    return [say("why.vanishing", sizes=sizes)]


def annotate_matrix(page: MatrixPage, groups: Sequence[Group], values: dict[sp.Basic, Any]) -> list[Group]:
    """The matrix form's backward groups with the remarks that hold for the whole batch: units of a
    dense layer whose δ is 0 for every sample (their weights do not move), and mean |δ| shrinking
    layer after layer."""
    import numpy as np

    from backprop_cli.layers.dense import Layer

    out = list(groups)
    means: list[tuple[int, float]] = []
    for index, layer in enumerate(page.network.layers):
        if not isinstance(layer, Layer):
            continue
        number = page.number((index,))
        delta = values.get(page.delta(number))
        if not isinstance(delta, np.ndarray):
            continue
        means.append((number, float(np.abs(delta).mean())))
        dead = [j for j in range(delta.shape[1]) if not np.any(delta[:, j])]
        if not dead or len(dead) == delta.shape[1] and number == page.number(page.last):
            continue
        units = ", ".join(str(j + 1) for j in dead)
        remark = say("why.dead_units_batch", delta=to_text(page.delta(number)), units=units,
                     weight=to_text(page.W(number)), samples=page.samples)
        out = _remark(out, number, remark)
    ordered = [mean for _, mean in sorted(means, reverse=True)]
    if len(ordered) >= 2 and min(ordered) > 0 and all(
            after <= SHRINK * before for before, after in zip(ordered, ordered[1:], strict=False)):
        sizes = " → ".join(format_number(m, page.options.precision) for m in ordered)
        out = _remark(out, min(number for number, _ in means), say("why.vanishing", sizes=sizes))
    return out


def _remark(groups: list[Group], number: int, remark: Message) -> list[Group]:
    """``groups`` with ``remark`` after the last group of layer ``number``'s backward lines."""
    for position in range(len(groups) - 1, -1, -1):
        title = groups[position].title
        if title is not None and title.params.get("layer") == number:
            groups[position] = replace(groups[position], remarks=groups[position].remarks + (remark,))
            break
    return groups


def _text(expr: sp.Basic) -> str:
    """A formula in ŷ, y and z, as the page's prose writes it."""
    mapping = {functions.YHAT: Node("yhat"), functions.Y: Node("y"), functions.X: Node("z")}
    return to_text(expr.xreplace(mapping))
