"""Recurrent layers (layers/recurrent.py): every number of a step equal to PyTorch.

The reference is built here from the spec's own tables, not from the package's kinds: the input
reshaped to (N, T, F), nn.RNN / nn.LSTM / nn.GRU with ``batch_first`` and the table's weights
(``weight_ih_l0`` …), h0 (and c0) as (1, N, H), the last step or every step, then nn.Linear (on
(N, H), or on every step of (N, T, H)), the loss, autograd and torch.optim, in float64.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.errors import BackpropError, SpecError
from backprop_cli.io import parse_spec
from tests.reference import adam_conditioning, assert_close, assert_step_close, magnitude, torch_loss

torch = pytest.importorskip("torch")
T = torch.float64
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def torch_recurrent_step(document: dict[str, Any]) -> dict[str, Any]:
    """``step --format json``'s numbers for the spec ``document``, by PyTorch."""
    steps, features = document["input_shape"]
    table = document["layers"][0]
    kind = table["kind"]
    weight_ih = torch.tensor(table["weight_ih"], dtype=T)
    hidden = weight_ih.shape[0] // GATES[kind]
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    extra = {"nonlinearity": table.get("nonlinearity", "tanh")} if kind == "rnn" else {}
    has_bias = "bias_ih" in table
    rnn = cls(features, hidden, batch_first=True, bias=has_bias, dtype=T, **extra)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(weight_ih)
        rnn.weight_hh_l0.copy_(torch.tensor(table["weight_hh"], dtype=T))
        if has_bias:
            rnn.bias_ih_l0.copy_(torch.tensor(table["bias_ih"], dtype=T))
            rnn.bias_hh_l0.copy_(torch.tensor(table["bias_hh"], dtype=T))
    rnn_params = [("weight_ih", rnn.weight_ih_l0), ("weight_hh", rnn.weight_hh_l0)]
    if has_bias:
        rnn_params += [("bias_ih", rnn.bias_ih_l0), ("bias_hh", rnn.bias_hh_l0)]
    dense = document["layers"][1] if len(document["layers"]) > 1 else None
    linear = None
    if dense is not None:
        w = torch.tensor(dense["weight"], dtype=T)
        linear = torch.nn.Linear(w.shape[1], w.shape[0], dtype=T)
        with torch.no_grad():
            linear.weight.copy_(w)
            linear.bias.copy_(torch.tensor(dense["bias"], dtype=T))
    X = torch.tensor(document["data"]["x"], dtype=T)
    N = X.shape[0]
    Y = torch.tensor(document["data"]["y"], dtype=T)
    all_steps = table.get("output", "last") == "all"

    def state(key: str) -> Any:
        if key not in table:
            return torch.zeros(1, N, hidden, dtype=T)
        rows = torch.tensor(table[key], dtype=T)
        return (rows if len(rows) > 1 else rows.expand(N, -1)).unsqueeze(0)

    def run() -> tuple[Any, Any]:
        sequence = X.reshape(N, steps, features)
        carried = (state("h0"), state("c0")) if kind == "lstm" else state("h0")
        # Truncated BPTT as a PyTorch loop writes it: chunks of K steps, the state detached between them.
        chunk = table.get("bptt", steps)
        outs = []
        for start in range(0, steps, chunk):
            if start:
                carried = tuple(s.detach() for s in carried) if kind == "lstm" else carried.detach()
            part, carried = rnn(sequence[:, start:start + chunk], carried)
            outs.append(part)
        out = torch.cat(outs, dim=1)
        first = out[:, -1] if not all_steps else out
        second = linear(first) if linear is not None else first
        if dense is not None and dense.get("activation") == "tanh":
            second = torch.tanh(second)
        return first.reshape(N, -1), second.reshape(N, -1)

    first, output = run()
    loss = torch_loss(document["loss"], output, output, Y)
    loss.backward()
    every = [p for _, p in rnn_params] + ([linear.weight, linear.bias] if linear is not None else [])
    clip = document.get("_clip")
    if clip is not None:
        how, limit = clip
        if how == "norm":
            torch.nn.utils.clip_grad_norm_(every, limit)
        else:
            torch.nn.utils.clip_grad_value_(every, limit)
    befores = {id(p): p.detach().tolist() for p in every}
    grads = {id(p): p.grad.tolist() for p in every}
    optimizer = {"sgd": lambda: torch.optim.SGD(every, lr=document["lr"]),
                 "momentum": lambda: torch.optim.SGD(every, lr=document["lr"], momentum=0.9),
                 "adam": lambda: torch.optim.Adam(every, lr=document["lr"])}[document["optimizer"]]()
    optimizer.step()
    with torch.no_grad():
        _, after = run()
        loss_after = torch_loss(document["loss"], after, after, Y).item()
    layers = [{"output": first.detach().tolist(),
               **{key: value for name, p in rnn_params
                  for key, value in ((name, befores[id(p)]), (f"grad_{name}", grads[id(p)]),
                                     (f"new_{name}", p.detach().tolist()))}}]
    if linear is not None:
        layers.append({"output": output.detach().tolist(),
                       **{key: value for name, p in (("weight", linear.weight), ("bias", linear.bias))
                          for key, value in ((name, befores[id(p)]), (f"grad_{name}", grads[id(p)]),
                                             (f"new_{name}", p.detach().tolist()))}})
    return {"loss": loss.item(), "loss_after": loss_after, "output": output.detach().tolist(), "layers": layers}


def _numbers(draw: Any, shape: tuple[int, ...]) -> Any:
    if not shape:
        return draw(st.integers(-100, 100)) / 100
    return [_numbers(draw, shape[1:]) for _ in range(shape[0])]


@st.composite
def recurrent_specs(draw: Any, dense: bool = True) -> dict[str, Any]:
    """Hidden 1–4, features 1–3, T 1–5, batch 1–3, both outputs (then nn.Linear on (N, H) or on every
    step of (N, T, H), or the loss straight on the states), with and without h0 (and c0), with and
    without clipping (clip_grad_norm_ or clip_grad_value_ before the update), with and without
    truncated BPTT (bptt = 1, 2 or 3)."""
    kind = draw(st.sampled_from(sorted(GATES)))
    hidden, features, steps, batch = (draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 5)),
                                      draw(st.integers(1, 3)))
    rows = GATES[kind] * hidden
    table: dict[str, Any] = {"kind": kind, "weight_ih": _numbers(draw, (rows, features)),
                             "weight_hh": _numbers(draw, (rows, hidden))}
    if draw(st.booleans()):
        table["bias_ih"], table["bias_hh"] = _numbers(draw, (rows,)), _numbers(draw, (rows,))
    if kind == "rnn":
        table["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    output = draw(st.sampled_from(["last", "all"]))
    table["output"] = output
    bptt = draw(st.sampled_from([None, None, 1, 2, 3]))
    if bptt is not None:
        table["bptt"] = bptt
    for key in ("h0", "c0") if kind == "lstm" else ("h0",):
        if draw(st.booleans()):
            table[key] = _numbers(draw, (draw(st.sampled_from([1, batch])), hidden))
    layers: list[dict[str, Any]] = [table]
    width = hidden * (steps if output == "all" else 1)
    if dense:  # nn.Linear on (N, H), or on every step of (N, T, H)
        outputs = draw(st.integers(1, 3))
        layers.append({"weight": _numbers(draw, (outputs, hidden)), "bias": _numbers(draw, (outputs,)),
                       "activation": draw(st.sampled_from(["identity", "tanh"]))})
        width = outputs * (steps if output == "all" else 1)
    xs = [_numbers(draw, (steps * features,)) for _ in range(batch)]
    ys = [_numbers(draw, (width,)) for _ in range(batch)]
    clip = draw(st.sampled_from([None, ("norm", 0.05), ("norm", 10.0), ("value", 0.02)]))
    return {"loss": "mse", "lr": draw(st.sampled_from([0.1, 0.5])),
            "optimizer": draw(st.sampled_from(["sgd", "momentum", "adam"])),
            "input_shape": [steps, features], "layers": layers, "data": {"x": xs, "y": ys}, "_clip": clip}


def ours(document: dict[str, Any], form: str = "auto") -> dict[str, Any]:
    from backprop_cli.schedules import Clip

    clip = document.get("_clip")
    spec = parse_spec(json.loads(json.dumps({k: v for k, v in document.items() if not k.startswith("_")})))
    assert spec.xs is not None and spec.ys is not None
    options = Options(form=form, clip=None if clip is None else Clip(*clip))
    return json.loads(build_derivation(spec.network, spec.xs, spec.ys, options).to_json())


def check(document: dict[str, Any]) -> None:
    expected = torch_recurrent_step(document)
    expected["_loss"] = document["loss"]
    result = ours(document)
    for layer in result["layers"]:
        layer.pop("z", None), layer.pop("a", None)
    assert_step_close(result, expected)


@settings(deadline=None, max_examples=60)
@given(recurrent_specs(dense=True))
def test_recurrent_then_dense_equals_pytorch(document):
    check(document)


@settings(deadline=None, max_examples=60)
@given(recurrent_specs(dense=False))
def test_recurrent_alone_both_outputs_equals_pytorch(document):
    check(document)


def test_random_weights_follow_torchs_init_and_round_to_four_decimals():
    document = {"loss": "mse", "input_shape": [3, 2], "layers": [{"kind": "lstm", "hidden_size": 4}, {"units": 1}],
                "data": {"x": [[0.0] * 6], "y": [[0.0]]}}
    layer = parse_spec(document).network.layers[0]
    values = [v for row in layer.weight_ih + layer.weight_hh for v in row] + list(layer.bias_ih or ())
    assert len(layer.weight_ih) == 16 and len(layer.weight_ih[0]) == 2 and len(layer.weight_hh[0]) == 4
    assert all(abs(v) <= 0.5 and round(v, 4) == v for v in values)
    assert len(set(values)) > len(values) // 2


@pytest.mark.parametrize(("change", "message"), [
    ({"input_size": 3}, "input_size: is 3 but each step of the input has 2"),
    ({"hidden_size": 5}, "hidden_size: is 5 but weight_hh has 1"),
    ({"output": "every"}, 'output: expected "last" or "all"'),
    ({"weight_hh": [[0.1], [0.2]]}, "weight_hh: has 2 rows and 1 columns"),
    ({"h0": [[0.1, 0.2]]}, "h0: rows have 2 values but hidden_size is 1"),
    ({"bias_ih": [0.1]}, "give both bias_ih and bias_hh"),
])
def test_bad_tables_name_the_key(change, message):
    table = {"kind": "rnn", "weight_ih": [[0.1, 0.2]], "weight_hh": [[0.3]], **change}
    dense = {"weight": [[1.0]], "bias": [0.0], "activation": "identity"}
    document = {"loss": "mse", "input_shape": [2, 2], "layers": [table, dense],
                "data": {"x": [[0.0] * 4], "y": [[0.0]]}}
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_spec(document)


def test_a_sequence_kind_needs_the_input_shape():
    document = {"loss": "mse", "inputs": 4, "layers": [{"kind": "gru", "hidden_size": 2}, {"units": 1}],
                "data": {"x": [[0.0] * 4], "y": [[0.0]]}}
    with pytest.raises(SpecError, match=r"input_shape = \[T, features\]"):
        parse_spec(document)


@settings(deadline=None, max_examples=25)
@given(recurrent_specs(dense=True), st.booleans())
def test_the_scalar_form_equals_the_matrix_form_and_pytorch(document, dense):
    """The page unit by unit (a line per unit, gate and step; the chain rule node by node) gives the
    numbers of the matrix form and of torch, with and without a dense layer after the states."""
    document["_clip"] = None
    if not dense:
        document["layers"] = document["layers"][:1]
        width = len(document["layers"][0]["weight_hh"][0])
        width *= document["input_shape"][0] if document["layers"][0]["output"] == "all" else 1
        document["data"]["y"] = [[0.1 * k for k in range(width)] for _ in document["data"]["x"]]
    expected = torch_recurrent_step(document)
    expected["_loss"] = document["loss"]
    scalar, matrix = ours(document, "scalar"), ours(document, "matrix")
    for result in (scalar, matrix):
        for layer in result["layers"]:
            layer.pop("z", None), layer.pop("a", None)
    if document.get("optimizer") in ("adam", "adamw"):  # a gradient near 0 by cancellation (zero weights after it)
        for result in (scalar, matrix):
            adam_conditioning(document["lr"], result["layers"], expected["layers"], magnitude(expected))
    assert_step_close(scalar, expected)
    assert_step_close(scalar, matrix)


def test_auto_picks_the_scalar_form_for_a_tiny_network_and_the_matrix_form_past_it():
    from backprop_cli.build import choose_form

    for name in ("rnn", "lstm"):
        spec = parse_spec(_example(name))
        assert spec.xs is not None
        assert choose_form(spec.network, 1, "auto") == "scalar"
        assert choose_form(spec.network, 2, "auto") == "matrix"
    document = json.loads(json.dumps(SEQUENCE))  # an LSTM of 3 units over 3 steps: 54 lines a sample
    assert choose_form(parse_spec(document).network, 1, "auto") == "matrix"
    document["layers"][0]["hidden_size"] = 1  # 18 lines a sample
    assert choose_form(parse_spec(document).network, 1, "auto") == "scalar"


def _example(name: str) -> dict[str, Any]:
    import tomllib
    from pathlib import Path

    return tomllib.loads((Path(__file__).parent.parent / "docs" / "examples" / f"{name}.toml").read_text())


# --- training, verify, files ----------------------------------------------------------------


def torch_sequence_model(document: dict[str, Any]) -> tuple[Any, Any, list[Any], Any, Any]:
    """nn.RNN / nn.LSTM / nn.GRU (batch_first) then nn.Linear with the written spec's parameters: the two
    modules, their parameters in the spec's order, the inputs (N, T, F) and the targets."""
    steps, features = document["input_shape"]
    table, dense = document["layers"]
    hidden = len(table["weight_hh"][0])
    rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[table["kind"]](
        features, hidden, batch_first=True, dtype=T)
    linear = torch.nn.Linear(hidden, len(dense["weight"]), dtype=T)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(rnn, f"{name}_l0").copy_(torch.tensor(table[name], dtype=T))
        linear.weight.copy_(torch.tensor(dense["weight"], dtype=T))
        linear.bias.copy_(torch.tensor(dense["bias"], dtype=T))
    params = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0, linear.weight, linear.bias]
    X = torch.tensor(document["data"]["x"], dtype=T).reshape(-1, steps, features)
    return rnn, linear, params, X, torch.tensor(document["data"]["y"], dtype=T)


def torch_recurrent_train(document: dict[str, Any], epochs: int) -> tuple[list[float], list[Any]]:
    """A plain PyTorch loop, full batch, SGD: the loss before each update, and the parameters after."""
    rnn, linear, params, X, Y = torch_sequence_model(document)
    optimizer = torch.optim.SGD(params, lr=document["lr"])
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        out, _ = rnn(X)
        loss = torch.nn.MSELoss()(linear(out[:, -1]), Y)
        history.append(loss.item())
        loss.backward()
        optimizer.step()
    return history, [p.detach().tolist() for p in params]


SEQUENCE = {
    "loss": "mse", "lr": 0.5, "optimizer": "sgd", "input_shape": [3, 2],
    "layers": [{"kind": "lstm", "hidden_size": 3},
               {"units": 1, "activation": "identity"}],
    "data": {"x": [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0.6, 0.5, 0.4, 0.3, 0.2, 0.1], [1.0, -1.0, 0.5, 0.0, -0.5, 1.0]],
             "y": [[1.0], [0.0], [0.5]]},
}


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_training_on_numpy_and_torch_equals_a_torch_loop_and_compiled_declines(kind):
    from backprop_cli.io import spec_document
    from backprop_cli.training import TrainSettings, train

    document = json.loads(json.dumps(SEQUENCE))
    document["layers"][0]["kind"] = kind
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    written = spec_document(spec.network, spec.xs, spec.ys)
    assert parse_spec(written) == spec
    history, parameters = torch_recurrent_train(written, epochs=5)
    for backend in ("numpy", "torch", "auto"):
        result = train(spec.network, spec.xs, spec.ys, TrainSettings(epochs=5, backend=backend))
        assert_close([loss for _, loss in result.history], history, tol=1e-10, path=backend)
        assert_close(list(result.network.parameter_values().values()), parameters, tol=1e-10, path=backend)
    with pytest.raises(BackpropError, match=f"does not compile {kind} layers .*; use --backend numpy or torch"):
        train(spec.network, spec.xs, spec.ys, TrainSettings(epochs=5, backend="compiled"))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_verify_agrees_with_autograd_and_finite_differences(kind):
    from backprop_cli.verification import check_gradients

    document = json.loads(json.dumps(SEQUENCE))
    document["layers"][0]["kind"] = kind
    document["layers"][0]["output"] = "all"
    document["layers"][0]["h0"] = [[0.1, -0.2, 0.3]]
    del document["layers"][1]
    document["data"]["y"] = [[0.1 * k for k in range(9)]] * 3
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    result = check_gradients(spec.network, spec.xs, spec.ys)
    assert result.ok and result.torch_version is not None
    assert len(result.checks) == spec.network.parameter_count


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_a_pytorch_state_dict_of_a_recurrent_model(tmp_path, kind):
    torch.manual_seed(0)
    rnn = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](2, 3, batch_first=True).double()
    linear = torch.nn.Linear(3, 1).double()
    state = {**{f"0.{k}": v for k, v in rnn.state_dict().items()},
             **{f"1.{k}": v for k, v in linear.state_dict().items()}}
    assert "0.weight_ih_l0" in state
    torch.save(state, tmp_path / "seq.pt")
    (tmp_path / "seq.toml").write_text(
        f'loss = "mse"\nlr = 0.1\ninput_shape = [3, 2]\n[[layers]]\nkind = "{kind}"\n'
        '[[layers]]\nactivation = "identity"\n[data]\nx = [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]]\ny = [[1.0]]\n')
    from backprop_cli.resolve import load_network_file

    spec = load_network_file(tmp_path / "seq.pt")
    assert spec.xs is not None and spec.ys is not None
    result = json.loads(build_derivation(spec.network, spec.xs, spec.ys, Options()).to_json())
    out, _ = rnn(torch.tensor(spec.xs, dtype=T).reshape(1, 3, 2))
    loss = torch.nn.MSELoss()(linear(out[:, -1]), torch.tensor([[1.0]], dtype=T))
    loss.backward()
    assert abs(result["loss"] - loss.item()) <= 1e-12 * max(1.0, loss.item())
    assert_close(result["layers"][0]["grad_weight_hh"], rnn.weight_hh_l0.grad.tolist(), tol=1e-12)
    assert_close(result["layers"][1]["grad_weight"], linear.weight.grad.tolist(), tol=1e-12)


def test_a_dense_layer_after_every_step_trains_and_verifies():
    from backprop_cli.training import TrainSettings, train
    from backprop_cli.verification import check_gradients

    document = json.loads(json.dumps(SEQUENCE))
    document["layers"][0].update(kind="gru", output="all")
    document["data"]["y"] = [[0.5, -0.5, 0.2], [0.0, 0.1, 0.2], [0.3, 0.3, -0.3]]
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    assert spec.network.layers[1].out_shape((3, 3)) == (3, 1)
    assert check_gradients(spec.network, spec.xs, spec.ys).ok
    runs = [train(spec.network, spec.xs, spec.ys, TrainSettings(epochs=30, backend=backend))
            for backend in ("numpy", "torch")]
    assert_close([loss for _, loss in runs[0].history], [loss for _, loss in runs[1].history], tol=1e-10)
    assert runs[0].history[-1][1] < 0.5 * runs[0].history[0][1]


def test_softmax_after_every_step_needs_cross_entropy_and_log_softmax_is_refused_with_the_fix():
    document = json.loads(json.dumps(SEQUENCE))
    document["layers"][0]["output"] = "all"
    document["layers"][1]["activation"] = "softmax"
    with pytest.raises(SpecError, match=r'loss: softmax at every position works with loss = "cross_entropy"'):
        parse_spec(document)
    document["layers"][1]["activation"] = "log_softmax"
    with pytest.raises(SpecError, match=r'layers\[1\].activation: log_softmax at every step .* use softmax'):
        parse_spec(document)


def test_the_hello_data_set_learns_the_next_character():
    import numpy as np

    from backprop_cli.resolve import NetworkOptions, resolve
    from backprop_cli.sequences import ALPHABET, WORD
    from backprop_cli.training import TrainSettings, train

    network, xs, ys = resolve(NetworkOptions(data="hello"))
    assert network.input_shape == (4, 4) and len(xs[0]) == len(ys[0]) == 16
    runs = [train(network, xs, ys, TrainSettings(epochs=300, backend=backend)) for backend in ("numpy", "torch")]
    assert_close([loss for _, loss in runs[0].history], [loss for _, loss in runs[1].history], tol=1e-10)
    trained = runs[0].network
    spec = parse_spec({"loss": "bce", "input_shape": [4, 4], "layers": [
        trained.layers[0].to_spec(), trained.layers[1].to_spec()],
        "data": {"x": [list(xs[0])], "y": [list(ys[0])]}})
    assert spec.xs is not None and spec.ys is not None
    output = json.loads(build_derivation(spec.network, spec.xs, spec.ys, Options()).to_json())["output"][0]
    predicted = "".join(ALPHABET[int(np.argmax(output[4 * t:4 * t + 4]))] for t in range(4))
    assert predicted == WORD[1:]
    assert runs[0].history[-1][1] < 0.02 < runs[0].history[0][1]


def test_train_hello_on_the_command_line(capsys):
    from backprop_cli.cli import main

    assert main(["train", "--data", "hello", "--epochs", "50", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["backend"] == "numpy"
    assert main(["train", "--data", "hello", "--epochs", "5", "--backend", "compiled"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: backend:") and "use --backend numpy or torch" in err and "Traceback" not in err


# --- a published example ----------------------------------------------------------------------
# Aidan Gomez, "Backpropogating an LSTM: A Numerical Example" (17 April 2016,
# https://blog.aidangomez.ca/2016/04/17/Backpropogating-an-LSTM-A-Numerical-Example/, also on Medium
# as https://medium.com/@aidangomez/let-s-do-this-f9b699de31d9).
#
# What its text confirms: one LSTM cell, a sequence of two steps, the L2 loss E = ½(x − x̂)² at each
# step with derivative x − x̂, Δout = 0 after the last step, one SGD update with λ = 0.1, and a label
# of 1.25 (the Medium copy notes it cannot be reached by an output that is a tanh times a sigmoid).
# Its formulas and numbers are typeset as images or MathJax that the copies of the article read here
# do not hold. Its forward pass at both steps is reprinted as text, with the weights and inputs, in
# Jae Duk Seo, "Deriving Back Propagation on simple RNN LSTM" (Medium, May 2018, after Gomez's figures):
# t = 0: a 0.81775, i 0.96083, f 0.85195, o 0.81757, state 0.78572, out 0.53631;
# t = 1: a 0.84980, i 0.98118, f 0.87030, o 0.84993, state 1.5176, out 0.77197
# (GOMEZ_PRINTED, asserted to half a unit of the last printed digit; his out₁ is 0.771981 worked
# exactly, so it is held to 2e-5).
# His backward numbers are not reprinted there and are not asserted: the weights and inputs below are
# the example's (W_a = (0.45, 0.25), U_a = 0.15, b_a = 0.2; W_i = (0.95, 0.8), U_i = 0.8,
# b_i = 0.65; W_f = (0.7, 0.45), U_f = 0.1, b_f = 0.15; W_o = (0.6, 0.4), U_o = 0.25, b_o = 0.1;
# x₀ = (1, 2), x₁ = (0.5, 3); labels 0.5, 1.25), and the reference is the article's method worked
# here in plain Python, in its notation and conventions:
#
#   a = tanh(W_a·x + U_a·out₋ + b_a), i, f, o = σ(…), state = a⊙i + f⊙state₋, out = tanh(state)⊙o;
#   δout_t = Δ_t + Δout_t, δstate_t = δout_t⊙o⊙(1 − tanh²(state_t)) + δstate_{t+1}⊙f_{t+1},
#   δa = δstate⊙i⊙(1 − a²), δi = δstate⊙a⊙i⊙(1 − i), δf = δstate⊙state₋⊙f⊙(1 − f),
#   δo = δout⊙tanh(state)⊙o⊙(1 − o), Δout_{t−1} = Uᵀδgates_t;
#   δW = Σ_t δgates_t ⊗ x_t, δU = Σ_t δgates_{t+1} ⊗ out_t, δb = Σ_t δgates_t.
#
# The mapping to the spec: his t = 0, 1 are our steps 1, 2; his gates (a, i, f, o) are torch's rows
# (g, i, f, o) in torch's order i, f, g, o; his b is b_ih + b_hh (bias_hh = 0 here), and each of
# torch's two biases gets his δb; his total loss ½ Σ_t (out_t − label_t)² is mse over the two outputs
# of one sample (the mean of two squares is half their sum), so the gradients are his unscaled; his
# δW, δU and δb sum over the steps as the page does.

GOMEZ = {
    "loss": "mse", "lr": 0.1, "optimizer": "sgd", "input_shape": [2, 2],
    "layers": [{"kind": "lstm", "output": "all",
                "weight_ih": [[0.95, 0.8], [0.7, 0.45], [0.45, 0.25], [0.6, 0.4]],
                "weight_hh": [[0.8], [0.1], [0.15], [0.25]],
                "bias_ih": [0.65, 0.15, 0.2, 0.1], "bias_hh": [0.0, 0.0, 0.0, 0.0]}],
    "data": {"x": [[1.0, 2.0, 0.5, 3.0]], "y": [[0.5, 1.25]]},
}


def gomez_by_hand() -> dict[str, Any]:
    """The article's forward and backward pass for one cell, in its own gate order (a, i, f, o)."""
    import math

    W = {"a": (0.45, 0.25), "i": (0.95, 0.8), "f": (0.7, 0.45), "o": (0.6, 0.4)}
    U = {"a": 0.15, "i": 0.8, "f": 0.1, "o": 0.25}
    b = {"a": 0.2, "i": 0.65, "f": 0.15, "o": 0.1}
    xs, labels = [(1.0, 2.0), (0.5, 3.0)], [0.5, 1.25]

    def sigma(v: float) -> float:
        return 1.0 / (1.0 + math.exp(-v))

    gates, states, outs = [], [], []
    out, state = 0.0, 0.0
    for x in xs:
        pre = {g: W[g][0] * x[0] + W[g][1] * x[1] + U[g] * out + b[g] for g in "aifo"}
        gate = {"a": math.tanh(pre["a"]), **{g: sigma(pre[g]) for g in "ifo"}}
        state = gate["a"] * gate["i"] + gate["f"] * state
        out = math.tanh(state) * gate["o"]
        gates.append(gate), states.append(state), outs.append(out)
    deltas: list[dict[str, float]] = [{}, {}]
    d_out_next, d_state_next, f_next = 0.0, 0.0, 0.0
    d_outs, d_states = [0.0, 0.0], [0.0, 0.0]
    for t in (1, 0):
        g, state = gates[t], states[t]
        d_out = (outs[t] - labels[t]) + d_out_next
        d_state = d_out * g["o"] * (1 - math.tanh(state) ** 2) + d_state_next * f_next
        before = states[t - 1] if t else 0.0
        deltas[t] = {"a": d_state * g["i"] * (1 - g["a"] ** 2), "i": d_state * g["a"] * g["i"] * (1 - g["i"]),
                     "f": d_state * before * g["f"] * (1 - g["f"]),
                     "o": d_out * math.tanh(state) * g["o"] * (1 - g["o"])}
        d_outs[t], d_states[t] = d_out, d_state
        d_out_next = sum(U[k] * deltas[t][k] for k in "aifo")
        d_state_next, f_next = d_state, g["f"]
    dW = {k: tuple(sum(deltas[t][k] * xs[t][m] for t in (0, 1)) for m in (0, 1)) for k in "aifo"}
    dU = {k: deltas[1][k] * outs[0] for k in "aifo"}
    db = {k: deltas[0][k] + deltas[1][k] for k in "aifo"}
    return {"gates": gates, "states": states, "outs": outs, "d_outs": d_outs, "d_states": d_states,
            "deltas": deltas, "dW": dW, "dU": dU, "db": db, "W": W, "U": U, "b": b}


GOMEZ_PRINTED = [
    {"a": "0.81775", "i": "0.96083", "f": "0.85195", "o": "0.81757", "state": "0.78572", "out": "0.53631"},
    {"a": "0.84980", "i": "0.98118", "f": "0.87030", "o": "0.84993", "state": "1.5176", "out": "0.77197"},
]
"""Gomez's forward numbers at t = 0 and t = 1, as printed (see the comment above)."""

TORCH_ROWS = ("i", "f", "a", "o")
"""His gate of each block of torch's stacked rows (i, f, g, o)."""


@pytest.mark.parametrize("form", ["scalar", "matrix"])
def test_gomez_lstm_example(form):
    """Every number of his forward pass at both steps, his backward pass (δout, δstate, the gates'
    δ) and his δW, δU, δb and SGD update, against the page (the matrix form's gate δ lines; the
    scalar form's h, c and gate lines, and ∂𝓛/∂h_t, ∂𝓛/∂c_t), and torch through ``check``."""
    from backprop_cli.notation import LOSS, Node, Partial

    hand = gomez_by_hand()
    spec = parse_spec(json.loads(json.dumps(GOMEZ)))
    assert spec.xs is not None and spec.ys is not None
    derivation = build_derivation(spec.network, spec.xs, spec.ys, Options(form=form))
    assert derivation.form == form
    values = derivation.values

    def at(symbol: Any) -> float:
        value = values[symbol]
        return float(value) if form == "scalar" else float(value.rows[0][0])

    letters = {"a": "g", "i": "i", "f": "f", "o": "o"}
    for t, printed in enumerate(GOMEZ_PRINTED, start=1):
        index = f"{t},1" if form == "scalar" else t
        case = str.lower if form == "scalar" else str.upper
        ours = {his: at(Node(case(letter), index, layer=1)) for his, letter in letters.items()}
        ours |= {"state": at(Node(case("c"), index, layer=1)), "out": at(Node(case("h"), index, layer=1))}
        for name, text in printed.items():
            # Half a unit of the last printed digit; out₁ carries his rounded intermediates (2e-5).
            places = len(text.split(".")[1])
            assert abs(ours[name] - float(text)) <= max(0.5 * 10 ** -places, 2e-5), (t, name, ours[name], text)
    for t in (1, 2):
        index = f"{t},1" if form == "scalar" else t
        case = str.lower if form == "scalar" else str.upper
        for his, ours_ in letters.items():
            assert abs(at(Node(case(ours_), index, layer=1)) - hand["gates"][t - 1][his]) < 1e-12
        assert abs(at(Node(case("c"), index, layer=1)) - hand["states"][t - 1]) < 1e-12
        assert abs(at(Node(case("h"), index, layer=1)) - hand["outs"][t - 1]) < 1e-12
        assert abs(at(Partial(LOSS, Node(case("h"), index, layer=1))) - hand["d_outs"][t - 1]) < 1e-12
        assert abs(at(Partial(LOSS, Node(case("c"), index, layer=1))) - hand["d_states"][t - 1]) < 1e-12
        if form == "matrix":
            for his, ours_ in letters.items():
                assert abs(at(Node("delta", f"{ours_},{t}", layer=1)) - hand["deltas"][t - 1][his]) < 1e-12
    layer = json.loads(derivation.to_json())["layers"][0]
    assert_close(layer["grad_weight_ih"], [list(hand["dW"][k]) for k in TORCH_ROWS])
    assert_close(layer["grad_weight_hh"], [[hand["dU"][k]] for k in TORCH_ROWS])
    assert_close(layer["grad_bias_ih"], [hand["db"][k] for k in TORCH_ROWS])
    assert_close(layer["grad_bias_hh"], [hand["db"][k] for k in TORCH_ROWS])
    # His SGD update, λ = 0.1: W − λ δW (b: b_ih and b_hh each take his step).
    assert_close(layer["new_weight_ih"], [[w - 0.1 * d for w, d in zip(hand["W"][k], hand["dW"][k], strict=True)]
                                          for k in TORCH_ROWS])
    assert_close(layer["new_weight_hh"], [[hand["U"][k] - 0.1 * hand["dU"][k]] for k in TORCH_ROWS])
    assert_close(layer["new_bias_ih"], [hand["b"][k] - 0.1 * hand["db"][k] for k in TORCH_ROWS])
    check(json.loads(json.dumps(GOMEZ)))


# A vanilla RNN worked in a published notebook: thsis/INFOSYS, "Backpropagation on RNN"
# (https://github.com/thsis/INFOSYS): two tanh units without biases, W = (2, 1) from the input,
# U = [[1, 2], [3, 4]] between the states, x = (0.2, 0.3, 0.4), the output w·h₃ with w = (2, 4), y = 7.
# It prints h₁ = (0.37994896, 0.19737532), h₂ = (0.87975882, 0.97711011), h₃ = (0.9986059, 0.99999815)
# and ŷ = 5.99720442000804. Its gradients are not asserted: it multiplies one path's factors element
# by element (∂h₃/∂h₂ ⋯ ∂h₁/∂W, with dℓ/dŷ = y − ŷ) instead of summing a term per time step, so they
# are not the loss's gradient; the page's are checked against autograd here instead.

INFOSYS = {"loss": "mse", "lr": 0.001, "input_shape": [3, 1],
           "layers": [{"kind": "rnn", "weight_ih": [[2.0], [1.0]], "weight_hh": [[1.0, 2.0], [3.0, 4.0]],
                       "bias": False},
                      {"weight": [[2.0, 4.0]], "activation": "identity"}],
           "data": {"x": [[0.2, 0.3, 0.4]], "y": [[7.0]]}}


@pytest.mark.parametrize("form", ["scalar", "matrix"])
def test_a_published_vanilla_rnn_forward_pass(form):
    from backprop_cli.notation import Node

    spec = parse_spec(json.loads(json.dumps(INFOSYS)))
    assert spec.xs is not None and spec.ys is not None
    derivation = build_derivation(spec.network, spec.xs, spec.ys, Options(form=form))
    printed = [(0.37994896, 0.19737532), (0.87975882, 0.97711011), (0.9986059, 0.99999815)]
    for t, row in enumerate(printed, start=1):
        if form == "scalar":
            ours_ = [derivation.values[Node("h", f"{t},{j}", layer=1)] for j in (1, 2)]
        else:
            ours_ = list(derivation.values[Node("H", t, layer=1)].rows[0])
        assert [round(float(v), 8) for v in ours_] == list(row)
    assert derivation.output[0][0] == pytest.approx(5.99720442000804, abs=1e-14)
    rnn = torch.nn.RNN(1, 2, bias=False, batch_first=True, dtype=T)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor([[2.0], [1.0]], dtype=T))
        rnn.weight_hh_l0.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=T))
    w = torch.tensor([[2.0, 4.0]], dtype=T, requires_grad=True)
    out, _ = rnn(torch.tensor([[[0.2], [0.3], [0.4]]], dtype=T))
    torch.nn.MSELoss()(out[:, -1] @ w.T, torch.tensor([[7.0]], dtype=T)).backward()
    layers = json.loads(derivation.to_json())["layers"]
    assert_close(layers[0]["grad_weight_ih"], rnn.weight_ih_l0.grad.tolist())
    assert_close(layers[0]["grad_weight_hh"], rnn.weight_hh_l0.grad.tolist())
    assert_close(layers[1]["grad_weight"], w.grad.tolist())


@pytest.mark.parametrize(("kind", "clip"), [("rnn", "norm"), ("lstm", "value"), ("gru", "norm")])
def test_training_with_clipping_equals_torchs_clip_grad(kind, clip):
    """Clipping is applied by train (numpy and torch engines) as clip_grad_norm_/clip_grad_value_ do."""
    from backprop_cli.schedules import Clip
    from backprop_cli.training import TrainSettings, train

    document = json.loads(json.dumps(SEQUENCE))
    document["layers"][0]["kind"] = kind
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    from backprop_cli.io import spec_document

    written = spec_document(spec.network, spec.xs, spec.ys)
    rnn, linear, params, X, Y = torch_sequence_model(written)
    optimizer = torch.optim.SGD(params, lr=document["lr"])
    limit = 0.05 if clip == "norm" else 0.01
    history = []
    for _ in range(5):
        optimizer.zero_grad()
        out, _ = rnn(X)
        loss = torch.nn.MSELoss()(linear(out[:, -1]), Y)
        history.append(loss.item())
        loss.backward()
        if clip == "norm":
            torch.nn.utils.clip_grad_norm_(params, limit)
        else:
            torch.nn.utils.clip_grad_value_(params, limit)
        optimizer.step()
    for backend in ("numpy", "torch"):
        result = train(spec.network, spec.xs, spec.ys, TrainSettings(epochs=5, backend=backend, clip=Clip(clip, limit)))
        assert_close([loss for _, loss in result.history], history, tol=1e-10, path=backend)
        assert_close(list(result.network.parameter_values().values()), [p.detach().tolist() for p in params],
                     tol=1e-10, path=backend)


def test_clipping_on_the_page_says_the_norm_before_and_after(capsys):
    from backprop_cli.cli import main

    assert main(["step", "--network", "docs/examples/rnn.toml", "--clip-norm", "0.5"]) == 0
    page = capsys.readouterr().out
    assert "clip_grad_norm_(0.5)" in page and "g_clipped = 0.5000" in page
    assert main(["step", "--clip-norm", "1", "--form", "scalar"]) == 2
    assert "add --form matrix" in capsys.readouterr().err
    assert main(["step", "--network", "docs/examples/rnn.toml", "--clip-value", "0.1", "--with-code"]) == 2
    assert "does not clip" in capsys.readouterr().err


# --- the optimizer's state from one step's page to the next ---------------------------------------


def torch_recurrent_steps(document: dict[str, Any], optimizer: str, steps: int) -> list[list[Any]]:
    """A plain PyTorch loop, full batch: torch.optim.SGD(momentum=0.9) or Adam's defaults; the
    parameters (rnn's weight_ih … bias_hh, then the dense layer's) after each of ``steps`` updates."""
    rnn, linear, params, X, Y = torch_sequence_model(document)
    opt = (torch.optim.SGD(params, lr=document["lr"], momentum=0.9) if optimizer == "momentum"
           else torch.optim.Adam(params, lr=document["lr"]))
    after = []
    for _ in range(steps):
        opt.zero_grad()
        out, _ = rnn(X)
        torch.nn.MSELoss()(linear(out[:, -1]), Y).backward()
        opt.step()
        after.append([p.detach().tolist() for p in params])
    return after


def _new_parameters(derivation: Any) -> list[Any]:
    layers = json.loads(derivation.to_json())["layers"]
    return [layers[0][f"new_{name}"] for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] + [
        layers[1]["new_weight"], layers[1]["new_bias"]]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_the_optimizer_state_carries_the_recurrent_parameters_from_page_to_page(kind, optimizer):
    """Steps two and three, each page started from the state the page before left (velocity, or Adam's
    moments and t), equal torch.optim's; and so do ``train --show-steps 2,3``'s pages, started from the
    engines' state."""
    from backprop_cli.io import spec_document
    from backprop_cli.model import Optimizer
    from backprop_cli.training import TrainSettings, train, with_derivations

    document = json.loads(json.dumps(SEQUENCE))
    document["layers"][0]["kind"] = kind
    document["lr"] = 0.1
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    network = replace(spec.network, optimizer=Optimizer(optimizer))
    expected = torch_recurrent_steps(spec_document(network, spec.xs, spec.ys), optimizer, 3)
    for form in ("matrix", "scalar"):
        current, state = network, None
        for k in range(3):
            derivation = build_derivation(current, spec.xs, spec.ys, Options(form=form), state=state)
            assert_close(_new_parameters(derivation), expected[k], tol=1e-12, path=f"{form} step {k + 1}")
            current, state = derivation.extra["network_after"], derivation.extra["optimizer_state"]
        assert state.steps == 3 and all(len(layer) == 4 for layer in (slot[0] for slot in state.slots.values()))
    for backend in ("numpy", "torch"):
        result = with_derivations(train(network, spec.xs, spec.ys,
                                        TrainSettings(epochs=3, backend=backend, show_steps=(2, 3))))
        assert [step.epoch for step in result.steps] == [2, 3]
        for step, k in zip(result.steps, (1, 2), strict=True):
            assert_close(_new_parameters(step.derivation), expected[k], tol=1e-10, path=f"{backend} epoch {k + 1}")


# --- truncated BPTT -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_truncated_bptt_cuts_the_gradient_between_chunks(kind):
    """bptt = 2 on five steps: the numbers equal a torch loop that detaches h (and c) after steps 2
    and 4, and differ from the whole sequence's; the page says where the state was detached."""
    from backprop_cli.render import render

    document = json.loads(json.dumps(SEQUENCE))
    document["input_shape"] = [5, 1]
    document["layers"][0].update(kind=kind, output="all", hidden_size=2, bptt=2)
    document["layers"][1]["units"] = 1
    document["data"] = {"x": [[0.3, -0.5, 0.9, 0.1, -0.7], [1.0, 0.2, -0.4, 0.6, 0.0]],
                        "y": [[0.1, 0.2, 0.3, 0.4, 0.5], [0.0, -0.1, 0.2, -0.3, 0.4]]}
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    from backprop_cli.io import spec_document

    written = spec_document(spec.network, spec.xs, spec.ys)
    assert written["layers"][0]["bptt"] == 2
    check({**written, "optimizer": "sgd", "lr": 0.5})
    truncated = json.loads(build_derivation(spec.network, spec.xs, spec.ys, Options(form="matrix")).to_json())
    whole = {**written, "layers": [{k: v for k, v in written["layers"][0].items() if k != "bptt"},
                                   written["layers"][1]]}
    full = ours(whole, "matrix")
    assert truncated["loss"] == full["loss"]
    assert abs(truncated["layers"][0]["grad_weight_hh"][0][0] - full["layers"][0]["grad_weight_hh"][0][0]) > 1e-9
    page = render(build_derivation(spec.network, spec.xs, spec.ys, Options(form="matrix")), "rich", width=200)
    assert "bptt = 2: truncated BPTT" in page
    assert "H_2 ends a chunk" in page and "H_4 ends a chunk" in page and "H_3 ends a chunk" not in page
    # Unit by unit: step 3's and step 5's lines read the detached states, ∂/∂h of them written 0.
    scalar = build_derivation(spec.network, spec.xs, spec.ys, Options(form="scalar"))
    page = render(scalar, "rich", width=4000)
    assert "bptt = 2: truncated BPTT" in page
    assert "h_2 ends a chunk" in page and "h_4 ends a chunk" in page and "h_3 ends a chunk" not in page
    line = next(row for row in page.splitlines() if "∂𝓛/∂h₂,₂⁽¹⁾⁽¹⁾ = " in row)  # sample 1
    first = {"rnn": "z", "lstm": "i", "gru": "r"}[kind]
    assert f"∂𝓛/∂{first}₃,₁⁽¹⁾⁽¹⁾ 0 + " in line and "+ ∂𝓛/∂z₂,₁⁽²⁾⁽¹⁾ " in line  # step 3's part is 0
    scalar_json = json.loads(scalar.to_json())
    for layer in (*scalar_json["layers"], *truncated["layers"]):
        layer.pop("z", None), layer.pop("a", None)
    assert_step_close(scalar_json, {**truncated, "_loss": "mse"})


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_training_with_truncated_bptt_equals_a_torch_loop_that_detaches(kind):
    from backprop_cli.io import spec_document
    from backprop_cli.training import TrainSettings, train

    document = json.loads(json.dumps(SEQUENCE))
    document["layers"][0].update(kind=kind, bptt=1)
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    written = spec_document(spec.network, spec.xs, spec.ys)
    rnn, linear, params, X, Y = torch_sequence_model(written)
    opt = torch.optim.SGD(params, lr=document["lr"])
    history = []
    for _ in range(4):
        opt.zero_grad()
        state = None
        for t in range(X.shape[1]):  # bptt = 1: the state detached before every step
            if state is not None:
                state = tuple(s.detach() for s in state) if kind == "lstm" else state.detach()
            out, state = rnn(X[:, t:t + 1], state)
        loss = torch.nn.MSELoss()(linear(out[:, -1]), Y)
        history.append(loss.item())
        loss.backward()
        opt.step()
    for backend in ("numpy", "torch"):
        result = train(spec.network, spec.xs, spec.ys, TrainSettings(epochs=4, backend=backend))
        assert_close([loss for _, loss in result.history], history, tol=1e-10, path=backend)
        assert_close(list(result.network.parameter_values().values()), [p.detach().tolist() for p in params],
                     tol=1e-10, path=backend)


def test_bptt_bad_values_and_verify_are_refused_with_the_fix(tmp_path, capsys):
    from backprop_cli.cli import main

    for value, message in ((0, "bptt: expected a whole number of at least 1, got 0"),
                           ('"2"', "bptt: expected a whole number of at least 1, got '2'")):
        (tmp_path / "seq.toml").write_text(
            f'loss = "mse"\ninput_shape = [3, 1]\n[[layers]]\nkind = "rnn"\nhidden_size = 2\nbptt = {value}\n'
            '[[layers]]\nunits = 1\n[data]\nx = [[0.1, 0.2, 0.3]]\ny = [[1.0]]\n')
        assert main(["step", "--network", str(tmp_path / "seq.toml")]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    (tmp_path / "seq.toml").write_text(
        'loss = "mse"\ninput_shape = [3, 1]\n[[layers]]\nkind = "rnn"\nhidden_size = 2\nbptt = 2\n'
        '[[layers]]\nunits = 1\n[data]\nx = [[0.1, 0.2, 0.3]]\ny = [[1.0]]\n')
    assert main(["verify", "--network", str(tmp_path / "seq.toml")]) == 2
    err = capsys.readouterr().err
    assert "finite differences cannot check them; verify the network without bptt" in err


def test_the_scalar_page_sums_what_reaches_each_state_and_each_shared_weight():
    """∂𝓛/∂h_t,j sums the output's part at t and every gate of step t + 1; a shared weight's gradient
    has a term per step and sample, elided past 24 as the convolution's kernels are."""
    from backprop_cli.render import render

    spec = parse_spec(json.loads(json.dumps(GOMEZ)))
    assert spec.xs is not None and spec.ys is not None
    page = render(build_derivation(spec.network, spec.xs, spec.ys, Options(form="scalar")), "rich", width=400)
    line = next(row for row in page.splitlines() if "∂𝓛/∂h₁,₁⁽¹⁾ = " in row)
    for gate in "ifgo":
        assert f"∂𝓛/∂{gate}₂,₁⁽¹⁾ · ∂{gate}₂,₁⁽¹⁾/∂h₁,₁⁽¹⁾" in line
    assert "+ (h₁,₁⁽¹⁾ - y₁)" in line  # the loss's own part: h₁,₁ is an output (output = "all")
    document = {"loss": "mse", "lr": 0.1, "input_shape": [9, 1],
                "layers": [{"kind": "rnn", "hidden_size": 1, "output": "last"}],
                "data": {"x": [[0.1 * k for k in range(9)], [0.2] * 9, [-0.1] * 9], "y": [[0.5], [0.0], [0.1]]}}
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    derivation = build_derivation(spec.network, spec.xs, spec.ys, Options(form="scalar"))
    text = render(derivation, "rich", width=400)
    assert "27 terms, 8 of them shown" in text and "⋯" in text
    check({**spec_document_of(spec), "optimizer": "sgd", "lr": 0.1})


def spec_document_of(spec: Any) -> dict[str, Any]:
    from backprop_cli.io import spec_document

    return spec_document(spec.network, spec.xs, spec.ys)
