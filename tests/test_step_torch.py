"""backprop step against PyTorch autograd + torch.optim.SGD, float64, to 1e-12."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, example, given, settings

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.errors import BackpropError
from backprop_cli.model import SEED, SEED_X, SEED_Y, Layer, Network
from tests.reference import assert_close, assert_step_close, torch_step
from tests.strategies import networks

torch = pytest.importorskip("torch")


def test_seed_json_equals_torch():
    ours = json.loads(build_derivation(SEED, SEED_X, SEED_Y).to_json())
    assert_close(ours, torch_step(SEED, SEED_X, SEED_Y))


# A softmax output within 1.3e-5 of 1 under bce: torch's gradient is 1.4e-11 off (see below).
SATURATED_BCE = (
    Network((Layer(((1.875, 0, 0, 0, -1.875), (0,) * 5, (0,) * 5), None, "identity"),
             Layer(((0, 0, 0), (-2.0, 0, 0), (0, 0, 0)), None, "softmax")), loss="bce"),
    ((-1.0, 0.0, 0.0, 0.0, 2.0),), ((0.0, 0.0, 0.0),))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(networks())
@example(SATURATED_BCE)
def test_random_networks_equal_torch(case):
    network, xs, ys = case
    ours = build_derivation(network, xs, ys, Options(form="scalar")).to_dict()
    assert_step_close(ours, torch_step(network, xs, ys))


@pytest.mark.parametrize("rounding", ["exact"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
@pytest.mark.parametrize("loss", ["mse", "sse", "half_sse"])
def test_every_activation_and_loss(activation, loss, rounding):
    network = Network(
        (Layer(((0.3, -0.7), (0.5, 0.2), (-0.4, 0.9)), (0.1, -0.2, 0.05), activation),
         Layer(((0.6, -0.3, 0.8),), (0.2,), activation)), loss=loss, lr=0.5)
    xs, ys = ((0.7, -1.2),), ((0.4,),)
    ours = build_derivation(network, xs, ys, Options(rounding=rounding)).to_dict()
    assert_close(ours, torch_step(network, xs, ys))


def test_frozen_bias_keeps_its_value_but_reports_gradient():
    layer1 = Layer(((0.4352, 0.3545), (0.1951, 0.4835)), (-0.1419, 0.0439), freeze_bias=True)
    network = Network((layer1, SEED.layers[1]))
    ours = build_derivation(network, SEED_X, SEED_Y).to_dict()
    assert ours["layers"][0]["new_bias"] == [-0.1419, 0.0439]
    assert_close(ours, torch_step(network, SEED_X, SEED_Y))


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_relu_at_exactly_zero_has_pytorch_derivative(activation):
    # z = 1·1 + (−1)·1 + 0 = 0 exactly: relu'(0) = 0 and leaky_relu'(0) = 0.01 in PyTorch.
    network = Network((Layer(((1.0, -1.0),), (0.0,), activation),
                       Layer(((0.5,),), (0.1,), "sigmoid")), loss="bce")
    ours = build_derivation(network, ((1.0, 1.0),), ((1.0,),)).to_dict()
    assert ours["layers"][0]["z"] == [[0.0]]
    assert_close(ours, torch_step(network, ((1.0, 1.0),), ((1.0,),)))
    # A whole hidden layer at the kink, two layers deep, with a regression loss.
    deep = Network((Layer(((1.0, -1.0), (2.0, -2.0), (0.5, -0.5)), (0.0, 0.0, 0.0), activation),
                    Layer(((0.3, -0.2, 0.7), (0.1, 0.4, -0.6)), None, activation),
                    Layer(((0.5, -0.5),), (0.2,), "identity")), loss="mse")
    ours = build_derivation(deep, ((3.0, 3.0),), ((1.0,),)).to_dict()
    assert ours["layers"][0]["z"] == [[0.0, 0.0, 0.0]] and ours["layers"][1]["z"] == [[0.0, 0.0]]
    assert_close(ours, torch_step(deep, ((3.0, 3.0),), ((1.0,),)))


@pytest.mark.parametrize("hidden", ["sigmoid", "tanh"])
@pytest.mark.parametrize("scale", [1000.0, -1000.0, 40.0, -40.0])
def test_saturated_sigmoid_and_bce_are_finite_and_equal_torch(scale, hidden):
    network = Network((Layer(((scale,),), (0.0,), hidden), Layer(((scale / 10,),), (0.0,), "sigmoid")))
    for y in (0.0, 1.0):
        ours = build_derivation(network, ((1.0,),), ((y,),)).to_dict()
        reference = torch_step(network, ((1.0,),), ((y,),))
        assert_close(ours, reference)


@pytest.mark.parametrize("z", [1000.0, 40.0, 20.0])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse", "sse"])
def test_saturated_softmax_equals_torch(loss, z):
    network = Network((Layer(((z,), (-z,), (0.0,)), (0.0, 0.0, 0.0), "softmax"),), loss=loss)
    for y in ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.2, 0.3, 0.5)):
        ours = build_derivation(network, ((1.0,),), (y,)).to_dict()
        assert_close(ours, torch_step(network, ((1.0,),), (y,)))


def test_saturated_bce_gradient_equals_a_40_digit_reference():
    # bce(ŷ) with ŷ = softmax(o) near 1 needs 1/(1 − ŷ); float64 rounding of ŷ alone moves it by
    # 2⁻⁵²/1.3e-5 relative. mpmath at 40 digits settles the value: ours is exact to float64.
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    network, xs, ys = SATURATED_BCE
    hidden = mpmath.mpf(1.875) * -1 + mpmath.mpf(-1.875) * 2

    def loss(w: object) -> object:
        logits = [mpmath.mpf(0), w * hidden, mpmath.mpf(0)]
        total = sum(mpmath.e**v for v in logits)
        return -sum(mpmath.log(1 - mpmath.e**v / total) for v in logits) / 3

    exact = float(mpmath.diff(loss, mpmath.mpf(-2)))
    ours = build_derivation(network, xs, ys, Options(form="scalar")).to_dict()
    reference = torch_step(network, xs, ys)
    assert ours["layers"][1]["grad_weight"][1][0] == pytest.approx(exact, rel=2e-16, abs=0)
    assert_step_close(ours, reference)


@pytest.mark.parametrize("z", [1000.0, 10.0])
def test_saturated_softmax_with_bce_equals_torch_to_its_conditioning(z):
    # bce on a softmax output near 0 or 1 is ill-conditioned (see bce_slack); at z = 1000 the
    # outputs are exactly 0 and 1 and both sides clamp the same way.
    network = Network((Layer(((z,), (-z,), (0.0,)), (0.0, 0.0, 0.0), "softmax"),), loss="bce")
    for y in ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0)):
        ours = build_derivation(network, ((1.0,),), (y,)).to_dict()
        reference = torch_step(network, ((1.0,),), (y,))
        assert_step_close(ours, reference)


@pytest.mark.parametrize("loss", ["mse", "half_sse", "bce"])
@pytest.mark.parametrize("scale", [1e-300, 1e-8, 1e3, 1e6])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
def test_huge_and_tiny_weights_are_finite_and_equal_torch(activation, scale, loss):
    output = "sigmoid" if loss == "bce" else activation
    network = Network((Layer(((scale, -scale), (0.5 * scale, scale)), (0.0, scale), activation),
                       Layer(((scale, -0.5),), (0.1,), output)), loss=loss)
    xs, ys = ((1.0, -2.0),), ((1.0,),)
    ours = build_derivation(network, xs, ys).to_dict()
    reference = torch_step(network, xs, ys)
    assert math.isfinite(ours["loss"]) and math.isfinite(ours["loss_after"])
    assert_close(ours, reference)


def test_overflow_is_refused_in_one_line_where_torch_gives_inf():
    network = Network((Layer(((1e100, -1e100),), (0.0,), "identity"),
                       Layer(((1e100,),), (0.0,), "identity")), loss="mse")
    xs, ys = ((1.0, -2.0),), ((1.0,),)
    assert math.isinf(torch_step(network, xs, ys)["loss"])
    with pytest.raises(BackpropError, match="comes out as inf") as caught:
        build_derivation(network, xs, ys)
    assert "\n" not in str(caught.value)
