"""The "why" lines (why.py): what they claim holds against PyTorch autograd, they are in every format and
language, and --brief leaves them out without changing a number."""

from __future__ import annotations

import json

import pytest
from cases import adam_softmax, seed
from hypothesis import HealthCheck, given, settings
from strategies import networks

from backprop_cli.build import build_derivation
from backprop_cli.cli import main
from backprop_cli.derivation import Derivation, Options
from backprop_cli.locales import Message
from backprop_cli.model import Layer, Network
from backprop_cli.render import render

torch = pytest.importorskip("torch")

from reference import build_modules, forward, torch_loss  # noqa: E402


def whys(derivation: Derivation) -> list[Message]:
    return [m for s in derivation.sections for g in s.groups for m in (*g.why, *g.remarks)]


def torch_deltas(network: Network, xs, ys) -> list[list[float]]:
    """∂𝓛/∂z of every layer's units (one sample), by autograd."""
    linears, activations = build_modules(network)
    zs, outputs = forward(linears, activations, torch.tensor(xs, dtype=torch.float64))
    torch_loss(network.loss, outputs[-1], zs[-1], torch.tensor(ys, dtype=torch.float64), network.beta).backward()
    return [z.grad[0].tolist() for z in zs]


def torch_zs(network: Network, xs) -> list[list[float]]:
    """Every layer's weighted sums z (one sample), by torch."""
    linears, activations = build_modules(network)
    zs, _ = forward(linears, activations, torch.tensor(xs, dtype=torch.float64))
    return [z[0].tolist() for z in zs]


# A 2-2-1 network whose first hidden unit sits at z₁ = -0.5 < 0 (a dead ReLU) and second at z₂ = 0.5.
DEAD = Network((Layer(((0.5, -1.0), (0.5, 0.0)), (0.0, 0.0), "relu"),
                Layer(((0.8, -0.6),), (0.1,), "sigmoid")), loss="bce", lr=0.5)
DEAD_X, DEAD_Y = ((1.0, 1.0),), ((1.0,),)


def test_the_seed_page_says_why_in_every_format_and_language():
    for lang in ("en", "ko"):
        derivation = seed(lang=lang)
        keys = [m.key for m in whys(derivation)]
        assert keys == ["why.sigmoid_bce", "why.chain_rule", "why.vanishing", "intro.update.order"], keys
        for fmt in ("rich", "markdown", "latex", "html"):
            page = render(derivation, fmt)
            chain = {"latex": (r"\ensuremath{\delta_{j}} = \ensuremath{f'}(\ensuremath{z_{j}}) \ensuremath{\Sigma_{k}}"
                                r" \ensuremath{W_{kj}} \ensuremath{\delta_{k}}")}
            assert chain.get(fmt, "δⱼ = f′(zⱼ) Σₖ Wₖⱼ δₖ") in page, (lang, fmt)
            minus = {"latex": r"\ensuremath{\hat{y}} - \ensuremath{y}", "html": "ŷ − y"}
            assert minus.get(fmt, "ŷ - y") in page


def test_the_seed_says_why_delta_is_yhat_minus_y_and_it_is():
    derivation = seed()
    (message,) = [m for m in whys(derivation) if m.key == "why.sigmoid_bce"]
    assert message.params["result"] == "ŷ - y"
    assert message.params["derivative"] == "(ŷ - y)/(ŷ(1 - ŷ))" and message.params["slope"] == "ŷ(1 - ŷ)"
    # The claim, against autograd: δ₃ = ∂𝓛/∂z₃ is ŷ − y.
    (delta,) = torch_deltas(derivation.network, derivation.xs, derivation.ys)[-1]
    assert delta == pytest.approx(derivation.output[0][0] - derivation.ys[0][0], abs=1e-15)


def test_softmax_with_cross_entropy_says_why_delta_is_yhat_minus_y_and_it_is():
    derivation = adam_softmax()
    assert [m.key for m in whys(derivation)][0] == "why.softmax_ce"
    deltas = torch_deltas(derivation.network, derivation.xs, derivation.ys)[-1]
    for delta, yhat, y in zip(deltas, derivation.output[0], derivation.ys[0], strict=True):
        assert delta == pytest.approx(yhat - y, abs=1e-15)
    assert "ŷᵢ Σₖ yₖ − yᵢ" in render(derivation, "markdown")


def test_a_dead_relu_is_named_and_its_weights_do_not_move():
    derivation = build_derivation(DEAD, DEAD_X, DEAD_Y)
    dead = [m for m in whys(derivation) if m.key == "why.dead_unit"]
    assert [(m.params["delta"], m.params["z"], m.params["value"], m.params["parameters"]) for m in dead] == [
        ("δ₁", "z₁", "-0.5000", "W₁, W₂, b₁")]
    deltas = torch_deltas(DEAD, DEAD_X, DEAD_Y)
    assert deltas[0][0] == 0.0 and deltas[0][1] != 0.0
    layer = derivation.to_dict()["layers"][0]
    assert layer["new_weight"][0] == layer["weight"][0] and layer["new_bias"][0] == layer["bias"][0]
    assert layer["new_weight"][1] != layer["weight"][1]
    korean = render(build_derivation(DEAD, DEAD_X, DEAD_Y, Options(lang="ko")), "markdown")
    assert "> δ₁ = 0: z₁ = -0.5000에서 활성화 함수가 평평하므로(기울기 0, 죽은 ReLU)" in korean


def test_brief_leaves_out_every_why_line_and_no_number(capsys):
    assert whys(build_derivation(DEAD, DEAD_X, DEAD_Y, Options(brief=True))) == []
    assert whys(seed(brief=True)) == []
    for fmt in ("markdown", "latex", "html", "rich"):
        assert main(["step", "--format", fmt, "--brief"]) == 0
        brief = capsys.readouterr().out
        assert main(["step", "--format", fmt]) == 0
        full = capsys.readouterr().out
        assert "Σₖ Wₖⱼ" not in brief and "Why" not in brief and "shrinks" not in brief
        assert len(brief) < len(full)
    assert main(["step", "--format", "json", "--brief"]) == 0
    brief = json.loads(capsys.readouterr().out)
    assert main(["step", "--format", "json"]) == 0
    assert brief == json.loads(capsys.readouterr().out)


def test_no_vanishing_remark_where_delta_grows_on_the_way_back():
    # Large weights into the output: |δ| of layer 1 is larger than the output's.
    network = Network((Layer(((0.1, 0.1), (0.1, -0.1)), (0.0, 0.0), "identity"),
                       Layer(((4.0, 4.0),), (0.0,), "identity")), loss="mse", lr=0.1)
    derivation = build_derivation(network, ((1.0, 1.0),), ((1.0,),))
    assert "why.vanishing" not in [m.key for m in whys(derivation)]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=40)
@given(networks(max_depth=3, max_width=4, activations=("sigmoid", "tanh", "relu")))
def test_every_why_remark_holds_against_autograd(case):
    network, xs, ys = case
    derivation = build_derivation(network, xs, ys, Options(form="scalar"))
    deltas = torch_deltas(network, xs, ys)
    messages = whys(derivation)
    flat = [d for layer in deltas for d in layer]
    # A δ the page finds 0 may be a rounding error from 0 in autograd's order of operations, and the
    # reverse (2e-17 against 0 where terms cancel): each remark holds to rounding, and a ReLU at z < 0
    # (a δ of exactly 0 in any order) is always named.
    rounding = 1e-15 * max([1.0, *map(abs, flat)])
    named = {int(m.params["delta"].translate(str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789"))[1:])
             for m in messages if m.key in ("why.dead_unit", "why.no_error")}
    assert all(abs(flat[unit - 1]) <= rounding for unit in named), (named, flat)
    zs = torch_zs(network, xs)
    dead = [number for number, (layer, z) in enumerate(
        ((layer, z) for layer, row in zip(network.layers, zs, strict=True) for z in row), start=1)
        if layer.activation == "relu" and z < 0]
    assert set(dead) <= named, (dead, named)
    means = [sum(map(abs, layer)) / len(layer) for layer in reversed(deltas)]
    shrinks = (len(means) > 1 and min(means) > 0
               and all(after <= 0.5 * before for before, after in zip(means, means[1:], strict=False)))
    claimed = [m for m in messages if m.key == "why.vanishing"]
    assert bool(claimed) == shrinks or any(abs(after - 0.5 * before) < 1e-9 for before, after
                                           in zip(means, means[1:], strict=False))


def torch_batch_deltas(network: Network, xs, ys) -> list[list[list[float]]]:
    """∂𝓛/∂Z of every layer, samples × units, by autograd."""
    linears, activations = build_modules(network)
    zs, outputs = forward(linears, activations, torch.tensor(xs, dtype=torch.float64))
    torch_loss(network.loss, outputs[-1], zs[-1], torch.tensor(ys, dtype=torch.float64), network.beta).backward()
    return [z.grad.tolist() for z in zs]


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=40)
@given(networks(min_samples=2, max_samples=3, max_depth=3, max_width=4, activations=("sigmoid", "tanh", "relu")))
def test_the_matrix_form_names_units_dead_for_the_whole_batch_as_autograd_does(case):
    network, xs, ys = case
    derivation = build_derivation(network, xs, ys, Options(form="matrix"))
    deltas = torch_batch_deltas(network, xs, ys)
    claimed = {int(m.params["delta"].translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789"))[2:-1]):
               [int(u) for u in m.params["units"].split(", ")]
               for m in whys(derivation) if m.key == "why.dead_units_batch"}
    for number, layer in enumerate(deltas, start=1):
        dead = [j + 1 for j in range(len(layer[0])) if all(row[j] == 0.0 for row in layer)]
        if number == len(deltas) and len(dead) == len(layer[0]):
            dead = []  # a whole output layer at 0 is a loss at its minimum, not a dead unit
        assert claimed.get(number, []) == dead, (number, claimed, dead)
    brief = build_derivation(network, xs, ys, Options(form="matrix", brief=True))
    assert not [m for m in whys(brief) if m.key in ("why.dead_units_batch", "why.vanishing")]
    assert brief.to_json() == derivation.to_json()
