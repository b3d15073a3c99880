"""Malformed input of every kind: exit code 2, one line naming the problem, no traceback, nothing written.

Each case builds its files in a fresh folder, runs the command there and checks that the folder holds
exactly the files it had before (nothing written, no temporary file left behind).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from backprop_cli.cli import main
from tests.test_cli import SEED_SPEC

Case = Callable[[Path], list[str]]


def text(name: str, content: str | bytes) -> Case:
    """A case input: write ``content`` to ``name``; returns the file's path."""
    def make(folder: Path) -> str:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return str(path)
    return make


def spec(replace: str, by: str, name: str = "net.toml") -> Case:
    assert replace in SEED_SPEC
    return text(name, SEED_SPEC.replace(replace, by))


def numpy_file(name: str, **arrays: object) -> Case:
    def make(folder: Path) -> str:
        path = folder / name
        if name.endswith(".npz"):
            np.savez(path, **arrays)
        else:
            np.save(path, arrays["array"], allow_pickle=True)
        return str(path)
    return make


class Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def pickled_npy(folder: Path) -> str:
    path = folder / "evil.npy"
    np.save(path, np.array([Payload(str(folder / "MARKER"))], dtype=object), allow_pickle=True)
    return str(path)


def state_dict(name: str, make_tensors: Callable[[object], object], sidecar: str | None = None) -> Case:
    def make(folder: Path) -> str:
        torch = pytest.importorskip("torch")
        path = folder / name
        torch.save(make_tensors(torch), path)
        if sidecar is not None:
            path.with_suffix(".toml").write_text(sidecar)
        return str(path)
    return make


def linear_pair(torch):
    return {"0.weight": torch.ones(3, 2), "0.bias": torch.zeros(3),
            "2.weight": torch.ones(1, 3), "2.bias": torch.zeros(1)}


def evil_pt(torch):
    return {"0.weight": Payload("MARKER")}


def whole_model(torch):
    return torch.nn.Sequential(torch.nn.Linear(2, 1))


def convolution(torch):
    return {"0.weight": torch.ones(2, 1, 3, 3)}


def convolution3d(torch):
    return {"0.weight": torch.ones(2, 1, 3, 3, 3)}


def unchained(torch):
    return {"a.weight": torch.ones(3, 2), "b.weight": torch.ones(1, 2)}


def nan_tensor(torch):
    return {"weight": torch.tensor([[float("nan"), 1.0]])}


def checkpoint(torch):
    return {"model": linear_pair(torch), "epoch": 3}


# (id, arguments: strings or cases that make a file and return its path, expected part of the message)
CASES: list[tuple[str, list[str | Case], str]] = [
    # --- command-line options
    ("option without value", ["step", "--activation"], "Option '--activation' requires an argument"),
    ("data and x together", ["step", "--data", "xor", "--x", "1", "1", "--y", "0"],
     "give either --data or --x/--y"),
    ("y without x", ["step", "--y", "0"], "--y was given without --x"),
    ("network and layers", ["step", "--network", text("n.toml", SEED_SPEC), "--layers", "2", "1"],
     "give either --network FILE or --layers"),
    ("init without layers", ["step", "--init", "he"], "--init applies to random weights"),
    ("one width", ["step", "--layers", "2"], "give at least two widths"),
    ("network too large", ["step", "--layers", "2", "100000000", "1"], "at most 1,000,000 are allowed"),
    ("too many activations", ["step", "--activation", "tanh", "sigmoid", "relu"],
     "got 3 activations for 2 layers"),
    ("seed not a number", ["step", "--seed", "abc"], "'abc' is not a valid int"),
    ("unknown form", ["step", "--form", "diagonal"], "form: must be scalar, matrix or auto"),
    ("unknown language", ["step", "--lang", "xx"], "lang: unknown language 'xx'"),
    ("negative learning rate", ["step", "--lr", "-1"], "learning rate must be a positive number"),
    ("unknown init", ["step", "--layers", "2", "2", "1", "--init", "glorot"], "unknown initialisation 'glorot'"),
    ("unknown command", ["stpe"], "No such command 'stpe'. Did you mean 'step'?"),
    ("verify: inputs", ["verify", "--x", "1", "--y", "0"], "x: 1 values but the network has 2 inputs"),
    ("verify: format", ["verify", "--format", "markdown"], "unknown format 'markdown'; choose one of rich, json"),
    ("verify: precision", ["verify", "--precision", "99"], "precision: must be between 0 and 15"),
    ("verify: targets", ["verify", "--layers", "3", "1", "--targets", "0", "--data", text("d.csv", "1,2,3,4\n")],
     "targets: must be at least 1"),
    ("init: suffix", ["init", "out.yaml"], "init: out.yaml should end in .toml or .json"),
    ("init: exists", ["init", text("there.toml", SEED_SPEC)], "exists; use --force to overwrite it"),
    ("output: missing folder", ["step", "--output", "missing/out.md"], "the folder missing does not exist"),
    ("output: a folder", ["step", "--output", ".", "--format", "json"], "is a directory"),
    ("token ids not a number", ["step", "--token-ids", "nan", "1"], "token-ids: nan is not a token id"),
    ("token ids infinite", ["step", "--token-ids", "0", "inf"], "token-ids: inf is not a token id"),
    # --- spec files
    ("bad TOML", ["step", "--network", text("n.toml", "[[layers]\n")], "is not valid TOML"),
    ("misspelt top key", ["step", "--network", spec('loss = "bce"', 'los = "bce"')],
     "los: unknown key; did you mean 'loss'?"),
    ("misspelt layer key", ["step", "--network", spec('activation = "sigmoid"', 'activaton = "sigmoid"')],
     "layers[0].activaton: unknown key; did you mean 'activation'?"),
    ("misspelt data key", ["step", "--network", text("n.toml", SEED_SPEC + "[data]\nxs = [[1, 1]]\ny = [[0]]\n")],
     "data.xs: unknown key; did you mean 'x'?"),
    ("unknown key", ["step", "--network", text("n.toml", "colour = 1\n" + SEED_SPEC)], "colour: unknown key"),
    ("ragged weights", ["step", "--network", spec("[[-0.1725, 0.1129]]", "[[-0.1725, 0.1129], [0.5]]")],
     "layers[1].weight: row 2 has 1 values, row 1 has 2 (ragged)"),
    ("layers don't chain", ["step", "--network", text("n.json", json.dumps(
        {"layers": [{"weight": [[1, 2], [3, 4]]}, {"weight": [[1, 2, 3]]}]}))],
     "layers[1].weight: has 3 columns but the layer before has 2 units"),
    ("weight as text", ["step", "--network", spec("weight = [[-0.1725, 0.1129]]", 'weight = "0.5"')],
     "layers[1].weight: expected a list of rows"),
    ("weight as string number", ["step", "--network", spec("0.4835", '"0.4835"')],
     "layers[0].weight[1][1]: expected a number, got str '0.4835'"),
    ("freeze_bias as text", ["step", "--network", spec("bias = [-0.3043]", 'bias = [-0.3043]\nfreeze_bias = "yes"')],
     "layers[1].freeze_bias: expected true or false"),
    ("activation as number", ["step", "--network", spec('activation = "sigmoid"', "activation = 3")],
     "layers[0].activation: expected a name or a formula in x, got 3"),
    ("layers not tables", ["step", "--network", text("n.json", '{"layers": 5}')],
     "layers: the spec needs a [[layers]] table for each layer"),
    ("units without inputs", ["step", "--network", text("n.toml", "[[layers]]\nunits = 3\n")],
     "a first layer given by units needs the top-level inputs = N"),
    ("units and weight", ["step", "--network", spec("bias = [-0.3043]", "bias = [-0.3043]\nunits = 2")],
     "give either weight (explicit) or units (random), not both"),
    ("units with bias text", ["step", "--network", text("n.toml", 'inputs = 2\n[[layers]]\nunits = 1\nbias = "no"\n')],
     "layers[0].bias: with units, bias is true or false"),
    ("units zero", ["step", "--network", text("n.toml", "inputs = 2\n[[layers]]\nunits = 0\n")],
     "layers[0].units: expected a whole number of at least 1"),
    ("JSON list", ["step", "--network", text("n.json", "[1, 2]")], "must hold a table of keys"),
    ("JSON integer too long", ["step", "--network", text("n.json", '{"lr": ' + "9" * 5000 + "}")],
     "cannot be read (Exceeds the limit"),
    ("JSON nested deeply", ["step", "--network", text("n.json", "[" * 100000 + "]" * 100000)],
     "nests lists or tables too deeply"),
    ("TOML nested deeply", ["step", "--network", text("n.toml", "a = " + "[" * 100000 + "]" * 100000)],
     "nests lists or tables too deeply"),
    ("JSON infinity", ["step", "--network", text("n.json", '{"lr": 1e999, "layers": [{"weight": [[1, 1]]}]}')],
     "lr: inf is not a finite number"),
    ("spec not UTF-8", ["step", "--network", text("n.toml", b"loss = '\xff'\n")], "is not UTF-8 text"),
    ("spec is a folder", ["step", "--network", "sub.toml"], "is a directory, not a file"),
    ("momentum out of range", ["step", "--network", text("n.toml", 'optimizer = "momentum"\nmomentum = 1.5\n'
                                                              + SEED_SPEC.replace('loss = "bce"\n', ""))],
     "momentum: must be in [0, 1)"),
    ("unknown optimizer", ["step", "--network", text("n.toml", 'optimizer = "adagrad"\n'
                                                          + SEED_SPEC.replace('loss = "bce"\n', ""))],
     "unknown optimizer 'adagrad'"),
    ("ragged data", ["step", "--network", text("n.toml", SEED_SPEC + "[data]\nx = [[1, 1], [1]]\ny = [[0], [1]]\n")],
     "data.x: row 2 has 1 values, row 1 has 2"),
    # --- data files
    ("csv bad cell", ["step", "--data", text("d.csv", "1,2,0\n1,abc,1\n")],
     "sample 2, column 2: 'abc' is not a number"),
    ("csv typo in first row", ["step", "--data", text("d.csv", "1,2o,0\n")],
     "sample 1, column 2: '2o' is not a number"),
    ("csv column count", ["step", "--data", text("d.csv", "1,2,0\n1,2\n")], "sample 2 has 2 columns, the first has 3"),
    ("csv empty", ["step", "--data", text("d.csv", "\n\n")], "is empty"),
    ("csv header only", ["step", "--data", text("d.csv", "x1,x2,y\n")], "has a header but no samples"),
    ("csv not finite", ["step", "--data", text("d.csv", "1,inf,0\n")], "column 2: inf is not finite"),
    ("csv one column", ["step", "--data", text("d.csv", "1\n2\n")], "has 1 column(s); with 1 target column(s)"),
    ("csv NUL byte", ["step", "--data", text("d.csv", "1,2\x00,0\n")], "is not a number"),
    ("csv not UTF-8", ["step", "--data", text("d.csv", b"1,\xff,0\n")], "is not UTF-8 text"),
    ("csv wrong width for network", ["step", "--data", text("d.csv", "1,2,3,0\n")],
     "x: 3 values but the network has 2 inputs"),
    ("data missing", ["step", "--data", "nothing.csv"], "nothing.csv does not exist"),
    ("data suffix", ["step", "--data", text("d.txt", "1,1,0\n")], "should be xor, and, or, or a file ending in"),
    ("npz without y", ["step", "--data", numpy_file("d.npz", x=np.ones((2, 2)))], "missing y"),
    ("npz object arrays", ["step", "--data", numpy_file("d.npz", x=np.array([[1, 2]], dtype=object), y=np.ones(1))],
     "holds pickled (object) arrays, which are never loaded"),
    ("npz text arrays", ["step", "--data", numpy_file("d.npz", x=np.array([["a", "b"]]), y=np.ones(1))],
     "x holds <U1 values, not real numbers"),
    ("npz lengths differ", ["step", "--data", numpy_file("d.npz", x=np.ones((3, 2)), y=np.ones(2))],
     "x and y must be 2-D with one row per sample"),
    ("npz no samples", ["step", "--data", numpy_file("d.npz", x=np.ones((0, 2)), y=np.ones((0, 1)))],
     "holds no samples"),
    ("npy one dimension", ["step", "--data", numpy_file("d.npy", array=np.ones(3))], "must hold a 2-D array"),
    ("npy not finite", ["step", "--data", numpy_file("d.npy", array=np.array([[1.0, np.nan, 0.0]]))],
     "holds values that are not finite"),
    ("npy pickled payload", ["step", "--data", pickled_npy], "holds pickled (object) arrays, which are never loaded"),
    ("npz truncated", ["step", "--data", text("d.npz", b"PK\x03\x04broken")], "is not a readable numpy file"),
    ("npy empty", ["step", "--data", text("d.npy", b"")], "is not a .npy or .npz file"),
    ("npy raw pickle", ["step", "--data", text("d.npy", pickle.dumps([1, 2]))],
     "it looks like a pickle, which is never loaded"),
    # --- formulas
    ("formula attribute", ["step", "--activation", "x.__class__"], "attributes (a.b) are not accepted"),
    ("formula import", ["step", "--activation", "__import__('os').system('true')"], "is not an accepted function"),
    ("formula lambda", ["step", "--activation", "lambda x: x"], "lambdas are not accepted"),
    ("formula huge exponent", ["step", "--activation", "x**1000"], "a constant exponent must be a plain number"),
    ("formula 1/0", ["step", "--activation", "1/0+x"], "is not a finite real number"),
    ("formula overflow", ["step", "--activation", "cos(cosh(1e11))*x"], "is not a finite real number in float64"),
    ("formula caret", ["step", "--activation", "x^2"], "(for a power write **, e.g. x**2)"),
    ("formula walrus", ["step", "--activation", "(y := x)"], "assignments (:=) are not accepted"),
    ("formula in spec", ["step", "--network", spec('activation = "sigmoid"', "activation = 'x[0]'")],
     "layers[0].activation: in 'x[0]', subscripts (a[i]) are not accepted"),
    ("formula not real there", ["step", "--activation", "log(x-5)"], "a₁ comes out as nan"),
    # --- .pt files
    ("pt payload", ["step", "--network", state_dict("m.pt", evil_pt)], "carries a pickle payload"),
    ("pt whole model", ["step", "--network", state_dict("m.pt", whole_model)], "holds a whole pickled model"),
    ("pt garbage", ["step", "--network", text("m.pt", b"not a torch file")], "torch's safe loader accepts"),
    ("pt truncated zip", ["step", "--network", text("m.pt", b"PK\x03\x04broken")], "is not a file torch.save wrote"),
    ("pt convolution", ["step", "--network", state_dict("m.pt", convolution)],
     "conv2d needs the shape of each sample; give input_shape = [C, H, W] in m.toml beside m.pt"),
    ("pt convolution 3d", ["step", "--network", state_dict("m.pt", convolution3d)],
     "0.weight (2, 1, 3, 3, 3): no layer kind read from .pt files has these"),
    ("pt unchained", ["step", "--network", state_dict("m.pt", unchained)],
     "b.weight takes 2 inputs but a.weight has 3 units; the layers do not chain"),
    ("pt not finite", ["step", "--network", state_dict("m.pt", nan_tensor)], "weight holds values that are not finite"),
    ("pt checkpoint", ["step", "--network", state_dict("m.pt", checkpoint)], "'model' holds a dict, not a tensor"),
    ("pt sidecar count", ["step", "--network", state_dict("m.pt", linear_pair, "[[layers]]\n")],
     "has 1 [[layers]] tables for layers with parameters but m.pt has 2 (dense, dense)"),
    ("pt sidecar weight", ["step", "--network", state_dict("m.pt", linear_pair,
                                                           "[[layers]]\nweight = [[1.0]]\n[[layers]]\n")],
     "layers[0].weight: the weights come from m.pt"),
    ("pt missing", ["step", "--network", "none.pt"], "none.pt does not exist"),
    # --- train: the report and --save, refused before training starts
    ("train: report suffix", ["train", "--output", "report.pdf"],
     "output: cannot tell the format of report.pdf; use .md, .markdown, .tex, .html, .htm, .json, .txt or --format"),
    ("train: report format", ["train", "--format", "pdf", "--output", "report.md"], "unknown format 'pdf'"),
    ("train: report language", ["train", "--lang", "xx", "--output", "report.tex"], "lang: unknown language 'xx'"),
    ("train: report folder missing", ["train", "--output", "missing/report.html"], "the folder missing does not exist"),
    ("train: report exists", ["train", "--output", text("report.html", "<p>mine</p>")],
     "exists; use --force to overwrite it"),
    ("train: plot exists", ["train", "--output", "report.md", "--plot", text("loss.svg", "<svg/>")],
     "loss.svg exists; use --force to overwrite it"),
    ("train: save exists", ["train", "--save", text("net.toml", SEED_SPEC)], "net.toml exists; use --force"),
    ("train: save folder missing", ["train", "--save", "missing/net.toml"], "the folder missing does not exist"),
    ("train: save suffix", ["train", "--save", "net.yaml"], "save: net.yaml should end in .toml or .json"),
    ("train: schedule overflows", ["train", "--schedule", "exponential:gamma=1e300", "--epochs", "3",
                                   "--output", "report.md"],
     "schedule: the learning rate of epoch 3 overflows float64"),
    ("train: schedule key twice", ["train", "--schedule", "step:step_size=2,step_size=3", "--epochs", "3"],
     "schedule: step_size is given twice"),
    ("train: sgd with --momentum", ["train", "--momentum", "0.5", "--save", "net.toml"],
     "momentum: --optimizer sgd takes no --momentum (it reads --weight-decay); --momentum is a setting of"
     " momentum, rmsprop, e.g. --optimizer momentum --momentum 0.5"),
    ("step: adam with --centered", ["step", "--optimizer", "adam", "--centered", "--output", "page.md"],
     "--centered is a setting of rmsprop, e.g. --optimizer rmsprop --centered"),
    ("exercise: momentum with --beta1", ["exercise", "--optimizer", "momentum", "--beta1", "0.8"],
     "beta1: --optimizer momentum takes no --beta1"),
    ("train: --patience without --early-stop", ["train", "--patience", "5", "--save", "net.toml"],
     "patience: --patience counts epochs for --early-stop; add --early-stop DELTA"),
    ("train: --targets with a built-in data set", ["train", "--data", "xor", "--targets", "2", "--save", "n.toml"],
     "targets: --targets K splits the columns of a .csv or .npy file given with --data; --data xor holds the"
     " targets apart from the inputs, so leave --targets out"),
    ("step: --targets with --x and --y", ["step", "--x", "1", "1", "--y", "0", "--targets", "1"],
     "these samples hold the targets apart"),
]


def snapshot(folder: Path) -> dict[Path, bytes | None]:
    """Every path under ``folder`` with its contents (None for a folder): a file rewritten shows too."""
    return {path: None if path.is_dir() else path.read_bytes() for path in folder.rglob("*")}


def build(folder: Path, arguments: list[str | Case]) -> list[str]:
    (folder / "sub.toml").mkdir()
    return [a if isinstance(a, str) else a(folder) for a in arguments]


@pytest.mark.parametrize(("arguments", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, monkeypatch, capsys, arguments, expected):
    monkeypatch.chdir(tmp_path)
    args = build(tmp_path, arguments)
    before = snapshot(tmp_path)
    code = main(args)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert snapshot(tmp_path) == before  # nothing written or rewritten, no temporary file left
    assert not (tmp_path / "MARKER").exists()


def test_the_suite_is_large_and_names_each_case_once():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name", ["csv bad cell", "JSON nested deeply", "formula import", "pt payload",
                                  "npy pickled payload", "verify: inputs", "train: save exists"])
def test_bad_input_in_a_fresh_process(tmp_path, name):
    """The same, end to end: stderr is exactly one line (no warnings, no traceback)."""
    arguments, expected = next(c[1:] for c in CASES if c[0] == name)
    args = build(tmp_path, arguments)
    before = snapshot(tmp_path)
    result = subprocess.run([sys.executable, "-m", "backprop_cli", *args], capture_output=True, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
    assert result.stdout == ""
    assert snapshot(tmp_path) == before
