"""``--device cuda``: the torch engine's CUDA graph and its guard on BCELoss's predictions.

Every test here needs a CUDA GPU and skips only where none is present; the CPU-only behaviour
(a one-line error for ``--device cuda``) is tested in test_train_cli.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from backprop_cli.cli import main
from backprop_cli.engines import torch_engine
from backprop_cli.io import spec_toml
from backprop_cli.model import Network, random_network
from backprop_cli.optimizers.base import Optimizer
from tests.reference import assert_close, torch_train

pytestmark = pytest.mark.cuda


@pytest.fixture(autouse=True)
def _needs_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def problem(optimizer: Optimizer, widths=(2, 8, 8, 1), samples=64):
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (samples, widths[0]))
    y = (x[:, :1] * x[:, 1:2] > 0).astype(float)
    network = random_network(widths, seed=1, lr=0.5, decimals=None)
    network = Network(network.layers, loss="bce", lr=0.5, optimizer=optimizer)
    return network, [tuple(r) for r in x.tolist()], [tuple(r) for r in y.tolist()]


@pytest.mark.parametrize("optimizer", [Optimizer("sgd"), Optimizer("momentum", momentum=0.9)], ids=["sgd", "momentum"])
def test_graph_replays_equal_the_cpu_pytorch_loop(optimizer, tmp_path, capsys, monkeypatch):
    network, xs, ys = problem(optimizer)
    spec = tmp_path / "net.toml"
    spec.write_text(spec_toml(network, xs, ys))
    captured = []
    capture = torch_engine.TorchEngine._capture

    def spy(engine):
        capture(engine)
        captured.append(engine.graph is not None)

    monkeypatch.setattr(torch_engine, "GRAPH_AFTER", 8)
    monkeypatch.setattr(torch_engine.TorchEngine, "_capture", spy)
    epochs = 150
    code, out, err = run(["train", "--network", str(spec), "--device", "cuda", "--epochs", str(epochs),
                          "--log-every", "1", "--format", "json"], capsys)
    assert code == 0, err
    assert captured == [True]  # captured once, and replayed from then on
    data = json.loads(out)
    reference = torch_train(network, xs, ys, epochs)
    assert_close({"history": [row["loss"] for row in data["history"]], "final_loss": data["final_loss"],
                  "layers": data["layers"]}, reference, tol=1e-10)


def test_no_graph_for_a_short_run(tmp_path, capsys, monkeypatch):
    network, xs, ys = problem(Optimizer("sgd"))
    spec = tmp_path / "net.toml"
    spec.write_text(spec_toml(network, xs, ys))
    captured = []
    monkeypatch.setattr(torch_engine.TorchEngine, "_capture", lambda engine: captured.append(engine))
    code, _, err = run(["train", "--network", str(spec), "--device", "cuda", "--epochs",
                        str(torch_engine.GRAPH_AFTER - 1), "--format", "json"], capsys)
    assert code == 0, err
    assert captured == []


@pytest.mark.parametrize(("args", "expected"), [
    (["--activation", "identity"], "bce: PyTorch refuses the predictions"),
    (["--layers", "2", "2", "1", "--activation", "sqrt(x)", "sigmoid", "--data", "xor", "--epochs", "5"],
     "output became nan"),
    (["--layers", "2", "2", "1", "--activation", "sqrt(x)", "sigmoid", "--data", "xor", "--epochs", "300"],
     "output became nan"),
])
def test_predictions_bce_refuses_are_one_line_errors_on_cuda(args, expected, capsys, tmp_path, monkeypatch):
    """On CUDA, BCELoss checks its input with a device-side assert that would end the process with a
    traceback; the engine says it in one line instead, as on the CPU."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["train", "--backend", "torch", "--device", "cuda", *args], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert list(tmp_path.iterdir()) == []
