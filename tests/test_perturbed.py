"""verify's batched central differences (perturbed.py): every parameter's perturbed loss in one pass,
equal to moving the parameters one at a time, and still catching a wrong gradient."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

from backprop_cli import perturbed, verification
from backprop_cli.cli import main
from backprop_cli.derivation import Derivation
from backprop_cli.model import random_network
from backprop_cli.verification import _MatrixLoss, _step, central_losses, check_gradients, parameters
from tests.strategies import kind_networks, networks


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=30)
@given(networks(max_samples=4, max_depth=3, max_width=5, bound=1.0, input_bound=1.5))
def test_batched_losses_equal_moving_one_parameter_at_a_time(case):
    network, xs, ys = case
    chosen = parameters(network)
    one_at_a_time = _MatrixLoss(network, xs, ys)
    batched = central_losses(network, xs, ys, chosen)
    for parameter, (below, above) in zip(chosen, batched, strict=True):
        minus, plus, _ = _step(parameter.value(network), verification.CENTRAL_STEP)
        for got, theta in ((below, minus), (above, plus)):
            expected = one_at_a_time(parameter, theta)
            # The batch adds d·x to z instead of recomputing x·(w + d): a rounding of z apart.
            assert math.isclose(got, expected, rel_tol=1e-13, abs_tol=1e-13) or (
                math.isnan(got) and math.isnan(expected)), (parameter.key, got, expected)


def test_small_chunks_give_the_same_losses(monkeypatch):
    network = random_network((3, 7, 5, 2), activation="tanh", output_activation="softmax",
                             loss="cross_entropy", seed=2)
    xs = [(0.5, -1.0, 2.0), (1.0, 0.0, -0.5)]
    ys = [(1.0, 0.0), (0.0, 1.0)]
    chosen = parameters(network)
    whole = central_losses(network, xs, ys, chosen)
    monkeypatch.setattr(perturbed, "CHUNK_ELEMENTS", 1)
    assert central_losses(network, xs, ys, chosen) == whole


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=15)
@given(networks(max_samples=3, max_depth=3, max_width=4, bound=1.0, input_bound=1.5))
def test_random_networks_pass_through_the_batched_pass(case):
    network, xs, ys = case
    pytest.importorskip("torch")
    limit = verification.SCALAR_FORWARD_LIMIT
    verification.SCALAR_FORWARD_LIMIT = 0
    try:
        report = check_gradients(network, xs, ys)
    finally:
        verification.SCALAR_FORWARD_LIMIT = limit
    assert report.forward == "numpy"
    assert report.ok, [(c.parameter.name, c.gradient, c.autograd, c.finite_difference) for c in report.failures]


def test_a_large_network_agrees_with_torch_and_its_differences():
    pytest.importorskip("torch")
    network = random_network((2, 30, 30, 1), seed=0)
    report = check_gradients(network, [(0.5, -1.0), (1.0, 2.0)], [(1.0,), (0.0,)])
    assert report.forward == "numpy" and len(report.checks) == 1051 and report.ok
    assert max(c.autograd.abs_error for c in report.checks if c.autograd) < 1e-14
    assert max(c.finite_difference.abs_error for c in report.checks) < 1e-8


@pytest.mark.parametrize("layer, row, column", [(0, 7, 1), (1, 12, None), (2, 0, 29)])
def test_a_planted_wrong_gradient_in_a_large_network_is_caught(monkeypatch, capsys, layer, row, column):
    monkeypatch.setitem(sys.modules, "torch", None)  # the finite differences alone decide
    original = Derivation.to_dict

    def planted(self):
        data = original(self)
        entry = data["layers"][layer]
        if column is None:
            entry["grad_bias"][row] += 1e-5
        else:
            entry["grad_weight"][row][column] += 1e-5
        return data

    monkeypatch.setattr(Derivation, "to_dict", planted)
    code = main(["verify", "--layers", "2", "30", "30", "1", "--seed", "0", "--x", "0.5", "-1", "--y", "1",
                 "--format", "json"])
    assert code == 1
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["references"]["finite_differences"]["forward"] == "numpy"
    bad = [p for p in report["parameters"] if not p["ok"]]
    key = f"layers[{layer}].{'bias' if column is None else 'weight'}[{row}]" + (
        "" if column is None else f"[{column}]")
    assert [p["key"] for p in bad] == [key]
    assert bad[0]["finite_difference"]["abs_error"] == pytest.approx(1e-5, rel=1e-3)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=3)
@given(kind_networks())
def test_other_kinds_move_one_parameter_at_a_time(case):
    network, xs, ys = case
    assume(not network.scalar_form)
    with pytest.raises(ValueError):
        perturbed.PerturbedLosses(network, xs, ys)
    assert np.isfinite(check_gradients(network, xs, ys).derivation.loss)


def test_parameter_names_are_the_pages_symbols():
    from backprop_cli.notation import Node
    from backprop_cli.printing import to_text

    for parameter in parameters(random_network((3, 40, 1), seed=0)):
        letter = "W" if parameter.kind == "weight" else "b"
        assert parameter.name == to_text(Node(letter, parameter.number))
