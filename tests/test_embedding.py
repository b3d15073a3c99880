"""Token ids in, a softmax at every position out (layers/embedding.py, per-position cross-entropy).

The reference is built here from the spec's own tables, not from the package's kinds: the ids as a
(N, T) long tensor into nn.Embedding with the table's weight (or the features reshaped to (N, T, F)
into nn.RNN / nn.LSTM with ``batch_first``, every step's state), nn.Linear on (N, T, ·), and
nn.CrossEntropyLoss on the (N·T, C) logits with the class indices of every position, (N·T,) — the
mean over N·T — then autograd and torch.optim, in float64.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.errors import BackpropError, DataError, SpecError
from backprop_cli.io import parse_spec
from backprop_cli.resolve import class_targets
from tests.reference import assert_step_close

torch = pytest.importorskip("torch")
T = torch.float64
OPTIMIZERS = {"sgd": lambda p, lr: torch.optim.SGD(p, lr=lr),
              "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
              "adam": lambda p, lr: torch.optim.Adam(p, lr=lr)}


def _numbers(draw: Any, shape: tuple[int, ...]) -> Any:
    if not shape:
        return draw(st.integers(-100, 100)) / 100
    return [_numbers(draw, shape[1:]) for _ in range(shape[0])]


def reference(document: dict[str, Any]) -> dict[str, Any]:
    """``step --format json``'s numbers for the spec ``document``, by PyTorch."""
    first, dense = document["layers"][0], document["layers"][-1]
    positional = document["layers"][1] if len(document["layers"]) == 3 else None
    X = document["data"]["x"]
    N = len(X)
    if first["kind"] == "embedding":
        steps = document["input_shape"][0]
        weight = torch.tensor(first["weight"], dtype=T)
        module = torch.nn.Embedding(*weight.shape, dtype=T)
        with torch.no_grad():
            module.weight.copy_(weight)
        named = [("weight", module.weight)]
        inputs = torch.tensor(X, dtype=torch.long)

        def sequence() -> Any:
            return module(inputs)
        dim = weight.shape[1]
        if positional is not None and positional.get("learned"):
            # nn.Embedding(T, d) looked up at the positions 0 … T − 1
            table = torch.nn.Embedding(steps, dim, dtype=T)
            with torch.no_grad():
                table.weight.copy_(torch.tensor(positional["weight"], dtype=T))
            named_positions = [("weight", table.weight)]

            def encoding() -> Any:
                return table(torch.arange(steps))
        elif positional is not None:
            # the PyTorch tutorial's PositionalEncoding ("Attention is all you need")
            position = torch.arange(steps, dtype=T).unsqueeze(1)
            div_term = torch.exp(torch.arange(0, dim, 2, dtype=T) * (-math.log(10000.0) / dim))
            fixed = torch.zeros(steps, dim, dtype=T)
            fixed[:, 0::2] = torch.sin(position * div_term)
            fixed[:, 1::2] = torch.cos(position * div_term[: dim // 2])
            named_positions = []

            def encoding() -> Any:
                return fixed
        if positional is not None:
            looked_up = sequence

            def sequence() -> Any:
                return looked_up() + encoding()
    else:
        steps, features = document["input_shape"]
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM}[first["kind"]]
        w_ih = torch.tensor(first["weight_ih"], dtype=T)
        w_hh = torch.tensor(first["weight_hh"], dtype=T)
        module = cls(features, w_hh.shape[1], batch_first=True, dtype=T)
        with torch.no_grad():
            module.weight_ih_l0.copy_(w_ih)
            module.weight_hh_l0.copy_(w_hh)
            module.bias_ih_l0.copy_(torch.tensor(first["bias_ih"], dtype=T))
            module.bias_hh_l0.copy_(torch.tensor(first["bias_hh"], dtype=T))
        named = [("weight_ih", module.weight_ih_l0), ("weight_hh", module.weight_hh_l0),
                 ("bias_ih", module.bias_ih_l0), ("bias_hh", module.bias_hh_l0)]
        inputs = torch.tensor(X, dtype=T).reshape(N, steps, features)

        def sequence() -> Any:
            return module(inputs)[0]
    w = torch.tensor(dense["weight"], dtype=T)
    linear = torch.nn.Linear(w.shape[1], w.shape[0], dtype=T)
    with torch.no_grad():
        linear.weight.copy_(w)
        linear.bias.copy_(torch.tensor(dense["bias"], dtype=T))
    classes = w.shape[0]
    targets = torch.tensor(document["data"]["y"], dtype=torch.long).reshape(N * steps)
    criterion = torch.nn.CrossEntropyLoss()

    def run() -> tuple[Any, Any, Any]:
        hidden = sequence()
        logits = linear(hidden)
        loss = criterion(logits.reshape(N * steps, classes), targets)
        return hidden.reshape(N, -1), logits.reshape(N, -1), loss

    hidden, logits, loss = run()
    looked = module(inputs).reshape(N, -1).detach() if positional is not None else None
    loss.backward()
    extra = named_positions if positional is not None else []
    every = [p for _, p in named + extra] + [linear.weight, linear.bias]
    befores = {id(p): p.detach().tolist() for p in every}
    grads = {id(p): p.grad.tolist() for p in every}
    OPTIMIZERS[document["optimizer"]](every, document["lr"]).step()
    with torch.no_grad():
        _, _, after = run()
    probabilities = torch.softmax(logits.reshape(N, steps, classes), dim=-1).reshape(N, -1)

    def entry(output: Any, parameters: list[tuple[str, Any]]) -> dict[str, Any]:
        out = {"output": output.detach().tolist()}
        for name, p in parameters:
            out |= {name: befores[id(p)], f"grad_{name}": grads[id(p)], f"new_{name}": p.detach().tolist()}
        return out

    layers = [entry(looked if looked is not None else hidden, named)]
    if positional is not None:
        layers.append(entry(hidden, extra))
    layers.append(entry(probabilities, [("weight", linear.weight), ("bias", linear.bias)]))
    return {"loss": loss.item(), "loss_after": after.item(), "output": probabilities.detach().tolist(),
            "layers": layers}


@st.composite
def token_specs(draw: Any, positions: bool = False) -> dict[str, Any]:
    """Vocabulary 3–6, d 2–4, T 2–4, batch 1–2; next-token classes over the vocabulary; with
    ``positions`` a sinusoidal or learned positional layer after the embedding."""
    vocabulary, dim, steps, batch = (draw(st.integers(3, 6)), draw(st.integers(2, 4)), draw(st.integers(2, 4)),
                                     draw(st.integers(1, 2)))
    ids = st.integers(0, vocabulary - 1)
    middle: list[dict[str, Any]] = []
    if positions:
        learned = draw(st.booleans())
        middle = [{"kind": "positional", "learned": True, "weight": _numbers(draw, (steps, dim))} if learned
                  else {"kind": "positional"}]
    return {"loss": "cross_entropy", "lr": draw(st.sampled_from([0.1, 0.5])),
            "optimizer": draw(st.sampled_from(sorted(OPTIMIZERS))), "input_shape": [steps],
            "layers": [{"kind": "embedding", "weight": _numbers(draw, (vocabulary, dim))}, *middle,
                       {"weight": _numbers(draw, (vocabulary, dim)), "bias": _numbers(draw, (vocabulary,)),
                        "activation": "softmax"}],
            "data": {"x": [[draw(ids) for _ in range(steps)] for _ in range(batch)],
                     "y": [[draw(ids) for _ in range(steps)] for _ in range(batch)]}}


@st.composite
def recurrent_specs(draw: Any) -> dict[str, Any]:
    """nn.RNN or nn.LSTM (hidden 2–3, features 1–2), every step to nn.Linear of 3–5 classes."""
    kind = draw(st.sampled_from(["rnn", "lstm"]))
    hidden, features, steps = draw(st.integers(2, 3)), draw(st.integers(1, 2)), draw(st.integers(2, 4))
    batch, classes = draw(st.integers(1, 2)), draw(st.integers(3, 5))
    rows = (4 if kind == "lstm" else 1) * hidden
    table = {"kind": kind, "output": "all", "weight_ih": _numbers(draw, (rows, features)),
             "weight_hh": _numbers(draw, (rows, hidden)), "bias_ih": _numbers(draw, (rows,)),
             "bias_hh": _numbers(draw, (rows,))}
    return {"loss": "cross_entropy", "lr": draw(st.sampled_from([0.1, 0.5])),
            "optimizer": draw(st.sampled_from(sorted(OPTIMIZERS))), "input_shape": [steps, features],
            "layers": [table, {"weight": _numbers(draw, (classes, hidden)), "bias": _numbers(draw, (classes,)),
                               "activation": "softmax"}],
            "data": {"x": [_numbers(draw, (steps * features,)) for _ in range(batch)],
                     "y": [[draw(st.integers(0, classes - 1)) for _ in range(steps)] for _ in range(batch)]}}


def ours(document: dict[str, Any], form: str = "auto") -> dict[str, Any]:
    spec = parse_spec(json.loads(json.dumps(document)))
    assert spec.xs is not None and spec.ys is not None
    ys = class_targets(spec.network, spec.ys)
    return json.loads(build_derivation(spec.network, spec.xs, ys, Options(form=form)).to_json())


def check(document: dict[str, Any]) -> None:
    result = ours(document)
    for layer in result["layers"]:
        layer.pop("z", None), layer.pop("a", None)
    assert_step_close(result, reference(document))


@settings(deadline=None, max_examples=40)
@given(token_specs())
def test_embedding_then_softmax_at_every_position_equals_pytorch(document):
    check(document)


@settings(deadline=None, max_examples=30)
@given(token_specs(positions=True))
def test_positions_sinusoidal_or_learned_equal_pytorch(document):
    check(document)


@settings(deadline=None, max_examples=25)
@given(recurrent_specs())
def test_recurrent_every_step_then_softmax_equals_pytorch(document):
    check(document)


def test_only_the_rows_of_tokens_used_get_a_gradient():
    document = {"loss": "cross_entropy", "lr": 0.5, "input_shape": [2],
                "layers": [{"kind": "embedding", "num_embeddings": 5, "embedding_dim": 2},
                           {"units": 5, "activation": "softmax"}],
                "data": {"x": [[1, 3]], "y": [[3, 0]]}}
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    derivation = build_derivation(spec.network, spec.xs, class_targets(spec.network, spec.ys), Options())
    grad = json.loads(derivation.to_json())["layers"][0]["grad_weight"]
    assert [any(v != 0.0 for v in row) for row in grad] == [False, True, False, True, False]
    from backprop_cli.render import render

    page = render(derivation, "markdown")
    assert "rows 0, 2, 4 (tokens not in the batch) get no gradient" in page


def test_random_weights_follow_torchs_normal_init_to_four_decimals():
    document = {"loss": "cross_entropy", "input_shape": [3],
                "layers": [{"kind": "embedding", "num_embeddings": 40, "embedding_dim": 5},
                           {"units": 40, "activation": "softmax"}],
                "data": {"x": [[0, 1, 2]], "y": [[1, 2, 3]]}}
    layer = parse_spec(document).network.layers[0]
    values = [v for row in layer.weight for v in row]
    assert len(layer.weight) == 40 and len(layer.weight[0]) == 5
    assert all(round(v, 4) == v for v in values)
    assert any(abs(v) > 1.5 for v in values)  # N(0, 1), not a bounded uniform
    assert abs(sum(values) / len(values)) < 0.3


@pytest.mark.parametrize(("x", "message"), [
    ([[0, 7]], "x: 7 is not a token id of the embedding's 4 rows; give whole numbers from 0 to 3"),
    ([[0.5, 1]], "x: 0.5 is not a token id"),
    ([[-1, 1]], "x: -1 is not a token id"),
])
def test_ids_out_of_range_or_not_whole_are_one_line_errors(x, message):
    document = {"loss": "cross_entropy", "input_shape": [2],
                "layers": [{"kind": "embedding", "num_embeddings": 4, "embedding_dim": 2},
                           {"units": 4, "activation": "softmax"}],
                "data": {"x": x, "y": [[0, 1]]}}
    spec = parse_spec(document)
    assert spec.xs is not None and spec.ys is not None
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        build_derivation(spec.network, spec.xs, class_targets(spec.network, spec.ys), Options())
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("document", "message"), [
    ({"loss": "cross_entropy", "inputs": 2, "layers": [{"kind": "embedding", "num_embeddings": 3, "embedding_dim": 2},
                                                       {"units": 3, "activation": "softmax"}]},
     r"give input_shape = \[T\]"),
    ({"loss": "mse", "input_shape": [2], "layers": [{"kind": "embedding", "num_embeddings": 3, "embedding_dim": 2},
                                                    {"units": 3, "activation": "softmax"}]},
     "softmax at every position works with loss = \"cross_entropy\""),
    ({"loss": "mse", "input_shape": [2], "layers": [{"units": 2}, {"kind": "embedding", "num_embeddings": 3,
                                                                   "embedding_dim": 2}]},
     "must be the network's first layer"),
    ({"loss": "cross_entropy", "input_shape": [2], "layers": [{"kind": "embedding", "weight": [[1.0, 2.0]],
                                                               "embedding_dim": 3}, {"units": 1}]},
     "embedding_dim: is 3 but weight is 1×2"),
    ({"loss": "cross_entropy", "input_shape": [2], "layers": [{"kind": "embedding", "num_embeddings": 3}]},
     "needs weight"),
])
def test_bad_tables_name_the_key(document, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(document)


def test_the_scalar_form_is_refused_naming_the_matrix_form():
    document = {"loss": "cross_entropy", "input_shape": [2],
                "layers": [{"kind": "embedding", "num_embeddings": 3, "embedding_dim": 2},
                           {"units": 3, "activation": "softmax"}],
                "data": {"x": [[0, 1]], "y": [[1, 2]]}}
    with pytest.raises(BackpropError, match="--form matrix"):
        ours(document, "scalar")


def test_class_indices_per_position_are_checked_in_one_line():
    document = {"loss": "cross_entropy", "input_shape": [2],
                "layers": [{"kind": "embedding", "num_embeddings": 3, "embedding_dim": 2},
                           {"units": 3, "activation": "softmax"}],
                "data": {"x": [[0, 1]], "y": [[1, 5]]}}
    spec = parse_spec(document)
    assert spec.ys is not None
    with pytest.raises(DataError, match=r"5 is not a class index of the 3 outputs .* per position \(2 a sample\)"):
        class_targets(spec.network, spec.ys)


def test_the_sinusoidal_table_is_the_papers_formula_at_a_few_entries():
    """Vaswani et al. 2017, section 3.5: PE(pos, 2i) = sin(pos/10000^(2i/d)), PE(pos, 2i+1) = cos(…)."""
    from backprop_cli.layers.positional import sinusoidal

    table = sinusoidal(3, 4)
    assert table[0] == (0.0, 1.0, 0.0, 1.0)
    assert table[1][0] == math.sin(1.0) and table[1][1] == math.cos(1.0)
    assert table[2][2] == math.sin(2 / 100.0) and table[2][3] == math.cos(2 / 100.0)


def test_a_pt_file_of_an_embedding_model_with_its_sidecar_is_read_and_stepped_as_pytorch(tmp_path):
    from backprop_cli.resolve import load_network_file

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(5, 3), torch.nn.Embedding(2, 3), torch.nn.Linear(3, 5))
    torch.save(model.state_dict(), tmp_path / "lm.pt")
    (tmp_path / "lm.toml").write_text(
        'loss = "cross_entropy"\nlr = 0.5\ninput_shape = [2]\n[[layers]]\nkind = "embedding"\n'
        '[[layers]]\nkind = "positional"\nlearned = true\n[[layers]]\nactivation = "softmax"\n'
        '[data]\nx = [[4, 1]]\ny = [[1, 2]]\n')
    spec = load_network_file(tmp_path / "lm.pt")
    assert [layer.kind for layer in spec.network.layers] == ["embedding", "positional", "dense"]
    state = model.state_dict()
    document = {"loss": "cross_entropy", "lr": 0.5, "optimizer": "sgd", "input_shape": [2],
                "layers": [{"kind": "embedding", "weight": state["0.weight"].double().tolist()},
                           {"kind": "positional", "learned": True, "weight": state["1.weight"].double().tolist()},
                           {"weight": state["2.weight"].double().tolist(), "bias": state["2.bias"].double().tolist(),
                            "activation": "softmax"}],
                "data": {"x": [[4, 1]], "y": [[1, 2]]}}
    assert spec.xs is not None and spec.ys is not None
    result = json.loads(build_derivation(spec.network, spec.xs, class_targets(spec.network, spec.ys),
                                         Options()).to_json())
    for layer in result["layers"]:
        layer.pop("z", None), layer.pop("a", None)
    assert_step_close(result, reference(document))


def test_a_softmax_at_every_step_of_a_recurrent_layer_is_worked_in_the_matrix_form_only():
    document = {"loss": "cross_entropy", "input_shape": [2, 1],
                "layers": [{"kind": "rnn", "hidden_size": 1, "output": "all"}, {"units": 2, "activation": "softmax"}],
                "data": {"x": [[0.5, -0.3]], "y": [[1, 0]]}}
    with pytest.raises(BackpropError, match="softmax at every position .* use --form matrix"):
        ours(document, "scalar")
    assert ours(document, "auto") == ours(document, "matrix")


def test_one_hot_rows_do_not_build_a_vocabulary_square():
    """X_t compares the ids with 0 … V−1 (N × V a step), never V × V (72 TB for these 3,000,000 words)."""
    from types import SimpleNamespace

    import numpy as np

    from backprop_cli.layers.embedding import Embedding

    ids = np.array([[0, 2_999_999]])  # N × T
    hot = Embedding.one_hot(SimpleNamespace(vocabulary=3_000_000), ids)  # type: ignore[arg-type]
    assert hot.shape == (2, 1, 3_000_000)
    assert hot.sum() == 2 and hot[0, 0, 0] == hot[1, 0, 2_999_999] == 1
