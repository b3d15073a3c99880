"""The scalar form of self-attention (layers/attention.py ``scalar_forward``): every element of q, k,
v, the scores, the weights, h and the output on its own line, the backward by the scalar page's
chain rule. Its step equals the matrix form and PyTorch (nn.MultiheadAttention batch_first, built
from the spec's tables in tests/test_attention.py, independently of the package's kinds)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.build import build_derivation, choose_form
from backprop_cli.derivation import Options
from backprop_cli.errors import BackpropError
from backprop_cli.io import parse_spec
from backprop_cli.render import render
from tests.reference import adam_conditioning, assert_step_close, magnitude
from tests.test_attention import _numbers, _strip, compare, dense_table, ours

pytest.importorskip("torch")


@st.composite
def small_specs(draw: Any) -> dict[str, Any]:
    """T 2–3, d 2 (one head, or two of d_k = 1), causal or not, with or without biases; attention
    alone, or inside a residual block (x + attn(x)), then a dense layer at every token or not; batch
    1–2; SGD or Adam."""
    d, steps, batch = 2, draw(st.integers(2, 3)), draw(st.integers(1, 2))
    table: dict[str, Any] = {"kind": "attention", "num_heads": draw(st.sampled_from([1, 1, 2])),
                             "causal": draw(st.booleans()), "in_proj_weight": _numbers(draw, (3 * d, d)),
                             "out_proj_weight": _numbers(draw, (d, d))}
    if draw(st.booleans()):
        table["in_proj_bias"], table["out_proj_bias"] = _numbers(draw, (3 * d,)), _numbers(draw, (d,))
    else:
        table["bias"] = False
    layers = [{"kind": "residual", "layers": [table]} if draw(st.booleans()) else table]
    outputs = d
    if draw(st.booleans()):  # nn.Linear (and tanh) at every token after it
        outputs = draw(st.integers(1, 2))
        layers.append(dense_table(draw, d, outputs, draw(st.sampled_from(["identity", "tanh"]))))
    return {"loss": "mse", "lr": draw(st.sampled_from([0.1, 0.5])), "optimizer": draw(st.sampled_from(["sgd", "adam"])),
            "input_shape": [steps, d], "layers": layers,
            "data": {"x": [_numbers(draw, (steps * d,), 200) for _ in range(batch)],
                     "y": [_numbers(draw, (steps * outputs,)) for _ in range(batch)]}}


@settings(deadline=None, max_examples=20)
@given(small_specs())
def test_the_scalar_form_equals_the_matrix_form_and_pytorch(document):
    scalar = ours(document, "scalar")
    matrix = ours(document, "matrix")
    _strip(scalar["layers"]), _strip(matrix["layers"])
    checked = json.loads(json.dumps(scalar))
    if document["optimizer"] == "adam":  # Adam's lr·g/(|g| + ε) where a gradient is 0 but for rounding
        matrix["layers"] = _given(matrix["layers"])
        adam_conditioning(document["lr"], checked["layers"], matrix["layers"], magnitude(matrix))
    assert_step_close(checked, matrix)
    compare(document, scalar)


def _given(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The layers' entries that hold numbers (no bias: None), inner layers too."""
    return [{key: _given(value) if key == "layers" else value for key, value in layer.items() if value is not None}
            for layer in layers]


def _document(causal: bool) -> dict[str, Any]:
    return {"loss": "mse", "lr": 0.1, "optimizer": "sgd", "input_shape": [2, 2],
            "layers": [{"kind": "attention", "causal": causal,
                        "in_proj_weight": [[0.1, 0.2], [0.3, -0.4], [0.5, 0.6], [-0.7, 0.8], [0.9, 0.1], [0.2, -0.3]],
                        "in_proj_bias": [0.1, 0.0, -0.1, 0.2, 0.0, 0.3],
                        "out_proj_weight": [[1.0, 0.5], [-0.5, 1.0]], "out_proj_bias": [0.0, 0.1]}],
            "data": {"x": [[1.0, -1.0, 0.5, 2.0]], "y": [[0.0, 1.0, 1.0, 0.0]]}}


def _page(document: dict[str, Any], lang: str = "en") -> str:
    spec = parse_spec(document)
    derivation = build_derivation(spec.network, spec.xs, spec.ys, Options(form="scalar", lang=lang))
    return render(derivation, "rich", width=400)


def test_the_page_writes_each_score_with_its_numbers():
    # x₁ = (1, −1), x₂ = (0.5, 2): q₁ = W_Q x₁ + b_Q = (0.1 − 0.2 + 0.1, 0.3 + 0.4 + 0) = (0, 0.7);
    # k₂ = W_K x₂ + b_K = (0.25 + 1.2 − 0.1, −0.35 + 1.6 + 0.2) = (1.35, 1.45);
    # s₁,₂ = (0·1.35 + 0.7·1.45)/√2 = 1.015/√2 = 0.71771 …
    page = _page(_document(causal=False))
    assert "s₁,₂⁽¹⁾ = (q₁,₁⁽¹⁾k₂,₁⁽¹⁾ + q₁,₂⁽¹⁾k₂,₂⁽¹⁾)/√dₖ" in page
    assert f"= (0 × 1.3500 + 0.7000 × 1.4500)/√2 = {1.015 / math.sqrt(2):.4f}" in page
    assert "q₁,₂⁽¹⁾ = x₁,₁WQ,₂₁⁽¹⁾ + x₁,₂WQ,₂₂⁽¹⁾ + bQ,₂⁽¹⁾" in page
    assert "a₁,₂⁽¹⁾ = exp(s₁,₂⁽¹⁾)/(exp(s₁,₁⁽¹⁾) + exp(s₁,₂⁽¹⁾))" in page
    assert "h₂,₁⁽¹⁾ = a₂,₁⁽¹⁾v₁,₁⁽¹⁾ + a₂,₂⁽¹⁾v₂,₁⁽¹⁾" in page
    # the softmax's Jacobian in the weights, as the softmax output layer's page writes it
    assert "∂𝓛/∂a₁,₁⁽¹⁾ a₁,₁⁽¹⁾(1 - a₁,₁⁽¹⁾)" in page


def test_the_causal_page_masks_the_scores_above_the_diagonal():
    page = _page(_document(causal=True))
    assert "s₁,₂⁽¹⁾" not in page  # −∞: no line, its weight is 0
    assert "a₁,₂⁽¹⁾ = 0" in page
    assert "s_t,u = −∞ for u > t" in page
    assert "h₁,₁⁽¹⁾ = a₁,₁⁽¹⁾v₁,₁⁽¹⁾" in page
    assert "u > t이면 s_t,u = −∞" in _page(_document(causal=True), "ko")


def test_two_heads_number_their_scores():
    document = _document(causal=False)
    document["layers"][0]["num_heads"] = 2
    page = _page(document)
    assert "s₂,₁,₂⁽¹⁾ = q₁,₂⁽¹⁾k₂,₂⁽¹⁾/√dₖ" in page  # head 2's column only: d_k = 1


def test_auto_picks_scalar_only_for_the_smallest_cases():
    def form(steps: int, heads: int = 1) -> str:
        document = _document(causal=False)
        document["input_shape"] = [steps, 2]
        document["layers"][0]["num_heads"] = heads
        document["data"] = {"x": [[0.0] * 2 * steps], "y": [[0.0] * 2 * steps]}
        return choose_form(parse_spec(document).network, 1, "auto")

    assert form(2) == "scalar"
    assert form(3) == "matrix" and form(2, heads=2) == "matrix"


def test_past_its_sizes_the_scalar_form_is_refused_with_the_fix():
    document = _document(causal=False)
    document["input_shape"] = [4, 2]
    document["data"] = {"x": [[0.0] * 8], "y": [[0.0] * 8]}
    refusal = r"up to 3 tokens of d ≤ 4; this layer has 4 tokens of d = 2\. Use --form matrix"
    with pytest.raises(BackpropError, match=refusal):
        ours(document, "scalar")
