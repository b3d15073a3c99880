"""Convolution, pooling and flatten (layers/conv.py, layers/pool.py): every number equal to PyTorch.

The reference is built here from the spec's own tables, not from the package's kinds: the input
reshaped to (N, C, H, W) or (N, C, L), then nn.Conv1d/nn.Conv2d with the table's weights, the
activation, nn.MaxPool/nn.AvgPool, nn.Flatten, nn.Linear, the loss, autograd and torch.optim, in
float64.
"""

from __future__ import annotations

import json
import math
import shutil
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.errors import BackpropError, SpecError
from backprop_cli.io import parse_spec, spec_document, spec_toml
from tests.reference import adam_conditioning, assert_close, assert_step_close, magnitude, torch_activation, torch_loss

torch = pytest.importorskip("torch")
T = torch.float64

ACTIVATIONS = ("identity", "relu", "tanh", "sigmoid")


# --- the reference --------------------------------------------------------------------------


def _module(table: dict[str, Any], dims: int) -> tuple[Any, list[tuple[str, Any]]]:
    """The torch module of one [[layers]] table and its (name, parameter) pairs."""
    nn = torch.nn
    kind = table.get("kind", "dense")
    if kind.startswith("conv"):
        weight = torch.tensor(table["weight"], dtype=T)
        conv = (nn.Conv1d if dims == 1 else nn.Conv2d)(
            weight.shape[1], weight.shape[0], tuple(weight.shape[2:]), stride=table.get("stride", 1),
            padding=table.get("padding", 0), bias=isinstance(table.get("bias"), list), dtype=T)
        with torch.no_grad():
            conv.weight.copy_(weight)
            if conv.bias is not None:
                conv.bias.copy_(torch.tensor(table["bias"], dtype=T))
        params = [("weight", conv.weight)] + ([("bias", conv.bias)] if conv.bias is not None else [])
        return nn.Sequential(conv, torch_activation(table.get("activation", "identity"))), params
    if "pool" in kind:
        cls = getattr(nn, ("MaxPool" if kind.startswith("max") else "AvgPool") + f"{dims}d")
        return cls(table["kernel_size"], stride=table.get("stride", table["kernel_size"])), []
    if kind == "flatten":
        return nn.Flatten(), []
    weight = torch.tensor(table["weight"], dtype=T)
    linear = nn.Linear(weight.shape[1], weight.shape[0], dtype=T)
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(torch.tensor(table["bias"], dtype=T))
    return linear, [("weight", linear.weight), ("bias", linear.bias)]


def activate(name: str | None, logits: Any) -> Any:
    """The output layer's activation on the logits (the loss may take the logits themselves)."""
    if name == "softmax":
        return torch.softmax(logits, dim=1)
    return torch.sigmoid(logits) if name == "sigmoid" else logits


def torch_conv_step(document: dict[str, Any]) -> dict[str, Any]:
    """``step --format json``'s numbers for the spec ``document``, by PyTorch."""
    shape = document["input_shape"]
    dims = len(shape) - 1
    tables = document["layers"]
    modules = [_module(table, dims) for table in tables]
    last = tables[-1].get("activation")
    loss_name = document["loss"]
    X = torch.tensor(document["data"]["x"], dtype=T).reshape(-1, *shape)
    Y = torch.tensor(document["data"]["y"], dtype=T)

    def run() -> tuple[list[Any], Any, Any]:
        outputs, current = [], X
        for module, _ in modules:
            current = module(current)
            outputs.append(current)
        logits = current
        output = activate(last, logits)
        outputs[-1] = output
        return outputs, output, logits

    outputs, output, logits = run()
    loss = torch_loss(loss_name, output, logits, Y)
    loss.backward()
    every = [p for _, pairs in modules for _, p in pairs]
    befores = {id(p): p.detach().tolist() for p in every}
    grads = {id(p): p.grad.tolist() for p in every}
    optimizer = {"sgd": lambda: torch.optim.SGD(every, lr=document["lr"]),
                 "momentum": lambda: torch.optim.SGD(every, lr=document["lr"], momentum=0.9),
                 "adam": lambda: torch.optim.Adam(every, lr=document["lr"])}[document["optimizer"]]()
    optimizer.step()
    with torch.no_grad():
        _, after, after_logits = run()
        loss_after = torch_loss(loss_name, after, after_logits, Y).item()
    layers = []
    for (_, pairs), out in zip(modules, outputs, strict=True):
        entry: dict[str, Any] = {"output": out.detach().reshape(out.shape[0], -1).tolist()}
        for name, p in pairs:
            entry[name] = befores[id(p)]
            entry[f"grad_{name}"] = grads[id(p)]
            entry[f"new_{name}"] = p.detach().tolist()
        layers.append(entry)
    return {"loss": loss.item(), "loss_after": loss_after, "output": output.detach().tolist(), "layers": layers}


# --- random networks ------------------------------------------------------------------------


def _numbers(draw: Any, shape: tuple[int, ...]) -> Any:
    if not shape:
        return draw(st.integers(-100, 100)) / 100
    return [_numbers(draw, shape[1:]) for _ in range(shape[0])]


@st.composite
def conv_specs(draw: Any) -> dict[str, Any]:
    """Channels 1–3, kernel 1–3, stride 1–2, padding 0–1, inputs 3–8 wide, batch 1–3, 1-D and 2-D."""
    dims = draw(st.sampled_from([1, 2]))
    size = [draw(st.integers(3, 8)) for _ in range(dims)]
    channels = draw(st.integers(1, 3))
    shape = [channels, *size]
    layers = []
    for _ in range(draw(st.integers(1, 2))):
        kernel = draw(st.integers(1, 3))
        padding = draw(st.integers(0, 1))
        stride = draw(st.integers(1, 2))
        out = [(n + 2 * padding - kernel) // stride + 1 for n in shape[1:]]
        assume(min(out) >= 1)
        out_channels = draw(st.integers(1, 3))
        table: dict[str, Any] = {"kind": f"conv{dims}d", "weight": _numbers(draw, (out_channels, shape[0],
                                                                                  *[kernel] * dims)),
                                 "stride": stride, "padding": padding,
                                 "activation": draw(st.sampled_from(ACTIVATIONS))}
        if draw(st.booleans()):
            table["bias"] = _numbers(draw, (out_channels,))
        layers.append(table)
        shape = [out_channels, *out]
        if draw(st.booleans()):
            pool = draw(st.integers(1, 2))
            pool_stride = draw(st.integers(1, 2))
            pooled = [(n - pool) // pool_stride + 1 for n in shape[1:]]
            if min(pooled) >= 1:
                layers.append({"kind": draw(st.sampled_from([f"max_pool{dims}d", f"avg_pool{dims}d"])),
                               "kernel_size": pool, "stride": pool_stride})
                shape = [shape[0], *pooled]
    layers.append({"kind": "flatten"})
    width = math.prod(shape)
    loss = draw(st.sampled_from(["mse", "cross_entropy", "bce"]))
    outputs = 1 if loss == "bce" else draw(st.integers(2, 3))
    activation = {"mse": "identity", "cross_entropy": "softmax", "bce": "sigmoid"}[loss]
    layers.append({"weight": _numbers(draw, (outputs, width)), "bias": _numbers(draw, (outputs,)),
                   "activation": activation})
    batch = draw(st.integers(1, 3))
    xs = [_numbers(draw, (channels * math.prod(size),)) for _ in range(batch)]
    if loss == "cross_entropy":
        classes = [draw(st.integers(0, outputs - 1)) for _ in range(batch)]
        ys = [[1.0 if k == c else 0.0 for k in range(outputs)] for c in classes]
    elif loss == "bce":
        ys = [[float(draw(st.integers(0, 1)))] for _ in range(batch)]
    else:
        ys = [_numbers(draw, (outputs,)) for _ in range(batch)]
    return {"loss": loss, "lr": draw(st.sampled_from([0.1, 0.5])),
            "optimizer": draw(st.sampled_from(["sgd", "momentum", "adam"])),
            "input_shape": [channels, *size], "layers": layers, "data": {"x": xs, "y": ys}}


def ours(document: dict[str, Any], form: str = "auto") -> dict[str, Any]:
    spec = parse_spec(json.loads(json.dumps(document)))
    assert spec.xs is not None and spec.ys is not None
    return json.loads(build_derivation(spec.network, spec.xs, spec.ys, Options(form=form)).to_json())


def expected_of(document: dict[str, Any]) -> dict[str, Any]:
    expected = torch_conv_step(document)
    expected["_loss"] = document["loss"]
    expected["_output_after"] = expected["output"]
    return expected


@settings(deadline=None)
@given(conv_specs())
def test_random_convolutional_networks_equal_pytorch(document):
    expected = expected_of(document)
    try:
        result = ours(document)
    except BackpropError as error:  # overflow is refused, never printed wrong
        assert "not finite" in str(error) or "predictions" in str(error)
        return
    for layer in result["layers"]:  # the dense layer's JSON also carries z and a
        layer.pop("z", None), layer.pop("a", None)
    if document.get("optimizer") == "adam":  # Adam near g = 0 (a bias whose weights after it cancel)
        adam_conditioning(document["lr"], result["layers"], expected["layers"], magnitude(expected))
    assert_step_close(result, expected)


@settings(deadline=None, max_examples=25)
@given(conv_specs())
def test_the_scalar_form_equals_the_matrix_form(document):
    spec = parse_spec(json.loads(json.dumps(document)))
    assert spec.xs is not None and spec.ys is not None
    assume(spec.network.parameter_count * len(spec.xs) <= 600)
    try:
        matrix = ours(document, "matrix")
        scalar = ours(document, "scalar")
    except BackpropError as error:
        assert "not finite" in str(error) or "more than" in str(error) or "predictions" in str(error)
        return
    assert_close(scalar, matrix, tol=1e-10, abs_tol=1e-10 * max(1.0, magnitude(matrix)))


def torch_conv_train(document: dict[str, Any], epochs: int) -> tuple[list[float], list[Any]]:
    """A plain PyTorch loop, full batch: the loss before each epoch's update, and the parameters after."""
    shape = document["input_shape"]
    dims = len(shape) - 1
    modules = [_module(table, dims) for table in document["layers"]]
    model = torch.nn.Sequential(*(m for m, _ in modules))
    params = [p for _, pairs in modules for _, p in pairs]
    optimizer = {"sgd": lambda: torch.optim.SGD(params, lr=document["lr"]),
                 "momentum": lambda: torch.optim.SGD(params, lr=document["lr"], momentum=0.9),
                 "adam": lambda: torch.optim.Adam(params, lr=document["lr"])}[document["optimizer"]]()
    X = torch.tensor(document["data"]["x"], dtype=T).reshape(-1, *shape)
    Y = torch.tensor(document["data"]["y"], dtype=T)
    last = document["layers"][-1].get("activation")
    history = []
    for _ in range(epochs):
        optimizer.zero_grad()
        logits = model(X)
        output = activate(last, logits)
        loss = torch_loss(document["loss"], output, logits, Y)
        history.append(loss.item())
        loss.backward()
        optimizer.step()
    return history, [p.detach().tolist() for p in params]


@settings(deadline=None, max_examples=20)
@given(conv_specs())
def test_training_on_each_engine_equals_a_torch_loop(document):
    from backprop_cli.training import TrainSettings, train

    # Adam divides by √v: a gradient that is 0 on one side and 1e-17 on the other (a pooling tie
    # broken by the last digit) moves a weight by a whole step. Its single step is checked above.
    assume(document["optimizer"] != "adam")
    # Inputs of two decimals give exact ties in pooling windows (equal sums); updates can leave two
    # entries a last digit apart, and which one each side's rounding makes the larger decides where
    # the gradient goes. An irrational jitter keeps every window's entries apart.
    document = json.loads(json.dumps(document))
    document["data"]["x"] = [[v + 1e-3 * math.sin(1 + 7 * n + k) for k, v in enumerate(row)]
                             for n, row in enumerate(document["data"]["x"])]
    spec = parse_spec(json.loads(json.dumps(document)))
    assert spec.xs is not None and spec.ys is not None
    history, parameters = torch_conv_train(document, epochs=4)
    if not all(math.isfinite(v) for v in history) or magnitude(parameters) > 1e3:
        return
    for backend in ("numpy", "torch", "compiled"):
        try:
            result = train(spec.network, spec.xs, spec.ys, TrainSettings(epochs=4, backend=backend))
        except BackpropError as error:  # the compiled engine declines a long scalar page, and says so
            assert backend == "compiled" and "too long for it; use --backend numpy" in str(error)
            continue
        scale = max(1.0, *(abs(v) for v in history))
        assert_close([loss for _, loss in result.history], history, tol=1e-10, abs_tol=1e-10 * scale,
                     path=backend)
        assert_close(list(result.network.parameter_values().values()), parameters, tol=1e-10, path=backend)


# --- a network by hand -----------------------------------------------------------------------

SPEC = {
    "loss": "cross_entropy", "lr": 0.5, "optimizer": "sgd", "input_shape": [1, 4, 4],
    "layers": [
        {"kind": "conv2d", "weight": [[[[0.1, -0.2, 0.3], [0.0, 0.4, -0.1], [0.2, 0.1, -0.3]]],
                                      [[[-0.3, 0.2, 0.1], [0.5, -0.1, 0.0], [0.1, 0.3, 0.2]]]],
         "bias": [0.1, -0.1], "activation": "relu"},
        {"kind": "max_pool2d", "kernel_size": 2},
        {"kind": "flatten"},
        {"weight": [[0.3, -0.2], [0.1, 0.4], [-0.5, 0.2]], "bias": [0.0, 0.1, -0.1], "activation": "softmax"},
    ],
    "data": {"x": [[[[0.5, 1.0, -0.5, 0.0], [0.2, -0.3, 0.8, 0.1], [1.0, 0.4, -0.2, 0.6], [0.0, 0.3, 0.7, -0.4]]]],
             "y": [[0.0, 1.0, 0.0]]},
}


def test_a_small_lenet_equals_pytorch_in_both_forms():
    expected = expected_of(SPEC)
    for form in ("matrix", "scalar"):
        result = ours(SPEC, form)
        for layer in result["layers"]:
            layer.pop("z", None), layer.pop("a", None)
        assert_step_close(result, expected)


def test_the_scalar_page_sums_the_kernel_gradient_over_every_position():
    spec = parse_spec(json.loads(json.dumps(SPEC)))
    assert spec.xs is not None and spec.ys is not None
    from backprop_cli.render import render

    page = render(build_derivation(spec.network, spec.xs, spec.ys, Options(form="scalar")), "rich", width=200)
    # The 3×3 kernel over a 4×4 input visits 2×2 positions: four terms in each weight's gradient.
    line = next(i for i, text in enumerate(page.splitlines()) if "∂𝓛/∂K₁,₁,₁,₁⁽¹⁾ =" in text)
    block = "\n".join(page.splitlines()[line:line + 4])
    for position in ("z₁,₁,₁⁽¹⁾ x₁,₁,₁", "z₁,₁,₂⁽¹⁾ x₁,₁,₂", "z₁,₂,₁⁽¹⁾ x₁,₂,₁", "z₁,₂,₂⁽¹⁾ x₁,₂,₂"):
        assert position in block, block
    assert "max(a₁,₁,₁⁽¹⁾, a₁,₁,₂⁽¹⁾, a₁,₂,₁⁽¹⁾, a₁,₂,₂⁽¹⁾)" in page
    assert "a₂⁽³⁾ = a₂,₁,₁⁽²⁾" in page


def test_spec_files_round_trip():
    spec = parse_spec(json.loads(json.dumps(SPEC)))
    again = parse_spec(spec_document(spec.network, spec.xs, spec.ys))
    assert again == spec
    import tomllib

    assert parse_spec(tomllib.loads(spec_toml(spec.network, spec.xs, spec.ys))) == spec


def test_random_kernels_from_out_channels_and_kernel_size():
    document = {"loss": "mse", "input_shape": [2, 5], "layers": [
        {"kind": "conv1d", "out_channels": 3, "kernel_size": 2, "stride": 2, "padding": 1},
        {"kind": "avg_pool1d", "kernel_size": 2}, {"kind": "flatten"}, {"units": 1, "activation": "identity"}]}
    network = parse_spec(document).network
    assert network.input_shape == (2, 5)
    conv = network.layers[0]
    assert len(conv.weight) == 3 and len(conv.weight[0]) == 2 and len(conv.weight[0][0]) == 2
    bound = 1 / math.sqrt(2 * 2)
    assert all(abs(v) <= bound for row in conv.weight for kernel in row for v in kernel)
    assert network.widths == (10, 9, 3, 3, 1)


@pytest.mark.parametrize(("change", "message"), [
    ({"input_shape": [1, 4]}, "takes (C, H, W) samples"),
    ({"input_shape": "4x4"}, "input_shape: expected [C, L] or [C, H, W]"),
    ({"input_shape": [2, 4, 4]}, "has 1 input channel(s) (its second axis) but the input has 2"),
    ({"layers": [{"kind": "conv2d", "weight": [[[[1.0]]]]}, {"weight": [[1.0]], "bias": [0.0]}]},
     "dense takes one vector per sample, but the layer before gives 1×4×4 feature maps; put a [[layers]] table"
     " with kind = \"flatten\" before it"),
    ({"layers": [{"kind": "conv2d", "out_channels": 1, "kernel_size": 5}]}, "kernel_size: 5 is wider than the input"),
    ({"layers": [{"kind": "conv2d", "weight": [[[[1.0, 2.0], [3.0]]]]}]}, "ragged"),
    ({"layers": [{"kind": "conv2d", "out_channels": 2}]}, "needs weight (and bias), or out_channels and kernel_size"),
    ({"layers": [{"kind": "max_pool2d"}]}, "max_pool2d needs kernel_size"),
    ({"layers": [{"kind": "conv2d", "out_channels": 1, "kernel_size": 2, "dilation": 2}]}, "dilation: unknown key"),
    ({"layers": [{"kind": "conv2d", "out_channels": 1, "kernel_size": [2, 2, 2]}]}, "expected 2 numbers"),
    ({"layers": [{"kind": "flatten", "start_dim": 2}]}, "start_dim = 1"),
])
def test_bad_convolution_tables_name_the_key(change, message):
    document = json.loads(json.dumps(SPEC))
    document.update(change)
    with pytest.raises(SpecError, match=None) as caught:
        parse_spec(document)
    assert message in str(caught.value)


def test_a_convolution_needs_an_input_shape():
    document = json.loads(json.dumps(SPEC))
    del document["input_shape"]
    with pytest.raises(SpecError, match="give input_shape"):
        parse_spec(document)


def test_a_pytorch_state_dict_of_a_convolutional_model(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(8, 3)).double()
    torch.save(model.state_dict(), tmp_path / "lenet.pt")
    (tmp_path / "lenet.toml").write_text(
        'loss = "cross_entropy"\nlr = 0.1\ninput_shape = [1, 4, 4]\n'
        '[[layers]]\nkind = "conv2d"\npadding = 1\nactivation = "relu"\n'
        '[[layers]]\nkind = "avg_pool2d"\nkernel_size = 2\n[[layers]]\nkind = "flatten"\n'
        '[[layers]]\nactivation = "softmax"\n'
        '[data]\nx = [[0.5, 1.0, -0.5, 0.0, 0.2, -0.3, 0.8, 0.1, 1.0, 0.4, -0.2, 0.6, 0.0, 0.3, 0.7, -0.4]]\ny = [2]\n')
    from backprop_cli.resolve import load_network_file

    spec = load_network_file(tmp_path / "lenet.pt")
    assert spec.xs is not None and spec.ys is not None
    result = json.loads(build_derivation(spec.network, spec.xs, spec.ys.__class__(((0.0, 0.0, 1.0),)),
                                         Options()).to_json())
    X = torch.tensor(spec.xs, dtype=T).reshape(1, 1, 4, 4)
    logits = model(X)
    loss = torch.nn.CrossEntropyLoss()(logits, torch.tensor([2]))
    loss.backward()
    assert math.isclose(result["loss"], loss.item(), rel_tol=1e-12)
    assert_close(result["layers"][0]["grad_weight"], model[0].weight.grad.tolist(), tol=1e-12)
    assert_close(result["layers"][3]["grad_weight"], model[4].weight.grad.tolist(), tol=1e-12)


# --- published examples ---------------------------------------------------------------------
# Zhang, Lipton, Li and Smola, "Dive into Deep Learning" (d2l.ai), chapter 7 "Convolutional Neural
# Networks": §7.2.1 (conv-layer.md) works X = [[0,1,2],[3,4,5],[6,7,8]] ⋆ K = [[0,1],[2,3]] =
# [[19, 25], [37, 43]]; §7.4.1 (channels.md) two input channels, [[56, 72], [104, 120]]; §7.5.1
# (pooling.md) max pooling 2×2 with stride 1, [[4, 5], [7, 8]], and average pooling, [[2, 3], [5, 6]].
# Their backward (∂𝓛/∂K the correlation of X with δ) is checked against autograd above.

D2L_X = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]


def _d2l(layers: list[dict[str, Any]], x: Any, channels: int = 1) -> dict[str, Any]:
    document = {"loss": "mse", "input_shape": [channels, 3, 3], "layers": [*layers, {"kind": "flatten"}],
                "data": {"x": [x], "y": [[0.0] * 4]}}
    return ours(document)


def test_dive_into_deep_learning_cross_correlation():
    result = _d2l([{"kind": "conv2d", "weight": [[[[0.0, 1.0], [2.0, 3.0]]]]}], [D2L_X])
    assert result["layers"][0]["output"] == [[19.0, 25.0, 37.0, 43.0]]
    # 𝓛 = mean(z²): δ = z/2, and ∂𝓛/∂K[p][q] sums δ times the input each position met.
    delta = [19 / 2, 25 / 2, 37 / 2, 43 / 2]
    windows = [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]]  # X's values under K[p][q]
    grad = [sum(d * windows[k][i] for i, d in enumerate(delta)) for k in range(4)]
    assert_close(result["layers"][0]["grad_weight"], [[[grad[:2], grad[2:]]]], tol=1e-15)


def test_dive_into_deep_learning_two_input_channels():
    second = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]
    result = _d2l([{"kind": "conv2d", "weight": [[[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]]]}],
                  [D2L_X, second], channels=2)
    assert result["layers"][0]["output"] == [[56.0, 72.0, 104.0, 120.0]]


@pytest.mark.parametrize(("kind", "expected"), [("max_pool2d", [4.0, 5.0, 7.0, 8.0]),
                                                ("avg_pool2d", [2.0, 3.0, 5.0, 6.0])])
def test_dive_into_deep_learning_pooling(kind, expected):
    result = _d2l([{"kind": kind, "kernel_size": 2, "stride": 1}], [D2L_X])
    assert result["layers"][0]["output"] == [expected]


LENET = "docs/examples/lenet.toml"


@pytest.mark.parametrize("form", ["scalar", "matrix"])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_lenet_page_in_every_format(form, lang):
    from backprop_cli import derive
    from backprop_cli.render import render

    step = derive(LENET, form=form, lang=lang)
    pages = {fmt: render(step, fmt, lang=lang) for fmt in ("rich", "markdown", "latex", "html", "json")}
    assert json.loads(pages["json"])["layers"][0]["kind"] == "conv2d"
    if form == "matrix":
        # The maps as grids (input, kernels, outputs, δ, the kernels' gradients) and the im2col view.
        for text in ("A₁⁽⁰⁾", "K₁,₁⁽¹⁾", "A₂⁽¹⁾", "δ₁⁽¹⁾", "∂𝓛/∂K₂,₁⁽¹⁾", "U⁽¹⁾ = unfold(A⁽⁰⁾)", "Z̃⁽¹⁾ = U⁽¹⁾K⁽¹⁾ᵀ"):
            assert text in pages["rich"], text
        assert r"\begin{bmatrix} 0 & 0 & 0 & 1 & 0 & 0 \\ 0 & 0 & 0 & 1 & 0 & 0" in pages["markdown"]
    else:
        assert "max(a₁,₁,₁⁽¹⁾, a₁,₁,₂⁽¹⁾, a₁,₂,₁⁽¹⁾, a₁,₂,₂⁽¹⁾)" in pages["rich"]
    assert "{{" not in pages["markdown"] and "{%" not in pages["markdown"]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")
@pytest.mark.parametrize("form", ["scalar", "matrix"])
def test_the_lenet_page_compiles_with_pdflatex(form, tmp_path):
    from backprop_cli import derive
    from tests.test_render_latex import compile_pdf

    log = compile_pdf(derive(LENET, form=form).to_latex(), tmp_path)
    assert "LaTeX Warning" not in log


def test_a_long_kernel_gradient_is_elided_and_says_its_count():
    from backprop_cli.render import render

    document = {"loss": "mse", "input_shape": [1, 7, 7], "optimizer": "sgd", "lr": 0.1, "layers": [
        {"kind": "conv2d", "weight": [[[[0.3, -0.2], [0.1, 0.4]]]], "bias": [0.05]}, {"kind": "flatten"},
        {"weight": [[(-1) ** k * 0.1 * (k % 5) for k in range(36)]], "bias": [0.0], "activation": "identity"}],
        "data": {"x": [[round(0.1 * (k % 7), 1) for k in range(49)]], "y": [[1.0]]}}
    spec = parse_spec(json.loads(json.dumps(document)))
    assert spec.xs is not None and spec.ys is not None
    step = build_derivation(spec.network, spec.xs, spec.ys, Options(form="scalar"))
    page = render(step, "rich", width=200)
    assert "36 terms, 8 of them shown (⋯ stands for the others); the value sums all 36" in page
    assert "+ ⋯ +" in page
    result = json.loads(step.to_json())
    for layer in result["layers"]:
        layer.pop("z", None), layer.pop("a", None)
    assert_step_close(result, expected_of(document))
    assert r"\cdots" in render(step, "latex")


# --- the command line ------------------------------------------------------------------------


def test_input_shape_and_shapes_on_the_command_line(tmp_path, capsys):
    from backprop_cli.cli import main

    assert main(["step", "--input-shape", "1", "5", "5", "--seed", "2", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [layer["kind"] for layer in result["layers"]] == ["conv2d", "max_pool2d", "flatten", "dense"]
    assert main(["step", "--input-shape", "2", "7", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"][0]["kind"] == "conv1d"
    assert main(["init", str(tmp_path / "net.toml"), "--input-shape", "1", "6", "6"]) == 0
    capsys.readouterr()
    text = (tmp_path / "net.toml").read_text()
    assert "input_shape = [1, 6, 6]" in text and "# layer 1: 1×6×6 -> 2×4×4" in text
    assert main(["train", "--data", "shapes", "--epochs", "60", "--format", "json"]) == 0
    history = json.loads(capsys.readouterr().out)["history"]
    assert history[-1]["loss"] < 0.8 * history[0]["loss"]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--input-shape", "0", "5"], "input_shape: every size must be a whole number of at least 1"),
    (["--input-shape", "1", "2", "3", "4"], "input-shape: give C L (a signal) or C H W (an image)"),
    (["--input-shape", "1", "6", "6", "--layers", "2", "1"], "give either --input-shape"),
    (["--input-shape", "1", "4", "4", "--x", "1", "2", "--y", "1"], "2 values but the network has 16 inputs"),
])
def test_bad_shapes_on_the_command_line(arguments, message, capsys):
    from backprop_cli.cli import main

    assert main(["step", *arguments]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err
