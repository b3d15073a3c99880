"""Published worked examples, reproduced to the digits they print.

Each test cites its source. These are independent of PyTorch: the numbers were worked by hand (or
printed) by their authors.
"""

from __future__ import annotations

import pytest

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.model import SEED, SEED_X, SEED_Y, Layer, Network


def close(value: float, printed: str) -> bool:
    """``value`` rounds to the printed figure (as many decimals as printed)."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(value - float(printed)) <= 0.5 * 10**-decimals + 1e-12


def test_seed_page():
    """The seed page: 윤대희 외, 『파이토치 트랜스포머를 활용한 자연어 처리와 컴퓨터비전 심층학습』
    (위키북스, 2023), 순전파/역전파 worked example as summarised in ../shared/seed: 2-2-1 sigmoid
    network, BCE, x = (1, 1), y = 0. The page prints z₁ 0.6478, z₂ 0.7225, σ₁ 0.6565, σ₂ 0.6732,
    z₃ −0.3415, σ₃ 0.4154 and 𝓛 0.5368 (carrying 1 − 0.4154 = 0.5846; exact 0.5369).
    """
    exact = build_derivation(SEED, SEED_X, SEED_Y).to_dict()
    z1, z2 = exact["layers"][0]["z"][0]
    s1, s2 = exact["layers"][0]["a"][0]
    (z3,) = exact["layers"][1]["z"][0]
    (s3,) = exact["layers"][1]["a"][0]
    for value, printed in [(z1, "0.6478"), (z2, "0.7225"), (s1, "0.6565"), (s2, "0.6732"),
                           (z3, "-0.3415"), (s3, "0.4154"), (exact["loss"], "0.5369")]:
        assert close(value, printed), (value, printed)
    carried = build_derivation(SEED, SEED_X, SEED_Y, Options(rounding="carry")).to_dict()
    assert carried["loss"] == 0.5368
    assert carried["layers"][1]["a"][0][0] == 0.4154


def test_mazur_step_by_step():
    """Matt Mazur, "A Step by Step Backpropagation Example" (2015),
    https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/ :
    2-2-2 sigmoid network, E = Σ ½(target − out)², learning rate 0.5, biases not updated.
    """
    network = Network(
        (Layer(((0.15, 0.20), (0.25, 0.30)), (0.35, 0.35), "sigmoid", freeze_bias=True),
         Layer(((0.40, 0.45), (0.50, 0.55)), (0.60, 0.60), "sigmoid", freeze_bias=True)),
        loss="half_sse", lr=0.5)
    d = build_derivation(network, ((0.05, 0.10),), ((0.01, 0.99),), Options(form="scalar")).to_dict()
    hidden, output = d["layers"]
    assert close(hidden["z"][0][0], "0.3775")
    assert close(hidden["a"][0][0], "0.593269992")
    assert close(hidden["a"][0][1], "0.596884378")
    assert close(output["a"][0][0], "0.75136507")
    assert close(output["a"][0][1], "0.772928465")
    assert close(d["loss"], "0.298371109")
    assert close(output["grad_weight"][0][0], "0.082167041")
    for value, printed in zip([v for row in output["new_weight"] for v in row],
                              ["0.35891648", "0.408666186", "0.511301270", "0.561370121"], strict=True):
        assert close(value, printed)
    assert close(hidden["grad_weight"][0][0], "0.000438568")
    for value, printed in zip([v for row in hidden["new_weight"] for v in row],
                              ["0.149780716", "0.19956143", "0.24975114", "0.29950229"], strict=True):
        assert close(value, printed)
    # The page prints 0.291027924 after the first round, worked with rounded intermediates;
    # it agrees with the exact value to 6 decimals.
    assert close(d["loss_after"], "0.291028")
    assert hidden["new_bias"] == [0.35, 0.35]


def test_hmkcode_linear_network():
    """"Backpropagation Step by Step", hmkcode (2019), https://hmkcode.com/ai/backpropagation-step-by-step/ :
    a 2-2-1 network without activations or biases, inputs (2, 3), target 1, E = ½(prediction − 1)²,
    learning rate 0.05. Printed: prediction 0.191, error 0.327, new weights w1 0.12, w2 0.23,
    w3 0.13, w4 0.10, w5 0.17, w6 0.17, new prediction 0.26.
    """
    network = Network(
        (Layer(((0.11, 0.21), (0.12, 0.08)), None, "identity"),
         Layer(((0.14, 0.15),), None, "identity")), loss="half_sse", lr=0.05)
    d = build_derivation(network, ((2.0, 3.0),), ((1.0,),)).to_dict()
    assert close(d["output"][0][0], "0.191")
    assert close(d["loss"], "0.327")
    new = [v for layer in d["layers"] for row in layer["new_weight"] for v in row]
    for value, printed in zip(new, ["0.12", "0.23", "0.13", "0.10", "0.17", "0.17"], strict=True):
        assert close(value, printed), (value, printed)
    # The page's new prediction, from the updated weights.
    again = Network(tuple(Layer(tuple(map(tuple, layer["new_weight"])), None, "identity")
                          for layer in d["layers"]), loss="half_sse", lr=0.05)
    assert close(build_derivation(again, ((2.0, 3.0),), ((1.0,),)).to_dict()["output"][0][0], "0.26")


@pytest.mark.parametrize("precision", [2, 4, 6])
def test_carry_rounds_every_line_to_the_printed_digits(precision):
    d = build_derivation(SEED, SEED_X, SEED_Y, Options(precision=precision, rounding="carry"))
    for symbol, value in d.values.items():
        name = str(symbol)
        if name.startswith(("W_", "b_", "x", "y", "alpha")) and not name.endswith("(t+1)"):
            continue  # given values are kept as given
        assert value in (round(value, precision), float(f"{value:.{precision}e}")), (symbol, value)
