"""The command line's contract under fuzzing: any argv, any spec or data file.

Asserted for every drawn input: exit code 0 or 2 (1 only for verify's mismatch), never a
traceback or an internal error; on exit code 2 exactly one line, ``error: …``, and the folder
exactly as it was (nothing written, no temporary file left); each run within a time bound.

The examples drawn follow the hypothesis profile (tests/conftest.py): ``ci`` (the default) runs a
short round; ``HYPOTHESIS_PROFILE=stress`` (``HYPOTHESIS_EXAMPLES=N``, default 3000) a long one.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from backprop_cli.cli import main

EXAMPLES = max(10, hypothesis_settings.default.max_examples // 6)
"""Each example runs a whole command (a derivation, a short training): a sixth of the profile's count."""
SECONDS = 60.0
"""The bound on one command (the largest drawn network and data take well under a second)."""

FUZZ = hypothesis_settings(max_examples=EXAMPLES, deadline=None,
                           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SPEC = {"loss": "mse", "lr": 0.5, "layers": [{"weight": [[0.1, -0.2], [0.3, 0.4]], "bias": [0.0, 0.1]},
                                             {"weight": [[0.5, -0.5]], "bias": [0.2], "activation": "sigmoid"}],
        "data": {"x": [[1, 0]], "y": [[1]]}}


def prepare(folder: Path) -> None:
    """The files a drawn argv may name: good ones, bad ones, a FIFO, links to a device and nowhere."""
    (folder / "net.json").write_text(json.dumps(SPEC))
    (folder / "net.toml").write_text(
        'loss = "bce"\ninputs = 2\nseed = 1\n[[layers]]\nunits = 2\n[[layers]]\nunits = 1\n')
    (folder / "dup.json").write_text('{"lr": 1, "lr": 2}')
    (folder / "data.csv").write_text("x1,x2,y\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n")
    (folder / "bad.csv").write_text('1,"2\n3",0\n')
    (folder / "old.md").write_text("keep me")
    os.mkfifo(folder / "pipe.csv")
    (folder / "null.md").symlink_to("/dev/null")
    (folder / "zero.json").symlink_to("/dev/zero")
    (folder / "nowhere.md").symlink_to("missing.md")


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes | None]]:
    out = {}
    for path in folder.iterdir():
        info = path.lstat()
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        out[path.name] = (info.st_mode, info.st_size, content)
    return out


def check_contract(args: list[str], files: dict[str, str] | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="backprop-fuzz-") as name:
        folder = Path(name)
        prepare(folder)
        for file_name, content in (files or {}).items():
            (folder / file_name).write_text(content)
        before = snapshot(folder)
        out, err = io.StringIO(), io.StringIO()
        cwd = os.getcwd()
        os.chdir(folder)
        start = time.monotonic()
        try:
            with redirect_stdout(out), redirect_stderr(err):
                code = main(list(args))
        finally:
            os.chdir(cwd)
        seconds = time.monotonic() - start
        message = err.getvalue()
        where = f"argv {args!r}: exit {code}, stderr {message!r}"
        assert seconds < SECONDS, where
        assert "Traceback" not in message and "internal error" not in message, where
        allowed = {0, 2} | ({1} if args and args[0] == "verify" else set())
        assert code in allowed, where
        if code == 2:
            lines = message.splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), where
            assert snapshot(folder) == before, where
        assert (folder / "pipe.csv").is_fifo() and os.readlink(folder / "null.md") == "/dev/null", where


WORDS = ["", " ", "0", "1", "-1", "2", "3", "0.5", "-0.25", "1e308", "-1e308", "1e-320", "inf", "-inf", "nan",
         "²", "٣", "１", "9" * 40, "1,2", "2 2 1", "2 3 1", "1 1", "0 1", "100000000",
         "sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax", "ｓｉｇｍｏｉｄ", "sigmiod",
         "x*x", "x/(1+abs(x))", "sqrt(x)", "x**64", "1/(((x+1)**16+1)**16+1)", "__import__('os')", "x.__class__",
         "bce", "mse", "sse", "half_sse", "cross_entropy", "sgd", "momentum", "adam", "xavier", "he", "uniform",
         "xor", "and", "or", "net.json", "net.toml", "dup.json", "zero.json", "missing.json", "data.csv",
         "bad.csv", "pipe.csv", "old.md", "null.md", "nowhere.md", "out.md", "out.json", "out.tex", "g.dot",
         "save.toml", "auto", "scalar", "matrix", "json", "markdown", "latex", "html", "rich", "carry", "exact",
         "en", "ko", "numpy", "compiled", "torch", "cpu", "cuda", "cuda:x", "float32", "float128", "1,100"]
OPTIONS = ["--layers", "--activation", "--loss", "--lr", "--seed", "--init", "--optimizer", "--momentum",
           "--beta1", "--x", "--y", "--data", "--network", "--targets", "--form", "--format", "--output",
           "--precision", "--rounding", "--lang", "--graph", "--epochs", "--batch-size", "--backend", "--dtype",
           "--device", "--log-every", "--show-steps", "--save"]
FLAGS = ["--force", "--shuffle", "--tree", "--verbose", "--unknown", "-h"]

values = st.one_of(st.sampled_from(WORDS), st.text(max_size=6))
option = st.one_of(st.tuples(st.sampled_from(OPTIONS), values).map(list),
                   st.tuples(st.sampled_from(OPTIONS), values, values).map(list),
                   st.sampled_from(FLAGS).map(lambda flag: [flag]))


@FUZZ
@given(command=st.sampled_from(["step", "train", "verify", "init"]), parts=st.lists(option, max_size=5))
def test_any_argv_keeps_the_contract(command, parts):
    args = [command] + [token for part in parts for token in part]
    if command == "train" and "--epochs" not in args:
        args += ["--epochs", "3"]
    if command == "init" and not any(a.endswith((".toml", ".json")) for a in args[1:2]):
        args.insert(1, "new.toml")
    check_contract(args)


PLAUSIBLE = {
    "--layers": ["2 2 1", "2 3 1", "2 1", "2 4 2"], "--activation": ["tanh", "relu", "leaky_relu", "identity",
    "softmax", "x*x", "sqrt(x)", "sqrt(x**2)", "x/(1+abs(x))", "x*sigmoid(x)", "1/(((x+1)**16+1)**16+1)",
    "log(x)", "max(x, 0.5)"],
    "--loss": ["bce", "mse", "sse", "half_sse", "cross_entropy"], "--lr": ["0.1", "1", "100", "1e300"],
    "--x": ["1 1", "0 1", "1e300 1", "-1e-300 0"], "--y": ["0", "1", "0 1", "0.5"],
    "--data": ["xor", "and", "data.csv"], "--form": ["auto", "scalar", "matrix"],
    "--format": ["json", "markdown", "latex", "html"], "--precision": ["0", "4", "15"],
    "--optimizer": ["sgd", "momentum", "adam"], "--epochs": ["1", "3", "20"], "--seed": ["0", "1", "7"],
    "--backend": ["auto", "numpy", "compiled"], "--output": ["out.md", "out.json", "old.md", "nowhere.md"],
    "--init": ["xavier", "he", "uniform"], "--rounding": ["exact", "carry"], "--lang": ["en", "ko"],
}
plausible = st.sampled_from(sorted(PLAUSIBLE)).flatmap(
    lambda name: st.sampled_from(PLAUSIBLE[name]).map(lambda value: [name, *value.split()]))


@FUZZ
@given(command=st.sampled_from(["step", "train", "verify"]),
       parts=st.lists(st.one_of(plausible, plausible, st.sampled_from(FLAGS[:4]).map(lambda f: [f])), max_size=4))
def test_plausible_argv_keeps_the_contract(command, parts):
    """Options with values of the right kind, so that most runs reach the real work."""
    args = [command] + [token for part in parts for token in part]
    if command == "train" and "--epochs" not in args:
        args += ["--epochs", "3"]
    check_contract(args)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
              st.sampled_from(["sigmoid", "mse", "bce", "x*x", "sgd", "adam", "", "ｓｉｇｍｏｉｄ"])),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(["weight", "bias", "units", "activation", "x", "y"]),
                                               children, max_size=4)),
    max_leaves=20)
spec_documents = st.dictionaries(
    st.sampled_from(["loss", "lr", "optimizer", "layers", "data", "inputs", "seed", "init", "momentum", "lr "]),
    json_values, max_size=6)


@FUZZ
@given(document=spec_documents, duplicate=st.booleans())
def test_any_spec_file_keeps_the_contract(document, duplicate):
    text = json.dumps(document)
    if duplicate and document:
        key = next(iter(document))
        text = text[:-1] + f', {json.dumps(key)}: {json.dumps(document[key])}}}'
    check_contract(["step", "--network", "fuzz.json", "--format", "json"], {"fuzz.json": text})


cells = st.one_of(st.sampled_from(["0", "1", "-1", "0.5", "1e308", "inf", "nan", "", "x", '"1\n2"', "１", "²"]),
                  st.floats(allow_nan=False, allow_infinity=False).map(repr))
csv_texts = st.lists(st.lists(cells, min_size=1, max_size=4).map(",".join), max_size=6).map("\n".join)


@FUZZ
@given(text=csv_texts, command=st.sampled_from(["step", "train", "verify"]))
def test_any_data_file_keeps_the_contract(text, command):
    args = [command, "--data", "fuzz.csv", "--layers", "2", "2", "1"]
    if command == "train":
        args += ["--epochs", "3"]
    check_contract(args, {"fuzz.csv": text})
