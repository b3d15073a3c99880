"""Printers: a fixed-width colourless terminal page and Markdown, compared with exact snapshots."""

from __future__ import annotations

import json

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.model import DATASETS, SEED, SEED_X, SEED_Y, Layer, Network
from backprop_cli.render import render
from tests.snapshot import assert_snapshot


def seed(**options):
    return build_derivation(SEED, SEED_X, SEED_Y, Options(**options))


def test_terminal_page_of_the_seed_at_80_columns():
    assert_snapshot("seed_terminal_80.txt", render(seed(), "rich", width=80))


def test_terminal_page_of_the_seed_at_100_columns_carry():
    assert_snapshot("seed_terminal_100_carry.txt", render(seed(rounding="carry"), "rich", width=100))


def test_terminal_lines_fit_80_columns():
    for line in render(seed(), "rich", width=80).splitlines():
        assert len(line) <= 80, line


def test_markdown_of_the_seed():
    assert_snapshot("seed.md", render(seed(), "markdown"))


def test_markdown_of_xor_batch_in_matrix_form():
    xs, ys = DATASETS["xor"]
    assert_snapshot("xor_matrix.md", render(build_derivation(SEED, xs, ys), "markdown"))


def test_terminal_page_of_xor_batch_in_matrix_form():
    xs, ys = DATASETS["xor"]
    assert_snapshot("xor_matrix_terminal_100.txt", render(build_derivation(SEED, xs, ys), "rich", width=100))


def test_markdown_of_softmax_cross_entropy_and_tanh():
    network = Network((Layer(((0.5, -0.25), (0.75, 0.1)), (0.0, 0.2), "tanh"),
                       Layer(((0.3, -0.6), (-0.2, 0.4), (0.1, 0.1)), (0.0, 0.0, 0.05), "softmax")),
                      loss="cross_entropy", lr=0.5)
    d = build_derivation(network, ((1.0, -2.0),), ((0.0, 0.0, 1.0),))
    assert_snapshot("softmax_ce.md", render(d, "markdown"))


def test_positive_bias_prints_plus_and_negative_prints_minus():
    text = render(seed(), "rich", width=120)
    assert "0.1951 × 1 + 0.4835 × 1 + 0.0439 = 0.7225" in text
    assert "0.4352 × 1 + 0.3545 × 1 - 0.1419 = 0.6478" in text


def test_json_is_the_contract():
    data = json.loads(render(seed(), "json"))
    assert set(data) == {"loss", "loss_after", "output", "layers"}
    assert set(data["layers"][0]) == {"kind", "weight", "bias", "z", "a", "grad_weight", "grad_bias",
                                      "new_weight", "new_bias", "output"}
    assert data["layers"][0]["kind"] == "dense"
    assert data["layers"][0]["output"] == data["layers"][0]["a"]
    no_bias = Network((Layer(((1.0,),), None, "identity"),), loss="mse")
    layer = json.loads(render(build_derivation(no_bias, ((1.0,),), ((0.0,),)), "json"))["layers"][0]
    assert layer["bias"] is None and layer["grad_bias"] is None and layer["new_bias"] is None


def test_unknown_printer_setting_is_an_error():
    import pytest

    with pytest.raises(TypeError):
        render(seed(), "markdown", colour="red")
