"""The Python API: backprop_cli.derive() for scripts and notebooks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import backprop_cli
from backprop_cli.build import build_derivation
from backprop_cli.derivation import Derivation, Options
from backprop_cli.errors import BackpropError
from backprop_cli.model import SEED, SEED_X, SEED_Y, random_network

GALLERY = Path(__file__).parents[1] / "docs" / "gallery"


def test_default_is_the_seed_step():
    d = backprop_cli.derive()
    assert isinstance(d, Derivation)
    assert d.to_dict() == build_derivation(SEED, SEED_X, SEED_Y).to_dict()
    assert repr(d) == "<Derivation 2-2-1 bce, 1 sample(s), scalar form: loss 0.536884 -> 0.280421>"


def test_print_repr_markdown_prints_the_seed_page():
    code = "import backprop_cli as b; print(b.derive()._repr_markdown_())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == (GALLERY / "step.en.md").read_text(encoding="utf-8") + "\n"
    assert "z_{1} = W_{1} x_{1} + W_{2} x_{2} + b_{1} = 0.4352 \\times 1 + 0.3545 \\times 1 - 0.1419 = 0.6478" in (
        result.stdout)


def test_import_is_light():
    code = "import sys, backprop_cli; print(sorted(m for m in ('sympy', 'numpy', 'rich', 'torch') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_options_as_on_the_command_line():
    d = backprop_cli.derive(layers=[2, 3, 1], activation="tanh", loss="mse", x=[0.5, -1], y=[0.2], seed=3,
                            precision=6, rounding="carry", lang="ko")
    expected_network = random_network([2, 3, 1], activation="tanh", output_activation="tanh", loss="mse", lr=1.0,
                                      seed=3)
    expected = build_derivation(expected_network, ((0.5, -1.0),), ((0.2,),),
                                Options(precision=6, rounding="carry", lang="ko"))
    assert d.to_dict() == expected.to_dict()
    assert d.to_markdown().startswith("# 역전파 풀이")


def test_network_object_batches_and_arrays():
    np = pytest.importorskip("numpy")
    one = backprop_cli.derive(SEED, x=np.array([1.0, 0.0]), y=np.array([1.0]))
    assert one.to_dict() == build_derivation(SEED, ((1.0, 0.0),), ((1.0,),)).to_dict()
    assert backprop_cli.derive(x=[1, 0], y=1).to_dict() == one.to_dict()
    two = backprop_cli.derive(x=[[1, 1], [0, 1]], y=[[0], [1]], form="scalar")
    assert two.to_dict() == build_derivation(SEED, ((1.0, 1.0), (0.0, 1.0)), ((0.0,), (1.0,)),
                                             Options(form="scalar")).to_dict()


def test_spec_file(tmp_path):
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps({"loss": "mse", "lr": 0.5, "layers": [
        {"weight": [[0.1, 0.2]], "bias": [0.3], "activation": "sigmoid"}]}), encoding="utf-8")
    d = backprop_cli.derive(spec, x=[1, 2], y=[0.5])
    assert d.network.loss == "mse" and d.network.lr == 0.5
    assert backprop_cli.derive(str(spec), x=[1, 2], y=[0.5]).to_dict() == d.to_dict()


def test_mistakes():
    with pytest.raises(TypeError, match="unknown option.*colour"):
        backprop_cli.derive(colour="red")
    with pytest.raises(BackpropError, match="x: 1 values but the network has 2 inputs"):
        backprop_cli.derive(x=[1], y=[0])
    with pytest.raises(BackpropError, match="x: expected numbers"):
        backprop_cli.derive(x=["a", "b"], y=[0])
    with pytest.raises(BackpropError, match="unknown language"):
        backprop_cli.derive(lang="fr")


def test_derive_is_the_function_and_the_builder_its_own_module():
    import importlib

    module = importlib.import_module("backprop_cli.build")
    assert callable(backprop_cli.derive) and module.build_derivation is build_derivation


def test_every_export_of_the_derivation():
    d = backprop_cli.derive()
    assert json.loads(d.to_json()) == json.loads(json.dumps(d.to_dict()))
    assert d._repr_markdown_() == d.to_markdown()
    assert d.to_latex().startswith("% Backpropagation")
    assert d.to_html().startswith("<!DOCTYPE html>")
    assert d._repr_html_().startswith('<div class="backprop"')


# --- backprop_cli.train -------------------------------------------------------------------------

def test_train_default_is_the_seed_for_100_epochs():
    from backprop_cli.training import TrainResult, TrainSettings
    from backprop_cli.training import train as run_training

    result = backprop_cli.train()
    assert isinstance(result, TrainResult)
    expected = run_training(SEED, SEED_X, SEED_Y, TrainSettings(epochs=100))
    assert result.history == expected.history and result.final_loss == expected.final_loss
    assert result.network == expected.network and result.data == "seed"
    assert repr(result) == ("<TrainResult 2-2-1 bce, sgd, 1 sample(s), 100 epochs on compiled:"
                            " loss 0.536884 -> 0.0038698>")


def test_train_stays_the_function_once_the_training_module_is_imported():
    import backprop_cli.training  # noqa: F401

    assert callable(backprop_cli.train) and backprop_cli.train.__module__ == "backprop_cli"


def test_train_options_as_on_the_command_line(capsys):
    from backprop_cli.cli import main

    result = backprop_cli.train(data="xor", layers=[2, 3, 1], seed=2, optimizer="momentum", lr=0.5, epochs=40,
                                batch_size=2, shuffle=True, log_every=10, backend="numpy")
    assert main(["train", "--data", "xor", "--layers", "2", "3", "1", "--seed", "2", "--optimizer", "momentum",
                 "--lr", "0.5", "--epochs", "40", "--batch-size", "2", "--shuffle", "--log-every", "10",
                 "--backend", "numpy", "--format", "json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    assert [[row["epoch"], row["loss"]] for row in cli["history"]] == [list(row) for row in result.history]
    assert cli["final_loss"] == result.final_loss and result.backend == "numpy" and result.data == "xor"


def test_train_samples_network_and_report_options(tmp_path):
    np = pytest.importorskip("numpy")
    result = backprop_cli.train(SEED, x=np.array([[1.0, 0.0], [0.0, 1.0]]), y=[[1], [1]], epochs=3, log_every=1,
                                lang="ko", precision=6, show_steps=2, form="scalar")
    assert [e for e, _ in result.history] == [1, 2, 3] and result.data == "options"
    assert [(s.epoch, s.derivation.options.lang, s.derivation.form) for s in result.steps] == [(2, "ko", "scalar")]
    page = result.to_markdown(timings=False)
    assert page.startswith("# 학습 보고서") and "## 에폭 2" in page and "### 역전파 풀이" in page
    assert f"| 1 | {result.history[0][1]:.6f} |" in page  # six decimals
    assert result.to_markdown(lang="en").startswith("# Training report")


def test_train_mistakes():
    with pytest.raises(TypeError, match=r"train\(\) got unknown option\(s\) epoch;"):
        backprop_cli.train(epoch=3)
    with pytest.raises(TypeError, match="unknown option.*rounding"):
        backprop_cli.train(rounding="carry")
    with pytest.raises(BackpropError, match="epochs: must be at least 1"):
        backprop_cli.train(epochs=0)
    with pytest.raises(BackpropError, match="unknown language 'fr'"):
        backprop_cli.train(lang="fr")
    with pytest.raises(BackpropError, match="show-steps: epoch 7 is outside 1 … 5"):
        backprop_cli.train(epochs=5, show_steps=[7])


def test_every_export_of_the_training_result():
    result = backprop_cli.train(data="and", epochs=50)
    assert json.loads(result.to_json()) == json.loads(json.dumps(result.to_dict()))
    assert result._repr_markdown_() == result.to_markdown()
    assert result.to_markdown().startswith("# Training report\n")
    assert result.to_latex().startswith("% Training report\n% Written by backprop-cli (backprop train --format latex)")
    assert result.to_html().startswith('<!DOCTYPE html>\n<html lang="en">')
    fragment = result._repr_html_()
    assert fragment.startswith('<div class="backprop" lang="en">') and '<svg class="curve"' in fragment
    body = result.to_html().split('<main class="backprop">\n', 1)[1].split("\n</main>", 1)[0]
    assert body in fragment
    # The run time is the one thing that changes from run to run; timings=False leaves it out.
    assert "epochs/s" in result.to_markdown() and "epochs/s" not in result.to_markdown(timings=False)
    assert "- **Run:** 50 epochs\n" in result.to_markdown(timings=False)
