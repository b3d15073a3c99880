"""backprop verify: the references, the tolerances, the verdict and the exit codes."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from backprop_cli.cli import main
from backprop_cli.derivation import Derivation
from backprop_cli.model import SEED, SEED_X, SEED_Y, Layer, Network, random_network
from backprop_cli.verification import CENTRAL, check_gradients, finite_difference, parameters
from tests.strategies import networks


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_passes_with_both_references(capsys):
    pytest.importorskip("torch")
    report = check_gradients(SEED, SEED_X, SEED_Y)
    assert report.ok and report.torch_version
    assert [c.parameter.name for c in report.checks] == ["W₁", "W₂", "W₃", "W₄", "b₁", "b₂", "W₅", "W₆", "b₃"]
    assert all(c.autograd is not None and c.autograd.abs_error <= 1e-15 for c in report.checks)
    # Central differences on the seed are good to about 1e-9 relative, a thousand times inside rtol.
    assert all(c.finite_difference.rel_error < 1e-8 for c in report.checks)
    code, out, err = run(["verify"], capsys)
    assert code == 0, err
    assert "✓ All 9 gradients agree (largest |Δ|: autograd 0, finite differences" in out
    for name in ("W₁", "b₃", "autograd", "finite diff.", "rel."):
        assert name in out


def test_seed_gradients_are_the_derivation_s(capsys):
    code, out, _ = run(["verify", "--format", "json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    step = json.loads(run(["step", "--format", "json"], capsys)[1])
    flat = [g for layer in step["layers"] for g in [*sum(layer["grad_weight"], []), *layer["grad_bias"]]]
    assert [p["gradient"] for p in report["parameters"]] == flat
    assert report["parameters"][0]["key"] == "layers[0].weight[0][0]"
    assert report["parameters"][4]["key"] == "layers[0].bias[0]"
    assert report["references"]["finite_differences"]["rtol"] == CENTRAL.rtol


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=25)
@given(networks(max_samples=3, max_depth=3, max_width=4, bound=1.0, input_bound=1.5))
def test_random_networks_pass(case):
    network, xs, ys = case
    report = check_gradients(network, xs, ys, form="scalar")
    assert report.ok, [(c.parameter.name, c.gradient, c.autograd, c.finite_difference) for c in report.failures]


def test_random_networks_from_the_command_line_pass(capsys):
    for args in (["--layers", "3", "4", "2", "--activation", "tanh", "sigmoid", "--loss", "mse",
                  "--x", "0.5", "-1", "2", "--y", "0.2", "0.9"],
                 ["--layers", "2", "5", "3", "--activation", "relu", "softmax", "--seed", "7",
                  "--x", "1", "-1", "--y", "0", "0", "1"],
                 ["--layers", "2", "3", "1", "--activation", "x*sigmoid(x)", "x/(1+abs(x))", "--loss",
                  "half_sse", "--init", "he", "--seed", "3", "--x", "0.3", "0.8", "--y", "1"],
                 ["--data", "xor", "--form", "scalar"]):
        code, out, err = run(["verify", *args], capsys)
        assert code == 0, (args, out, err)
        assert "gradients agree" in out


def _corrupt(monkeypatch, layer: int, row: int, column: int | None, by: float) -> None:
    """Change one gradient of every derivation's JSON, as a wrong chain rule would."""
    original = Derivation.to_dict

    def corrupted(self):
        data = original(self)
        if column is None:
            data["layers"][layer]["grad_bias"][row] += by
        else:
            data["layers"][layer]["grad_weight"][row][column] += by
        return data

    monkeypatch.setattr(Derivation, "to_dict", corrupted)


def test_a_corrupted_gradient_fails_with_exit_1(monkeypatch, capsys):
    _corrupt(monkeypatch, layer=0, row=1, column=0, by=1e-3)
    code, out, err = run(["verify"], capsys)
    assert code == 1 and err == ""
    assert "✗ 1 of 9 gradients disagree: W₃." in out
    code, out, _ = run(["verify", "--format", "json"], capsys)
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    bad = [p for p in report["parameters"] if not p["ok"]]
    assert [p["name"] for p in bad] == ["W₃"]
    assert bad[0]["finite_difference"]["ok"] is False
    assert bad[0]["finite_difference"]["abs_error"] == pytest.approx(1e-3, rel=1e-6)


def test_finite_differences_alone_catch_a_corrupted_gradient(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # as on a machine without torch
    _corrupt(monkeypatch, layer=1, row=0, column=None, by=-1e-5)
    code, out, _ = run(["verify"], capsys)
    assert code == 1
    assert "PyTorch is not installed" in out
    assert "disagree: b₃." in out


def test_autograd_catches_what_finite_differences_cannot(monkeypatch):
    """A change of one part in 1e8 is below what central differences resolve, not below autograd's."""
    pytest.importorskip("torch")
    gradient = check_gradients(SEED, SEED_X, SEED_Y).checks[6].gradient
    _corrupt(monkeypatch, layer=1, row=0, column=0, by=gradient * 1e-8)
    report = check_gradients(SEED, SEED_X, SEED_Y)
    (failure,) = report.failures
    assert failure.parameter.name == "W₅"
    assert failure.finite_difference.ok and failure.autograd is not None and not failure.autograd.ok


def test_without_torch_finite_differences_decide(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    report = check_gradients(SEED, SEED_X, SEED_Y)
    assert report.ok and report.torch_version is None
    assert all(c.autograd is None for c in report.checks)
    code, out, _ = run(["verify"], capsys)
    assert code == 0
    assert "PyTorch is not installed: autograd not compared" in out
    assert "✓ All 9 gradients agree (largest |Δ|: finite differences" in out


def test_relu_exactly_at_its_kink_is_accepted_as_a_subgradient():
    network = Network((Layer(((1.0, -1.0),), (0.0,), "relu"), Layer(((0.5,),), (0.1,), "sigmoid")))
    report = check_gradients(network, ((1.0, 1.0),), ((1.0,),))
    assert report.ok
    bias = report.checks[2]
    assert bias.parameter.name == "b₁" and bias.gradient == 0.0
    assert bias.finite_difference.method == "kink"
    left, right = bias.finite_difference.sides or (math.nan, math.nan)
    assert left == 0.0 and right == pytest.approx(-0.2375103980, rel=1e-6)


def test_relu_at_its_kink_from_both_sides_is_left_to_autograd(monkeypatch):
    """z = W·1 and z = W·(−1) at W = 0: the loss has the derivative −1 in W, PyTorch's relu'(0) = 0
    gives 0. Finite differences cannot check that convention; autograd does, and without torch
    the row fails rather than passing unchecked."""
    network = Network((Layer(((0.0,),), None, "relu"),), loss="mse")
    xs, ys = ((1.0,), (-1.0,)), ((1.0,), (-1.0,))
    if importlib.util.find_spec("torch") is not None:
        report = check_gradients(network, xs, ys)
        (check,) = report.checks
        assert report.ok and check.gradient == 0.0 and check.finite_difference.method == "kink"
        assert check.finite_difference.reference == pytest.approx(-1.0, rel=1e-6)
    monkeypatch.setitem(sys.modules, "torch", None)
    assert not check_gradients(network, xs, ys).ok


def test_finite_difference_against_known_derivatives():
    # 𝓛(θ) = θ³ at θ = 2: 12, to well inside the tolerance.
    result = finite_difference(lambda t: t**3, 2.0, 8.0, 12.0, 1.0, kinks=False)
    assert result.ok and result.method == "central" and result.abs_error < 1e-8
    assert not finite_difference(lambda t: t**3, 2.0, 8.0, 12.0 * (1 + 1e-5), 1.0, kinks=False).ok
    # |θ| at 0: any value in [-1, 1] is a subgradient; 2 is not; without kinks, 0.5 fails.
    assert finite_difference(abs, 0.0, 0.0, 0.0, 1.0, kinks=True).method == "central"  # (h - h)/2h = 0
    half = finite_difference(abs, 0.0, 0.0, 0.5, 1.0, kinks=True)
    assert half.ok and half.method == "kink" and half.sides == (-1.0, 1.0)
    assert not finite_difference(abs, 0.0, 0.0, 2.0, 1.0, kinks=True).ok
    assert not finite_difference(abs, 0.0, 0.0, 0.5, 1.0, kinks=False).ok


def test_formula_activations_are_verified(capsys):
    network = Network((Layer(((0.3, -0.7), (0.5, 0.2)), (0.1, -0.2), "x/(1+abs(x))"),
                       Layer(((0.6, -0.3),), (0.2,), "x*sigmoid(x)")), loss="mse")
    report = check_gradients(network, ((0.7, -1.2),), ((0.4,),))
    assert report.ok


def test_saturated_bce_is_marked_where_its_gradient_is_floored():
    pytest.importorskip("torch")
    # σ(25) = 1 − 1.4e-11: ŷ(1 − ŷ) < 1e-12 is not, σ(29) is: PyTorch's bce backward floors it.
    for z, floored in ((25.0, False), (29.0, True)):
        network = Network((Layer(((z,),), (0.0,), "sigmoid"),))
        report = check_gradients(network, ((1.0,),), ((0.0,),))
        methods = {c.finite_difference.method for c in report.checks}
        assert ("floor" in methods) == floored, (z, methods)
        assert all(c.autograd is not None and c.autograd.ok for c in report.checks) or floored


def test_parameters_are_numbered_as_the_derivation_numbers_them():
    network = random_network((2, 3, 1))
    names = [p.name for p in parameters(network)]
    assert names[:7] == ["W₁", "W₂", "W₃", "W₄", "W₅", "W₆", "b₁"] and names[-1] == "b₄"
    changed = parameters(network)[4].set(network, 9.0)
    assert changed.layers[0].weight[2][0] == 9.0 and network.layers[0].weight[2][0] != 9.0


def test_matrix_form_is_verified_too(capsys):
    pytest.importorskip("backprop_cli.build_matrix")
    code, out, err = run(["verify", "--data", "xor", "--form", "matrix"], capsys)
    assert code == 0, out + err


def test_torch_is_imported_only_when_used():
    code = ("import sys\nimport backprop_cli.verification, backprop_cli.torch_io, backprop_cli.render.verify_terminal\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def _readme_section() -> str:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    return readme.split("## backprop verify", 1)[1].split("\n## ", 1)[0]


def test_readme_verify_output_is_what_verify_prints(capsys):
    pasted = re.search(r"```\n\$ backprop verify\n(.*?)```", _readme_section(), flags=re.S)
    assert pasted
    rows = [line.split()[:2] for line in pasted.group(1).splitlines() if re.match(r" [Wb]\S+ ", line)]
    code, out, _ = run(["verify"], capsys)
    assert code == 0 and len(rows) == 9
    assert rows == [line.split()[:2] for line in out.splitlines() if re.match(r" [Wb]\S+ ", line)]


@pytest.mark.parametrize("command", [line.split("  #", 1)[0].strip() for line in re.search(
    r"```sh\n(.*?)```", _readme_section(), flags=re.S).group(1).splitlines() if line.startswith("backprop ")])
def test_readme_verify_commands_pass(command, capsys):
    code, out, err = run(shlex.split(command)[1:], capsys)
    assert code == 0, out + err


TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.skipif(not TORCH or not hasattr(__import__("os"), "fork"), reason="needs torch and os.fork")
def test_autograd_in_a_child_process_gives_the_same_numbers():
    # In a fresh process torch is not imported yet, so autograd runs in a forked child beside the
    # derivation; its numbers must be those computed in this process.
    from backprop_cli.autograd import autograd_gradients

    network = random_network((2, 5, 3, 1), seed=2, decimals=None)
    script = (
        "import json, sys\n"
        "from backprop_cli.model import random_network\n"
        "from backprop_cli.verification import Autograd\n"
        "assert 'torch' not in sys.modules\n"
        "pending = Autograd(random_network((2, 5, 3, 1), seed=2, decimals=None), [(0.5, -1.0), (0.25, 2.0)],"
        " [(1.0,), (0.0,)])\n"
        "forked = pending.pid is not None\n"
        "version, gradients = pending.result()\n"
        "pending.close()\n"
        "print(json.dumps([forked, 'torch' in sys.modules, version, gradients]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    forked, torch_here, version, gradients = json.loads(done.stdout)
    assert forked and not torch_here  # torch was imported in the child only
    expected = autograd_gradients(network, [(0.5, -1.0), (0.25, 2.0)], [(1.0,), (0.0,)])
    assert expected is not None and version == expected[0] and gradients == expected[1]  # bit for bit


def test_a_child_whose_result_is_not_asked_for_is_ended():
    import os

    from backprop_cli.verification import Autograd

    pending = Autograd(SEED, SEED_X, SEED_Y)
    pending.pid = os.fork() if hasattr(os, "fork") else None  # a stand-in child that would wait forever
    if pending.pid == 0:
        import time

        time.sleep(60)
        os._exit(0)
    if pending.pid is None:
        pytest.skip("needs os.fork")
    pending.read, write = os.pipe()
    os.close(write)
    child = pending.pid
    pending.close()
    assert pending.pid is None
    with pytest.raises(ChildProcessError):  # ended and reaped: no zombie left
        os.waitpid(child, os.WNOHANG)


def test_a_tie_is_the_two_gradients_on_opposite_sides_of_a_kink():
    from backprop_cli.verification import Comparison, opposite_sides

    kink = Comparison(0.1321, 0.0, 0.0, True, "kink", (-0.0864, 0.1321))
    assert opposite_sides(0.1321, -0.0864, kink, 1.0) and opposite_sides(-0.0864, 0.1321, kink, 1.0)
    assert not opposite_sides(0.1321, 0.0, kink, 1.0)  # between the sides, but neither side's derivative
    assert not opposite_sides(0.1321, 0.1321, kink, 1.0)  # the same side
    assert not opposite_sides(0.1321, -0.0864, Comparison(0.1321, 0.0, 0.0, True, "central"), 1.0)


def test_a_wrong_gradient_at_a_relu_kink_is_still_caught_by_autograd(monkeypatch):
    """relu′(0) is PyTorch's 0: a derivation giving any other subgradient there fails verify."""
    pytest.importorskip("torch")
    from backprop_cli import verification

    gradient = verification.Parameter.gradient
    monkeypatch.setattr(verification.Parameter, "gradient",
                        lambda self, layers: -0.1 if self.name == "b₁" else gradient(self, layers))
    network = Network((Layer(((1.0, -1.0),), (0.0,), "relu"), Layer(((0.5,),), (0.1,), "sigmoid")))
    report = check_gradients(network, ((1.0, 1.0),), ((1.0,),))
    check = next(c for c in report.checks if c.parameter.name == "b₁")
    assert check.finite_difference.method == "kink" and check.finite_difference.ok  # a subgradient
    assert not check.autograd.ok and check.autograd.method == "autograd" and not report.ok


def test_a_max_pool_tie_that_torch_rounds_the_other_way_is_accepted_and_said(capsys):
    """docs/examples/lenet.toml pools two equal convolution outputs (0.4 and 0.4 in the derivation's
    arithmetic); PyTorch's convolution rounds one to 0.4000000000000001 and takes the other side of
    the tie. Both gradients are subgradients of the loss there: accepted, marked ``tie``."""
    pytest.importorskip("torch")
    code = main(["verify", "--network", "docs/examples/lenet.toml", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["ok"]
    ties = [p for p in data["parameters"] if p["autograd"]["method"] == "tie"]
    assert ties  # torch 2.13's convolution breaks the tie (docs/trust.md)
    for row in ties:
        low, high = sorted((row["finite_difference"]["left"], row["finite_difference"]["right"]))
        assert low - 1e-6 <= row["autograd"]["value"] <= high + 1e-6
        assert low - 1e-6 <= row["gradient"] <= high + 1e-6
        assert row["finite_difference"]["method"] == "kink"
    others = [p for p in data["parameters"] if p["autograd"]["method"] != "tie"]
    assert all(p["autograd"]["abs_error"] < 1e-12 for p in others)
    code = main(["verify", "--network", "docs/examples/lenet.toml"])
    out = capsys.readouterr().out
    assert "tie: two equal values in a max pool" in out and f"leaves out the {len(ties)} rows marked tie" in out
