"""Korean reads like the seed page: no English sentence left, and the seed's word for the loss."""

from __future__ import annotations

import re

from backprop_cli.locales import messages

# Every ko message that is the same text as en: symbols, placeholders and table headers that are
# math or a tool's name. A sentence in words added here would be English left in the Korean page.
SAME_AS_ENGLISH = {
    "table.gradient": "∂𝓛/∂θ",
    "table.derivation": "∂𝓛/∂θ",
    "table.input": "x",
    "table.prediction": "ŷ",
    "table.target": "y",
    "table.autograd_abs": "autograd\n|Δ|",
    "matrix.shape": "{rows} × {cols}",
    "train.data.summary": "{data}, {samples}; {batches}",
    "data.options": "--x/--y",
    "engine.reason.option": "{option}",
    "check.joined": "{first} {second}",
}

# Latin words a Korean sentence may hold: names of functions, tools, options and file formats.
NAMES = re.compile(
    r"\w+ = \w+\([\w, ]*\)|\w+\.\w+\(\)|\bpython\b|"  # code: output = model(x), loss.backward()
    r"\{\w+\}|torch(\.\w+)+|--[\w-]+|\[data\]|Ctrl|FILE|json|pip install \w+|\b(exp|diag|abs|max|min|log|sgd|adam"
    r"|adamw|rmsprop|bce|mse|sse|softmax|relu|tanh|sigmoid|PyTorch|NumPy|numpy|autograd|float64|float32"
    r"|cpu|cuda|CUDA|Adam|AdamW|RMSprop|SGD|CSV|TOML|torch|matplotlib|fonts-nanum|Debian|backprop)\b")


def test_every_korean_message_that_equals_english_is_listed():
    english, korean = messages("en"), messages("ko")
    same = {key: text for key, text in korean.items() if english.get(key) == text}
    assert same == SAME_AS_ENGLISH


def test_no_english_word_is_left_in_korean():
    left = {}
    for key, text in messages("ko").items():
        words = re.findall(r"\b[A-Za-z]{3,}\b", NAMES.sub("", text))
        if words:
            left[key] = words
    assert not left, left


def test_the_loss_is_called_error_as_the_seed_page_does():
    # The seed page calls the loss 오차 (오차 계산, 오차가); verify said 손실.
    for key in ("verify.loss", "verify.kink", "verify.floor", "verify.fd_numpy"):
        text = messages("ko")[key]
        assert "오차" in text and "손실" not in text, key
