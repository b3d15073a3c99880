"""Korean reads like the seed page: no English sentence left, and the seed's word for the loss."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from cases import seed

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Derivation, Options
from backprop_cli.locales import Message, messages, name
from backprop_cli.locales.hangul import ordinal, particle
from backprop_cli.model import SEED, Layer, Network, Optimizer
from backprop_cli.render import render

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
    r"\{\w+(:[^}]*)?\}|\\text|</?m(text|td)>|\bReLU\b|\bLeaky\b|"  # blanks, math words, names
    r"torch(\.\w+)+|--[\w-]+|\[data\]|Ctrl|FILE|json|pip install \w+|\b(exp|diag|abs|max|min|log|sgd|adam"
    r"|sin|cos|adamw|rmsprop|bce|mse|sse|softmax|relu|tanh|sigmoid|PyTorch|NumPy|numpy|autograd|float64|float32"
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


def test_particles_follow_the_reading_of_the_word_or_symbol_before_them():
    # The seed page: z는, σ를 (시그마), W₅, W₆, b₃을 (비 삼), … b₂가 (비 이), 예측값(ŷ)과, 𝓛 값이.
    cases = {("z", "는"): "z는", ("σ", "을"): "σ를", ("b₃", "를"): "b₃을", ("b₂", "이"): "b₂가",
             ("예측값(ŷ)", "와"): "예측값(ŷ)과", ("실젯값", "와"): "실젯값과", ("오차", "이"): "오차가",
             ("이진 교차 엔트로피", "을"): "이진 교차 엔트로피를", ("W⁽¹⁾", "는"): "W⁽¹⁾은",
             ("4", "으로"): "4로", ("3", "로"): "3으로", ("1", "으로"): "1로", ("10", "가"): "10이",
             ("100", "로"): "100으로", ("0.5", "이"): "0.5가", ("ŷ", "와"): "ŷ과", ("y", "과"): "y와"}
    for (word, form), expected in cases.items():
        assert word + particle(word, form) == expected, (word, form)
    assert [ordinal(n) for n in (1, 2, 3, 10, 11)] == ["첫 번째", "두 번째", "세 번째", "열 번째", "11번째"]


def test_templates_choose_the_particle_by_the_word_put_in():
    assert Message("matrix.broadcast", {"bias": "b⁽¹⁾", "samples": 4}).text("ko").startswith("b⁽¹⁾은 한 행이며")
    assert Message("matrix.broadcast", {"bias": "b⁽²⁾", "samples": 4}).text("ko").startswith("b⁽²⁾는 한 행이며")
    assert "3으로 나눕니다" in Message("matrix.delta_softmax_ce_general", {"n": 3}).text("ko")
    assert "4로 나눕니다" in Message("matrix.delta_softmax_ce_general", {"n": 4}).text("ko")
    assert Message("group.layer", {"layer": 1, "inputs": 2, "units": 2, "activation": name("sigmoid")}
                   ).text("ko") == "첫 번째 계층 (2 → 2, 시그모이드 함수)"


def test_the_header_names_the_functions_as_the_seed_does():
    page = render(seed(lang="ko"), "markdown")
    assert "2 → 2 → 1, 시그모이드 함수; 이진 교차 엔트로피; 학습률 α = 1" in page
    assert "### 두 번째 계층: 출력층 (2 → 1, 시그모이드 함수)" in page
    english = render(seed(), "markdown")
    assert "2 → 2 → 1, sigmoid; loss bce; learning rate α = 1" in english


def korean_pages() -> dict[str, Derivation]:
    relu = Network((Layer(((0.5, -0.3), (0.2, 0.4)), (0.1, -0.1), "relu"),
                    Layer(((0.3, -0.2),), (0.1,), "sigmoid")), loss="bce", lr=0.5,
                   optimizer=Optimizer("momentum", momentum=0.9))
    formula = Network((Layer(((0.5, -0.3), (0.2, 0.4)), (0.1, -0.1), "max(x, 0.1*x)"),
                       Layer(((0.3, -0.2),), (0.1,), "identity")), loss="mse", lr=0.5)
    softmax = Network((Layer(((0.1, -0.2), (0.3, 0.4)), (0.0, 0.1), "tanh"),
                       Layer(((0.5, -0.5), (0.2, 0.1), (0.3, 0.3)), (0.0, 0.0, 0.1), "softmax")),
                      loss="cross_entropy", lr=0.1, optimizer=Optimizer("adam"))
    ko = Options(lang="ko")
    return {
        "seed": seed(lang="ko"),
        "relu": build_derivation(relu, ((1.0, -2.0),), ((1.0,),), ko),
        "formula": build_derivation(formula, ((1.0, -2.0),), ((1.0,),), ko),
        "softmax": build_derivation(softmax, ((1.0, 2.0),), ((0.0, 1.0, 0.0),), ko),
        "batch": build_derivation(SEED, ((1.0, 1.0), (0.0, 1.0)), ((0.0,), (1.0,)), ko),
        "relu matrix": build_derivation(relu, ((1.0, -2.0), (0.5, 0.5)), ((1.0,), (0.0,)), ko),
    }


def words_outside_math(text: str, fmt: str) -> set[str]:
    if fmt == "markdown":
        text = re.sub(r"```.*?```", " ", text, flags=re.S)
        text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", text, flags=re.S)
    else:
        text = re.sub(r"<(math|style|svg|head)\b.*?</\1>", " ", text, flags=re.S)
        text = re.sub(r"<[^>]*>|&\w+;", " ", text)
    return set(re.findall(r"\b[A-Za-z]{2,}\b", NAMES.sub(" ", text)))


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_korean_pages_hold_no_latin_word_outside_math(fmt):
    for label, derivation in korean_pages().items():
        left = words_outside_math(render(derivation, fmt), fmt)
        assert not left, (label, left)


def test_a_function_by_cases_reads_in_korean():
    # relu's derivative: "1 if z > 0 else 0" was English on the Korean page, in every format.
    relu = korean_pages()["relu"]
    text = render(relu, "rich", width=100)
    assert "(z₁ > 0일 때 1, 그 외 0)" in text and " if " not in text and "else" not in text
    latex = render(relu, "latex")
    assert r"z_{1} > 0\text{일 때}" in latex and r"\text{그 외}" in latex and "otherwise" not in latex
    html = render(relu, "html")
    assert "<mtext>일 때</mtext>" in html and "otherwise" not in html
    english = render(replace(relu, options=Options()), "rich", width=100)
    assert "(1 if z₁ > 0 else 0)" in english
