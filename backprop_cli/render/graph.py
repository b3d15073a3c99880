"""The computation graph as text: a Mermaid flowchart (GitHub renders it in Markdown) and a DOT
file (Graphviz). Every node shows its value and, where the step computed it, ∂𝓛 with respect to it.
"""

from __future__ import annotations

from pathlib import Path

from backprop_cli.errors import BackpropError
from backprop_cli.graph import Graph, GraphNode
from backprop_cli.notation import LOSS, Partial
from backprop_cli.printing import format_number, to_text

# Fill and border of each kind of node: data blue, parameters amber, units grey, the loss red.
COLOURS = {"input": ("#e8f0fe", "#4a6fa5"), "target": ("#e8f0fe", "#4a6fa5"),
           "weight": ("#fff4d6", "#b08900"), "bias": ("#fff4d6", "#b08900"),
           "sum": ("#f3f3f3", "#777777"), "activation": ("#f3f3f3", "#777777"),
           "loss": ("#fde2e1", "#c0392b")}


def node_lines(node: GraphNode, precision: int = 4) -> list[str]:
    """A node's label: ``z₁ = 0.6478`` (one value a sample) and ``∂𝓛/∂z₁ = -0.0162``."""
    if node.label is not None:
        return [node.label]
    values = ", ".join(format_number(v, precision) for v in node.values)
    lines = [f"{to_text(node.symbol)} = {values if len(node.values) == 1 else f'({values})'}"]
    if node.gradient is not None:
        lines.append(f"{to_text(Partial(LOSS, node.symbol))} = {format_number(node.gradient, precision)}")
    return lines


def mermaid(graph: Graph, precision: int = 4) -> str:
    """A Mermaid ``flowchart``, inputs on the left, the loss on the right."""
    lines = ["flowchart LR"]
    for node in graph.nodes:
        label = "<br/>".join(line.replace('"', "#quot;") for line in node_lines(node, precision))
        lines.append(f'    n_{node.key}["{label}"]:::{node.kind}')
    lines += [f"    n_{source} --> n_{target}" for source, target in graph.edges]
    for kind, (fill, stroke) in COLOURS.items():
        lines.append(f"    classDef {kind} fill:{fill},stroke:{stroke},color:#1b1b1b")
    return "\n".join(lines) + "\n"


def dot(graph: Graph, precision: int = 4) -> str:
    """A Graphviz ``digraph`` (``dot -Tsvg graph.dot -o graph.svg``)."""
    lines = ["digraph backprop {", "    rankdir=LR;",
             '    node [shape=box, style="rounded,filled", fontname="DejaVu Sans"];']
    for node in graph.nodes:
        label = "\\n".join(_dot_escape(line) for line in node_lines(node, precision))
        fill, stroke = COLOURS[node.kind]
        lines.append(f'    {node.key} [label="{label}", fillcolor="{fill}", color="{stroke}"];')
    lines += [f"    {source} -> {target};" for source, target in graph.edges]
    return "\n".join(lines) + "\n}\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


GRAPH_EXTENSIONS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid"}


def graph_format(path: Path) -> str:
    """``dot`` or ``mermaid``, from the file's extension."""
    found = GRAPH_EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise BackpropError(
            f"graph: cannot tell the format of {path.name}; use .dot or .gv (Graphviz) or .mmd (Mermaid)")
    return found


def graph_text(graph: Graph, fmt: str, precision: int = 4) -> str:
    """The graph as ``dot`` or ``mermaid`` text."""
    return dot(graph, precision) if fmt == "dot" else mermaid(graph, precision)
