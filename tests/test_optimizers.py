"""Optimizer update lines (SGD, momentum, Adam, AdamW, RMSprop, weight decay) against torch.optim, at the
first step and later ones."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from backprop_cli.build import build_derivation
from backprop_cli.cli import main
from backprop_cli.derivation import Options
from backprop_cli.engines.base import EngineSettings
from backprop_cli.model import DATASETS, SEED, SEED_X, SEED_Y, Layer, Network, Optimizer, OptimizerSlots
from backprop_cli.training import TrainSettings, train, with_derivations
from tests.reference import (
    TORCH_STATE,
    assert_close,
    build_modules,
    forward,
    make_optimizer,
    torch_loss,
    torch_step,
    trainable,
)

torch = pytest.importorskip("torch")

OPTIMIZERS = [Optimizer("sgd"), Optimizer("momentum"), Optimizer("momentum", momentum=0.5),
              Optimizer("adam"), Optimizer("adam", beta1=0.5, beta2=0.9, eps=1e-3),
              Optimizer("sgd", weight_decay=0.1), Optimizer("momentum", weight_decay=0.05),
              Optimizer("adam", weight_decay=0.1, eps=1e-3), Optimizer("adamw"), Optimizer("adamw", weight_decay=0.5),
              Optimizer("rmsprop"), Optimizer("rmsprop", alpha=0.9, eps=1e-3, momentum=0.5),
              Optimizer("rmsprop", centered=True), Optimizer("rmsprop", centered=True, momentum=0.9, weight_decay=0.1),
              Optimizer("adam", eps=0.0)]
STATEFUL = [o for o in OPTIMIZERS if o.rule.slots(o)]


def label(optimizer):
    return "-".join(f"{k}={v}" for k, v in vars(optimizer).items() if v not in (None, False))


def _frozen_seed():
    first = replace(SEED.layers[0], freeze_bias=True)
    return replace(SEED, layers=(first, SEED.layers[1]))


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=label)
def test_first_step_equals_torch_optim(optimizer):
    for network in (SEED, _frozen_seed()):
        network = replace(network, optimizer=optimizer, lr=0.1)
        assert_close(build_derivation(network, SEED_X, SEED_Y).to_dict(), torch_step(network, SEED_X, SEED_Y))


def torch_after(network, xs, ys, steps):
    """torch.optim's parameters and state after ``steps`` full-batch steps, and the step after them."""
    linears, activations = build_modules(network)
    x, y = torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)
    opt = make_optimizer(network, trainable(linears, network))
    for _ in range(steps):
        opt.zero_grad()
        zs, as_ = forward(linears, activations, x)
        torch_loss(network.loss, as_[-1], zs[-1], y).backward()
        opt.step()
    return linears, opt


def slots_from_torch(network, linears, opt, steps):
    keys = {name: key for name, key in TORCH_STATE[network.optimizer.name].items()
            if name in network.optimizer.rule.slots(network.optimizer)}

    def read(p, key):
        if p is None or p not in opt.state:
            return None
        return tuple(map(tuple, opt.state[p][key].tolist())) if p.dim() == 2 else tuple(opt.state[p][key].tolist())
    return OptimizerSlots(steps, {kind: tuple((read(lin.weight, key), read(lin.bias, key)) for lin in linears)
                                  for kind, key in keys.items()})


@pytest.mark.parametrize("optimizer", STATEFUL, ids=label)
def test_a_later_step_with_the_optimizer_state_equals_torch_optim(optimizer):
    """Step 6 derived from torch.optim's velocity or moments after 5 steps equals torch's step 6."""
    xs, ys = DATASETS["xor"]
    for base in (SEED, _frozen_seed()):
        network = replace(base, optimizer=optimizer, lr=0.1)
        linears, opt = torch_after(network, xs, ys, 5)
        weights = [tuple(map(tuple, lin.weight.tolist())) for lin in linears]
        biases = [tuple(lin.bias.tolist()) for lin in linears]
        now = network.with_parameters(weights, biases)
        state = slots_from_torch(network, linears, opt, 5)
        ours = build_derivation(now, xs, ys, Options(form="scalar"), state=state).to_dict()
        linears6, _ = torch_after(network, xs, ys, 6)
        for layer, lin in zip(ours["layers"], linears6, strict=True):
            assert_close(layer["new_weight"], lin.weight.tolist())
            assert_close(layer["new_bias"], lin.bias.tolist())


@pytest.mark.parametrize("backend", ["compiled", "numpy", "torch"])
@pytest.mark.parametrize("optimizer", STATEFUL, ids=label)
def test_every_engine_reports_the_optimizer_state_torch_has(backend, optimizer):
    from backprop_cli import engines

    xs, ys = DATASETS["xor"]
    network = replace(SEED, optimizer=optimizer, lr=0.1)
    engine = engines.load(backend)(network, xs, ys, EngineSettings(batch_size=4))
    engine.run(1, 7, set(), [False])
    linears, opt = torch_after(network, xs, ys, 7)
    ours, theirs = engine.optimizer_state(), slots_from_torch(network, linears, opt, 7)
    assert ours.steps == 7
    assert_close({k: list(v) for k, v in ours.slots.items()}, {k: list(v) for k, v in theirs.slots.items()},
                 tol=1e-12)


@pytest.mark.parametrize("optimizer", STATEFUL, ids=label)
def test_show_steps_derives_the_epoch_the_engine_ran(optimizer):
    """The derivation of epoch k starts where training was and ends where epoch k left it."""
    xs, ys = DATASETS["xor"]
    network = replace(SEED, optimizer=optimizer, lr=0.1)
    result = with_derivations(train(network, xs, ys, TrainSettings(epochs=30, show_steps=(30,), log_every=1)),
                              Options(form="scalar"))
    (step,) = result.steps
    derivation = step.derivation.to_dict()
    assert derivation["loss"] == pytest.approx(result.history[-1][1], rel=1e-12)
    for layer, trained in zip(derivation["layers"], result.network.layers, strict=True):
        assert_close(layer["new_weight"], trained.weight)
        assert_close(layer["new_bias"], trained.bias)


def test_show_steps_with_batches_chains_every_step_of_the_epoch():
    xs, ys = DATASETS["xor"]
    network = replace(SEED, optimizer=Optimizer("adam"), lr=0.05)
    result = with_derivations(train(network, xs, ys, TrainSettings(epochs=4, batch_size=3, shuffle=True,
                                                                   seed=2, show_steps=(4,))), Options(form="scalar"))
    assert [(s.epoch, s.batch, s.batches) for s in result.steps] == [(4, 1, 2), (4, 2, 2)]
    last = result.steps[-1].derivation.to_dict()["layers"]
    for layer, trained in zip(last, result.network.layers, strict=True):
        assert_close(layer["new_weight"], trained.weight)


@pytest.mark.parametrize("args", [["--optimizer", "momentum", "--momentum", "0.5"],
                                  ["--optimizer", "adam", "--beta1", "0.8", "--beta2", "0.99", "--eps", "1e-6"]])
def test_step_takes_the_optimizer_options(args, capsys):
    assert main(["step", "--lr", "0.1", "--format", "json", *args]) == 0
    ours = json.loads(capsys.readouterr().out)
    values = dict(zip(args[::2], args[1::2], strict=True))
    optimizer = Optimizer(values["--optimizer"], momentum=float(values.get("--momentum", 0.9)),
                          beta1=float(values.get("--beta1", 0.9)), beta2=float(values.get("--beta2", 0.999)),
                          eps=float(values.get("--eps", 1e-8)))
    assert_close(ours, torch_step(replace(SEED, optimizer=optimizer, lr=0.1), SEED_X, SEED_Y))


def test_adam_lines_show_the_step_number_and_bias_correction(capsys):
    assert main(["step", "--optimizer", "adam", "--lr", "0.01"]) == 0
    out = capsys.readouterr().out
    for text in ("m̂[W₁]", "v̂[W₁]", "step t = 1", "1 - 0.9"):
        assert text in out, text


def test_bad_optimizer_options_are_one_line_errors(capsys):
    for args, expected in ((["--optimizer", "adagrad"], "unknown optimizer 'adagrad'"),
                           (["--optimizer", "momentum", "--momentum", "1.5"], "momentum: must be in [0, 1)"),
                           (["--optimizer", "adam", "--eps", "-1"], "eps: must be 0 or a positive number"),
                           (["--optimizer", "rmsprop", "--alpha", "1"], "alpha: must be in [0, 1)"),
                           (["--weight-decay", "-0.1"], "weight_decay: must be 0 or a positive number")):
        assert main(["step", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and expected in err and len(err.strip().splitlines()) == 1


def test_network_without_bias_in_a_derivation_with_state():
    network = Network((Layer(((0.3, -0.2), (0.1, 0.4)), None), Layer(((0.5, -0.5),), None)),
                      optimizer=Optimizer("momentum"), lr=0.5)
    state = OptimizerSlots(3, {"v": ((((0.01, 0.02), (0.03, 0.04)), None), (((0.05, 0.06),), None))})
    ours = build_derivation(network, SEED_X, SEED_Y, state=state).to_dict()
    v = [[0.01, 0.02], [0.03, 0.04]]
    for j in range(2):
        for k in range(2):
            g = ours["layers"][0]["grad_weight"][j][k]
            assert ours["layers"][0]["new_weight"][j][k] == pytest.approx(
                network.layers[0].weight[j][k] - 0.5 * (0.9 * v[j][k] + g), rel=1e-14)


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=label)
@pytest.mark.parametrize("backend", ["compiled", "numpy", "torch"])
def test_training_equals_a_torch_loop(optimizer, backend):
    """30 epochs of XOR from the seed's weights, on every engine, against torch.optim's loop."""
    xs, ys = DATASETS["xor"]
    network = replace(SEED, optimizer=optimizer, lr=0.1)
    result = train(network, xs, ys, TrainSettings(epochs=30, backend=backend, log_every=1))
    linears, _ = torch_after(network, xs, ys, 30)
    for layer, lin in zip(result.network.layers, linears, strict=True):
        assert_close(layer.weight, lin.weight.tolist(), tol=1e-10)
        assert_close(layer.bias, lin.bias.tolist(), tol=1e-10)


@pytest.mark.parametrize(("args", "seen"), [
    (["--optimizer", "rmsprop", "--centered", "--momentum", "0.5"], ("ḡ[W₁]", "B[W₁](t+1)", "ρ")),
    (["--optimizer", "adamw"], ("θ̃[W₁]", "λ = 0.01")),
    (["--weight-decay", "0.1"], ("g[W₁]", "λ = 0.1")),
])
def test_the_lines_of_the_new_optimizers(args, seen, capsys):
    assert main(["step", "--lr", "0.1", *args]) == 0
    out = capsys.readouterr().out
    for text in seen:
        assert text in out, text


def test_a_spec_file_keeps_the_optimizer_settings(tmp_path):
    from backprop_cli.io import load_spec, spec_toml

    for optimizer in OPTIMIZERS:
        path = tmp_path / "net.toml"
        path.write_text(spec_toml(replace(SEED, optimizer=optimizer)))
        assert load_spec(path).network.optimizer == optimizer
