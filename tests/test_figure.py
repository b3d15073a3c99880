"""The network's figure at the head of the page: in every document format, each edge labelled with
the weight the page's lines give it, and left out where asked or where the network is too wide."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.cli import main


def page(capsys, *args: str) -> str:
    assert main(["step", *args]) == 0
    return capsys.readouterr().out


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=4), st.integers(0, 100))
def test_each_edge_carries_the_weight_the_page_multiplies_it_by(widths, seed) -> None:
    import backprop_cli

    text = backprop_cli.derive(layers=widths, seed=seed, activation="tanh", loss="mse", x=[0.5] * widths[0],
                               y=[0.1] * widths[-1], form="scalar").to_markdown()
    edges = re.findall(r'  (x\d+|u\d+) -- "W(\S+)" --> u(\d+)', text)
    assert len(edges) == sum(a * b for a, b in zip(widths, widths[1:], strict=False))
    digits = str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")
    for source, weight, unit in edges:
        w = weight.translate(digits)
        # The unit's weighted sum on the page multiplies W_w by the source: x_i, or the unit's activation.
        line = re.search(rf"\nz_\{{{unit}\}} &?= [^\n]*", text).group(0)  # a long line is set in aligned
        if source.startswith("x"):
            factor = rf"x_\{{{source[1:]}\}}" if widths[0] > 1 else r"x(?![_\w])"
        else:
            factor = rf"a_\{{{source[1:]}\}}"
        assert re.search(rf"W_\{{{w}\}} (?:{factor})", line), (source, w, line)


@pytest.mark.parametrize("fmt, mark, count", [("markdown", '-- "W', 6), ("latex", r"\qbezier", 6),
                                               ("html", "<line ", 6)])
def test_the_seed_page_begins_with_its_figure_in_every_format(capsys, fmt, mark, count) -> None:
    text = page(capsys, "-f", fmt)
    assert text.count(mark) == count
    first = min(text.index(s) for s in ("Forward pass",))
    assert text.index(mark) < first  # it heads the page
    assert page(capsys, "-f", fmt, "--no-figure").count(mark) == 0


def test_wide_networks_and_other_kinds_have_none(capsys) -> None:
    assert page(capsys, "--layers", "2", "7", "1", "-f", "markdown").count('-- "W') == 0
    assert "flowchart LR" not in page(capsys, "--network", "docs/examples/batch_norm.toml", "-f", "markdown"
                                      ).split("## 1.")[0]
