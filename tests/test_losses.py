"""The losses beyond the seed's (L1, smooth L1 with its beta, formulas in yhat and y) against PyTorch,
and each loss as one module of backprop_cli/losses/."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.build import build_derivation
from backprop_cli.cli import main
from backprop_cli.errors import BackpropError, SpecError
from backprop_cli.model import DATASETS, SEED, SEED_X, SEED_Y, Network
from backprop_cli.training import TrainSettings, train
from tests.reference import FORMULA_LOSSES, assert_close, assert_step_close, torch_step
from tests.strategies import networks

torch = pytest.importorskip("torch")

NEW = [("l1", 1.0), ("smooth_l1", 1.0), ("smooth_l1", 0.25), ("smooth_l1", 0.0), *((f, 1.0) for f in FORMULA_LOSSES)]


@pytest.mark.parametrize(("loss", "beta"), NEW)
def test_the_seed_with_each_loss_equals_pytorch(loss, beta):
    network = replace(SEED, loss=loss, beta=beta)
    for xs, ys in ((SEED_X, SEED_Y), DATASETS["xor"]):
        ours = json.loads(build_derivation(network, xs, ys).to_json())
        assert_step_close(ours, torch_step(network, xs, ys))


@settings(deadline=None, max_examples=60)
@given(networks(max_samples=3, max_depth=3, max_width=4), st.sampled_from(NEW[:4]))
def test_random_networks_with_l1_and_smooth_l1_equal_pytorch(case, chosen):
    network, xs, ys = case
    loss, beta = chosen
    if network.layers[-1].activation == "softmax":
        return
    network = replace(network, loss=loss, beta=beta)
    try:
        ours = json.loads(build_derivation(network, xs, ys).to_json())
    except BackpropError:
        return
    assert_step_close(ours, torch_step(network, xs, ys))


@pytest.mark.parametrize(("loss", "beta"), NEW[:4])
@pytest.mark.parametrize("backend", ["compiled", "numpy", "torch"])
def test_training_with_each_loss_equals_on_every_engine(loss, beta, backend):
    xs, ys = DATASETS["xor"]
    network = replace(SEED, loss=loss, beta=beta, lr=0.5)
    reference = train(network, xs, ys, TrainSettings(epochs=25, backend="torch"))
    result = train(network, xs, ys, TrainSettings(epochs=25, backend=backend))
    for ours, theirs in zip(result.network.layers, reference.network.layers, strict=True):
        assert_close(ours.weight, theirs.weight, tol=1e-10)


def test_losses_are_modules_registered_by_name():
    from backprop_cli import losses

    for name in losses.NAMES:
        assert losses.loss(name).name == name
    with pytest.raises(SpecError, match="did you mean 'smooth_l1'"):
        Network(SEED.layers, loss="smooth_l")


@pytest.mark.parametrize(("spec", "message"), [
    ('loss = "x**2"\n', "unknown name 'x'"),
    ('loss = "yhat^2"\n', "for a power write **"),
    ('loss = "smooth_l1"\nbeta = -1\n', "beta: smooth_l1's beta must be 0 or more"),
])
def test_bad_losses_are_one_line_errors(tmp_path, capsys, spec, message):
    path = tmp_path / "n.toml"
    path.write_text(spec + "[[layers]]\nweight = [[0.5, 0.5]]\nbias = [0.0]\n")
    assert main(["step", "--network", str(path), "--x", "1", "1", "--y", "0"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_formula_loss_on_the_page(capsys):
    assert main(["step", "--loss", "yhat", "--activation", "identity"]) == 0
    out = capsys.readouterr().out
    assert "𝓛 = ŷ" in out
