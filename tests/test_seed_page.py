"""The seed page's figures (/work/shared/seed, a 2-2-1 sigmoid network with bce, worked by hand).

Where the seed slips (docs/notation.md says so), the page prints the correct figure.
"""

from __future__ import annotations

import math

import pytest
from cases import adam_softmax, seed

from backprop_cli.build import build_derivation
from backprop_cli.cli import main
from backprop_cli.derivation import Options
from backprop_cli.evaluate import Evaluator
from backprop_cli.model import SEED, SEED_X, Layer, Network
from backprop_cli.printing import to_text
from backprop_cli.render import render


def seed_page(capsys, *args: str) -> str:
    assert main(["step", "--format", "markdown", *args]) == 0
    return capsys.readouterr().out


def test_z2_adds_the_positive_bias_the_seed_writes_with_a_minus(capsys):
    # The seed: "0.1951 × 1 + 0.4835 × 1 - 0.0439 = 0.7225"; b₂ = +0.0439 and the sum is 0.7225.
    assert abs(0.1951 + 0.4835 + 0.0439 - 0.7225) < 1e-12
    page = seed_page(capsys)
    assert r"0.1951 \times 1 + 0.4835 \times 1 + 0.0439 = 0.7225" in page


def test_z3_uses_sigma2_as_computed_where_the_seed_writes_0_6731(capsys):
    sigma2 = 1 / (1 + math.exp(-(0.1951 + 0.4835 + 0.0439)))
    assert f"{sigma2:.4f}" == "0.6732"
    page = seed_page(capsys)
    assert r"0.1129 \times 0.6732" in page and "0.6731" not in page


def loss_step(derivation):
    (section,) = [s for s in derivation.sections if s.key == "loss"]
    return section.groups[0].steps[-1]


def test_the_loss_is_worked_in_the_seeds_four_lines_in_every_format(capsys):
    # The seed: 𝓛 = −(y log ŷ + (1 − y) log(1 − ŷ)) = −(0 log(0.4154) + (1 − 0) log(1 − 0.4154))
    #             = −log(0.5846) = 0.5368 (carried as on paper).
    page = seed_page(capsys, "--rounding", "carry")
    # Markdown sets the long line in aligned, broken before an =: read it as one line.
    joined = page.replace(" \\\\\n&= ", " = ")
    assert (r"\left(1 - 0\right) \times \log{\left(1 - 0.4154\right)}\right) = -\log{\left(0.5846\right)} = 0.5368"
            in joined)
    assert "= -log(0.5846) = 0.5369" in render(seed(), "rich", width=120)
    assert ('<mo>=</mo><mrow><mo>−</mo><mi>log</mi><mo>&#x2061;</mo><mrow><mo stretchy="false">(</mo><mrow>'
            "<mn>0.5846</mn>") in render(seed(), "html")
    assert r"&= -\log{\left(0.5846\right)} = 0.5369" in render(seed(), "latex")


@pytest.mark.parametrize(("y", "reduced"), [(0.0, "-log(0.5846)"), (1.0, "-log(0.4154)"), (0.25, None)])
def test_the_worked_loss_line_is_the_value_with_the_terms_a_target_removes_gone(y, reduced):
    derivation = build_derivation(SEED, SEED_X, ((y,),))
    step = loss_step(derivation)
    if reduced is None:
        # A target strictly between 0 and 1 removes no term: the seed's three lines stay three.
        assert step.reduced is None
        return
    assert to_text(step.reduced, derivation.values) == reduced
    assert Evaluator(derivation.values)(step.reduced) == pytest.approx(derivation.loss, abs=1e-15)


def test_cross_entropy_with_a_one_hot_target_keeps_the_log_of_the_true_class():
    derivation = adam_softmax()
    step = loss_step(derivation)
    assert to_text(step.reduced) == "-log(ŷ₂)"
    assert Evaluator(derivation.values)(step.reduced) == pytest.approx(derivation.loss, abs=1e-12)


def update_layers(derivation):
    (section,) = [s for s in derivation.sections if s.key == "update"]
    return [group.title.params["layer"] for group in section.groups]


@pytest.mark.parametrize("form", ["scalar", "matrix"])
def test_the_update_goes_output_layer_first_as_the_seed_does(form):
    # The seed: "계층의 역순으로 가중치와 편향 갱신 … W₅, W₆, b₃을 갱신하고 W₁ … b₂가 갱신됨".
    network = Network((Layer(((0.1, 0.2), (0.3, 0.4), (0.5, 0.6)), (0.1, 0.2, 0.3), "tanh"),
                       Layer(((0.1, 0.2, 0.3), (0.3, 0.2, 0.1)), (0.0, 0.1), "relu"),
                       Layer(((0.5, -0.5),), (0.2,), "sigmoid")), loss="bce", lr=0.5)
    derivation = build_derivation(network, ((1.0, 2.0),), ((1.0,),), Options(form=form))
    assert update_layers(derivation) == [3, 2, 1]
    (section,) = [s for s in derivation.sections if s.key == "update"]
    assert section.groups[0].why and not any(g.why for g in section.groups[1:])
    if form == "scalar":
        assert [to_text(s.target) for s in section.groups[0].steps] == ["W₁₃(t+1)", "W₁₄(t+1)", "b₆(t+1)"]
    # The order changes no number: every update uses the gradient worked out before any parameter moved.
    for layer in derivation.to_dict()["layers"]:
        for before, gradient, after in zip(layer["bias"], layer["grad_bias"], layer["new_bias"], strict=True):
            assert after == pytest.approx(before - 0.5 * gradient, abs=1e-15)


def test_the_korean_page_says_the_update_goes_in_the_reverse_order_of_the_layers(capsys):
    page = seed_page(capsys, "--lang", "ko")
    update = page.split("## 4.")[1]
    assert update.index("### 두 번째 계층") < update.index("### 첫 번째 계층")
    assert "계층의 역순으로" in update
