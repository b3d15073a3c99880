"""Trust, second round: the cache cannot change a number, work is bounded, files cannot be clobbered.

Every case of the probe that found these (issue 15) is here: each failed before the change
(a wrong number with exit code 0, a hang, an internal error, a clobbered device or a silent
default) and passes after it. The contract of tests/test_bad_input.py holds for every refusal:
exit code 2, exactly one line starting with ``error:``, no traceback, nothing written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from backprop_cli import derived
from backprop_cli.budget import cheap_enough, degree_bound
from backprop_cli.cli import main
from backprop_cli.functions import OUT, X, activation, tidy

ROOT = Path(__file__).resolve().parent.parent


def files(folder: Path) -> dict[str, tuple[int, int]]:
    """What a folder holds: name → (mode, size), links not followed."""
    return {p.name: (p.lstat().st_mode, p.lstat().st_size) for p in folder.iterdir()}


def refused(folder: Path, capsys: pytest.CaptureFixture[str], args: list[str], *words: str) -> str:
    """Run ``args`` in ``folder``; assert the bad-input contract and that the line names ``words``."""
    before = files(folder)
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        code = main(args)
    finally:
        os.chdir(cwd)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert files(folder) == before
    return lines[0]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backprop_cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=timeout)


# --- the cache -------------------------------------------------------------------------------

def _cache_file(folder: Path) -> Path:
    (path,) = folder.glob("derived-*.json")
    return path


def _rewrite_entry(path: Path, kind: str, tree: object, rehash: bool = True) -> None:
    """Replace the entry of ``kind`` for sigmoid (its definition starts with Pow) or swish (Mul)."""
    data = json.loads(path.read_text())
    head = "Mul" if kind == "activation.derivative" else "Pow"
    (key,) = [k for k in data if k.startswith(f"{kind}|{head}(") and "exp" in k]
    data[key] = {"tree": tree, "sha256": derived._digest(tree) if rehash else "0" * 64}
    path.write_text(json.dumps(data))


WRONG_SIGMOID = ["Mul", [["Integer", "2"], ["Symbol", "a", {"real": True}],
                         ["Add", [["Integer", "1"], ["Mul", [["Integer", "-1"], ["Symbol", "a", {"real": True}]]]]]]]
"""σ′ = 2a(1 − a): decodes, evaluates, and is wrong by a factor of 2."""


SWISH = ["--activation", "x*sigmoid(x)", "sigmoid"]
"""A formula whose derivative is not written in its output: its ``activation.derivative`` is used."""


@pytest.mark.parametrize(("kind", "tree", "rehash", "network"), [
    ("activation.derivative_of_output", WRONG_SIGMOID, True, []),
    ("activation.derivative_of_output", WRONG_SIGMOID, False, []),
    # decodes but cannot be evaluated: a free symbol, and 1/0
    ("activation.derivative_of_output", ["Symbol", "q", {"real": True}], True, []),
    ("activation.derivative", ["Pow", [["Integer", "0"], ["Integer", "-1"]]], True, SWISH),
    ("activation.derivative", ["Symbol", "x", {"real": True}], True, SWISH),
])
def test_a_wrong_or_unevaluable_cache_entry_never_changes_a_number(tmp_path, kind, tree, rehash, network):
    cache = tmp_path / "cache"
    env = {"BACKPROP_CACHE_DIR": str(cache)}
    step = ["step", *network, "--format", "json"]
    fresh = run(step, tmp_path, {"BACKPROP_CACHE_DIR": "off"})
    assert run(step, tmp_path, env).stdout == fresh.stdout
    _rewrite_entry(_cache_file(cache), kind, tree, rehash)
    tampered = run([*step, "--verbose"], tmp_path, env)
    assert tampered.returncode == 0, tampered.stderr
    assert tampered.stdout == fresh.stdout
    assert "note: cache:" in tampered.stderr and "deriving again" in tampered.stderr
    # The entry was replaced: the next run is quiet and still right.
    again = run([*step, "--verbose"], tmp_path, env)
    assert again.stdout == fresh.stdout and "note:" not in again.stderr
    train = ["train", *network, "--format", "json", "--epochs", "5"]
    _rewrite_entry(_cache_file(cache), kind, tree, rehash)
    assert run(train, tmp_path, env).stdout.split('"seconds"')[0] == \
        run(train, tmp_path, {"BACKPROP_CACHE_DIR": "off"}).stdout.split('"seconds"')[0]


def test_a_cache_file_that_is_a_fifo_or_oversized_is_ignored(tmp_path):
    cache = tmp_path / "cache"
    env = {"BACKPROP_CACHE_DIR": str(cache)}
    fresh = run(["step", "--format", "json"], tmp_path, {"BACKPROP_CACHE_DIR": "off"})
    run(["step", "--format", "json"], tmp_path, env)
    path = _cache_file(cache)
    path.unlink()
    os.mkfifo(path)
    result = run(["step", "--format", "json", "--verbose"], tmp_path, env, timeout=30)
    assert result.returncode == 0 and result.stdout == fresh.stdout
    assert "not a regular file" in result.stderr
    assert path.is_fifo()  # never replaced by the cache either
    path.unlink()
    path.write_text(" " * (derived.MAX_CACHE_BYTES + 1))
    result = run(["step", "--format", "json", "--verbose"], tmp_path, env)
    assert result.returncode == 0 and result.stdout == fresh.stdout and "larger than" in result.stderr


def test_the_spot_check_tells_a_right_derivative_from_a_wrong_one():
    points = [{X: p} for p in derived.SPOT_POINTS]
    sigmoid = activation("sigmoid")
    assert derived.derivatives_agree([(sigmoid.derivative, sigmoid.expr, X)], points)
    assert derived.derivatives_agree([(OUT * (1 - OUT), sigmoid.expr, X)], points, {OUT: sigmoid.expr})
    assert not derived.derivatives_agree([(2 * OUT * (1 - OUT), sigmoid.expr, X)], points, {OUT: sigmoid.expr})
    # A change of one part in a million is caught.
    assert not derived.derivatives_agree([(sigmoid.derivative * (1 + sp.Rational(1, 10**6)), sigmoid.expr, X)],
                                         points)
    # Nowhere defined: cannot be checked, so it is not trusted.
    assert not derived.derivatives_agree([(X, sp.sqrt(-X**2 - 1), X)], points)


# --- bounded formulas ------------------------------------------------------------------------

def test_a_formula_whose_factoring_explodes_keeps_its_unsimplified_form(tmp_path):
    start = time.monotonic()
    result = run(["step", "--activation", "1/(((x+1)**16+1)**16+1)", "--format", "json"], tmp_path,
                 {"BACKPROP_CACHE_DIR": "off"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start < 60
    expr = 1 / (((X + 1) ** 16 + 1) ** 16 + 1)
    assert degree_bound(sp.diff(expr, X)) > 24 and not cheap_enough(sp.diff(expr, X))
    derivative = sp.diff(expr, X)
    assert tidy(derivative) == derivative


def test_degree_bound_is_an_upper_bound():
    for expr in (X**3 + X, (X + 1) ** 4 * X, 1 / (X**2 + 1), (X**2 + 1) ** 3 / (X - 1)):
        numerator, denominator = sp.fraction(sp.together(expr))
        assert degree_bound(expr) >= max(sp.degree(numerator, X), sp.degree(denominator, X))


def test_tidy_still_factors_what_is_cheap():
    assert tidy(-X**2 + X) == X * (1 - X)


# --- options ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "words"), [
    (["step", "--layers", "2", "inf", "1"], ["layers", "inf"]),
    (["step", "--layers", "2", "nan", "1"], ["layers", "nan"]),
    (["step", "--loss", ""], ["loss", "empty"]),
    (["step", "--optimizer", ""], ["optimizer", "empty"]),
    (["step", "--init", ""], ["init", "empty"]),
    (["step", "--data", ""], ["data", "empty"]),
    (["train", "--precision", "100"], ["precision", "15"]),
    (["train", "--precision", "-1"], ["precision"]),
    (["step", "--precision", "100"], ["precision"]),
    (["train", "--show-steps", "²"], ["show-steps", "²"]),
    (["train", "--seed", "-1", "--shuffle"], ["seed", "-1"]),
    (["step", "--seed", "-1", "--layers", "2", "2", "1", "--x", "1", "1", "--y", "0"], ["seed"]),
    (["step", "--activation", "ｓｉｇｍｏｉｄ"], ["activation", "'sigmoid'", "ASCII"]),
    (["step", "--loss", "ｍｓｅ"], ["loss", "'mse'"]),
])
def test_option_values_are_checked(tmp_path, capsys, args, words):
    refused(tmp_path, capsys, args, *words)


def test_an_error_line_quoting_huge_numbers_stays_short(tmp_path, capsys):
    line = refused(tmp_path, capsys, ["step", "--x", "9" * 309 + "q", "1", "--y", "0"], "x")
    assert len(line) <= len("error: ") + 300


def test_the_python_api_checks_the_same(tmp_path):
    from backprop_cli import derive
    from backprop_cli.errors import BackpropError

    with pytest.raises(BackpropError, match="empty"):
        derive(loss="")
    with pytest.raises(BackpropError, match="seed"):
        derive(layers=[2, 2, 1], seed=-1, x=[[1, 1]], y=[[0]])


# --- sizes -----------------------------------------------------------------------------------

def test_scalar_form_above_its_size_points_to_the_matrix_form(tmp_path, capsys):
    np.savez(tmp_path / "big.npz", x=np.ones((3, 60)), y=np.ones((3, 1)))
    refused(tmp_path, capsys, ["step", "--layers", "60", "30", "1", "--data", "big.npz", "--form", "scalar"],
            "--form matrix")


def test_the_compiled_engine_declines_large_networks_and_auto_never_picks_it_there(tmp_path, capsys):
    from backprop_cli import engines
    from backprop_cli.model import random_network

    refused(tmp_path, capsys, ["train", "--layers", "40", "30", "1", "--x", *["1"] * 40, "--y", "1",
                               "--backend", "compiled"], "--backend numpy")
    big = random_network([40, 30, 1], seed=0)
    assert big.parameter_count > engines.COMPILED_MAX_PARAMETERS
    assert engines.choose(big, 1, False, "cpu", "float64")[0] == "numpy"


def test_a_derived_step_refuses_more_samples_than_a_page_holds(tmp_path, capsys):
    from backprop_cli import derive
    from backprop_cli.errors import BackpropError

    np.savez(tmp_path / "many.npz", x=np.ones((10_001, 2)), y=np.ones((10_001, 1)))
    for command in ("step", "verify"):
        refused(tmp_path, capsys, [command, "--data", "many.npz"], "10,001", "backprop train")
    with pytest.raises(BackpropError, match="10,001 samples"):
        derive(x=[[1.0, 1.0]] * 10_001, y=[[0.0]] * 10_001)


def test_verify_of_a_large_network_takes_the_matrix_forward_and_says_so(tmp_path, capsys):
    from backprop_cli.model import random_network
    from backprop_cli.verification import SCALAR_FORWARD_LIMIT, check_gradients

    network = random_network([12, 12, 12, 2], seed=1, loss="mse")
    assert network.parameter_count > SCALAR_FORWARD_LIMIT
    xs, ys = ((0.1 * np.arange(12) - 0.5).tolist(),), ((0.2, -0.1),)
    start = time.monotonic()
    report = check_gradients(network, [tuple(xs[0])], [ys[0]], use_torch=False)
    assert time.monotonic() - start < 30
    assert report.ok and report.forward == "numpy"
    assert report.to_dict()["references"]["finite_differences"]["forward"] == "numpy"
    # The matrix forward's loss is the derivation's loss.
    assert report.checks and all(c.finite_difference.method == "central" for c in report.checks)
    small = check_gradients(random_network([2, 2, 1], seed=1), [(1.0, 1.0)], [(0.0,)], use_torch=False)
    assert small.forward == "scalar"


def test_verify_catches_a_wrong_gradient_through_the_matrix_forward(monkeypatch):
    from backprop_cli.derivation import Derivation
    from backprop_cli.model import random_network
    from backprop_cli.verification import check_gradients

    original = Derivation.to_dict

    def corrupted(self: Derivation) -> dict:
        data = original(self)
        data["layers"][0]["grad_weight"][3][2] += 1e-4
        return data

    monkeypatch.setattr(Derivation, "to_dict", corrupted)
    network = random_network([12, 12, 12, 2], seed=2, loss="mse")
    report = check_gradients(network, [tuple(float(i) / 10 for i in range(12))], [(0.5, 0.5)], use_torch=False)
    assert report.forward == "numpy"
    assert [c.parameter.key for c in report.failures] == ["layers[0].weight[3][2]"]


# --- files -----------------------------------------------------------------------------------

def test_output_to_a_fifo_or_a_link_to_a_device_is_refused_even_with_force(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.md")
    (tmp_path / "null.md").symlink_to("/dev/null")
    for name in ("pipe.md", "null.md"):
        refused(tmp_path, capsys, ["step", "-o", name, "--force"], name, "not a regular file")
    assert (tmp_path / "pipe.md").is_fifo()
    assert os.readlink(tmp_path / "null.md") == "/dev/null"


def test_a_symlink_is_written_through_only_with_force(tmp_path, capsys):
    (tmp_path / "link.md").symlink_to("target.md")  # dangling
    refused(tmp_path, capsys, ["step", "-o", "link.md"], "symbolic link", "--force")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["step", "-o", "link.md", "--force"]) == 0
    finally:
        os.chdir(cwd)
    assert (tmp_path / "link.md").is_symlink() and "Forward pass" in (tmp_path / "target.md").read_text()


def test_output_paths_of_one_command_are_distinct(tmp_path, capsys):
    refused(tmp_path, capsys, ["train", "-o", "same.json", "--save", "same.json"], "--output", "--save")
    refused(tmp_path, capsys, ["train", "-o", "same.json", "--save", "./same.json"], "same.json")
    refused(tmp_path, capsys, ["step", "--format", "markdown", "-o", "g.dot", "--graph", "g.dot"], "--graph")


@pytest.mark.parametrize("option", ["--network", "--data"])
def test_input_files_that_are_not_regular_are_refused_without_reading(tmp_path, capsys, option):
    suffix = ".json" if option == "--network" else ".csv"
    os.mkfifo(tmp_path / f"pipe{suffix}")
    (tmp_path / f"zero{suffix}").symlink_to("/dev/zero")
    for name in (f"pipe{suffix}", f"zero{suffix}"):
        refused(tmp_path, capsys, ["step", option, name], name, "not a regular file")


def test_an_oversized_input_file_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    from backprop_cli import io

    monkeypatch.setattr(io, "MAX_INPUT_BYTES", 100)
    (tmp_path / "data.csv").write_text("1,1,0\n" * 40)
    refused(tmp_path, capsys, ["step", "--data", "data.csv"], "data.csv", "bytes")


def test_a_json_key_given_twice_is_refused(tmp_path, capsys):
    (tmp_path / "net.json").write_text('{"lr": 1, "loss": "mse", "lr": 2}')
    refused(tmp_path, capsys, ["step", "--network", "net.json"], "'lr'", "twice")
    (tmp_path / "nested.json").write_text('{"layers": [{"units": 2, "units": 3}], "inputs": 2}')
    refused(tmp_path, capsys, ["step", "--network", "nested.json"], "'units'", "twice")


def test_a_quoted_csv_cell_with_a_newline_is_not_a_number(tmp_path, capsys):
    (tmp_path / "q.csv").write_text('x1,x2,y\n"1\n2",1,0\n')
    refused(tmp_path, capsys, ["step", "--data", "q.csv", "--layers", "2", "2", "1"], "column 1", "not a number")


def test_a_float128_file_beyond_float64_is_one_line_in_a_fresh_process(tmp_path):
    if np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("this platform's long double is float64")
    np.savez(tmp_path / "wide.npz", x=np.array([[np.longdouble(10) ** 400, 1]], dtype=np.longdouble),
             y=np.ones((1, 1)))
    result = run(["step", "--data", "wide.npz"], tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "not finite" in result.stderr


def test_a_meta_tensor_state_dict_is_refused(tmp_path, capsys, torch):
    torch.save({"weight": torch.empty(1, 2, device="meta"), "bias": torch.empty(1, device="meta")},
               tmp_path / "m.pt")
    refused(tmp_path, capsys, ["step", "--network", "m.pt"], "meta tensor")


# --- interruption ----------------------------------------------------------------------------

def test_sigterm_during_a_write_leaves_no_temporary_file(tmp_path, capsys, monkeypatch):
    real_fsync = os.fsync

    def terminated(fd: int) -> None:
        real_fsync(fd)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)

    monkeypatch.setattr(os, "fsync", terminated)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(["step", "-o", "page.md"])
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert code == 128 + signal.SIGTERM and err.splitlines() == [f"error: terminated (signal {signal.SIGTERM})"]
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.parametrize("command", ["step", "verify"])
def test_ctrl_c_says_interrupted(tmp_path, capsys, monkeypatch, command):
    from backprop_cli import build

    def interrupted(*args: object, **kwargs: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)

    monkeypatch.setattr(build, "build_derivation", interrupted)
    code = main([command])
    assert code == 130
    assert capsys.readouterr().err.splitlines() == ["error: interrupted"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_in_a_fresh_process_says_interrupted(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-c", "import time, backprop_cli.build as b\n"
         "b.build_derivation = lambda *a, **k: time.sleep(60)\n"
         "from backprop_cli.cli import main; import sys; print('ready', flush=True); sys.exit(main(['step']))"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and err.splitlines() == ["error: interrupted"]


# --- formulas where PyTorch gives nan --------------------------------------------------------

SQRT_SPEC = """loss = "mse"
[[layers]]
weight = [[1.0, 0.0]]
bias = [0.0]
activation = "sqrt(x**2)"
[[layers]]
weight = [[0.5]]
bias = [0.1]
activation = "identity"
[data]
x = [[0, 1]]
y = [[1]]
"""


def test_sqrt_of_a_square_at_zero_is_nan_as_in_pytorch_not_zero(tmp_path, capsys, torch):
    weight = torch.tensor([[1.0, 0.0]], dtype=torch.float64, requires_grad=True)
    hidden = torch.sqrt((torch.tensor([[0.0, 1.0]], dtype=torch.float64) @ weight.T) ** 2)
    ((hidden * 0.5 + 0.1 - 1) ** 2).mean().backward()
    assert torch.isnan(weight.grad).all()  # the reference: no number to print
    (tmp_path / "sq.toml").write_text(SQRT_SPEC)
    refused(tmp_path, capsys, ["step", "--network", "sq.toml"], "nan", "|z₁|/z₁")
    derivative = activation("sqrt(x**2)").derivative
    assert derivative.subs(X, 0) is sp.nan and derivative.subs(X, -2) == -1 and derivative.subs(X, 3) == 1


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_nan_from_a_hidden_sqrt_is_named_and_stops_training_early(tmp_path, capsys, backend):
    if backend == "torch":
        pytest.importorskip("torch")
    line = refused(tmp_path, capsys, ["train", "--activation", "sqrt(x)", "sigmoid", "--lr", "20", "--epochs",
                                      "100000", "--backend", backend], "nan")
    assert "use sigmoid on the output layer" not in line
    if backend == "numpy":
        epochs = int(line.split(" after ")[1].split()[0])
        assert epochs < 1000


def test_work_of_more_than_a_second_shows_a_line_and_instant_work_none():
    """A spinner with what the command does, on a terminal, once the work has taken its delay."""
    import io
    import time

    from rich.console import Console

    from backprop_cli.render.status import working

    def run(delay: float, seconds: float, enabled: bool = True) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=True, width=60)
        with working("Working out the step…", enabled, delay=delay, console=console):
            time.sleep(seconds)
        return buffer.getvalue()

    assert "Working out the step" in run(0.05, 0.4)
    assert run(5.0, 0.0) == ""
    assert run(0.0, 0.2, enabled=False) == ""
