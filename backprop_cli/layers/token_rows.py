"""A sequence on the matrix page: a row per token for the lines of a layer that works token by token.

Between layers a sample's sequence (T, d) is one flat row (T·d values, time major), as the data
and the JSON hold it. A layer that works on tokens (attention, layer norm at every position) writes
its lines on the tokens as rows, ``X⁽ˡ⁾ = rows(A⁽ˡ⁻¹⁾)`` (N·T × d), and gives its output back flat,
``A⁽ˡ⁾ = flat(O⁽ˡ⁾)``; its backward reads ``rows(∂𝓛/∂A⁽ˡ⁾)`` and hands back ``flat(∂𝓛/∂X⁽ˡ⁾)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep
    from backprop_cli.layers.base import Path
    from backprop_cli.locales import Message


def _functions(page: MatrixPage, width: int) -> None:
    """``rows`` (a token a row, ``width`` values each) and ``flat`` (a sample a row) for the evaluator."""
    import numpy as np

    page.element_functions["rows"] = lambda a: np.reshape(a, (-1, width))
    page.element_functions["flat"] = lambda a: np.reshape(a, (page.samples, -1))


def token_rows(page: MatrixPage, path: Path, inputs: sp.Basic, width: int,
               note: Message | None = None) -> tuple[MatrixStep, sp.Basic]:
    """The line ``X⁽ˡ⁾ = rows(inputs)``: a row per token of every sample; and X⁽ˡ⁾."""
    from backprop_cli.notation import Elementwise, Node

    _functions(page, width)
    rows = Node("X", layer=page.number(path))
    return page.record(page.arrays, rows, (Elementwise("rows", inputs),), substitute=False, note=note), rows


def flat_output(page: MatrixPage, path: Path, rows: sp.Basic, width: int,
                note: Message | None = None) -> MatrixStep:
    """The line ``A⁽ˡ⁾ = flat(rows)``: the layer's output, a sample a row, as the next layer reads it."""
    from backprop_cli.notation import Elementwise

    _functions(page, width)
    return page.record(page.arrays, page.A(page.number(path)), (Elementwise("flat", rows),), substitute=False,
                       lead=page.output_lead(path), note=note)


def upstream_rows(page: MatrixPage, path: Path, upstream: sp.Basic, rows: sp.Basic, width: int,
                  note: Message | None = None) -> tuple[list[MatrixStep], sp.Basic]:
    """∂𝓛/∂A⁽ˡ⁾ (from ``upstream``) and ``∂𝓛/∂rows = rows(∂𝓛/∂A⁽ˡ⁾)``: the lines and ∂𝓛/∂rows."""
    from backprop_cli.notation import LOSS, Elementwise, Partial

    steps, gradient = page.materialize(Partial(LOSS, page.A(page.number(path))), upstream)
    _functions(page, width)
    target = Partial(LOSS, rows)
    steps.append(page.record(page.arrays, target, (Elementwise("rows", gradient),), substitute=False, note=note))
    return steps, target


def hand_back(page: MatrixPage, inputs: sp.Basic, rows_gradient: sp.Basic, width: int,
              note: Message | None = None) -> tuple[list[MatrixStep], sp.Basic]:
    """∂𝓛/∂inputs = flat(∂𝓛/∂X⁽ˡ⁾) as a line (or the expression, where a residual writes the sum)."""
    from backprop_cli.notation import Elementwise

    _functions(page, width)
    return page.gradient(inputs, Elementwise("flat", rows_gradient), note=note)
