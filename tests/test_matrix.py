"""The matrix form and batches: every value equals PyTorch autograd with the loss's reduction."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from backprop_cli.build import MATRIX_WIDTH, build_derivation, choose_form
from backprop_cli.derivation import MatrixStep, Options
from backprop_cli.model import DATASETS, SEED, Layer, Network, random_network
from tests.reference import assert_close, assert_step_close, torch_step
from tests.test_step_torch import networks

torch = pytest.importorskip("torch")


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=40)
@given(networks(min_samples=2, max_samples=8))
def test_matrix_form_equals_torch_for_batches(case):
    network, xs, ys = case
    ours = build_derivation(network, xs, ys, Options(form="matrix")).to_dict()
    assert_step_close(ours, torch_step(network, xs, ys))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=25)
@given(networks(max_samples=4))
def test_scalar_form_of_a_batch_equals_torch(case):
    network, xs, ys = case
    ours = build_derivation(network, xs, ys, Options(form="scalar")).to_dict()
    assert_step_close(ours, torch_step(network, xs, ys))


def test_both_forms_agree_on_xor():
    xs, ys = DATASETS["xor"]
    matrix = build_derivation(SEED, xs, ys, Options(form="matrix")).to_dict()
    scalar = build_derivation(SEED, xs, ys, Options(form="scalar")).to_dict()
    assert_close(matrix, scalar, tol=1e-14)
    assert_close(matrix, torch_step(SEED, xs, ys))


def test_auto_form_rule():
    assert choose_form(SEED, 1, "auto") == "scalar"
    assert choose_form(SEED, 2, "auto") == "matrix"
    wide = random_network([2, MATRIX_WIDTH + 1, 1])
    assert choose_form(wide, 1, "auto") == "matrix"
    assert choose_form(random_network([2, MATRIX_WIDTH, 1]), 1, "auto") == "scalar"
    assert choose_form(SEED, 4, "scalar") == "scalar"


def test_matrix_steps_carry_shapes_and_operands():
    xs, ys = DATASETS["xor"]
    d = build_derivation(SEED, xs, ys)
    steps = [s for section in d.sections for g in section.groups for s in g.steps]
    assert all(isinstance(s, MatrixStep) for s in steps)
    z1 = steps[0]
    assert z1.value.shape == (4, 2)
    assert [m.shape for _, m in z1.operands] == [(4, 2), (2, 2), (1, 2)]


def test_carry_in_matrix_form_rounds_every_matrix():
    xs, ys = DATASETS["xor"]
    d = build_derivation(SEED, xs, ys, Options(rounding="carry", precision=3))
    for layer in d.to_dict()["layers"]:
        for row in layer["a"] + layer["grad_weight"]:
            for value in row:
                assert value in (round(value, 3), float(f"{value:.3e}"))  # fixed decimals, or a small one's mantissa


def test_softmax_cross_entropy_batch_uses_the_simplified_delta():
    network = Network((Layer(((0.2, -0.4), (0.7, 0.1), (-0.3, 0.5)), (0.0, 0.1, -0.1), "softmax"),),
                      loss="cross_entropy")
    xs = ((1.0, 2.0), (0.5, -1.0))
    ys = ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0))
    d = build_derivation(network, xs, ys)
    assert_close(d.to_dict(), torch_step(network, xs, ys))
    text = d.to_markdown()
    assert r"\frac{1}{2} \left(\hat{Y} - Y\right)" in text
