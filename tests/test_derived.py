"""The cache of derived expressions: what it reads back is what sympy derives, and nothing else."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import sympy as sp

from backprop_cli import derived
from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.model import DATASETS, SEED, SEED_X, SEED_Y, Layer, Network
from backprop_cli.render import render

CASES = [
    (SEED, SEED_X, SEED_Y),
    (Network((Layer(((0.5, -0.2), (0.1, 0.3)), (0.0, 0.1), "tanh"),
              Layer(((0.3, -0.6), (-0.2, 0.4), (0.1, 0.1)), (0.0, 0.0, 0.05), "softmax")),
             loss="cross_entropy"), ((1.0, -2.0),), ((0.0, 0.0, 1.0),)),
    (Network((Layer(((0.5, -0.2),), (0.1,), "relu"), Layer(((0.7,),), None, "softmax")), loss="mse"),
     ((1.0, 2.0),), ((1.0,),)),
    (Network((Layer(((0.5, -0.2), (0.3, 0.3)), None, "x*sigmoid(x)"), Layer(((0.7, 0.1),), (0.0,), "leaky_relu")),
             loss="half_sse"), ((1.0, 2.0),), ((0.3,),)),
    (SEED, *DATASETS["xor"]),
]


def pages(cache_dir: str) -> list[str]:
    """Every case's Markdown page and JSON, worked in a fresh process with this cache folder."""
    code = (
        "import sys, json\n"
        "from tests.test_derived import CASES\n"
        "from backprop_cli.build import build_derivation\n"
        "from backprop_cli.render import render\n"
        "out = [render(build_derivation(n, x, y), f) for n, x, y in CASES for f in ('markdown', 'json')]\n"
        "print(json.dumps(out))\n")
    env = {**os.environ, "BACKPROP_CACHE_DIR": cache_dir}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout)


def test_pages_are_the_same_with_and_without_the_cache(tmp_path):
    fresh = pages("off")
    first = pages(str(tmp_path))   # derives with sympy and stores
    assert list(tmp_path.glob("derived-*.json"))
    second = pages(str(tmp_path))  # reads every derivative back
    assert fresh == first == second


def test_what_is_stored_is_plain_data_read_through_a_whitelist(tmp_path, monkeypatch):
    expr = sp.Piecewise((1, sp.Symbol("x", real=True) > 0), (sp.Rational(1, 100), True))
    tree = derived._encode(expr)
    assert json.loads(json.dumps(tree)) == tree
    assert derived._decode(tree) == expr
    for hostile in (["os.system", [["Integer", "1"]]], ["__import__", []], ["Symbol", "x", {"__class__": True}],
                    ["Integer", "1e99999"], ["Function", [["Symbol", "f", {}]]]):
        with pytest.raises((derived._Unknown, KeyError, IndexError, TypeError, ValueError)):
            derived._decode(hostile)


def test_a_damaged_cache_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("BACKPROP_CACHE_DIR", str(tmp_path))
    pages(str(tmp_path))
    (path,) = tmp_path.glob("derived-*.json")
    data = json.loads(path.read_text())
    for key in data:
        data[key] = ["os.system", [["Integer", "1"]]]
    path.write_text(json.dumps(data))
    assert pages(str(tmp_path)) == pages("off")
    path.write_text("{not json")
    assert pages(str(tmp_path)) == pages("off")


def test_an_unwritable_cache_folder_is_no_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert pages(str(blocker / "cache")) == pages("off")


def test_in_process_results_match_sympy(monkeypatch, tmp_path):
    monkeypatch.setenv("BACKPROP_CACHE_DIR", str(tmp_path))
    d = build_derivation(SEED, SEED_X, SEED_Y, Options())
    assert "σ₁(1 - σ₁)" in render(d, "rich", width=100)
