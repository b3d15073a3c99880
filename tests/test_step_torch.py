"""backprop step against PyTorch autograd + torch.optim.SGD, float64, to 1e-12."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli.derivation import Options
from backprop_cli.derive import build_derivation
from backprop_cli.model import SEED, SEED_X, SEED_Y, Layer, Network
from tests.reference import assert_close, assert_step_close, torch_step

torch = pytest.importorskip("torch")


def test_seed_json_equals_torch():
    ours = json.loads(build_derivation(SEED, SEED_X, SEED_Y).to_json())
    assert_close(ours, torch_step(SEED, SEED_X, SEED_Y))


ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
weights = st.floats(-2, 2, allow_nan=False, allow_subnormal=False)
inputs = st.floats(-3, 3, allow_nan=False, allow_subnormal=False)


@st.composite
def networks(draw, max_samples=1, min_samples=1):
    depth = draw(st.integers(1, 4))
    widths = [draw(st.integers(1, 6)) for _ in range(depth + 1)]
    loss = draw(st.sampled_from(["bce", "mse", "sse", "half_sse", "cross_entropy"]))
    if loss == "cross_entropy":
        output = "softmax"
    elif loss == "bce":
        output = draw(st.sampled_from(["sigmoid", "softmax"]))
    else:
        output = draw(st.sampled_from([*ELEMENTWISE, "softmax"]))
    layers = []
    for i in range(depth):
        fan_in, units = widths[i], widths[i + 1]
        activation = output if i == depth - 1 else draw(st.sampled_from(ELEMENTWISE))
        weight = tuple(tuple(draw(weights) for _ in range(fan_in)) for _ in range(units))
        has_bias = draw(st.booleans())
        bias = tuple(draw(weights) for _ in range(units)) if has_bias else None
        freeze = has_bias and draw(st.integers(0, 3)) == 0
        layers.append(Layer(weight, bias, activation, freeze))
    lr = draw(st.sampled_from([1.0, 0.5, 0.1, 0.01]))
    network = Network(tuple(layers), loss=loss, lr=lr)
    samples = draw(st.integers(min_samples, max_samples))
    xs = tuple(tuple(draw(inputs) for _ in range(widths[0])) for _ in range(samples))
    targets = st.floats(0, 1) if loss in ("bce", "cross_entropy") else inputs
    ys = tuple(tuple(draw(targets) for _ in range(widths[-1])) for _ in range(samples))
    return network, xs, ys


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(networks())
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


def test_relu_at_exactly_zero_has_pytorch_derivative():
    # z = 1·1 + (−1)·1 + 0 = 0 exactly: relu'(0) = 0 and leaky_relu'(0) = 0.01 in PyTorch.
    for activation in ("relu", "leaky_relu"):
        network = Network((Layer(((1.0, -1.0),), (0.0,), activation),
                           Layer(((0.5,),), (0.1,), "sigmoid")), loss="bce")
        ours = build_derivation(network, ((1.0, 1.0),), ((1.0,),)).to_dict()
        assert ours["layers"][0]["z"] == [[0.0]]
        assert_close(ours, torch_step(network, ((1.0, 1.0),), ((1.0,),)))


@pytest.mark.parametrize("scale", [1000.0, -1000.0, 40.0, -40.0])
def test_saturated_sigmoid_and_bce_are_finite_and_equal_torch(scale):
    network = Network((Layer(((scale,),), (0.0,), "sigmoid"), Layer(((scale / 10,),), (0.0,), "sigmoid")))
    for y in (0.0, 1.0):
        ours = build_derivation(network, ((1.0,),), ((y,),)).to_dict()
        reference = torch_step(network, ((1.0,),), ((y,),))
        assert_close(ours, reference)


def test_saturated_softmax_cross_entropy_equals_torch():
    network = Network((Layer(((1000.0,), (-1000.0,), (0.0,)), (0.0, 0.0, 0.0), "softmax"),),
                      loss="cross_entropy")
    for y in ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.2, 0.3, 0.5)):
        ours = build_derivation(network, ((1.0,),), (y,)).to_dict()
        assert_close(ours, torch_step(network, ((1.0,),), (y,)))
