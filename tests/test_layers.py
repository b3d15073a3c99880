"""The layer kinds beyond dense (layers/): every number equal to PyTorch float64.

The reference (tests/reference_kinds.py) builds each network from torch.nn itself: nn.Linear and
the activation modules, nn.BatchNorm1d (with its running statistics after the step), nn.LayerNorm,
dropout as x ⊙ mask/(1 − p) (what nn.Dropout computes in training mode for that mask), and
``x + block(x)``; autograd gives the gradients and torch.optim the update.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.errors import BackpropError, SpecError
from backprop_cli.io import load_spec, parse_spec, spec_document, spec_toml
from backprop_cli.layers.batch_norm import BatchNorm
from backprop_cli.layers.dense import Layer
from backprop_cli.model import Network, Optimizer
from backprop_cli.training import TrainSettings, train
from backprop_cli.verification import check_gradients, units_at_kinks
from tests.reference import assert_close, assert_step_close, magnitude
from tests.reference_kinds import torch_kinds_step, torch_kinds_train
from tests.strategies import kind_networks

torch = pytest.importorskip("torch")

SPEC = """
loss = "mse"
lr = 0.5

[[layers]]
weight = [[0.5, -0.3], [0.2, 0.8], [-0.4, 0.1]]
bias = [0.1, -0.1, 0.05]
activation = "identity"

[[layers]]
kind = "batch_norm"
weight = [1.0, 0.9, 1.1]
bias = [0.0, 0.1, -0.1]

[[layers]]
kind = "activation"
activation = "relu"

[[layers]]
kind = "dropout"
p = 0.5
mask = [[1, 0, 1], [1, 1, 0], [0, 1, 1]]

[[layers]]
kind = "residual"
[[layers.layers]]
weight = [[0.3, 0.1, -0.2], [0.0, 0.4, 0.2], [0.1, -0.1, 0.3]]
bias = [0.0, 0.1, 0.0]
activation = "tanh"
[[layers.layers]]
kind = "layer_norm"

[[layers]]
weight = [[0.2, -0.5, 0.3]]
bias = [0.1]
activation = "sigmoid"

[data]
x = [[1.0, 2.0], [0.5, -1.0], [-1.5, 0.3]]
y = [[1.0], [0.0], [1.0]]
"""


def spec(tmp_path):
    path = tmp_path / "net.toml"
    path.write_text(SPEC)
    return load_spec(path)


def keyed(values):
    """Parameters by (path, name) as a dict with text keys, for assert_close."""
    return {f"{path}.{name}": value for (path, name), value in values.items()}


def _variances(rows, by_column):
    columns = list(zip(*rows, strict=True)) if by_column else rows
    out = []
    for values in columns:
        mean = sum(values) / len(values)
        out.append((sum((v - mean) ** 2 for v in values) / len(values), max(abs(v) for v in values)))
    return out


def normalizes_constant(entries, inputs):
    """Whether a batch_norm column or a layer_norm row is constant (variance 0), or nearly so.

    There x − μ is 0 in exact arithmetic and a rounding of μ apart (the order of its sum) in float64;
    divided by √ε that is ~1e-14, and where the next layer has a kink (relu at 0) that decides which
    side the unit falls on. Two correct float64 computations can then take different branches, so
    such cases are left to the fixed tests, which choose inputs that spread.
    """
    for entry in entries:
        if entry["kind"] in ("batch_norm", "layer_norm"):
            by_column = entry["kind"] == "batch_norm"
            if by_column or len(inputs[0]) > 1:
                for variance, size in _variances(inputs, by_column):
                    if variance <= 1e-12 * max(1.0, size) ** 2:
                        return True
        if entry["kind"] == "residual" and normalizes_constant(entry["layers"], inputs):
            return True
        inputs = entry["output"]
    return False


def step_json(network, xs, ys, **options):
    return json.loads(build_derivation(network, xs, ys, Options(**options)).to_json())


def test_every_kind_in_one_network_equals_pytorch(tmp_path):
    loaded = spec(tmp_path)
    ours = step_json(loaded.network, loaded.xs, loaded.ys)
    assert [layer["kind"] for layer in ours["layers"]] == [
        "dense", "batch_norm", "activation", "dropout", "residual", "dense"]
    assert [layer["kind"] for layer in ours["layers"][4]["layers"]] == ["dense", "layer_norm"]
    assert set(ours["layers"][1]) >= {"new_running_mean", "new_running_var", "grad_weight", "new_bias", "output"}
    assert_close(ours, torch_kinds_step(loaded.network, loaded.xs, loaded.ys), tol=1e-12)


@settings(deadline=None)
@given(kind_networks())
def test_random_networks_of_kinds_equal_pytorch(case):
    network, xs, ys = case
    expected = torch_kinds_step(network, xs, ys)
    expected["_loss"] = network.loss
    expected["_output_after"] = expected["output"]
    try:
        ours = step_json(network, xs, ys)
    except BackpropError as error:  # values that overflow are refused, never printed wrong
        assert "not finite" in str(error) or "predictions" in str(error)
        return
    assume(not normalizes_constant(ours["layers"], xs))
    assert_step_close(ours, expected)


@settings(deadline=None, max_examples=40)
@given(kind_networks(max_blocks=3))
def test_training_on_each_engine_equals_a_torch_loop(case):
    network, xs, ys = case
    assume(not normalizes_constant(step_json(network, xs, ys)["layers"], xs))
    expected = torch_kinds_train(network, xs, ys, epochs=5)
    if not all(math.isfinite(loss) for loss in expected["history"]) or magnitude(expected) > 1e3:
        return  # diverging: each step multiplies the last digits' differences, whoever computes them
    for backend in ("compiled", "numpy", "torch"):
        result = train(network, xs, ys, TrainSettings(epochs=5, backend=backend))
        history = [loss for _, loss in result.history]
        scale = max(1.0, *(abs(v) for v in expected["history"]))
        assert_close(history, expected["history"], tol=1e-10, abs_tol=1e-10 * scale)
        assert_close(keyed(result.network.parameter_values()), keyed(expected["parameters"]), tol=1e-10)


@settings(deadline=None, max_examples=30)
@given(kind_networks(max_blocks=3))
def test_verify_agrees_on_networks_of_kinds(case):
    network, xs, ys = case
    try:
        verification = check_gradients(network, xs, ys)
    except BackpropError:
        return
    autograd = [check.autograd for check in verification.checks]
    if units_at_kinks(network, verification.derivation.to_dict()["layers"]):
        # A unit exactly at relu's kink here may sit a rounding error past it in torch's order of
        # operations (a batch norm of a constant: 0 here, 1e-17 there, then × 1/√ε), where torch's
        # convention takes the other side's derivative: verify reports such a row, and the test
        # cannot ask both to agree. Every other example must.
        return
    assert all(a is not None and a.ok for a in autograd), [c.to_dict() for c in verification.failures]


def test_the_compiled_engine_trains_kinds_on_the_whole_batch_and_auto_picks_numpy(tmp_path):
    loaded = spec(tmp_path)
    with pytest.raises(BackpropError, match="on the whole batch at once"):
        train(loaded.network, loaded.xs, loaded.ys, TrainSettings(epochs=2, backend="compiled", batch_size=2))
    compiled = train(loaded.network, loaded.xs, loaded.ys, TrainSettings(epochs=20, backend="compiled"))
    expected = torch_kinds_train(loaded.network, loaded.xs, loaded.ys, epochs=20)
    assert_close(keyed(compiled.network.parameter_values()), keyed(expected["parameters"]), tol=1e-10)
    numpy = train(loaded.network, loaded.xs, loaded.ys, TrainSettings(epochs=20, backend="numpy"))
    norm = compiled.network.layers[1]
    assert_close(list(norm.running_mean), list(numpy.network.layers[1].running_mean), tol=1e-12)
    assert_close(list(norm.running_var), list(numpy.network.layers[1].running_var), tol=1e-12)
    result = train(loaded.network, loaded.xs, loaded.ys, TrainSettings(epochs=2))
    assert result.backend == "numpy"


def test_the_scalar_form_equals_the_matrix_form_and_pytorch(tmp_path):
    loaded = spec(tmp_path)
    scalar = step_json(loaded.network, loaded.xs, loaded.ys, form="scalar")
    assert_close(scalar, step_json(loaded.network, loaded.xs, loaded.ys, form="matrix"), tol=1e-13)
    assert_close(scalar, torch_kinds_step(loaded.network, loaded.xs, loaded.ys), tol=1e-12)


@settings(deadline=None, max_examples=40)
@given(kind_networks(min_samples=2, max_samples=3, max_blocks=2, max_width=3))
def test_the_scalar_form_of_random_networks_of_kinds_equals_pytorch(case):
    """The generic chain rule (build_kinds.py), unit by unit, against autograd."""
    network, xs, ys = case
    expected = torch_kinds_step(network, xs, ys)
    expected["_loss"] = network.loss
    expected["_output_after"] = expected["output"]
    try:
        ours = step_json(network, xs, ys, form="scalar")
    except BackpropError as error:
        assert "not finite" in str(error) or "predictions" in str(error) or "lines" in str(error)
        return
    assume(not normalizes_constant(ours["layers"], xs))
    assert_step_close(ours, expected)


def test_the_scalar_form_sums_a_shared_parameter_over_its_uses(tmp_path):
    """γ of batch norm is used by every sample: its gradient line is the sum of their terms."""
    from backprop_cli.printing import to_text

    loaded = spec(tmp_path)
    derivation = build_derivation(loaded.network, loaded.xs, loaded.ys, Options(form="scalar"))
    lines = {to_text(step.target): step for section in derivation.sections for group in section.groups
             for step in group.steps}
    gamma = lines["∂𝓛/∂γ₁⁽²⁾"]
    assert to_text(gamma.forms[0]).count("+") == 2  # three samples, three terms


def test_spec_files_round_trip(tmp_path):
    loaded = spec(tmp_path)
    again = parse_spec(spec_document(loaded.network, loaded.xs, loaded.ys))
    assert again.network == loaded.network
    path = tmp_path / "again.toml"
    path.write_text(spec_toml(loaded.network, loaded.xs, loaded.ys))
    assert load_spec(path).network == loaded.network


@pytest.mark.parametrize(("layers", "message"), [
    ([{"kind": "batch_nrom"}], "did you mean 'batch_norm'"),
    ([{"weight": [[1.0]]}, {"kind": "batch_norm", "momentum": 2}], "momentum: must be in [0, 1]"),
    ([{"weight": [[1.0]]}, {"kind": "batch_norm", "weight": [1.0, 2.0]}], "expects 2 inputs"),
    ([{"weight": [[1.0]]}, {"kind": "dropout", "p": 1.0}], "p = 1 drops every unit"),
    ([{"weight": [[1.0]]}, {"kind": "dropout", "mask": [[2]]}], "a mask is 0 (dropped) or 1 (kept)"),
    ([{"weight": [[1.0]]}, {"kind": "residual", "layers": [{"weight": [[1.0, 2.0]]}]}], "layers[1].layers[0]"),
    ([{"weight": [[1.0]]}, {"kind": "layer_norm", "elementwise_affine": False, "weight": [1.0]}],
     "no weight or bias"),
    ([{"weight": [[1.0]]}, {"kind": "activation"}], "needs activation = NAME"),
    ([{"weight": [[1.0]]}, {"kind": "activation", "activation": "softmax"}, {"weight": [[1.0]]}],
     "softmax is allowed on the output layer only"),
])
def test_bad_layer_tables_name_the_key(layers, message):
    with pytest.raises(SpecError) as error:
        parse_spec({"loss": "mse", "layers": layers})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_batch_norm_needs_a_batch():
    network = Network((Layer(((1.0,),), None, "identity"), BatchNorm((1.0,), (0.0,), (0.0,), (1.0,))), loss="mse")
    with pytest.raises(BackpropError, match="more than 1 sample"):
        build_derivation(network, ((1.0,),), ((0.0,),))


def test_every_kind_has_its_sentences_in_every_language():
    from backprop_cli.locales import en, ko

    keys = [key for key in en.MESSAGES if key.startswith("kind.")]
    assert len(keys) >= 15
    assert all(key in ko.MESSAGES and ko.MESSAGES[key] != en.MESSAGES[key] for key in keys)


@pytest.mark.parametrize("form", ["scalar", "matrix"])
@pytest.mark.parametrize("fmt", ["rich", "markdown", "latex", "html", "json"])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_page_of_every_kind_in_every_format(tmp_path, fmt, lang, form):
    from backprop_cli.render import render

    loaded = spec(tmp_path)
    derivation = build_derivation(loaded.network, loaded.xs, loaded.ys, Options(lang=lang, form=form))
    text = render(derivation, fmt)
    assert "γ" in text or "gamma" in text or fmt == "json"
    if fmt != "json":
        assert ("배치 정규화" if lang == "ko" else "batch norm") in text


def test_optimizer_state_carries_over_for_kinds(tmp_path):
    loaded = spec(tmp_path)
    network = Network(loaded.network.layers, loss="mse", lr=0.1, optimizer=Optimizer("momentum"))
    result = train(network, loaded.xs, loaded.ys, TrainSettings(epochs=3, backend="numpy", show_steps=(3,)))
    from backprop_cli.training import with_derivations

    steps = with_derivations(result).steps
    assert steps and steps[0].epoch == 3
    expected = torch_kinds_train(network, loaded.xs, loaded.ys, epochs=3)
    assert_close(keyed(result.network.parameter_values()), keyed(expected["parameters"]), tol=1e-10)


NEW_OPTIMIZERS = [Optimizer("rmsprop", eps=1e-3), Optimizer("rmsprop", centered=True, momentum=0.5, eps=1e-3),
                  Optimizer("sgd", weight_decay=0.1), Optimizer("momentum", weight_decay=0.01),
                  Optimizer("adamw", eps=1e-3), Optimizer("adam", weight_decay=0.1, eps=1e-3)]


@settings(deadline=None, max_examples=60)
@given(kind_networks(max_blocks=3), st.sampled_from(NEW_OPTIMIZERS))
def test_the_new_optimizers_on_networks_of_kinds_equal_torch_optim(case, optimizer):
    """RMSprop, AdamW and weight decay on random networks that mix the kinds with dense layers (ε ≥ 1e-3
    where g/(√v + ε) would otherwise amplify the last digits of two correct gradients near g = 0)."""
    network, xs, ys = case
    network = Network(network.layers, loss=network.loss, lr=0.1, optimizer=optimizer)
    expected = torch_kinds_step(network, xs, ys)
    expected["_loss"] = network.loss
    expected["_output_after"] = expected["output"]
    try:
        ours = step_json(network, xs, ys)
    except BackpropError:
        return
    assume(not normalizes_constant(ours["layers"], xs))
    # g/(√v + ε) turns the last-digit difference of two correct gradients that cancel to ~0 (a sum of
    # terms of opposite sign) into an update up to lr/ε times larger: the tolerance grows with it.
    adaptive = optimizer.name in ("rmsprop", "adam", "adamw")
    assert_step_close(ours, expected, 1e-12 * (max(1.0, network.lr / optimizer.eps) if adaptive else 1.0))
