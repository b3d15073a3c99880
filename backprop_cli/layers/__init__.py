"""The layer kinds, one module each, registered here by their spec name (DESIGN.md, "Layer kinds").

Adding a kind is its module, one line in ``KINDS``, its sentences in the locales, and its tests.
Builders, engines, ``verify`` and the files ask the kind (see ``base.Kind``); none tests a name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from backprop_cli.errors import SpecError
from backprop_cli.layers.base import Kind, Path, SpecContext, shown

KINDS: dict[str, str] = {
    "dense": "backprop_cli.layers.dense:Layer",
    "activation": "backprop_cli.layers.activation:Activation",
    "dropout": "backprop_cli.layers.dropout:Dropout",
    "batch_norm": "backprop_cli.layers.batch_norm:BatchNorm",
    "layer_norm": "backprop_cli.layers.layer_norm:LayerNorm",
    "residual": "backprop_cli.layers.residual:Residual",
    "conv1d": "backprop_cli.layers.conv:Conv1d",
    "conv2d": "backprop_cli.layers.conv:Conv2d",
    "max_pool1d": "backprop_cli.layers.pool:MaxPool1d",
    "max_pool2d": "backprop_cli.layers.pool:MaxPool2d",
    "avg_pool1d": "backprop_cli.layers.pool:AvgPool1d",
    "avg_pool2d": "backprop_cli.layers.pool:AvgPool2d",
    "flatten": "backprop_cli.layers.pool:Flatten",
    "rnn": "backprop_cli.layers.recurrent:RNN",
    "lstm": "backprop_cli.layers.recurrent:LSTM",
    "gru": "backprop_cli.layers.recurrent:GRU",
    "attention": "backprop_cli.layers.attention:Attention",
    "embedding": "backprop_cli.layers.embedding:Embedding",
    "positional": "backprop_cli.layers.positional:Positional",
}
"""Spec name → ``module:class``; a kind's module is imported only when a spec names it."""


def kind_class(name: str, where: str = "kind") -> type[Kind]:
    """The class of the kind called ``name``."""
    if name not in KINDS:
        from difflib import get_close_matches

        close = get_close_matches(name, KINDS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise SpecError(f"{where}: unknown layer kind {shown(name)}; {hint}choose one of {', '.join(KINDS)}")
    module, _, cls = KINDS[name].partition(":")
    kind: type[Kind] = getattr(importlib.import_module(module), cls)
    return kind


def parse_layers(documents: Sequence[Any], where: str, in_features: int | None,
                 context: SpecContext) -> list[Kind]:
    """The layers of ``[[layers]]`` tables, input side first, each checked against the one before
    (its width, and the shape of a sample where the input has one: ``context.in_shape``)."""
    layers: list[Kind] = []
    width = in_features
    shape = context.in_shape
    steps = context.steps
    """The time steps of a sequence output ((T, H), ``output = "all"``): a dense layer then works each step."""
    for index, document in enumerate(documents):
        key = f"{where}[{index}]"
        if not isinstance(document, dict):
            raise SpecError(f"{key}: expected a table with kind and its keys (or weight/bias, or units)")
        name = document.get("kind", "dense")
        if not isinstance(name, str):
            raise SpecError(f"{key}.kind: expected a name such as \"dense\", got {shown(name)}")
        cls = kind_class(name, f"{key}.kind")
        if shape is not None and len(shape) == 2 and steps is not None and name == "dense":
            from backprop_cli.layers.recurrent import per_step

            stepped = per_step(cls.from_spec(document, key, replace(context, in_features=shape[1], in_shape=None,
                                                                    seed=context.seed + index)), steps, key)
            width = stepped.out_features(width or 0)
            shape = stepped.out_shape(shape)
            layers.append(stepped)
            continue
        tokens = shape is not None and len(shape) == 2 and cls.tokenwise
        if shape is not None and len(shape) > 1 and cls.shapes == "flat" and not tokens:
            raise SpecError(f"{key}: {name} takes one vector per sample, but the layer before gives"
                            f" {shape_text(shape)}; put a [[layers]] table with kind = \"flatten\" before it")
        inner = (shape, steps or shape[0]) if tokens and shape is not None else (None, None)
        local = replace(context, in_features=width, in_shape=shape, seed=context.seed + index, steps=inner[1],
                        parse=lambda docs, w, f, c=context, s=inner: parse_layers(docs, w, f, replace(
                            c, in_shape=s[0], steps=s[1])))
        layer = cls.from_spec(document, key, local)
        if width is not None:
            layer.check(key, width)
            width = layer.out_features(width)
        else:
            fixed = layer.in_features()
            if fixed is not None:
                width = layer.out_features(fixed)
        if shape is not None:
            shape = layer.out_shape(shape)
        elif layer.input_shape() is not None:
            shape = layer.out_shape(layer.input_shape() or ())
        steps = layer.time_steps(steps)
        layers.append(layer)
    return layers


def shape_text(shape: Sequence[int]) -> str:
    """A sample's shape in words: ``2×4×4 feature maps``, ``5 values``."""
    if len(shape) == 1:
        return f"{shape[0]} value{'s' if shape[0] != 1 else ''}"
    return "×".join(map(str, shape)) + " feature maps"


def shapes_of(layers: Sequence[Kind], in_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """The shape of a sample after each layer, from ``in_shape`` at the input."""
    out = []
    for layer in layers:
        in_shape = layer.out_shape(in_shape)
        out.append(in_shape)
    return out


def layer_spec(layer: Kind) -> dict[str, Any]:
    """The spec table of one layer (``kind`` left out for dense, the default)."""
    return layer.to_spec()


def walk(layers: Sequence[Kind], prefix: Path = ()) -> Iterator[tuple[Path, Kind]]:
    """Every layer with its path, in the order the forward pass computes them (a block's layers
    before the block's sum)."""
    for index, layer in enumerate(layers):
        path = (*prefix, index)
        yield from walk(layer.children(), path)
        yield path, layer


def leaves(layers: Sequence[Kind]) -> list[tuple[Path, Kind]]:
    """The layers that hold no others, in forward order: where parameters live."""
    return [(path, layer) for path, layer in walk(layers) if not layer.children()]


def at(layers: Sequence[Kind], path: Path) -> Kind:
    """The layer at ``path``."""
    layer = layers[path[0]]
    for index in path[1:]:
        layer = layer.children()[index]
    return layer


def replace_at(layers: Sequence[Kind], path: Path, new: Kind) -> tuple[Kind, ...]:
    """``layers`` with the layer at ``path`` replaced."""
    out = list(layers)
    if len(path) == 1:
        out[path[0]] = new
    else:
        parent = out[path[0]]
        out[path[0]] = replace(parent, layers=replace_at(parent.children(), path[1:], new))  # type: ignore[type-var]
    return tuple(out)


def with_values(layers: Sequence[Kind], values: Mapping[tuple[Path, str], Any]) -> tuple[Kind, ...]:
    """``layers`` with the parameters and buffers of ``values`` (keyed by path and name) replaced."""
    by_path: dict[Path, dict[str, Any]] = {}
    for (path, name), value in values.items():
        by_path.setdefault(path, {})[name] = value
    out = tuple(layers)
    for path, changes in sorted(by_path.items(), key=lambda item: -len(item[0])):
        out = replace_at(out, path, at(out, path).with_parameters(changes))
    return out


def numbered(layers: Sequence[Kind]) -> list[tuple[int, Path, Kind]]:
    """Every layer with the number the page gives it (forward order, from 1) and its path."""
    return [(number, path, layer) for number, (path, layer) in enumerate(walk(layers), start=1)]


def layer_state(layer: Kind) -> dict[str, Any]:
    """A layer's parameters and buffers as ``train --format json`` reports them (nested lists)."""
    out: dict[str, Any] = {"kind": layer.kind}
    for name, value in layer.state().items():
        out[name] = _lists(value)
    if layer.children():
        out["layers"] = [layer_state(child) for child in layer.children()]
    return out


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, (tuple, list)) else value
