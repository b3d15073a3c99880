"""The network's figure at the head of the terminal page (render/figure_terminal.py)."""

from __future__ import annotations

from cases import seed
from hypothesis import given, settings
from strategies import networks

from backprop_cli.build import build_derivation
from backprop_cli.cli import main
from backprop_cli.derivation import Options
from backprop_cli.model import SEED, SEED_X, SEED_Y, Layer, Network
from backprop_cli.printing import subscript
from backprop_cli.render import render
from backprop_cli.render.figure import figure
from backprop_cli.render.figure_terminal import drawing


def test_the_seed_network_drawn_in_text():
    assert drawing(figure(SEED)) == [
        "x₁ ─┬─ W₁ W₂ ─▶ σ₁ +b₁ ─┐",
        "    │                   ├─ W₅ W₆ ─▶ ŷ +b₃",
        "x₂ ─┴─ W₃ W₄ ─▶ σ₂ +b₂ ─┘",
    ]
    # --layout transposed numbers the weights input by input, on the page and in its figure.
    assert drawing(figure(SEED, transposed=True))[0] == "x₁ ─┬─ W₁ W₃ ─▶ σ₁ +b₁ ─┐"


def test_the_figure_heads_the_terminal_page_in_both_languages():
    for lang, title in (("en", "The network"), ("ko", "신경망 구조")):
        page = render(seed(lang=lang), "rich", width=80)
        head, rest = page.split("1. ", 1)
        assert title in head and "│   x₁ ─┬─ W₁ W₂ ─▶ σ₁ +b₁ ─┐" in head
    assert "W₁ W₂ ─▶" not in render(seed(figure=False), "rich", width=80)


@settings(deadline=None, max_examples=40)
@given(networks(max_depth=3, max_width=6))
def test_every_unit_is_drawn_with_the_weights_into_it_in_the_pages_order(case):
    network, _, _ = case
    text = "\n".join(drawing(figure(network)))
    number = 0
    for layer in network.layers:
        start = number
        for j in range(layer.units):
            labels = " ".join(f"W{subscript(str(start + j * layer.inputs + k + 1))}" for k in range(layer.inputs))
            assert f"─ {labels} ─" in text, labels
        number += layer.units * layer.inputs
    lines = drawing(figure(network))
    assert len(lines) == 2 * max(network.widths) - 1
    # Every unit is on a line of its own column, and the arrows run into every unit past the inputs.
    assert text.count("─▶") == sum(network.widths[1:])


def test_a_wide_network_gets_a_one_line_note_instead(capsys):
    assert main(["step", "--layers", "2", "8", "1"]) == 0
    out = capsys.readouterr().out
    assert "No figure: a layer has more than 6 units (--no-figure leaves out this line)." in out
    assert main(["step", "--layers", "2", "8", "1", "--no-figure"]) == 0
    assert "No figure" not in capsys.readouterr().out


def test_a_drawing_wider_than_the_page_is_not_drawn():
    wide = Network(tuple(Layer(tuple((0.1,) * 6 for _ in range(6)), (0.0,) * 6, "tanh") for _ in range(4)),
                   loss="mse", lr=0.1)
    derivation = build_derivation(wide, ((0.1,) * 6,), ((0.0,) * 6,), Options(form="scalar"))
    page = render(derivation, "rich", width=80)
    assert "No figure: the drawing is wider than the page." in page
    assert "No figure" not in render(build_derivation(SEED, SEED_X, SEED_Y), "rich", width=80)
