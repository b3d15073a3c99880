"""Softmax over many classes: the numpy engine's ∂𝓛/∂z by its closed forms past ``FUSED_FORMULA_CLASSES``
(p·Σy − y with cross-entropy, p ⊙ (g − Σgp) with another loss; sympy's derivatives grow with the square
of the classes), against a plain PyTorch loop in float64 and against the derived forms on the same
network."""

from __future__ import annotations

import numpy as np
import pytest

from backprop_cli.engines import numpy_engine
from backprop_cli.training import TrainSettings, train
from tests.reference import assert_close, torch_train
from tests.test_engines import _network

torch = pytest.importorskip("torch")


def _trained(network, xs, ys, **options):
    result = train(network, xs, ys, TrainSettings(epochs=5, log_every=1, backend="numpy", **options))
    data = result.to_dict()
    return {"history": [row["loss"] for row in data["history"]], "final_loss": data["final_loss"],
            "layers": data["layers"]}


def _data(classes: int, samples: int, soft: bool):
    rng = np.random.default_rng(5)
    X = rng.uniform(-1.0, 1.0, (samples, 3))
    if soft:  # probabilities as targets: Σy = 1 per row but no row one-hot
        Y = rng.dirichlet(np.ones(classes), samples)
    else:
        Y = np.eye(classes)[rng.integers(0, classes, samples)]
    return [tuple(r) for r in X.tolist()], [tuple(r) for r in Y.tolist()]


@pytest.mark.parametrize("soft", [False, True])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_wide_softmax_trains_as_pytorch_does(soft, optimizer):
    classes = 3 * numpy_engine.FUSED_FORMULA_CLASSES
    network = _network("tanh", "softmax", "cross_entropy", optimizer, lr=0.05, widths=(3, 5, classes))
    xs, ys = _data(classes, 12, soft)
    assert_close(_trained(network, xs, ys), torch_train(network, xs, ys, 5), tol=1e-10)


@pytest.mark.parametrize(("hidden", "loss", "optimizer", "soft"), [
    ("sigmoid", "cross_entropy", "sgd", False), ("sigmoid", "cross_entropy", "sgd", True),  # p·Σy − y
    ("tanh", "mse", "momentum", True), ("tanh", "smooth_l1", "momentum", True)])  # the Jacobian applied
def test_the_closed_forms_equal_the_derived_ones(hidden, loss, optimizer, soft, monkeypatch):
    network = _network(hidden, "softmax", loss, optimizer, lr=0.5, widths=(3, 4, 5))
    xs, ys = _data(5, 9, soft)
    derived = _trained(network, xs, ys)
    monkeypatch.setattr(numpy_engine, "FUSED_FORMULA_CLASSES", 0)
    closed = _trained(network, xs, ys)
    assert_close(closed, derived, tol=1e-13)
    assert_close(closed, torch_train(network, xs, ys, 5), tol=1e-11)


@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_a_wide_softmax_with_another_loss_trains_as_pytorch_does(loss):
    classes = 3 * numpy_engine.FUSED_FORMULA_CLASSES
    network = _network("sigmoid", "softmax", loss, "sgd", lr=0.5, widths=(3, 5, classes))
    xs, ys = _data(classes, 12, False)
    assert_close(_trained(network, xs, ys), torch_train(network, xs, ys, 5), tol=1e-10)
