"""The computation graph as a tree in the terminal (rich): the loss at the root, each node's inputs
below it, so the path of every gradient back from the loss can be read downwards.
"""

from __future__ import annotations

from rich import box
from rich.panel import Panel
from rich.text import Text
from rich.tree import Tree

from backprop_cli.graph import Graph, GraphNode
from backprop_cli.locales import Message
from backprop_cli.render.graph import node_lines

STYLES = {"name": "bold", "gradient": "cyan", "seen": "dim italic"}


def _label(node: GraphNode, precision: int, seen: str | None = None) -> Text:
    lines = node_lines(node, precision)
    text = Text()
    name, equals, value = lines[0].partition(" = ")
    if not equals:
        name, equals, value = lines[0].partition(": ")
    text.append(name, style=STYLES["name"])
    text.append(equals + value)
    if len(lines) > 1:
        text.append("   " + lines[1], style=STYLES["gradient"])
    if seen is not None:
        text.append(f"   ({seen})", style=STYLES["seen"])
    return text


def tree(graph: Graph, precision: int = 4, lang: str = "en") -> Panel:
    """The tree in a panel titled with the section's name.

    A node that feeds several others is expanded the first time it appears and marked as seen
    after that, so the tree grows with the graph, not with the number of paths through it.
    """
    seen_words = Message("graph.seen").text(lang)
    expanded: set[str] = set()

    def grow(branch: Tree, node: GraphNode) -> None:
        inputs = list(graph.inputs(node.key))
        if node.key in expanded and inputs:
            branch.add(_label(node, precision, seen_words))
            return
        expanded.add(node.key)
        child = branch.add(_label(node, precision))
        for source in inputs:
            grow(child, source)

    loss = graph.node("loss")
    root = Tree(_label(loss, precision))
    expanded.add(loss.key)
    for source in graph.inputs(loss.key):
        grow(root, source)
    title = Text(Message("title.graph").text(lang), style="bold")
    return Panel(root, title=title, title_align="left", box=box.ROUNDED, border_style="blue", padding=(0, 1))
