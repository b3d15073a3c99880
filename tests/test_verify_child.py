"""backprop verify's autograd child: what it loads, what it is sent, and where the parent computes instead."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from backprop_cli.autograd import Autograd, autograd_gradients, autograd_request
from backprop_cli.io import Spec, parse_spec
from backprop_cli.losses import NAMES
from backprop_cli.model import SEED, SEED_X, SEED_Y, random_network
from tests.reference import flat, torch_step

TORCH = importlib.util.find_spec("torch") is not None
needs_fork = pytest.mark.skipif(not TORCH or not hasattr(os, "fork"), reason="needs torch and os.fork")


def loss_case(name: str) -> tuple:
    """A 3-4-2 network with ``name``'s loss, the output activation it needs, and targets it takes."""
    output = {"cross_entropy": "softmax", "nll": "log_softmax"}.get(name, "sigmoid")
    network = random_network((3, 4, 2), seed=5, activation="tanh", output_activation=output, loss=name)
    ys = [(1.0, 0.0), (0.0, 1.0)] if name in ("cross_entropy", "nll") else [(0.25, 1.0), (0.0, 0.5)]
    return network, [(0.5, -1.0, 2.0), (-0.25, 0.75, 1.5)], ys


CASES = {
    "seed": (SEED, list(SEED_X), list(SEED_Y)),
    "2-30-30-1": (random_network((2, 30, 30, 1), seed=0), [(1.0, 1.0), (0.5, -2.0)], [(0.0,), (1.0,)]),
    **{f"loss {name}": loss_case(name) for name in NAMES},
}


@pytest.mark.skipif(not TORCH, reason="needs torch")
def test_the_child_loads_torch_and_the_spec_reader_but_not_sympy():
    # What the child runs once its request is there, in a fresh process: the built-in losses'
    # criteria and the kinds' torch modules come without sympy (0.45 s of the child's time), and
    # its gradients are those of a torch model written here.
    requests = {name: autograd_request(*case) for name, case in CASES.items()}
    assert all(requests.values())
    script = (
        "import json, sys\n"
        "from backprop_cli.autograd import autograd_answer\n"
        "out = {}\n"
        "for name, request in json.load(sys.stdin).items():\n"
        "    version, gradients = autograd_answer(request)\n"
        "    out[name] = [gradients, sorted(m for m in ('sympy', 'typer', 'rich', 'backprop_cli.functions')"
        " if m in sys.modules)]\n"
        "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(requests), capture_output=True,
                          text=True, check=True)
    answers = json.loads(done.stdout)
    for name, (network, xs, ys) in CASES.items():
        gradients, loaded = answers[name]
        assert loaded == [], name
        expected = torch_step(network, xs, ys)["layers"]
        reference = [g for layer in expected for key in ("grad_weight", "grad_bias") if layer[key] is not None
                     for g in flat(layer[key])]
        assert gradients == pytest.approx(reference, rel=1e-12, abs=1e-14), name


def test_the_entry_point_forks_before_loading_more_than_the_autograd_module():
    # The child starts before typer, rich, the model or numpy load: the sooner torch's import starts.
    code = ("import sys\nimport backprop_cli.autograd\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'numpy', 'sympy', 'torch')"
            " or m in ('backprop_cli.model', 'backprop_cli.cli')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_request_gives_back_the_network_and_samples_exactly():
    network, xs, ys = CASES["2-30-30-1"]
    data = json.loads(autograd_request(network, xs, ys))
    assert parse_spec(data["spec"]).network == network
    assert [tuple(x) for x in data["x"]] == xs and [tuple(y) for y in data["y"]] == ys


def test_a_network_its_spec_does_not_give_back_is_not_sent(monkeypatch):
    import backprop_cli.io

    other = random_network((2, 2, 1), seed=9)
    monkeypatch.setattr(backprop_cli.io, "parse_spec", lambda document: Spec(other))
    assert autograd_request(SEED, SEED_X, SEED_Y) is None


@needs_fork
def test_a_child_started_ahead_gives_the_numbers_of_this_process():
    # The command line's order: the child first (torch's import), the network later, through the pipe.
    network, xs, ys = CASES["2-30-30-1"]
    script = (
        "import json, sys\n"
        "from backprop_cli.model import random_network\n"
        "from backprop_cli.autograd import Autograd\n"
        "pending = Autograd.ahead()\n"
        "forked = pending.pid is not None\n"
        f"pending.send(random_network((2, 30, 30, 1), seed=0), {xs!r}, {ys!r})\n"
        "version, gradients = pending.result()\n"
        "print(json.dumps([forked, 'torch' in sys.modules, version, gradients]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    forked, torch_here, version, gradients = json.loads(done.stdout)
    assert forked and not torch_here  # torch was imported in the child only
    expected = autograd_gradients(network, xs, ys)
    assert expected is not None and version == expected[0] and gradients == expected[1]  # bit for bit


@needs_fork
def test_a_child_ahead_is_ended_where_torch_is_imported_here_by_now():
    # As after reading a .pt network file: the numbers are then computed here at once (so too where
    # the request would not give the network back, autograd_request's None: the same branch).
    assert "torch" in sys.modules
    pending = Autograd(None)
    read, pending.requests = os.pipe()
    pending.pid = os.fork()  # a stand-in child that would wait forever for its request
    if pending.pid == 0:
        os.read(read, 1)
        os._exit(0)
    os.close(read)
    pending.read, write = os.pipe()
    os.close(write)
    child = pending.pid
    pending.send(SEED, SEED_X, SEED_Y)
    assert pending.pid is None and pending.requests is None
    with pytest.raises(ChildProcessError):  # ended and reaped
        os.waitpid(child, os.WNOHANG)
    assert pending.result() == autograd_gradients(SEED, SEED_X, SEED_Y)


def test_without_a_child_the_numbers_are_computed_here():
    # Torch imported (as in this test process), no fork, or no torch: nothing is started ahead.
    pending = Autograd.ahead() if "torch" in sys.modules else Autograd(None)
    assert pending.pid is None and pending.requests is None
    pending.send(SEED, SEED_X, SEED_Y)
    assert pending.result() == autograd_gradients(SEED, SEED_X, SEED_Y)


@pytest.mark.parametrize("args, code", [
    (["verify", "--layers", "2", "30", "30", "1", "--seed", "0", "--format", "json"], 0),
    (["verify", "--layers", "2", "x"], 2),
    (["verify", "--loss", "nope"], 2),
])
def test_the_command_with_its_child_started_ahead(args, code):
    # The console entry (run) starts the child before parsing and leaves without the interpreter's
    # teardown: the report is written in full, bad input is one line and exit code 2.
    done = subprocess.run([sys.executable, "-m", "backprop_cli", *args], capture_output=True, text=True)
    assert done.returncode == code, done.stderr
    if code == 0:
        report = json.loads(done.stdout)
        assert report["ok"] and len(report["parameters"]) == 1051
        assert (report["references"]["autograd"] is not None) == TORCH
    else:
        assert done.stdout == "" and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
