"""Self-attention and the transformer block (layers/attention.py, layer norm, residual and dense at
every token): every number of a step equal to PyTorch.

The reference is built here from the spec's own tables, not from the package's kinds: the input
reshaped to (N, T, d); nn.MultiheadAttention(d, heads, batch_first=True) called as attn(x, x, x) with
the table's in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias and, where causal,
attn_mask = nn.Transformer.generate_square_subsequent_mask(T); nn.LayerNorm(d) and nn.Linear on
(N, T, d), which work each token; residual sums x + block(x); the loss, autograd and torch.optim, in
float64.
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
from backprop_cli.errors import BackpropError, SpecError
from backprop_cli.io import parse_spec
from tests.reference import adam_conditioning, assert_step_close, flat, magnitude, torch_activation

torch = pytest.importorskip("torch")
T = torch.float64


class _Attention(torch.nn.Module):
    def __init__(self, table: dict[str, Any], d: int, steps: int) -> None:
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(d, table.get("num_heads", 1), bias="in_proj_bias" in table,
                                                batch_first=True, dtype=T)
        with torch.no_grad():
            self.attn.in_proj_weight.copy_(torch.tensor(table["in_proj_weight"], dtype=T))
            self.attn.out_proj.weight.copy_(torch.tensor(table["out_proj_weight"], dtype=T))
            if "in_proj_bias" in table:
                self.attn.in_proj_bias.copy_(torch.tensor(table["in_proj_bias"], dtype=T))
                self.attn.out_proj.bias.copy_(torch.tensor(table["out_proj_bias"], dtype=T))
        self.mask = torch.nn.Transformer.generate_square_subsequent_mask(steps, dtype=T) if table.get("causal") \
            else None

    def forward(self, x: Any) -> Any:
        return self.attn(x, x, x, attn_mask=self.mask)[0]

    def named(self) -> list[tuple[str, Any]]:
        names = [("in_proj_weight", self.attn.in_proj_weight)]
        if self.attn.in_proj_bias is not None:
            names.append(("in_proj_bias", self.attn.in_proj_bias))
        names.append(("out_proj_weight", self.attn.out_proj.weight))
        if self.attn.out_proj.bias is not None:
            names.append(("out_proj_bias", self.attn.out_proj.bias))
        return names


class _Residual(torch.nn.Module):
    def __init__(self, block: list[Any]) -> None:
        super().__init__()
        self.block = torch.nn.ModuleList(block)

    def forward(self, x: Any) -> Any:
        out = x
        for module in self.block:
            out = module(out)
        return x + out


class _Sinusoidal(torch.nn.Module):
    """The PyTorch tutorial's PositionalEncoding ("Attention is all you need"), added to (N, T, d)."""

    def __init__(self, steps: int, d: int) -> None:
        super().__init__()
        position = torch.arange(steps, dtype=T).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d, 2, dtype=T) * (-math.log(10000.0) / d))
        self.table = torch.zeros(steps, d, dtype=T)
        self.table[:, 0::2] = torch.sin(position * div_term)
        self.table[:, 1::2] = torch.cos(position * div_term[: d // 2])

    def forward(self, x: Any) -> Any:
        return x + self.table


class _Dense(torch.nn.Module):
    def __init__(self, table: dict[str, Any]) -> None:
        super().__init__()
        w = torch.tensor(table["weight"], dtype=T)
        self.linear = torch.nn.Linear(w.shape[1], w.shape[0], dtype=T)
        with torch.no_grad():
            self.linear.weight.copy_(w)
            self.linear.bias.copy_(torch.tensor(table["bias"], dtype=T))
        self.f = torch_activation(table.get("activation", "sigmoid"))

    def forward(self, x: Any) -> Any:
        return self.f(self.linear(x))


def build(table: dict[str, Any], d: int, steps: int) -> tuple[Any, int]:
    """The torch module of one spec table on (N, T, d), and the width it gives."""
    kind = table.get("kind", "dense")
    if kind == "embedding":
        weight = torch.tensor(table["weight"], dtype=T)
        embedding = torch.nn.Embedding(*weight.shape, dtype=T)
        with torch.no_grad():
            embedding.weight.copy_(weight)
        return embedding, weight.shape[1]
    if kind == "attention":
        return _Attention(table, d, steps), d
    if kind == "positional":
        assert not table.get("learned")
        return _Sinusoidal(steps, d), d
    if kind == "layer_norm":
        ln = torch.nn.LayerNorm(d, dtype=T)
        with torch.no_grad():
            ln.weight.copy_(torch.tensor(table["weight"], dtype=T))
            ln.bias.copy_(torch.tensor(table["bias"], dtype=T))
        return ln, d
    if kind == "residual":
        block, width = [], d
        for inner in table["layers"]:
            module, width = build(inner, width, steps)
            block.append(module)
        return _Residual(block), d
    assert kind == "dense"
    return _Dense(table), len(table["weight"])


def named(module: Any) -> list[tuple[str, Any]]:
    if isinstance(module, _Attention):
        return module.named()
    if isinstance(module, torch.nn.LayerNorm):
        return [("weight", module.weight), ("bias", module.bias)]
    if isinstance(module, _Dense):
        return [("weight", module.linear.weight), ("bias", module.linear.bias)]
    if isinstance(module, torch.nn.Embedding):
        return [("weight", module.weight)]
    return []


def torch_step(document: dict[str, Any], after: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``step --format json``'s numbers for the spec ``document``, by PyTorch; with ``after`` (a step's
    ``layers``), its loss after the step is the loss at those layers' new values instead of torch's."""
    tokens = document["layers"][0].get("kind") == "embedding"
    steps, d = (document["input_shape"][0], None) if tokens else document["input_shape"]
    modules, width = [], d
    for table in document["layers"]:
        if tokens and table is document["layers"][-1]:
            table = {**table, "activation": "identity"}  # the logits: CrossEntropyLoss takes them
        module, width = build(table, width, steps)
        modules.append(module)
    if tokens:  # nn.Embedding on the (N, T) ids; CrossEntropyLoss on the (N·T, V) logits, class indices
        X = torch.tensor(document["data"]["x"], dtype=torch.long)
        N = X.shape[0]
        inputs = X
        Y = torch.tensor(document["data"]["y"], dtype=torch.long).reshape(-1)
    else:
        X = torch.tensor(document["data"]["x"], dtype=T)
        N = X.shape[0]
        inputs = X.reshape(N, steps, d)
        Y = torch.tensor(document["data"]["y"], dtype=T)
    outputs: dict[int, Any] = {}

    def hook(module: Any, _: Any, out: Any) -> None:
        outputs[id(module)] = out.detach().reshape(N, -1).tolist()

    everything = [m for module in modules for m in module.modules()
                  if isinstance(m, (_Attention, _Residual, _Dense, torch.nn.LayerNorm, torch.nn.Embedding,
                                    _Sinusoidal))]
    for module in everything:
        module.register_forward_hook(hook)
    model = torch.nn.Sequential(*modules)

    def loss_of(out: Any) -> Any:
        if tokens:
            return torch.nn.CrossEntropyLoss()(out.reshape(N * steps, -1), Y)
        return torch.nn.MSELoss()(out.reshape(N, -1), Y)

    out = model(inputs)
    loss = loss_of(out)
    if tokens:  # the page's output: softmax at every position
        out = torch.softmax(out, dim=-1)
        outputs[id(modules[-1])] = out.detach().reshape(N, -1).tolist()
    loss.backward()
    params = [p for module in everything for _, p in named(module)]
    befores = {id(p): p.detach().tolist() for p in params}
    grads = {id(p): p.grad.tolist() for p in params}
    optimizer = {"sgd": lambda: torch.optim.SGD(params, lr=document["lr"]),
                 "adam": lambda: torch.optim.Adam(params, lr=document["lr"])}[document["optimizer"]]()
    optimizer.step()

    kinds = {_Attention: "attention", _Residual: "residual", _Dense: "dense", torch.nn.LayerNorm: "layer_norm",
             torch.nn.Embedding: "embedding", _Sinusoidal: "positional"}

    def entry(module: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"kind": kinds[type(module)], "output": outputs[id(module)]}
        for name, p in named(module):
            result.update({name: befores[id(p)], f"grad_{name}": grads[id(p)], f"new_{name}": p.detach().tolist()})
        if isinstance(module, _Residual):
            result["layers"] = [entry(inner) for inner in module.block]
        return result

    layers = [entry(module) for module in modules]

    def put(module: Any, given: dict[str, Any]) -> None:
        for name, p in named(module):
            p.copy_(torch.tensor(given[f"new_{name}"], dtype=T).reshape(p.shape))
        for inner, table in zip(getattr(module, "block", []), given.get("layers", []), strict=True):
            put(inner, table)

    with torch.no_grad():
        for module, given in zip(modules, after or [], strict=False):
            put(module, given)
        loss_after = loss_of(model(inputs)).item()
    return {"loss": loss.item(), "loss_after": loss_after, "output": out.detach().reshape(N, -1).tolist(),
            "layers": layers}


def ours(document: dict[str, Any], form: str = "auto", **options: Any) -> dict[str, Any]:
    from backprop_cli.resolve import class_targets

    spec = parse_spec(json.loads(json.dumps(document)))
    assert spec.xs is not None and spec.ys is not None
    ys = class_targets(spec.network, spec.ys)
    return json.loads(build_derivation(spec.network, spec.xs, ys, Options(form=form, **options)).to_json())


def _strip(layers: list[dict[str, Any]]) -> None:
    for layer in layers:
        layer.pop("z", None), layer.pop("a", None)
        _strip(layer.get("layers", []))


def compare(document: dict[str, Any], result: dict[str, Any]) -> None:
    """The step's JSON ``result`` against ``torch_step(document)``."""
    expected = torch_step(document)
    _strip(result["layers"])
    if document["optimizer"] == "adam":
        scale = magnitude(expected)
        # the loss after the step is checked at the new values this step gives (which may differ from
        # torch's as below), by torch: to 1e-12, as the rest of the step
        at_ours = torch_step(document, after=json.loads(json.dumps(result["layers"])))["loss_after"]
        assert abs(result["loss_after"] - at_ours) <= 1e-12 * scale
        adam_conditioning(document["lr"], result["layers"], expected["layers"], scale)
        result["loss_after"] = expected["loss_after"]
    assert_step_close(result, expected)


def check(document: dict[str, Any]) -> None:
    compare(document, ours(document))


# --- specs ------------------------------------------------------------------------------------


def _numbers(draw: Any, shape: tuple[int, ...], scale: int = 100) -> Any:
    if not shape:
        return draw(st.integers(-scale, scale)) / 100
    return [_numbers(draw, shape[1:], scale) for _ in range(shape[0])]


def attention_table(draw: Any, d: int, bias: bool = True) -> dict[str, Any]:
    heads = draw(st.sampled_from([h for h in (1, 2) if d % h == 0]))
    table: dict[str, Any] = {"kind": "attention", "num_heads": heads, "causal": draw(st.booleans()),
                             "in_proj_weight": _numbers(draw, (3 * d, d)), "out_proj_weight": _numbers(draw, (d, d))}
    if bias:
        table["in_proj_bias"], table["out_proj_bias"] = _numbers(draw, (3 * d,)), _numbers(draw, (d,))
    return table


def norm_table(draw: Any, d: int) -> dict[str, Any]:
    return {"kind": "layer_norm", "weight": _numbers(draw, (d,)), "bias": _numbers(draw, (d,))}


def dense_table(draw: Any, inputs: int, units: int, activation: str) -> dict[str, Any]:
    return {"weight": _numbers(draw, (units, inputs)), "bias": _numbers(draw, (units,)), "activation": activation}


@st.composite
def block_specs(draw: Any, block: str | None = None) -> dict[str, Any]:
    """d 2–4, heads 1–2 dividing d, T 2–4, batch 1–2, causal or not; attention alone, or a pre-norm
    block (x + attn(LN(x)), then x + FFN(LN(x))) or a post-norm one (LN(x + attn(x)), then
    LN(x + FFN(x))), then nn.Linear at every token; SGD or Adam."""
    d, steps, batch = draw(st.integers(2, 4)), draw(st.integers(2, 4)), draw(st.integers(1, 2))
    kind = block or draw(st.sampled_from(["alone", "pre", "post"]))
    attention = attention_table(draw, d, bias=kind != "alone" or draw(st.booleans()))
    hidden = draw(st.integers(1, 3))
    ffn = [dense_table(draw, d, hidden, "relu"), dense_table(draw, hidden, d, "identity")]
    outputs = d
    if kind == "alone":
        layers = [attention]
    elif kind == "pre":
        outputs = draw(st.integers(1, 3))
        layers = [{"kind": "residual", "layers": [norm_table(draw, d), attention]},
                  {"kind": "residual", "layers": [norm_table(draw, d), *ffn]},
                  dense_table(draw, d, outputs, "identity")]
    else:
        outputs = draw(st.integers(1, 3))
        layers = [{"kind": "residual", "layers": [attention]}, norm_table(draw, d),
                  {"kind": "residual", "layers": ffn}, norm_table(draw, d),
                  dense_table(draw, d, outputs, "identity")]
    xs = [_numbers(draw, (steps * d,), 200) for _ in range(batch)]
    ys = [_numbers(draw, (steps * outputs,)) for _ in range(batch)]
    return {"loss": "mse", "lr": draw(st.sampled_from([0.1, 0.5])),
            "optimizer": draw(st.sampled_from(["sgd", "adam"])),
            "input_shape": [steps, d], "layers": layers, "data": {"x": xs, "y": ys}}


@st.composite
def token_block_specs(draw: Any) -> dict[str, Any]:
    """The issue's case: nn.Embedding (vocabulary 3–6, d 2–4) → a pre- or post-norm block (heads 1–2,
    causal or not) → nn.Linear to the vocabulary, CrossEntropyLoss over every position with class
    indices; T 2–4, batch 1–2, SGD or Adam."""
    block = draw(block_specs(draw(st.sampled_from(["pre", "post"]))))
    steps, d = block["input_shape"]
    vocabulary, batch = draw(st.integers(3, 6)), len(block["data"]["x"])
    ids = st.integers(0, vocabulary - 1)
    layers = block["layers"]
    layers[-1] = {**dense_table(draw, d, vocabulary, "softmax")}
    return {**block, "loss": "cross_entropy", "input_shape": [steps],
            "layers": [{"kind": "embedding", "weight": _numbers(draw, (vocabulary, d), 200)}, *layers],
            "data": {"x": [[draw(ids) for _ in range(steps)] for _ in range(batch)],
                     "y": [[draw(ids) for _ in range(steps)] for _ in range(batch)]}}


@settings(deadline=None, max_examples=25)
@given(token_block_specs())
def test_embedding_block_linear_cross_entropy_at_every_position_equals_pytorch(document):
    check(document)


@settings(deadline=None, max_examples=40)
@given(block_specs("alone"))
def test_attention_step_equals_pytorch(document):
    check(document)


@settings(deadline=None, max_examples=25)
@given(block_specs("pre"))
def test_pre_norm_block_step_equals_pytorch(document):
    check(document)


@settings(deadline=None, max_examples=25)
@given(block_specs("post"))
def test_post_norm_block_step_equals_pytorch(document):
    check(document)


# --- a published worked example -----------------------------------------------------------------


def test_karims_illustrated_self_attention_is_reproduced():
    """Raimi Karim, "Illustrated: Self-Attention" (Towards Data Science, 2019,
    https://towardsdatascience.com/illustrated-self-attention-2d627e33b20a): three inputs of 4
    features, projections to 3, scores Q Kᵀ without the 1/√d_k, its printed keys, values, scores,
    softmax (tensor([[6.3379e-02, 4.6831e-01, 4.6831e-01], …])) and outputs (tensor([[1.9366, 6.6831,
    1.5951], …])). Its weights multiply from the right (x @ w, 4 × 3): torch's rows are their
    columns, here with a fourth row of zeros (d = 4 in nn.MultiheadAttention); W_Q is doubled to
    undo the 1/√4 that the article leaves out, W_O is the identity."""
    w_query = [[1, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 1]]
    w_key = [[0, 0, 1], [1, 1, 0], [0, 1, 0], [1, 1, 0]]
    w_value = [[0, 2, 0], [0, 3, 0], [1, 0, 3], [1, 1, 0]]

    def rows(w: list[list[int]], factor: int = 1) -> list[list[float]]:
        return [[factor * w[i][j] for i in range(4)] for j in range(3)] + [[0.0] * 4]

    x = [1, 0, 1, 0, 0, 2, 0, 2, 1, 1, 1, 1]
    document = {"loss": "mse", "lr": 0.1, "input_shape": [3, 4],
                "layers": [{"kind": "attention", "in_proj_weight": rows(w_query, 2) + rows(w_key) + rows(w_value),
                            "out_proj_weight": [[float(i == j) for j in range(4)] for i in range(4)],
                            "bias": False}],
                "data": {"x": [x], "y": [[0.0] * 12]}}
    spec = parse_spec(document)
    page = build_derivation(spec.network, spec.xs, spec.ys, Options())
    values = {str(symbol): matrix.rows for symbol, matrix in page.values.items() if hasattr(matrix, "rows")}
    assert values["K^(1)"] == ((0, 1, 1, 0), (4, 4, 0, 0), (2, 3, 1, 0))
    assert values["V^(1)"] == ((1, 2, 3, 0), (2, 8, 0, 0), (2, 6, 3, 0))
    assert values["S^(1)"][0] == (2, 4, 4)  # the article's scores for input 1
    weights = [[6.3379e-02, 4.6831e-01, 4.6831e-01], [6.0337e-06, 9.8201e-01, 1.7986e-02],
               [2.9539e-04, 8.8054e-01, 1.1917e-01]]
    for ours_row, theirs in zip(values["A_1^(1)"], weights, strict=True):
        assert ours_row == pytest.approx(theirs, rel=1e-4)
    outputs = [[1.9366, 6.6831, 1.5951, 0.0], [2.0000, 7.9640, 0.0540, 0.0], [1.9997, 7.7599, 0.3584, 0.0]]
    for ours_row, theirs in zip(values["H^(1)"], outputs, strict=True):
        assert ours_row == pytest.approx(theirs, abs=5e-5)
    assert json.loads(page.to_json())["output"][0] == pytest.approx([v for row in outputs for v in row], abs=5e-5)


# --- bad input, forms -------------------------------------------------------------------------


def _table(**change: Any) -> dict[str, Any]:
    d = 2
    table = {"kind": "attention", "in_proj_weight": [[0.1] * d] * (3 * d), "out_proj_weight": [[0.2] * d] * d,
             **change}
    return {"loss": "mse", "input_shape": [2, d], "layers": [table], "data": {"x": [[0.0] * 4], "y": [[0.0] * 4]}}


@pytest.mark.parametrize(("change", "message"), [
    ({"num_heads": 3}, "num_heads: 3 heads do not divide embed_dim 2"),
    ({"embed_dim": 3}, "embed_dim: is 3 but each token of the input has 2"),
    ({"in_proj_weight": [[0.1, 0.1]] * 5}, r"in_proj_weight: is 5×2; .* \(6×2\)"),
    ({"out_proj_weight": [[0.1, 0.1, 0.1]] * 2}, r"out_proj_weight: is 2×3"),
    ({"in_proj_bias": [0.0] * 6}, "give both in_proj_bias and out_proj_bias"),
    ({"causal": "yes"}, "causal: expected true or false"),
    ({"heads": 2}, "heads: unknown key; did you mean 'num_heads'"),
])
def test_bad_tables_name_the_key(change, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(_table(**change))


def test_attention_needs_a_sequence():
    document = {"loss": "mse", "inputs": 4, "layers": [{"kind": "attention"}], "data": {"x": [[0.0] * 4],
                                                                                       "y": [[0.0] * 4]}}
    with pytest.raises(SpecError, match=r"input_shape = \[T, embed_dim\]"):
        parse_spec(document)


def test_the_scalar_form_is_refused_past_its_sizes_with_the_fix():
    document = _table() | {"input_shape": [4, 2], "data": {"x": [[0.0] * 8], "y": [[0.0] * 8]}}
    with pytest.raises(BackpropError, match="--form matrix"):
        ours(document, "scalar")


def test_random_weights_follow_torchs_init():
    layer = parse_spec(_table(in_proj_weight=None, out_proj_weight=None) | {
        "layers": [{"kind": "attention", "num_heads": 2}]}).network.layers[0]
    bound = math.sqrt(6 / (4 * 2))
    assert all(abs(v) <= bound and round(v, 4) == v for row in layer.in_proj_weight for v in row)
    assert layer.in_proj_bias == (0.0,) * 6 and layer.out_proj_bias == (0.0,) * 2
    assert len({v for row in layer.in_proj_weight for v in row}) > 6


# --- training, verify, files ----------------------------------------------------------------


BLOCK = {
    "loss": "mse", "lr": 0.1, "optimizer": "sgd", "input_shape": [3, 4],
    "layers": [
        {"kind": "residual", "layers": [{"kind": "layer_norm"}, {"kind": "attention", "num_heads": 2, "causal": True}]},
        {"kind": "residual", "layers": [{"kind": "layer_norm"}, {"units": 6, "activation": "relu"},
                                        {"units": 4, "activation": "identity"}]},
        {"units": 2, "activation": "identity"},
    ],
    "data": {"x": [[0.1 * ((3 * k + j) % 7) - 0.3 for j in range(12)] for k in range(3)],
             "y": [[0.1 * ((k + j) % 3) for j in range(6)] for k in range(3)]},
}


def torch_train(document: dict[str, Any], epochs: int) -> tuple[list[float], list[Any]]:
    """A plain PyTorch loop over the spec's modules (built above), full batch, SGD."""
    steps, d = document["input_shape"]
    modules, width = [], d
    for table in document["layers"]:
        module, width = build(table, width, steps)
        modules.append(module)
    model = torch.nn.Sequential(*modules)
    params = [p for module in model.modules() for _, p in named(module)]
    optimizer = torch.optim.SGD(params, lr=document["lr"])
    X = torch.tensor(document["data"]["x"], dtype=T)
    N = X.shape[0]
    Y = torch.tensor(document["data"]["y"], dtype=T)
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.MSELoss()(model(X.reshape(N, steps, d)).reshape(N, -1), Y)
        history.append(loss.item())
        loss.backward()
        optimizer.step()
    return history, [p.detach().tolist() for p in params]


def test_training_on_numpy_and_torch_equals_a_torch_loop_and_compiled_declines():
    from backprop_cli.io import spec_document
    from backprop_cli.training import TrainSettings, train
    from tests.reference import assert_close

    spec = parse_spec(json.loads(json.dumps(BLOCK)))
    assert spec.xs is not None and spec.ys is not None
    written = spec_document(spec.network, spec.xs, spec.ys)
    assert parse_spec(written) == spec
    history, parameters = torch_train(written, epochs=5)
    for backend in ("numpy", "torch", "auto"):
        result = train(spec.network, spec.xs, spec.ys, TrainSettings(epochs=5, backend=backend))
        assert_close([loss for _, loss in result.history], history, tol=1e-10, path=backend)
        assert_close(list(result.network.parameter_values().values()), parameters, tol=1e-10, path=backend)
    with pytest.raises(BackpropError, match="does not compile attention(, [a-z_]+)* layers .*; use --backend numpy"):
        train(spec.network, spec.xs, spec.ys, TrainSettings(epochs=5, backend="compiled"))


def test_verify_agrees_with_autograd_and_finite_differences():
    from backprop_cli.verification import check_gradients

    spec = parse_spec(json.loads(json.dumps(BLOCK)))
    assert spec.xs is not None and spec.ys is not None
    result = check_gradients(spec.network, spec.xs, spec.ys)
    assert result.ok and result.torch_version is not None
    assert len(result.checks) == spec.network.parameter_count


def test_a_multihead_attention_state_dict_is_read(tmp_path):
    """nn.MultiheadAttention's state_dict (in_proj_weight, out_proj.weight …) inside a module, with
    a sidecar for the settings torch does not save (the sequence's shape, causal, the loss)."""
    from backprop_cli.torch_io import load_state_dict_spec

    torch.manual_seed(0)

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = torch.nn.MultiheadAttention(4, 2, batch_first=True)
            self.out = torch.nn.Linear(4, 2)

    model = Block()
    torch.save(model.state_dict(), tmp_path / "model.pt")
    (tmp_path / "model.toml").write_text('loss = "mse"\ninput_shape = [3, 4]\n[[layers]]\nkind = "attention"\n'
                                         'num_heads = 2\ncausal = true\n[[layers]]\nactivation = "identity"\n')
    layers = load_state_dict_spec(tmp_path / "model.pt").network.layers
    attention, dense = layers
    assert attention.kind == "attention" and attention.num_heads == 2 and attention.causal
    for ours_value, tensor in ((attention.in_proj_weight, model.attn.in_proj_weight),
                               (attention.in_proj_bias, model.attn.in_proj_bias),
                               (attention.out_proj_weight, model.attn.out_proj.weight),
                               (attention.out_proj_bias, model.attn.out_proj.bias), (dense.weight, model.out.weight)):
        assert flat(list(map(list, ours_value)) if isinstance(ours_value[0], tuple) else list(ours_value)) \
            == pytest.approx(tensor.detach().double().flatten().tolist())


# --- the page ---------------------------------------------------------------------------------


def _example_page(lang: str = "en") -> Any:
    import backprop_cli

    return backprop_cli.derive("docs/examples/transformer.toml", lang=lang)


def test_the_attention_weights_are_a_heat_map_in_html_and_in_the_terminal():
    import io

    from rich.console import Console

    from backprop_cli.render.html import heat_color
    from backprop_cli.render.terminal import page_renderable

    page = _example_page()
    html = page.to_html()
    weights = [(str(step.target), step.value.rows) for section in page.sections for group in section.groups
               for step in group.steps if getattr(step, "heat", False)]
    assert [name for name, _ in weights] == ["A_1^(4)", "A_2^(4)"]
    for _, rows in weights:
        for row in rows:
            for value in row:
                assert 'mathbackground="rgb({},{},{})"'.format(*heat_color(value)) in html
    assert heat_color(0.0) == (255, 255, 255) and heat_color(1.0) == (33, 102, 172)
    buffer = io.StringIO()
    Console(width=100, file=buffer, color_system="truecolor", force_terminal=True).print(page_renderable(page))
    assert "\x1b[" in buffer.getvalue() and ";48;2;33;102;172m" in buffer.getvalue()  # A's 1s, deep blue


def test_the_korean_page_says_attention_query_key_value():
    text = _example_page("ko").to_markdown()
    for word in ("어텐션", "쿼리", "키", "값"):
        assert word in text
