"""A validation split and early stopping: the held-out loss and the epoch training stops at, against
a plain PyTorch loop that trains on the same samples and watches the same loss."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backprop_cli.cli import main
from backprop_cli.errors import BackpropError
from backprop_cli.model import SEED
from backprop_cli.training import TrainSettings, split, train
from tests.reference import assert_close, build_modules, forward, make_optimizer, torch_loss, trainable
from tests.strategies import networks

torch = pytest.importorskip("torch")


def torch_watch(network, xs, ys, held_xs, held_ys, epochs, early_stop=None, patience=10):
    """Full-batch training in PyTorch; per epoch the training and held-out losses before its update,
    and the epoch early stopping (Keras' rule: no fall by more than ``early_stop`` for ``patience``
    epochs) stops before."""
    linears, activations = build_modules(network)
    optimizer = make_optimizer(network, trainable(linears, network))
    x, y = torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)

    def loss_of(inputs, targets):
        zs, as_ = forward(linears, activations, torch.tensor(inputs, dtype=torch.float64))
        return torch_loss(network.loss, as_[-1], zs[-1], torch.tensor(targets, dtype=torch.float64), network.beta)

    history, held, best, waited = [], [], math.inf, 0
    for epoch in range(1, epochs + 1):
        with torch.no_grad():
            held_loss = loss_of(held_xs, held_ys).item() if held_xs else None
        optimizer.zero_grad()
        loss = loss_of(x.tolist(), y.tolist())
        if early_stop is not None:
            watched = held_loss if held_loss is not None else loss.item()
            if watched < best - early_stop:
                best, waited = watched, 0
            else:
                waited += 1
            if waited >= patience:
                return history, held, epoch
        history.append(loss.item())
        held.append(held_loss)
        loss.backward()
        optimizer.step()
    return history, held, None


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(networks(min_samples=3, max_samples=6, max_depth=3, max_width=3), st.sampled_from([0.2, 0.34, 0.5]),
       st.sampled_from([None, 0.0, 1e-3]), st.integers(1, 6), st.integers(0, 99))
def test_held_out_loss_and_stopping_equal_torch(case, share, early_stop, patience, seed) -> None:
    network, xs, ys = case
    network = replace(network, lr=min(network.lr, 0.05))
    kept_xs, kept_ys, held_xs, held_ys = split(xs, ys, share, seed)
    try:
        ours = train(network, xs, ys, TrainSettings(epochs=25, log_every=1, seed=seed, validation=share,
                                                    early_stop=early_stop, patience=patience, backend="numpy"))
    except BackpropError:
        return
    history, held, stopped = torch_watch(network, kept_xs, kept_ys, held_xs, held_ys, 25, early_stop, patience)
    # A run that diverges amplifies the last digits of two correct computations without bound.
    assume(all(abs(v) < 1e3 for v in history + [h for h in held if h is not None]))
    assert ours.stopped == stopped
    assert ours.epochs == (25 if stopped is None else stopped - 1)
    # 1e-8: bce near a saturated output carries 1/(1 − ŷ), which turns the last digits of two
    # correct float64 computations into a relative difference of ~1e-10 over a few epochs.
    assert_close([loss for _, loss in ours.history], history, 1e-8, abs_tol=1e-12)
    assert_close([loss for _, loss in ours.validation], held, 1e-8, abs_tol=1e-12)


def test_early_stopping_on_the_training_loss(capsys) -> None:
    """Without held-out samples the training loss is watched: SGD on the seed stops once it flattens."""
    assert main(["train", "--epochs", "5000", "--early-stop", "1e-4", "--patience", "3", "--format", "json",
                 "--log-every", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    history, _, stopped = torch_watch(SEED, [(1.0, 1.0)], [(0.0,)], [], [], 5000, 1e-4, 3)
    assert out["stopped_early"] == stopped and out["epochs"] == stopped - 1
    assert_close([row["loss"] for row in out["history"]], history, 1e-10)


def test_split_is_seeded_disjoint_and_ordered() -> None:
    xs = tuple((float(i),) for i in range(10))
    ys = tuple((float(i % 2),) for i in range(10))
    a = split(xs, ys, 0.3, 1)
    assert a == split(xs, ys, 0.3, 1) and a != split(xs, ys, 0.3, 2)
    kept, held = [x[0] for x in a[0]], [x[0] for x in a[2]]
    assert len(held) == 3 and sorted(kept + held) == list(range(10))
    assert kept == sorted(kept) and held == sorted(held)
    assert split(xs, ys, 0.0, 1)[2] == ()


@pytest.mark.parametrize("fmt, marks", [
    ("markdown", ["| epoch | loss | validation |", "## Validation loss curve", "Held-out samples (1)"]),
    ("latex", ["Validation loss curve", "Held-out samples (1)"]),
    ("html", ["<th class=\"number\">validation</th>", "Validation loss curve"]),
    ("rich", ["validation", "Validation loss curve", "Stopped early before epoch"]),
])
def test_every_report_shows_the_held_out_loss(capsys, fmt, marks) -> None:
    args = ["train", "--data", "xor", "--validation", "0.25", "--epochs", "50", "--format", fmt]
    if fmt == "rich":
        args += ["--early-stop", "0", "--patience", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for mark in marks:
        assert mark in out, mark


@pytest.mark.parametrize("args, message", [
    (["--validation", "1"], "below 1"),
    (["--validation", "-0.1"], "at least 0"),
    (["--validation", "0.9"], "leaves none to train on"),
    (["--early-stop", "-1"], "at least 0"),
    (["--early-stop", "0.1", "--patience", "0"], "patience"),
])
def test_bad_options(capsys, args, message) -> None:
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
