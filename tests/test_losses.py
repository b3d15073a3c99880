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


@pytest.mark.parametrize("beta", [0.25, 0.5, 2.0])
def test_a_spec_files_beta_reaches_the_page(tmp_path, capsys, beta):
    """smooth_l1's beta read from a spec file is the page's beta (it was once dropped on loading)."""
    from backprop_cli.io import spec_toml

    network = replace(SEED, loss="smooth_l1", beta=beta)
    path = tmp_path / "net.toml"
    path.write_text(spec_toml(network, SEED_X, SEED_Y))
    assert main(["step", "--network", str(path), "--format", "json"]) == 0
    assert_step_close(json.loads(capsys.readouterr().out), torch_step(network, SEED_X, SEED_Y))


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


def _classifier(loss, output, seed=0):
    from backprop_cli.model import random_network

    return random_network((2, 3, 3), activation="tanh", output_activation=output, loss=loss, seed=seed, lr=0.5)


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 1000), st.lists(st.integers(0, 2), min_size=1, max_size=4), st.sampled_from(["scalar", "matrix"]))
def test_nll_after_log_softmax_equals_pytorch(seed, classes, form):
    from backprop_cli.derivation import Options

    network = _classifier("nll", "log_softmax", seed)
    xs = tuple((0.5 * k - 1.0, 0.3 * k) for k in range(len(classes)))
    ys = tuple(tuple(1.0 if j == c else 0.0 for j in range(3)) for c in classes)
    ours = json.loads(build_derivation(network, xs, ys, Options(form=form)).to_json())
    assert_step_close(ours, torch_step(network, xs, ys))


@pytest.mark.parametrize("backend", ["compiled", "numpy", "torch"])
def test_nll_trains_alike_on_every_engine(backend):
    network = _classifier("nll", "log_softmax")
    xs = ((1.0, 2.0), (0.5, -1.0), (-1.0, 0.0), (0.0, 1.5))
    ys = tuple(tuple(1.0 if j == c else 0.0 for j in range(3)) for c in (2, 0, 1, 2))
    reference = train(network, xs, ys, TrainSettings(epochs=20, backend="torch"))
    result = train(network, xs, ys, TrainSettings(epochs=20, backend=backend))
    for ours, theirs in zip(result.network.layers, reference.network.layers, strict=True):
        assert_close(ours.weight, theirs.weight, tol=1e-10)


@pytest.mark.parametrize(("loss", "output"), [("cross_entropy", "softmax"), ("nll", "log_softmax")])
def test_class_indices_are_one_hot_targets(capsys, loss, output):
    common = ["step", "--layers", "2", "3", "3", "--activation", "tanh", output, "--loss", loss,
              "--x", "1", "2", "--x", "0.5", "-1", "--format", "json"]
    assert main([*common, "--y", "2", "--y", "0"]) == 0
    by_index = json.loads(capsys.readouterr().out)
    assert main([*common, "--y", "0", "0", "1", "--y", "1", "0", "0"]) == 0
    assert by_index == json.loads(capsys.readouterr().out)
    assert main([*common, "--y", "3", "--y", "0"]) == 2
    assert "is not a class index of the 3 outputs" in capsys.readouterr().err


def test_nll_needs_log_softmax_and_one_hot_targets(capsys):
    assert main(["step", "--layers", "2", "3", "--activation", "softmax", "--loss", "nll",
                 "--x", "1", "2", "--y", "0", "1", "0"]) == 2
    assert 'nll needs activation = "log_softmax"' in capsys.readouterr().err
    assert main(["step", "--layers", "2", "3", "--activation", "log_softmax", "--loss", "nll",
                 "--x", "1", "2", "--y", "0.5", "0.5", "0"]) == 2
    assert "needs a one-hot row" in capsys.readouterr().err
