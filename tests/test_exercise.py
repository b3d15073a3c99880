"""backprop exercise: sheets with a blank per line asked, keys equal to backprop step, templates
that backprop check reads, and variants that differ; and check's JSON answers and marked page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli.check import page_answers, page_steps, parse_answers
from backprop_cli.cli import main
from backprop_cli.errors import BackpropError
from backprop_cli.exercise import SECTIONS, exercises, parse_ask, workable
from backprop_cli.render.sheet import BLANK_LATEX, sheet_text
from backprop_cli.resolve import NetworkOptions, resolve

pdflatex = shutil.which("pdflatex")


def lines_asked(exercise, ask) -> int:
    """The page's scalar lines in the sections asked, counted from the page itself."""
    wanted = set(ask) | ({"batch"} if "backward" in ask else set())
    return sum(1 for section, _ in page_steps(exercise.derivation) if section in wanted)


def filled(template: str, exercise, decimals: int = 4) -> str:
    """The template with every '?' replaced by the page's value at ``decimals``."""
    values = {name: answer.text for name, answer in page_answers(exercise.derivation, decimals).items()}
    out = []
    for line in template.splitlines():
        if line.endswith(" = ?"):
            name = line[: -len(" = ?")]
            line = f"{name} = {values[name]}"
        out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def thirty(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sheets") / "class"
    assert main(["exercise", "--variants", "30", "--seed", "1", "-f", "latex", "-o", str(folder)]) == 0
    return folder


def test_thirty_variants_differ_and_keys_equal_step(thirty: Path, capsys) -> None:
    specs = sorted(thirty.glob("network-*.toml"))
    assert len(specs) == 30
    assert len({p.read_text().split("\n", 2)[2] for p in specs}) == 30  # all different
    for spec in specs:
        tag = spec.stem.split("-")[1]
        capsys.readouterr()
        assert main(["step", "--network", str(spec), "--form", "scalar", "--format", "latex"]) == 0
        assert capsys.readouterr().out == (thirty / f"key-{tag}.tex").read_text()


def test_thirty_variants_blanks_equal_page_lines(thirty: Path) -> None:
    net, xs, ys = resolve(NetworkOptions())
    made = exercises(net, xs, ys, variants=30, seed=1)
    for exercise in made:
        tag = f"{exercise.number:02d}"
        sheet = (thirty / f"sheet-{tag}.tex").read_text()
        assert sheet.count(BLANK_LATEX) == lines_asked(exercise, SECTIONS) == 34
        template = (thirty / f"answers-{tag}.txt").read_text()
        assert template.count(" = ?") == 34
        assert (thirty / f"network-{tag}.toml").read_text() == _spec(exercise)
    combined = (thirty / "sheets.tex").read_text()
    assert combined.count(BLANK_LATEX) == 30 * 34 and combined.count(r"\clearpage") == 29


def _spec(exercise) -> str:
    from backprop_cli.exercise import spec

    return spec(exercise)


@pytest.mark.skipif(pdflatex is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("name", ["sheets.tex", "keys.tex"])
def test_thirty_variants_compile(thirty: Path, name: str) -> None:
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", name], cwd=thirty,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    pages = re.search(r"Output written on \S+ \((\d+) pages?", run.stdout)
    assert pages is not None and int(pages.group(1)) >= 30


@pytest.mark.skipif(pdflatex is None, reason="pdflatex is not installed")
def test_korean_sheet_compiles(tmp_path: Path) -> None:
    folder = tmp_path / "ko"
    assert main(["exercise", "--lang", "ko", "-f", "latex", "-o", str(folder), "--layers", "2", "3", "1",
                 "--activation", "tanh", "sigmoid"]) == 0
    sheet = (folder / "sheet.tex").read_text()
    assert "연습 문제 1" in sheet and "kotex" in sheet
    run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "sheet.tex"], cwd=folder,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]


def test_filled_template_passes_check_and_a_slip_is_named(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "one"
    assert main(["exercise", "-o", str(folder), "--seed", "7"]) == 0
    net, xs, ys = resolve(NetworkOptions(network=str(folder / "network.toml")))
    (exercise,) = exercises(net, xs, ys, variants=1, seed=7)
    answers = folder / "filled.txt"
    answers.write_text(filled((folder / "answers.txt").read_text(), exercise))
    assert main(["check", str(answers), "--network", str(folder / "network.toml")]) == 0
    # δ₁ written as ∂𝓛/∂σ₁: the activation's derivative left out.
    given = parse_answers(answers.read_text())
    slipped = answers.read_text().replace(f"delta1 = {given['delta1'].text}\n",
                                          f"delta1 = {given['dL/da1'].text}\n")
    answers.write_text(slipped)
    capsys.readouterr()
    assert main(["check", str(answers), "--network", str(folder / "network.toml"), "-f", "json"]) == 1
    wrong = [r for r in json.loads(capsys.readouterr().out) if not r["ok"]]
    assert [(r["name"], r["mistake"]) for r in wrong] == [("delta1", "missing_activation_derivative")]


@pytest.mark.parametrize("example", ["rnn", "lenet"])
def test_a_network_of_kinds_makes_a_sheet_that_check_reads(example: str, tmp_path: Path, capsys) -> None:
    """A recurrent and a convolutional network: the sheet asks their scalar pages' lines, the filled
    template passes check, and a wrong loss is caught."""
    folder = tmp_path / example
    assert main(["exercise", "--network", f"docs/examples/{example}.toml", "-o", str(folder), "--seed", "2"]) == 0
    net, xs, ys = resolve(NetworkOptions(network=str(folder / "network.toml")))
    (exercise,) = exercises(net, xs, ys, variants=1, seed=2)
    assert lines_asked(exercise, SECTIONS) == (folder / "answers.txt").read_text().count(" = ?")
    answers = folder / "filled.txt"
    answers.write_text(filled((folder / "answers.txt").read_text(), exercise))
    assert main(["check", str(answers), "--network", str(folder / "network.toml")]) == 0
    loss = parse_answers(answers.read_text())["L"]
    answers.write_text(answers.read_text().replace(f"L = {loss.text}\n", f"L = {2 * loss.value + 1:.4f}\n"))
    capsys.readouterr()
    assert main(["check", str(answers), "--network", str(folder / "network.toml"), "-f", "json"]) == 1
    assert [r["name"] for r in json.loads(capsys.readouterr().out) if not r["ok"]] == ["L"]


def test_ask_leaves_other_sections_out(capsys) -> None:
    assert main(["exercise", "--ask", "loss,forward", "--seed", "3"]) == 0
    sheet = capsys.readouterr().out
    assert sheet.count(BLANK_LATEX) == 7  # z1 z2 σ1 σ2 z3 ŷ and the loss
    assert "Backward pass" not in sheet and "## 1. Forward pass" in sheet and "## 2. Loss" in sheet
    assert main(["exercise", "--ask", "loss,forward", "--seed", "3", "--show", "answers"]) == 0
    assert capsys.readouterr().out.count(" = ?") == 7


def test_sheet_gives_no_answer(capsys) -> None:
    """The sheet names every given number and no value of a line it asks."""
    net, xs, ys = resolve(NetworkOptions(layers=[2, 2, 1], seed=4))
    (exercise,) = exercises(net, xs, ys, seed=5)
    sheet = sheet_text(exercise, "markdown")
    for _, step in exercise.blanks():
        if abs(step.value) >= 0.001 and round(step.value, 1) != step.value:
            assert f"{step.value:.4f}" not in sheet
    for value in (v for row in exercise.network.layers[0].weight for v in row):
        assert f"| {value:g} |" in sheet


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(widths=st.lists(st.integers(1, 3), min_size=2, max_size=4),
       activation=st.sampled_from(["sigmoid", "tanh", "relu", "identity", "leaky_relu"]),
       loss=st.sampled_from(["bce", "mse", "sse", "half_sse", "l1", "smooth_l1"]),
       samples=st.integers(1, 2), decimals=st.sampled_from([1, 2]), seed=st.integers(0, 10**6))
def test_any_network_gives_nice_workable_variants(widths, activation, loss, samples, decimals, seed) -> None:
    last = "sigmoid" if loss == "bce" else activation
    net, xs, ys = resolve(NetworkOptions(
        layers=widths, activation=[activation] * (len(widths) - 2) + [last], loss=loss,
        x=[tuple([0.5] * widths[0])] * samples, y=[tuple([0.0] * widths[-1])] * samples))
    try:
        made = exercises(net, xs, ys, variants=2, seed=seed, decimals=decimals)
    except BackpropError as error:
        assert "no workable numbers" in str(error)
        return
    a, b = made
    assert (a.network.parameter_values(), a.xs, a.ys) != (b.network.parameter_values(), b.xs, b.ys)
    for exercise in made:
        assert workable(exercise.derivation)
        numbers = [v for row in exercise.xs for v in row]
        numbers += [v for value in exercise.network.parameter_values().values() for row in value
                    for v in (row if isinstance(row, tuple) else (row,))]
        assert all(round(v, decimals) == v and -1 <= v <= 1 for v in numbers)
        if loss == "bce":
            assert all(v in (0.0, 1.0) for row in exercise.ys for v in row)
        names = [line.split(" = ")[0] for line in exercise.template().splitlines() if line.endswith(" = ?")]
        assert len(names) == lines_asked(exercise, SECTIONS) == len(set(names))


def test_cross_entropy_targets_are_one_hot() -> None:
    net, xs, ys = resolve(NetworkOptions(layers=[2, 3], activation=["softmax"], loss="cross_entropy",
                                         x=[(1.0, 0.0)], y=[(0.0, 1.0, 0.0)]))
    for exercise in exercises(net, xs, ys, variants=5, seed=2):
        assert sorted(exercise.ys[0]) == [0.0, 0.0, 1.0]


def test_given_samples_are_kept(capsys) -> None:
    assert main(["exercise", "--x", "1", "0", "--y", "1", "--show", "network"]) == 0
    assert "x = [[1.0, 0.0]]" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--ask", "forward,bogus"], "unknown section 'bogus'"),
    (["--variants", "3"], "add --output FOLDER"),
    (["--variants", "0", "-o", "x"], "out of range"),
    (["--decimals", "3"], "1 or 2 decimals"),
    (["--format", "rich"], "unknown format"),
    (["--show", "everything"], "unknown part"),
    (["--layers", "2", "40", "40", "1"], "more than a sheet"),
    (["--network", str(Path("docs/examples/transformer.toml").resolve())],
     "exercise: a sheet asks the scalar page, a line per unit, and embedding layers are worked in the matrix form"),
])
def test_bad_options(tmp_path: Path, monkeypatch, capsys, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["exercise", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_output_refuses_a_file_and_existing_sheets(tmp_path: Path, capsys) -> None:
    file = tmp_path / "f.md"
    file.write_text("mine")
    assert main(["exercise", "-o", str(file)]) == 2
    assert "is not a folder" in capsys.readouterr().err and file.read_text() == "mine"
    folder = tmp_path / "d"
    assert main(["exercise", "-o", str(folder)]) == 0
    before = {p.name: p.read_text() for p in folder.iterdir()}
    assert main(["exercise", "-o", str(folder), "--seed", "9"]) == 2
    assert "exists; use --force" in capsys.readouterr().err
    assert {p.name: p.read_text() for p in folder.iterdir()} == before
    assert main(["exercise", "-o", str(folder), "--seed", "9", "--force"]) == 0
    assert {p.name: p.read_text() for p in folder.iterdir()} != before


def test_html_and_markdown_sheets(capsys) -> None:
    assert main(["exercise", "-f", "html", "--seed", "2"]) == 0
    html = capsys.readouterr().out
    assert html.count('class="blank"') == 34 and "<svg" in html and html.count("<circle") == 5
    assert main(["exercise", "-f", "markdown", "--seed", "2"]) == 0
    markdown = capsys.readouterr().out
    assert "```mermaid" in markdown and markdown.count('-- "W') == 6 and "{{" not in markdown


def test_parse_ask_orders_sections() -> None:
    assert parse_ask("update, forward") == ("forward", "update")
    assert parse_ask(None) == SECTIONS


# --- check: JSON answers and the marked page -------------------------------------------------


def test_step_json_is_an_answer_file(tmp_path: Path, capsys) -> None:
    """A step's own JSON (float64 digits) passes; one value changed is found and named."""
    args = ["--layers", "2", "3", "2", "--activation", "tanh", "sigmoid", "--loss", "mse", "--seed", "5",
            "--x", "0.5", "-1", "--y", "0.2", "0.7", "--x", "1", "0", "--y", "0.1", "0.4"]
    assert main(["step", *args, "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(document))
    assert main(["check", str(path), *args, "--brief"]) == 0
    report = capsys.readouterr().out
    assert "✗" not in report and re.search(r"all \d+ right", report)
    document["layers"][1]["grad_weight"][0][1] = -document["layers"][1]["grad_weight"][0][1]
    path.write_text(json.dumps(document))
    assert main(["check", str(path), *args, "-f", "json"]) == 1
    wrong = [r for r in json.loads(capsys.readouterr().out) if not r["ok"]]
    assert [(r["name"], r["mistake"]) for r in wrong] == [("dL/dW8", "sign")]


def test_partial_json_with_written_digits(tmp_path: Path, capsys) -> None:
    path = tmp_path / "answers.json"
    # The seed page: z₁ = 0.6478 (written to 4 decimals), ŷ = 0.4154, W₅(t+1) = −0.4452.
    path.write_text('{"loss": 0.5368, "layers": [{"z": [[0.6478, null]]}, {"a": [[0.4154]],'
                    ' "new_weight": [[-0.4452]]}]}')
    assert main(["check", str(path), "--brief"]) == 0
    assert "all 4 right" in capsys.readouterr().out
    path.write_text('{"layers": [{"z": [[0.65]]}], "output": [[0.4154]]}')
    assert main(["check", str(path), "--brief"]) == 0


@pytest.mark.parametrize("text, message", [
    ('{"loss": "0.5"}', "should be a number"),
    ('{"los": 0.5}', "unknown key 'los'"),
    ('{"layers": [{"zz": [[1]]}]}', "unknown key"),
    ('{"layers": [{}, {}, {}]}', "3 layers given"),
    ('{"layers": [{"z": [[1, 2, 3]]}]}', "should be 1 × 2"),
    ('{"loss": 0.5, "loss": 0.6}', "given twice"),
    ('{"loss": NaN}', "not valid JSON"),
    ("{", "not valid JSON"),
])
def test_bad_json_answers(tmp_path: Path, capsys, text: str, message: str) -> None:
    path = tmp_path / "answers.json"
    path.write_text(text)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


@pytest.mark.parametrize("fmt", ["markdown", "latex", "html"])
def test_marked_page_in_every_format(tmp_path: Path, capsys, fmt: str) -> None:
    path = tmp_path / "answers.txt"
    # The seed page with δ₁ written as ∂𝓛/∂σ₁ = −0.0717.
    path.write_text("z1 = 0.6478\nsigma1 = 0.6565\nyhat = 0.4154\ndelta1 = -0.0717\nW1(t+1) = 0.4514\n")
    assert main(["check", str(path), "-f", fmt]) == 1
    page = capsys.readouterr().out
    check, cross = (r"\checkmark", r"\times} first") if fmt == "latex" else ("✓ you wrote", "✗ first")
    assert page.count(check) == 4 and page.count(cross) == 1 and page.count("first wrong line") == 1
    assert "−0.0717" in page or "-0.0717" in page
    if fmt == "latex" and pdflatex is not None:
        (tmp_path / "marked.tex").write_text(page)
        run = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "marked.tex"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:]


def test_marked_page_korean(tmp_path: Path, capsys) -> None:
    path = tmp_path / "answers.txt"
    path.write_text("z1 = 0.6478\ndelta1 = -0.0717\n")
    assert main(["check", str(path), "--lang", "ko", "--brief"]) == 1
    out = capsys.readouterr().out
    assert "처음으로 틀린 줄" in out and "활성화 함수의 도함수를 빠뜨린" in out and "expected" not in out


def test_a_step_json_for_a_network_of_kinds_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    spec = "docs/examples/rnn.toml"
    assert main(["step", "--network", spec, "--format", "json"]) == 0
    answers = tmp_path / "step.json"
    answers.write_text(capsys.readouterr().out)
    assert main(["check", str(answers), "--network", spec]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {answers}: a step's JSON is read for networks of dense layers; for this network write"
                   " 'name = value' lines (the answer template of backprop exercise)\n")
