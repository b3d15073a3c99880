"""A figure of a dense network as a textbook draws it: units in columns, each edge labelled with
its weight (W₁…Wₙ, numbered as the page numbers them), each unit with its bias.

Drawn from the network alone, with no computed value, so an exercise sheet can show it. Three
formats: Mermaid (Markdown), a LaTeX ``picture`` (no package beyond LaTeX itself) and inline SVG
(HTML).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from backprop_cli.model import Network
from backprop_cli.notation import Node
from backprop_cli.printing import to_latex, to_text


@dataclass(frozen=True)
class Unit:
    key: str
    symbol: sp.Basic
    column: int
    row: int
    bias: sp.Basic | None = None


@dataclass(frozen=True)
class Figure:
    """Units by column (inputs first) and weighted edges (source, target, weight symbol)."""

    units: tuple[Unit, ...]
    edges: tuple[tuple[str, str, sp.Basic], ...]
    columns: int
    rows: int


PAGE_UNITS = 6
"""A page begins with the figure while no layer is wider than this (wider ones draw a thicket)."""


def page_figure(network: Network, transposed: bool = False) -> Figure | None:
    """The figure a page begins with: that of a dense network no layer of which is wider than
    ``PAGE_UNITS``; None for others."""
    if max(network.widths) > PAGE_UNITS:
        return None
    return figure(network, transposed)


def figure(network: Network, transposed: bool = False) -> Figure | None:
    """The figure of ``network``'s dense layers; None when it has other kinds. ``transposed``
    numbers the weights as ``--layout transposed`` does (input by input, for z = Wᵀx)."""
    from backprop_cli import functions

    if not network.scalar_form or len(network.dense_layers) != len(network.layers):
        return None
    units = [Unit(f"x{k + 1}", Node("x", k + 1 if network.inputs > 1 else None), 0, k)
             for k in range(network.inputs)]
    edges: list[tuple[str, str, sp.Basic]] = []
    previous = [u.key for u in units]
    w = b = n = 0
    last = len(network.dense_layers) - 1
    for index, layer in enumerate(network.dense_layers):
        glyph = functions.activation(layer.activation).glyph
        current = []
        for j in range(layer.units):
            n += 1
            key = f"u{n}"
            for k in range(layer.inputs):
                number = w + 1 + (k * layer.units + j if transposed else j * layer.inputs + k)
                edges.append((previous[k], key, Node("W", number)))
            bias = None
            if layer.bias is not None:
                b += 1
                bias = Node("b", b)
            symbol = Node("yhat", j + 1 if network.outputs > 1 else None) if index == last else Node(glyph, n)
            units.append(Unit(key, symbol, index + 1, j, bias))
            current.append(key)
        w += layer.units * layer.inputs
        previous = current
    rows = max(network.widths)
    return Figure(tuple(units), tuple(edges), len(network.layers) + 1, rows)


def _positions(fig: Figure, dx: float, dy: float) -> dict[str, tuple[float, float]]:
    """Centre of each unit: columns ``dx`` apart, each column centred vertically, first row on top."""
    counts = [sum(u.column == c for u in fig.units) for c in range(fig.columns)]
    out = {}
    for u in fig.units:
        offset = (fig.rows - counts[u.column]) / 2
        out[u.key] = (u.column * dx, (fig.rows - 1 - (u.row + offset)) * dy)
    return out


def _label_point(a: tuple[float, float], b: tuple[float, float], share: float) -> tuple[float, float]:
    return a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share


def _shares(fig: Figure) -> list[float]:
    """Where along its edge each weight's label sits: near the unit the edge leaves, where no edge
    has crossed another yet, the edges leaving one unit taking turns at two distances so that
    their labels do not fall on each other."""
    seen: dict[str, int] = {}
    out = []
    for source, _, _ in fig.edges:
        rank = seen.get(source, 0)
        seen[source] = rank + 1
        out.append(0.16 if rank % 2 == 0 else 0.36)
    return out


def mermaid(fig: Figure) -> list[str]:
    """A Mermaid flowchart, left to right."""
    lines = ["```mermaid", "flowchart LR"]
    for u in fig.units:
        label = to_text(u.symbol) + (f"<br/>+{to_text(u.bias)}" if u.bias is not None else "")
        lines.append(f'  {u.key}(("{label}"))')
    for source, target, weight in fig.edges:
        lines.append(f'  {source} -- "{to_text(weight)}" --> {target}')
    return [*lines, "```", ""]


def latex_picture(fig: Figure) -> list[str]:
    """A LaTeX ``picture``: circles, straight edges (``\\qbezier``) and their weight labels."""
    dx, dy, r = 3.2, 1.5, 0.38
    at = _positions(fig, dx, dy)
    width = (fig.columns - 1) * dx + 2 * r + 1.0
    height = (fig.rows - 1) * dy + 2 * r + 0.8
    lines = [r"\begin{center}", r"\setlength{\unitlength}{1cm}",
             rf"\begin{{picture}}({width:.2f},{height:.2f})({-r - 0.5:.2f},{-r - 0.5:.2f})"]
    shares = _shares(fig)
    for index, (source, target, weight) in enumerate(fig.edges):
        (x1, y1), (x2, y2) = at[source], at[target]
        start, end = (x1 + r, y1), (x2 - r, y2)
        mid = _label_point(start, end, 0.5)
        lines.append(rf"\qbezier({start[0]:.3f},{start[1]:.3f})({mid[0]:.3f},{mid[1]:.3f})({end[0]:.3f},{end[1]:.3f})")
        lx, ly = _label_point(start, end, shares[index])
        lines.append(rf"\put({lx:.3f},{ly + 0.12:.3f}){{\makebox(0,0)[b]{{\scriptsize ${to_latex(weight)}$}}}}")
    for u in fig.units:
        x, y = at[u.key]
        lines.append(rf"\put({x:.3f},{y:.3f}){{\circle{{{2 * r:.2f}}}}}")
        lines.append(rf"\put({x:.3f},{y:.3f}){{\makebox(0,0){{${to_latex(u.symbol)}$}}}}")
        if u.bias is not None:
            lines.append(rf"\put({x:.3f},{y - r - 0.08:.3f}){{\makebox(0,0)[t]{{\scriptsize $+{to_latex(u.bias)}$}}}}")
    return [*lines, r"\end{picture}", r"\end{center}", ""]


def svg(fig: Figure) -> list[str]:
    """Inline SVG: circles, lines and text labels, sized to the network."""
    from html import escape

    dx, dy, r, pad = 150.0, 72.0, 20.0, 34.0
    at = {k: (x + pad, (fig.rows - 1) * dy - y + pad) for k, (x, y) in _positions(fig, dx, dy).items()}
    width = (fig.columns - 1) * dx + 2 * pad
    height = (fig.rows - 1) * dy + 2 * pad + 10
    lines = [f'<svg class="figure" width="{width:.0f}" height="{height:.0f}"'
             f' viewBox="0 0 {width:.0f} {height:.0f}" role="img" font-family="serif" font-size="15">']
    shares = _shares(fig)
    for index, (source, target, weight) in enumerate(fig.edges):
        (x1, y1), (x2, y2) = at[source], at[target]
        lines.append(f'<line x1="{x1 + r:.1f}" y1="{y1:.1f}" x2="{x2 - r:.1f}" y2="{y2:.1f}" stroke="#666"/>')
        lx, ly = _label_point((x1 + r, y1), (x2 - r, y2), shares[index])
        lines.append(f'<text x="{lx:.1f}" y="{ly - 4:.1f}" font-size="12" text-anchor="middle"'
                     f' font-style="italic">{escape(to_text(weight))}</text>')
    for u in fig.units:
        x, y = at[u.key]
        lines.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.0f}" fill="#fff" stroke="#222"/>')
        lines.append(f'<text x="{x:.1f}" y="{y + 5:.1f}" text-anchor="middle" font-style="italic">'
                     f"{escape(to_text(u.symbol))}</text>")
        if u.bias is not None:
            lines.append(f'<text x="{x:.1f}" y="{y + r + 14:.1f}" font-size="12" text-anchor="middle"'
                         f' font-style="italic">+{escape(to_text(u.bias))}</text>')
    return [*lines, "</svg>"]
