"""Lines of the page say each thing once: no right side repeated, no ``=`` stranded on a line."""

from __future__ import annotations

import io
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from backprop_cli.build import build_derivation
from backprop_cli.cli import main
from backprop_cli.derivation import Derivation, MatrixStep, Options
from backprop_cli.model import random_network
from backprop_cli.printing import format_given
from backprop_cli.render.equation import Equation
from backprop_cli.render.html import HtmlPrinter
from backprop_cli.render.latex import LatexPrinter
from backprop_cli.render.markdown import MarkdownPrinter
from backprop_cli.render.matrix_terminal import matrix_step
from backprop_cli.render.terminal import TerminalPrinter
from tests.strategies import networks


def matrix_steps(derivation: Derivation) -> list[MatrixStep]:
    return [step for section in derivation.sections for group in section.groups for step in group.steps
            if isinstance(step, MatrixStep)]


def document_rows(derivation: Derivation) -> list[list[str]]:
    """Every matrix step's ``head = part = part …`` as Markdown, LaTeX and HTML print it."""
    out = []
    for printer in (MarkdownPrinter(), LatexPrinter(), HtmlPrinter()):
        printer.derivation = derivation
        for step in matrix_steps(derivation):
            out += [[head, *parts] for head, parts in printer.matrix_step_rows(step)]
    return out


def terminal_rows(derivation: Derivation) -> list[list[str]]:
    printer = TerminalPrinter()
    printer.derivation = derivation
    out = []
    for step in matrix_steps(derivation):
        equation = matrix_step(printer, step)[0]
        assert isinstance(equation, Equation)
        out.append([text for text, _ in equation.parts])
    return out


def assert_no_part_repeated(rows: list[list[str]]) -> None:
    for row in rows:
        for left, right in zip(row, row[1:], strict=False):
            assert left != right, " = ".join(row)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=25)
@given(networks(max_samples=3))
def test_no_matrix_line_repeats_a_right_side_in_any_format(case):
    network, xs, ys = case
    derivation = build_derivation(network, xs, ys, Options(form="matrix"))
    assert_no_part_repeated(document_rows(derivation))
    assert_no_part_repeated(terminal_rows(derivation))


def test_tanh_and_identity_lines_say_their_function_once():
    # A = tanh(Z) = tanh(Z) and id′(Z) = 1 = 1 were printed before.
    network = random_network([2, 3, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    derivation = build_derivation(network, ((0.5, -1.0),), ((0.2,),), Options(form="matrix"))
    rows = terminal_rows(derivation)
    assert ["A⁽¹⁾", "tanh(Z⁽¹⁾)"] in rows
    assert ["id′(Z⁽²⁾)", "1"] in rows
    latex = [row for row in document_rows(derivation) if row[0].startswith(r"A^{(1)}")]
    assert latex and all(r"\tanh{" not in part for row in latex for part in row)


def terminal_page(args: list[str], capsys) -> str:
    assert main(args) == 0
    return capsys.readouterr().out


def test_one_row_matrices_keep_the_equals_sign_on_their_row(capsys):
    page = terminal_page(["step", "--layers", "2", "3", "1", "--activation", "tanh", "--loss", "mse",
                          "--x", "0.5", "-1", "--y", "0.2", "--form", "matrix", "--format", "rich"], capsys)
    lines = [line.strip("│ ") for line in page.splitlines()]
    assert "=" not in lines
    # Z⁽¹⁾'s line: A⁽⁰⁾ (1×2), W⁽¹⁾ (3×2), b⁽¹⁾ (1×3) = Z⁽¹⁾ (1×3), the sign on the first row of numbers.
    assert any(re.fullmatch(r"0\.5000\s+-1\s+.*=\s+-0\.1878\s+0\.4412\s+0\.2207", line) for line in lines), page


def test_terminal_rendering_of_the_equation_parts_is_what_the_page_prints():
    network = random_network([2, 3, 1], activation="tanh", output_activation="identity", loss="mse", seed=0)
    derivation = build_derivation(network, ((0.5, -1.0),), ((0.2,),), Options(form="matrix"))
    console = Console(width=100, file=io.StringIO(), color_system=None)
    printer = TerminalPrinter()
    printer.derivation = derivation
    for step in matrix_steps(derivation):
        console.print(*matrix_step(printer, step))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "tanh(Z⁽¹⁾) = tanh(Z⁽¹⁾)" not in text and "= 1 = 1" not in text


# --- given numbers print as typed -------------------------------------------------------------

@given(st.one_of(st.integers(-10**6, 10**6).map(float), st.floats(-1e6, 1e6, allow_nan=False)))
def test_a_given_number_prints_as_the_float_it_reads_back_as(value):
    text = format_given(value)
    assert float(text) == value
    assert not re.search(r"\.\d*0(e|$)", text), text  # no padding zeros


def test_given_numbers_in_the_header_print_as_typed_in_every_format(capsys):
    args = ["step", "--optimizer", "momentum", "--lr", "0.1", "--x", "0.5", "-1", "--y", "0.25"]
    for fmt, sample in (("rich", "x = (0.5, -1), y = (0.25)"), ("markdown", "x = (0.5, -1), y = (0.25)"),
                        ("latex", "(0.5, -1)"), ("html", "x = (0.5, -1), y = (0.25)")):
        page = terminal_page([*args, "--format", fmt], capsys)
        assert sample in page, fmt
        # The header and the update's intro name α as given, as they name μ.
        assert not re.search(r"(α|alpha\W*) = 0\.1000", page), fmt
        assert len(re.findall(r"(α|alpha\W*) = 0\.1\b", page)) == 2, fmt


def test_the_header_names_each_layers_function_beside_its_width(capsys):
    # "5 → 4 → 3 → 1, relu, sigmoid" hid which layers were relu.
    args = ["step", "--layers", "5", "4", "3", "1", "--activation", "relu", "relu", "sigmoid",
            "--x", "1", "2", "3", "4", "5", "--y", "1"]
    for fmt in ("markdown", "latex", "html"):
        for lang, relu, sigmoid in (("en", "relu", "sigmoid"), ("ko", "ReLU 함수", "시그모이드 함수")):
            page = terminal_page([*args, "--format", fmt, "--lang", lang], capsys)
            assert re.search(rf"5 (→|\\ensuremath\{{\\to\}}) 4 \({relu}\) (→|\\ensuremath\{{\\to\}}) 3 \({relu}\)"
                             rf" (→|\\ensuremath\{{\\to\}}) 1 \({sigmoid}\);", page), (fmt, lang)
    # One function throughout still reads as one: the seed's header is as before.
    page = terminal_page(["step", "--format", "markdown"], capsys)
    assert "2 → 2 → 1, sigmoid; loss bce" in page


def test_minus_zero_is_not_printed_in_any_format(capsys, tmp_path):
    # z₁ = 0 and z₃ = 0: the sigmoid lines printed exp(-0) before; 1 - y with y = 0 stays 1 - 0.
    spec = tmp_path / "zero.toml"
    spec.write_text('loss = "bce"\nlr = 1.0\n'
                    '[[layers]]\nweight = [[0.5, -0.5], [0.25, 0.25]]\nbias = [0.0, 0.0]\nactivation = "sigmoid"\n'
                    '[[layers]]\nweight = [[0.0, 0.0]]\nbias = [0.0]\nactivation = "sigmoid"\n')
    args = ["step", "--network", str(spec), "--x", "1", "1", "--y", "0", "--form", "scalar"]
    minus_zero = {"rich": r"exp\(-0\)", "markdown": r"\^\{-0\}", "latex": r"\^\{-0\}",
                  "html": r"<mi>e</mi><mrow>(<mrow>)?<mo>−</mo><mn>0</mn>"}
    zero = {"rich": "exp(0)", "markdown": "e^{0}", "latex": "e^{0}", "html": "<mi>e</mi><mrow><mn>0</mn>"}
    for fmt, pattern in minus_zero.items():
        page = terminal_page([*args, "--format", fmt], capsys)
        assert not re.search(pattern, page), fmt
        assert zero[fmt] in page, fmt
    assert "(1 - 0) × log(1 - 0.5000)" in terminal_page([*args, "--format", "rich"], capsys)
