"""The command line: parsing as typed, outputs, and every bad input of the step issue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from backprop_cli.cli import join_values, main

SEED_SPEC = """
loss = "bce"
lr = 1.0
[[layers]]
weight = [[0.4352, 0.3545], [0.1951, 0.4835]]
bias = [-0.1419, 0.0439]
activation = "sigmoid"
[[layers]]
weight = [[-0.1725, 0.1129]]
bias = [-0.3043]
"""


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_join_values_takes_several_numbers_negative_ones_too():
    assert join_values(["step", "--x", "1", "-1.5", "--y", "0"]) == ["step", "--x=1 -1.5", "--y=0"]
    assert join_values(["step", "--x", "1", "1", "--x", "0", "1", "--y", "0", "--y", "1"]) == [
        "step", "--x=1 1", "--x=0 1", "--y=0", "--y=1"]
    assert join_values(["step", "--layers", "2", "3", "1", "--lr", "0.5"]) == [
        "step", "--layers=2 3 1", "--lr", "0.5"]
    assert join_values(["step", "--activation", "tanh", "sigmoid"]) == [
        "step", "--activation=tanh", "--activation=sigmoid"]
    assert join_values(["step", "--x=-1", "2", "--y", "1e-3"]) == ["step", "--x=-1 2", "--y=1e-3"]
    assert join_values(["step", "--activation", "tanh", "x/(1+abs(x))", "--x", "1"]) == [
        "step", "--activation=tanh", "--activation=x/(1+abs(x))", "--x=1"]
    assert join_values(["init", "--activation", "-x*sigmoid(x)", "xor.toml"]) == [
        "init", "--activation=-x*sigmoid(x)", "xor.toml"]


def test_step_json_parses_as_typed(capsys):
    code, out, err = run(["step", "--x", "1", "-1", "--y", "1", "--format", "json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["layers"][0]["z"][0][0] == pytest.approx(0.4352 - 0.3545 - 0.1419)


def test_default_page_has_the_seed_figures(capsys):
    code, out, _ = run(["step"], capsys)
    assert code == 0
    for figure in ("0.6478", "0.7225", "0.6565", "0.6732", "-0.3415", "0.4154", "0.5369"):
        assert figure in out
    code, out, _ = run(["step", "--rounding", "carry"], capsys)
    assert "= 0.5368" in out


def test_output_markdown_is_written_and_not_overwritten(tmp_path, capsys):
    target = tmp_path / "step.md"
    code, _, err = run(["step", "--output", str(target)], capsys)
    assert code == 0, err
    text = target.read_text()
    assert text.startswith("# ")
    assert "$$" in text
    code, _, err = run(["step", "--output", str(target)], capsys)
    assert code == 2 and "exists" in err and "--force" in err
    code, _, err = run(["step", "--output", str(target), "--force", "--precision", "2"], capsys)
    assert code == 0
    assert "0.65" in target.read_text()


def test_init_writes_a_spec_that_step_reads_back(tmp_path, capsys):
    spec = tmp_path / "net.toml"
    code, _, err = run(["init", str(spec), "--layers", "2", "3", "1", "--seed", "4", "--x", "1", "0",
                        "--y", "1"], capsys)
    assert code == 0, err
    code, out, err = run(["step", "--network", str(spec), "--format", "json"], capsys)
    assert code == 0, err
    assert len(json.loads(out)["layers"][0]["weight"]) == 3
    code, _, err = run(["init", str(spec)], capsys)
    assert code == 2 and "exists" in err


def _bad_inputs(tmp: Path) -> list[tuple[list[str], str]]:
    def spec(name: str, text: str) -> str:
        path = tmp / name
        path.write_text(text)
        return str(path)

    return [
        (["step", "--x", "1", "--y", "0"], "x: 1 values but the network has 2 inputs"),
        (["step", "--x", "1", "1", "--y", "0", "1"], "y: 2 values but the network has 1 outputs"),
        (["step", "--x", "1", "1", "--y", "2"], "outside [0, 1]"),
        (["step", "--activation", "sigmoidd"], "'sigmoidd'"),
        (["step", "--loss", "hinge"], "unknown loss 'hinge'"),
        (["step", "--x", "1", "a", "--y", "0"], "'a' is not a number"),
        (["step", "--x", "nan", "1", "--y", "0"], "not a finite number"),
        (["step", "--x", "1", "1", "--y", "inf"], "not a finite number"),
        (["step", "--lr", "0"], "learning rate must be a positive number"),
        (["step", "--lr", "fast"], "fast"),
        (["step", "--precision", "40"], "precision"),
        (["step", "--rounding", "round"], "rounding"),
        (["step", "--format", "pdf"], "unknown format 'pdf'"),
        (["step", "--output", str(tmp / "out.xyz")], "cannot tell the format"),
        (["step", "--layers", "2", "0", "1"], "layers"),
        (["step", "--layers", "2", "1.5", "1"], "whole number"),
        (["step", "--x", "1", "1"], "--x was given without --y"),
        (["step", "--activation", "identity"], "bce needs predictions in [0, 1]"),
        (["step", "--loss", "cross_entropy"], "cross_entropy needs"),
        (["step", "--activation", "softmax"], "softmax is for the output layer only"),
        (["step", "--network", str(tmp / "missing.toml")], "does not exist"),
        (["step", "--network", spec("bad.toml", "loss = \n")], "not valid TOML"),
        (["step", "--network", spec("bad.json", "{\"loss\": }")], "not valid JSON"),
        (["step", "--network", spec("ragged.toml", SEED_SPEC.replace("[0.1951, 0.4835]", "[0.1951]"))],
         "layers[0].weight: row 2 has 1 values, row 1 has 2"),
        (["step", "--network", spec("chain.toml", SEED_SPEC.replace("[[-0.1725, 0.1129]]", "[[-0.1725]]"))],
         "layers[1].weight: has 1 columns but the layer before has 2 units"),
        (["step", "--network", spec("bias.toml", SEED_SPEC.replace("[-0.3043]", "[-0.3043, 1.0]"))],
         "layers[1].bias: has 2 values but the layer has 1 units"),
        (["step", "--network", spec("key.toml", SEED_SPEC.replace("bias = [-0.3043]", "biass = [-0.3043]"))],
         "layers[1].biass: unknown key; did you mean 'bias'?"),
        (["step", "--network", spec("type.toml", SEED_SPEC.replace("lr = 1.0", "lr = \"fast\""))],
         "lr: expected a number"),
        (["step", "--network", spec("nan.toml", SEED_SPEC.replace("-0.3043", "nan"))], "not a finite number"),
        (["step", "--network", spec("act.toml", SEED_SPEC.replace('activation = "sigmoid"', 'activation = "sigmod"'))],
         "layers[0].activation"),
        (["step", "--network", spec("empty.toml", "")], "layers"),
        (["step", "--network", spec("net.yaml", "")], "should end in .toml, .json or .pt"),
        (["step", "--bogus"], "unknown option --bogus"),
    ]


def test_every_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    problems = []
    for args, expected in _bad_inputs(tmp_path):
        output = tmp_path / "never.md"
        extra = [] if "--output" in args or "--format" in args else ["--output", str(output)]
        code, out, err = run(args + extra, capsys)
        lines = err.strip().splitlines()
        if not (code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
                and expected in lines[0] and "Traceback" not in err + out and not output.exists()):
            problems.append((args, code, err, expected))
    assert not problems, "\n".join(map(repr, problems))


def test_bad_input_end_to_end_in_a_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "backprop_cli", "step", "--x", "1", "--y", "0"],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: x: 1 values but the network has 2 inputs"
    assert result.stdout == ""


def test_step_never_imports_torch_or_numpy():
    code = ("import sys, io, contextlib\nfrom backprop_cli.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['step'])\n"
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_help_does_not_import_sympy():
    code = ("import sys, io, contextlib\nfrom backprop_cli.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])\n"
            "print('sympy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
