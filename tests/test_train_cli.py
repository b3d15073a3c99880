"""backprop train on the command line: outputs, data files, --save round trips, CUDA, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.cli import main
from backprop_cli.model import DATASETS, SEED, SEED_X, SEED_Y, Optimizer
from backprop_cli.render.train_terminal import ProgressBar
from tests.reference import assert_close, torch_train


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_no_options_trains_the_seed_for_100_epochs(capsys):
    code, out, err = run(["train"], capsys)
    assert code == 0, err
    for text in ("Training", "the seed sample", "100 epochs", "compiled", "0.5369", "After the last epoch: 3.8698e-3",
                 "Loss curve", "Trained parameters", "Predictions"):
        assert text in out, text


@pytest.mark.parametrize("backend", ["compiled", "numpy", "torch"])
def test_json_history_final_loss_and_weights_equal_a_pytorch_loop(backend, capsys):
    pytest.importorskip("torch")
    code, out, err = run(["train", "--epochs", "100", "--log-every", "1", "--format", "json", "--backend", backend],
                         capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["backend"] == backend and data["epochs"] == 100
    reference = torch_train(SEED, SEED_X, SEED_Y, 100)
    assert [row["epoch"] for row in data["history"]] == list(range(1, 101))
    assert_close({"history": [row["loss"] for row in data["history"]], "final_loss": data["final_loss"],
                  "layers": data["layers"]}, reference, tol=1e-10)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_save_round_trips_through_step(tmp_path, suffix, capsys):
    saved = tmp_path / f"trained{suffix}"
    code, out, err = run(["train", "--data", "xor", "--epochs", "500", "--optimizer", "momentum", "--lr", "0.5",
                          "--save", str(saved), "--format", "json"], capsys)
    assert code == 0, err
    trained = json.loads(out)
    code, out, err = run(["step", "--network", str(saved), "--form", "scalar", "--format", "json"], capsys)
    assert code == 0, err
    step = json.loads(out)
    assert [layer["weight"] for layer in step["layers"]] == [layer["weight"] for layer in trained["layers"]]
    assert step["loss"] == pytest.approx(trained["final_loss"], rel=1e-12)
    assert "momentum" in saved.read_text()


def test_save_of_a_large_data_set_leaves_the_samples_out(tmp_path, capsys):
    data = tmp_path / "big.csv"
    rows = np.random.default_rng(0).uniform(size=(80, 3)).round(3)
    data.write_text("\n".join(",".join(map(str, row)) for row in rows))
    saved = tmp_path / "big.toml"
    code, _, err = run(["train", "--data", str(data), "--epochs", "2", "--save", str(saved)], capsys)
    assert code == 0, err
    text = saved.read_text()
    assert "[data]" not in text and "not embedded" in text


def test_report_plot_and_terminal_outputs(tmp_path, capsys):
    report, image = tmp_path / "report.md", tmp_path / "loss.svg"
    code, _, err = run(["train", "--data", "xor", "--epochs", "300", "--output", str(report), "--plot", str(image)],
                       capsys)
    assert code == 0, err
    text = report.read_text()
    for part in ("# Training report", "## Loss", "| 300 |", "```text", "![Loss curve](loss.svg)",
                 "## Trained parameters", r"\begin{bmatrix}", "## Predictions"):
        assert part in text, part
    assert image.read_text().lstrip().startswith("<?xml")
    code, _, err = run(["train", "--plot", str(tmp_path / "loss.png")], capsys)
    assert code == 0 and (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(("fmt", "lang", "start"), [
    ("latex", "en", "% Training report\n% Written by backprop-cli (backprop train --format latex)"),
    ("latex", "ko", "% 학습 보고서\n"),
    ("html", "en", '<!DOCTYPE html>\n<html lang="en">'),
    ("html", "ko", '<!DOCTYPE html>\n<html lang="ko">'),
    ("markdown", "ko", "# 학습 보고서\n"),
])
def test_report_formats_on_stdout(fmt, lang, start, capsys):
    code, out, err = run(["train", "--data", "xor", "--epochs", "50", "--format", fmt, "--lang", lang], capsys)
    assert code == 0, err
    assert out.startswith(start)
    if lang == "ko":
        assert "Loss curve" not in out and ("오차 곡선" in out) and "컴파일하기에 충분히 작음" in out


@pytest.mark.parametrize(("suffix", "start"), [(".tex", "% Training report"), (".html", "<!DOCTYPE html>"),
                                               (".htm", "<!DOCTYPE html>"), (".md", "# Training report"),
                                               (".txt", "╭")])
def test_report_format_from_the_output_files_extension(suffix, start, tmp_path, capsys):
    report = tmp_path / f"report{suffix}"
    code, out, err = run(["train", "--output", str(report)], capsys)
    assert code == 0 and out == "" and err == f"wrote {report}\n", err
    assert report.read_text(encoding="utf-8").startswith(start)


def test_the_html_and_latex_reports_draw_their_own_curve_beside_a_plot(tmp_path, capsys):
    for name in ("report.html", "report.tex"):
        image = tmp_path / f"{name}.svg"
        code, _, err = run(["train", "--output", str(tmp_path / name), "--plot", str(image)], capsys)
        assert code == 0 and image.exists(), err
        text = (tmp_path / name).read_text(encoding="utf-8")
        assert image.name not in text  # self-contained: the curve is drawn in the page itself
        assert ("<polyline" in text) if name.endswith(".html") else (r"\qbezier" in text)


def test_terminal_report_in_korean(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    code, out, err = run(["train", "--lang", "ko"], capsys)
    assert code == 0, err
    for text in ("학습", "자동 선택: 매개변수 9개 × 샘플 1개: 컴파일하기에 충분히 작음", "100 에폭", "오차 곡선",
                 "학습된 매개변수", "예측값", "마지막 에폭 후: 3.8698e-3"):
        assert text in out, text


def test_show_steps_prints_the_derivations_of_those_epochs(capsys):
    code, out, err = run(["train", "--show-steps", "1,100"], capsys)
    assert code == 0, err
    assert "Epoch 1" in out and "Epoch 100" in out
    assert out.count("Backpropagation, worked out") == 2
    assert "z₁ = W₁x₁ + W₂x₂ + b₁ = 0.4352 × 1 + 0.3545 × 1 - 0.1419 = 0.6478" in out
    code, out, _ = run(["train", "--show-steps", "2", "--optimizer", "adam", "--format", "json"], capsys)
    steps = json.loads(out)["steps"]
    assert [s["epoch"] for s in steps] == [2] and "new_weight" in steps[0]["layers"][0]


def test_missing_matplotlib_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    code, _, err = run(["train", "--plot", str(tmp_path / "c.png")], capsys)
    assert code == 2 and err.strip() == ("error: plot: --plot needs matplotlib; install it with"
                                         " pip install 'backprop-cli[plot]'")
    assert not (tmp_path / "c.png").exists()


def test_korean_plot_labels_with_a_hangul_font(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from backprop_cli.render.train_plot import hangul_font

    if hangul_font() is None:
        pytest.skip("no font with Hangul installed (CI installs ko.TeX's UnDotum and Baekmuk)")
    image = tmp_path / "loss.svg"
    code, _, err = run(["train", "--lang", "ko", "--plot", str(image), "--format", "json"], capsys)
    assert code == 0 and "no font with Hangul" not in err, err
    # matplotlib's SVG writes each text as a comment before its glyph outlines.
    svg = image.read_text()
    for text in ("<!-- 에폭 -->", "<!-- 오차 (각 에폭의 갱신 전) -->", "(학습률 1): 마지막 오차 0.003"):
        assert text in svg, text
    assert "<!-- epoch -->" not in svg


def test_korean_plot_labels_fall_back_to_english_without_a_hangul_font(tmp_path, capsys, monkeypatch):
    pytest.importorskip("matplotlib")
    from backprop_cli.render import train_plot

    monkeypatch.setattr(train_plot, "hangul_font", lambda: None)
    image = tmp_path / "loss.svg"
    code, _, err = run(["train", "--lang", "ko", "--plot", str(image), "--format", "json"], capsys)
    assert code == 0
    assert "plot: no font with Hangul is installed, so the image's labels are in English" in err
    svg = image.read_text()
    assert "<!-- epoch -->" in svg and "에폭" not in svg


# --- data files -----------------------------------------------------------------------------

def test_csv_with_header_and_several_targets(tmp_path, capsys):
    data = tmp_path / "gates.csv"
    data.write_text("a,b,xor,and\n0,0,0,0\n0,1,1,0\n1,0,1,0\n1,1,0,1\n")
    code, out, err = run(["train", "--data", str(data), "--targets", "2", "--layers", "2", "3", "2",
                          "--epochs", "5", "--format", "json"], capsys)
    assert code == 0, err
    assert len(json.loads(out)["layers"][-1]["weight"]) == 2
    headerless = tmp_path / "xor.csv"
    headerless.write_text("0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    code, out, _ = run(["train", "--data", str(headerless), "--epochs", "50", "--format", "json"], capsys)
    code_xor, out_xor, _ = run(["train", "--data", "xor", "--epochs", "50", "--format", "json"], capsys)
    assert json.loads(out)["final_loss"] == json.loads(out_xor)["final_loss"]


def test_npz_and_npy_files(tmp_path, capsys):
    xs, ys = (np.array(a) for a in DATASETS["xor"])
    np.savez(tmp_path / "xor.npz", x=xs, y=ys)
    np.save(tmp_path / "xor.npy", np.hstack([xs, ys]))
    losses = []
    for name in ("xor.npz", "xor.npy"):
        code, out, err = run(["train", "--data", str(tmp_path / name), "--epochs", "20", "--format", "json"], capsys)
        assert code == 0, err
        losses.append(json.loads(out)["final_loss"])
    assert losses[0] == losses[1]


def _bad_data(tmp: Path) -> list[tuple[str, list[str], str]]:
    def write(name: str, text: str) -> str:
        (tmp / name).write_text(text)
        return str(tmp / name)

    np.savez(tmp / "noy.npz", x=np.zeros((3, 2)))
    np.save(tmp / "flat.npy", np.zeros(4))
    np.save(tmp / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp / "rows.npz", x=np.zeros((3, 2)), y=np.zeros((2, 1)))
    np.savez(tmp / "nan.npz", x=np.array([[0.0, np.nan]]), y=np.zeros((1, 1)))
    (tmp / "garbage.npz").write_bytes(b"not a zip file")
    return [
        ("ragged.csv", [write("ragged.csv", "0,0,0\n0,1\n")], "sample 2 has 2 columns, the first has 3"),
        ("words.csv", [write("words.csv", "0,0,0\n0,one,1\n")], "column 2: 'one' is not a number"),
        ("empty.csv", [write("empty.csv", "\n\n")], "is empty"),
        ("header.csv", [write("header.csv", "a,b,y\n")], "has a header but no samples"),
        ("targets", [write("two.csv", "0,1\n1,0\n"), "--targets", "2"], "at least one input column"),
        ("inf.csv", [write("inf.csv", "0,inf,0\n")], "is not finite"),
        ("width", [write("wide.csv", "0,0,0,0\n")], "x: 3 values but the network has 2 inputs"),
        ("target range", [write("range.csv", "0,0,2\n")], "outside [0, 1]"),
        ("missing", [str(tmp / "missing.csv")], "does not exist"),
        ("suffix", [write("data.txt", "0,0,0\n")], "should be xor, and, or, or a file ending in .csv, .npz or .npy"),
        ("npz without y", [str(tmp / "noy.npz")], "needs arrays named x and y (missing y)"),
        ("1-D npy", [str(tmp / "flat.npy")], "must hold a 2-D array"),
        ("pickled npy", [str(tmp / "objects.npy")], "pickled (object) arrays"),
        ("rows differ", [str(tmp / "rows.npz")], "one row per sample"),
        ("nan npz", [str(tmp / "nan.npz")], "not finite"),
        ("not numpy", [str(tmp / "garbage.npz")], "data:"),
    ]


def test_bad_data_files_are_one_line_errors_and_write_nothing(tmp_path, capsys):
    problems = []
    for label, data, expected in _bad_data(tmp_path):
        saved = tmp_path / "never.toml"
        code, out, err = run(["train", "--data", *data, "--save", str(saved)], capsys)
        lines = err.strip().splitlines()
        if not (code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
                and not saved.exists() and "Traceback" not in out + err):
            problems.append((label, code, err, expected))
    assert not problems, "\n".join(map(repr, problems))


@pytest.mark.parametrize(("args", "expected"), [
    (["--epochs", "0"], "epochs: must be at least 1"),
    (["--epochs", "many"], "many"),
    (["--batch-size", "-1"], "batch-size: must be at least 1"),
    (["--backend", "jax"], "unknown backend 'jax'"),
    (["--dtype", "float16"], "dtype: must be float64 or float32"),
    (["--backend", "compiled", "--dtype", "float32"], "the compiled backend computes in float64"),
    (["--device", "cuda", "--backend", "numpy"], "needs --backend torch"),
    (["--device", "cuda", "--backend", "numba"], "needs --backend torch"),
    (["--show-steps", "0"], "show-steps: epoch 0 is outside"),
    (["--show-steps", "one"], "'one' is not an epoch number"),
    (["--plot", "c.pdf"], "use a file ending in .png or .svg"),
    (["--save", "net.yaml"], "should end in .toml or .json"),
    (["--format", "pdf"], "unknown format 'pdf'; choose one of rich, markdown, latex, html, json"),
    (["--x", "1", "--y", "0"], "x: 1 values but the network has 2 inputs"),
    (["--optimizer", "adam", "--beta2", "1"], "beta2: must be in [0, 1)"),
    (["--activation", "identity"], "bce needs predictions in [0, 1]"),
    (["--activation", "identity", "--backend", "numpy"], "bce needs predictions in [0, 1]"),
    (["--activation", "identity", "--backend", "torch"], "bce: PyTorch refuses the predictions"),
    (["--layers", "2", "4", "1", "--activation", "relu", "identity", "--loss", "mse", "--lr", "100", "--data",
      "xor", "--epochs", "300", "--save", "net.toml"], "training diverged; try a smaller --lr"),
])
def test_bad_options_are_one_line_errors(args, expected, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["train", *args], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_file_is_not_overwritten_before_training(tmp_path, capsys):
    saved = tmp_path / "net.toml"
    saved.write_text("keep")
    code, _, err = run(["train", "--save", str(saved)], capsys)
    assert code == 2 and "exists" in err and saved.read_text() == "keep"


# --- CUDA -----------------------------------------------------------------------------------

def test_cuda_without_cuda_is_a_clean_one_line_error(capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, out, err = run(["train", "--device", "cuda"], capsys)
    assert code == 2 and out == ""
    assert err == ("error: device: CUDA is not available on this machine (torch.cuda.is_available() is false);"
                   " use --device cpu\n")


CUDA_CASES = {
    "seed": ([], SEED, (SEED_X, SEED_Y), 100),
    "xor adam": (["--data", "xor", "--epochs", "2000", "--optimizer", "adam", "--lr", "0.05"],
                 replace(SEED, optimizer=Optimizer("adam"), lr=0.05), DATASETS["xor"], 2000),
}


@pytest.mark.cuda
@pytest.mark.parametrize("case", CUDA_CASES)
def test_cuda_float64_equals_the_cpu_pytorch_loop(case, capsys):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    args, network, (xs, ys), epochs = CUDA_CASES[case]
    code, out, err = run(["train", "--device", "cuda", "--log-every", "1", "--format", "json", *args], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["backend"] == "torch" and data["device"] == "cuda"
    reference = torch_train(network, xs, ys, epochs)
    assert_close({"history": [row["loss"] for row in data["history"]], "final_loss": data["final_loss"],
                  "layers": data["layers"]}, reference, tol=1e-10)


@pytest.mark.cuda
def test_cuda_float32_minibatches_run(capsys):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    code, out, err = run(["train", "--device", "cuda", "--dtype", "float32", "--data", "xor", "--batch-size", "2",
                          "--shuffle", "--epochs", "500", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["final_loss"] < 0.7


# --- processes: imports, Ctrl-C -------------------------------------------------------------

def test_train_without_torch_backend_never_imports_torch():
    code = ("import sys, io, contextlib\nfrom backprop_cli.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['train', '--data', 'xor'])\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def _interactive_sigint():
    """In the child: SIGINT as a terminal gives it (a shell's background job starts with it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_prints_the_summary_so_far_and_saves(tmp_path):
    saved = tmp_path / "net.toml"
    for delay in (2.5, 6.0, 15.0):  # a Ctrl-C before training starts (a slow start) interrupts at once
        process = subprocess.Popen([sys.executable, "-m", "backprop_cli", "train", "--data", "xor", "--epochs",
                                    "100000000", "--format", "json", "--log-every", "1000000", "--save", str(saved)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                                   preexec_fn=_interactive_sigint)
        time.sleep(delay)
        os.kill(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
        if out:
            break
    assert process.returncode == 130, err
    data = json.loads(out)
    assert 0 < data["epochs"] < 100_000_000
    assert "Traceback" not in err and saved.exists()
    assert [f.name for f in tmp_path.iterdir()] == ["net.toml"]  # no temporary file left
    assert f"{data['layers'][0]['weight'][0][0]!r}" in saved.read_text()


def test_progress_bar_appears_only_when_enabled():
    silent = ProgressBar(False, delay=0)
    with silent:
        silent(1, 10, 0.5)
    assert silent.bar is None
    shown = ProgressBar(True, delay=0)
    with shown:
        shown(3, 10, 0.25)
        assert shown.bar.tasks[0].completed == 3 and shown.bar.tasks[0].fields["loss"] == "0.2500"
    korean = ProgressBar(True, delay=0, lang="ko")
    with korean:
        korean(3, 10, 0.25)
        words = [getattr(column, "text_format", "") for column in korean.bar.columns]
        assert words[0].startswith("에폭 ") and words[2].startswith("오차 ") and words[3].startswith("초당 ")


def test_written_files_have_the_permissions_open_would_give(tmp_path, capsys):
    saved = tmp_path / "net.toml"
    old = os.umask(0o022)
    try:
        assert main(["train", "--epochs", "2", "--save", str(saved)]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    assert saved.stat().st_mode & 0o777 == 0o644


def test_hangul_font_search_never_picks_a_font_without_hangul_glyphs(tmp_path):
    """matplotlib ships "Last Resort", whose charmap covers every code point with placeholder boxes.

    Run with a fresh MPLCONFIGDIR (so the font list is built anew) and only matplotlib's own fonts:
    none of them draws Hangul, so none may be picked.
    """
    pytest.importorskip("matplotlib")
    script = (
        "from pathlib import Path\n"
        "import matplotlib\n"
        "from matplotlib import font_manager\n"
        "from backprop_cli.render.train_plot import hangul_font\n"
        "own = Path(matplotlib.get_data_path())\n"
        "names = {e.name for e in font_manager.fontManager.ttflist}\n"
        "assert any('Last Resort' in name for name in names), sorted(names)\n"
        "font_manager.fontManager.ttflist = [e for e in font_manager.fontManager.ttflist\n"
        "                                    if Path(e.fname).is_relative_to(own)]\n"
        "print(hangul_font())\n"
    )
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"
