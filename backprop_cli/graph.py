"""The computation graph of a worked step: every input, weight, bias, weighted sum, activation and
the loss, with its value and the gradient of the loss with respect to it.

Built from a :class:`~backprop_cli.derivation.Derivation` (its layers' numbers and the values its
lines computed); the printers in ``render/graph.py`` draw it as Mermaid, DOT or a terminal tree.
Symbols follow the page: weights and biases numbered through the network row by row (W₁…W₆,
b₁…b₃ for the seed), units numbered through the network (z₁…z₃), the output written ŷ.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from backprop_cli.derivation import Derivation, LayerResult
from backprop_cli.layers.base import Kind
from backprop_cli.names import ROW_WISE
from backprop_cli.notation import LOSS, Node, Partial

PARAMETER_NODES = 64
"""Networks with more parameters than this are drawn without a node per weight and bias."""


@dataclass(frozen=True)
class GraphNode:
    """A quantity of the step.

    Args:
        key: a short ASCII identifier (``x1``, ``W5``, ``z3``, ``a3``, ``loss``).
        symbol: the symbol the page writes it with.
        kind: ``input``, ``target``, ``weight``, ``bias``, ``sum``, ``activation`` or ``loss``.
        values: its value, one per sample for inputs, targets and units.
        gradient: ∂𝓛 with respect to it, where the derivation computed one.
        layer: the layer it belongs to (1 for the first), 0 for inputs and targets.
    """

    key: str
    symbol: sp.Basic
    kind: str
    values: tuple[float, ...]
    gradient: float | None = None
    layer: int = 0
    label: str | None = None
    """What to print instead of the values (a layer's matrix: its kind and shape)."""


@dataclass(frozen=True)
class Graph:
    """Nodes in order from the inputs to the loss, and edges from each input to what it feeds."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[tuple[str, str], ...]
    samples: int = 1

    def node(self, key: str) -> GraphNode:
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(key)

    def inputs(self, key: str) -> Iterator[GraphNode]:
        """The nodes with an edge into ``key``, in order."""
        for source, target in self.edges:
            if target == key:
                yield self.node(source)


def _activation_glyph(name: str) -> str:
    from backprop_cli import functions

    return functions.activation(name).glyph


def build_graph(derivation: Derivation, parameters: bool | None = None) -> Graph:
    """The computation graph of ``derivation``.

    Args:
        derivation: a worked step.
        parameters: whether weights and biases are nodes of their own; by default, when the network
            has at most ``PARAMETER_NODES`` of them.
    """
    network = derivation.network
    if not network.scalar_form:
        return _layer_graph(derivation)
    if parameters is None:
        parameters = network.parameter_count <= PARAMETER_NODES
    samples = len(derivation.xs)
    single = samples == 1

    def gradient(symbol: sp.Basic) -> float | None:
        return derivation.values.get(Partial(LOSS, symbol)) if single else None

    nodes: list[GraphNode] = []
    edges: list[tuple[str, str]] = []
    previous = []
    for k in range(network.inputs):
        symbol = Node("x", k + 1 if network.inputs > 1 else None)
        nodes.append(GraphNode(f"x{k + 1}", symbol, "input", tuple(x[k] for x in derivation.xs)))
        previous.append(f"x{k + 1}")
    w = b = u = 0
    last = len(network.layers) - 1
    results = [r for r in derivation.layers if isinstance(r, LayerResult)]
    for index, (layer, numbers) in enumerate(zip(network.dense_layers, results, strict=True)):
        glyph = _activation_glyph(layer.activation)
        current = []
        for j in range(layer.units):
            u += 1
            z_key = f"z{u}"
            for k in range(layer.inputs):
                w += 1
                if parameters:
                    symbol = Node("W", w)
                    nodes.append(GraphNode(f"W{w}", symbol, "weight", (layer.weight[j][k],),
                                           numbers.grad_weight[j][k], index + 1))
                    edges.append((f"W{w}", z_key))
                edges.append((previous[k], z_key))
            if layer.bias is not None:
                b += 1
                if parameters:
                    assert numbers.grad_bias is not None
                    nodes.append(GraphNode(f"b{b}", Node("b", b), "bias", (layer.bias[j],),
                                           numbers.grad_bias[j], index + 1))
                    edges.append((f"b{b}", z_key))
            z = Node("z", u)
            nodes.append(GraphNode(z_key, z, "sum", tuple(row[j] for row in numbers.z), gradient(z), index + 1))
            if index == last:
                a: Node = Node("yhat", j + 1 if network.outputs > 1 else None)
            else:
                a = Node(glyph, u)
            nodes.append(GraphNode(f"a{u}", a, "activation", tuple(row[j] for row in numbers.a), gradient(a),
                                   index + 1))
            # softmax: every output depends on every weighted sum of its layer.
            sources = [f"z{u - j + i}" for i in range(layer.units)] if layer.activation in ROW_WISE else [z_key]
            current.append((f"a{u}", sources))
        for a_key, sources in current:
            edges.extend((source, a_key) for source in sources)
        previous = [a_key for a_key, _ in current]
    for k in range(network.outputs):
        symbol = Node("y", k + 1 if network.outputs > 1 else None)
        nodes.append(GraphNode(f"y{k + 1}", symbol, "target", tuple(y[k] for y in derivation.ys)))
    nodes.append(GraphNode("loss", LOSS, "loss", (derivation.loss,)))
    edges.extend((key, "loss") for key in previous)
    edges.extend((f"y{k + 1}", "loss") for k in range(network.outputs))
    return Graph(tuple(nodes), tuple(edges), samples)


def _layer_graph(derivation: Derivation) -> Graph:
    """A graph of layers for the matrix form of kinds beyond dense: one node per layer's output
    matrix (its kind and shape), its parameters, and the skip connection of a residual."""
    from backprop_cli.layers import numbered
    from backprop_cli.layers.base import parameter_symbols

    network = derivation.network
    samples = len(derivation.xs)
    numbers = {path: number for number, path, _ in numbered(network.layers)}
    widths: dict[int, int] = {}
    nodes = [GraphNode("X", Node("X"), "input", (), label=f"X: {samples}×{network.inputs}")]
    edges: list[tuple[str, str]] = []

    def stack(layers: Sequence[Kind], prefix: tuple[int, ...], source: str, width: int) -> tuple[str, int]:
        for index, layer in enumerate(layers):
            path = (*prefix, index)
            number = numbers[path]
            key = f"L{number}"
            out_width = layer.out_features(width)
            if layer.children():
                inner, _ = stack(layer.children(), path, source, width)
                edges.append((inner, key))
            for name, symbol in parameter_symbols(layer, number):
                value = layer.parameters()[name]
                shape = "×".join(map(str, _shape(value))) if isinstance(value[0], tuple) else f"1×{len(value)}"
                nodes.append(GraphNode(f"P{number}{name}", symbol, "weight" if name == "weight" else "bias",
                                       (), layer=number, label=f"{to_text(symbol)}: {shape}"))
                edges.append((f"P{number}{name}", key))
            summary = layer.summary
            nodes.append(GraphNode(key, Node("A", layer=number), "activation", (), layer=number,
                                   label=f"{to_text(Node('A', layer=number))} = {summary}: {samples}×{out_width}"))
            edges.append((source, key))
            widths[number] = out_width
            source, width = key, out_width
        return source, width

    last, width = stack(network.layers, (), "X", network.inputs)
    nodes.append(GraphNode("Y", Node("Y"), "target", (), label=f"Y: {samples}×{width}"))
    nodes.append(GraphNode("loss", LOSS, "loss", (derivation.loss,)))
    edges += [(last, "loss"), ("Y", "loss")]
    return Graph(tuple(nodes), tuple(edges), samples)


def to_text(symbol: sp.Basic) -> str:
    from backprop_cli.printing import to_text as printed

    return printed(symbol)


def _shape(value: Any) -> tuple[int, ...]:
    """The shape of nested tuples (a kernel's: out × in × height × width)."""
    return (len(value), *_shape(value[0])) if isinstance(value, tuple) else ()
