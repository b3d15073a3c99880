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
