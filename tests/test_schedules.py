"""Learning-rate schedules and gradient clipping against torch.optim.lr_scheduler and
torch.nn.utils.clip_grad_*_ in a plain PyTorch loop, on the numpy and torch engines."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backprop_cli.cli import main
from backprop_cli.errors import BackpropError
from backprop_cli.model import DATASETS, SEED, Optimizer
from backprop_cli.schedules import Clip, parse_clip, parse_schedule
from backprop_cli.training import TrainSettings, train
from tests.reference import assert_close, torch_train
from tests.strategies import networks

torch = pytest.importorskip("torch")
lr_scheduler = torch.optim.lr_scheduler

SCHEDULES = {
    "step:step_size=7,gamma=0.5": lambda o: lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
    "exponential:gamma=0.93": lambda o: lr_scheduler.ExponentialLR(o, gamma=0.93),
    "cosine:T_max=20,eta_min=0.01": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.01),
    "linear:start_factor=0.1,end_factor=1,total_iters=12":
        lambda o: lr_scheduler.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=12),
    "linear": lambda o: lr_scheduler.LinearLR(o),
}


@pytest.mark.parametrize("text", list(SCHEDULES))
def test_each_epochs_lr_is_torchs(text) -> None:
    schedule = parse_schedule(text)
    assert schedule is not None
    parameter = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([parameter], lr=0.3)
    scheduler = SCHEDULES[text](optimizer)
    for epoch in range(90):
        assert schedule.lr(0.3, epoch) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("text", list(SCHEDULES))
@pytest.mark.parametrize("clip", [None, ("norm", 0.05), ("value", 0.01)])
@pytest.mark.parametrize("batch_size", [None, 3])
def test_training_equals_a_torch_loop(backend, text, clip, batch_size) -> None:
    xs, ys = DATASETS["xor"]
    network = replace(SEED, lr=0.8, optimizer=Optimizer("momentum", momentum=0.5))
    ours = train(network, xs, ys, TrainSettings(
        epochs=40, batch_size=batch_size, backend=backend, log_every=1, schedule=parse_schedule(text),
        clip=None if clip is None else Clip(*clip)))
    theirs = torch_train(network, xs, ys, 40, batch_size, scheduler=SCHEDULES[text], clip=clip)
    assert_close([loss for _, loss in ours.history], theirs["history"], 1e-10)
    for layer, reference in zip(ours.network.layers, theirs["layers"], strict=True):
        assert_close({"weight": layer.weight, "bias": layer.bias}, reference, 1e-10)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(networks(max_samples=4, max_depth=3, max_width=4), st.sampled_from(list(SCHEDULES)),
       st.sampled_from([None, ("norm", 0.5), ("value", 0.1)]), st.sampled_from(["sgd", "adam", "rmsprop"]),
       st.sampled_from(["numpy", "torch"]))
def test_random_networks_with_schedules_and_clipping(case, text, clip, optimizer, backend) -> None:
    network, xs, ys = case
    network = replace(network, optimizer=Optimizer(optimizer), lr=min(network.lr, 0.1))
    try:
        ours = train(network, xs, ys, TrainSettings(epochs=15, backend=backend, log_every=1,
                                                    schedule=parse_schedule(text),
                                                    clip=None if clip is None else Clip(*clip)))
    except BackpropError:
        return
    theirs = torch_train(network, xs, ys, 15, scheduler=SCHEDULES[text], clip=clip)
    assume(all(abs(v) < 1e3 for v in theirs["history"]))  # a diverging run amplifies the last digits
    # 1e-8: bce near a saturated output and Adam's g/(√v + ε) amplify the last digits of two correct runs.
    assert_close([loss for _, loss in ours.history], theirs["history"], 1e-8, abs_tol=1e-10)


def test_the_command_line_and_its_json(capsys) -> None:
    assert main(["train", "--data", "xor", "--epochs", "30", "--schedule", "step:step_size=7,gamma=0.5",
                 "--clip-norm", "0.05", "--format", "json", "--log-every", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["schedule"] == "StepLR(step_size=7, gamma=0.5)" and out["clip"] == "clip_grad_norm_(0.05)"
    assert out["backend"] == "numpy"
    xs, ys = DATASETS["xor"]
    theirs = torch_train(SEED, xs, ys, 30, scheduler=SCHEDULES["step:step_size=7,gamma=0.5"], clip=("norm", 0.05))
    assert_close([row["loss"] for row in out["history"]], theirs["history"], 1e-10)


def test_a_shown_step_works_with_its_epochs_lr(capsys) -> None:
    assert main(["train", "--epochs", "10", "--schedule", "exponential:gamma=0.5", "--show-steps", "4",
                 "--format", "json"]) == 0
    step = json.loads(capsys.readouterr().out)["steps"][0]
    layer = step["layers"][-1]
    lr = 1.0 * 0.5 ** 3
    assert_close(layer["new_bias"][0], layer["bias"][0] - lr * layer["grad_bias"][0], 1e-12)


@pytest.mark.parametrize("args, message", [
    (["--schedule", "bogus"], "unknown schedule 'bogus'"),
    (["--schedule", "step"], "StepLR needs step_size"),
    (["--schedule", "step:step_size=2.5"], "whole number"),
    (["--schedule", "cosine:T_max=10,eta=1"], "has no argument 'eta'"),
    (["--schedule", "exponential:gamma=__import__"], "not key=number"),
    (["--clip-norm", "1", "--clip-value", "1"], "not both"),
    (["--clip-value", "0"], "positive"),
    (["--clip-norm", "1", "--backend", "compiled"], "compiled engine"),
    (["--clip-norm", "1", "--show-steps", "1"], "without clipping"),
])
def test_bad_options(capsys, args, message) -> None:
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_parse() -> None:
    assert parse_schedule(None) is None and parse_schedule("none") is None
    assert parse_clip(None, None) is None and parse_clip(2, None) == Clip("norm", 2.0)
