"""The commands README.md shows in its Exports section run, as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from backprop_cli.cli import main

README = Path(__file__).parents[1] / "README.md"


def exports_commands() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Exports", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.startswith("backprop ")]


@pytest.mark.parametrize("command", exports_commands())
def test_exports_command_runs(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = shlex.split(command)[1:]
    assert main(args) == 0, capsys.readouterr().err
    for flag in ("--output", "--graph"):
        if flag in args:
            assert (tmp_path / args[args.index(flag) + 1]).stat().st_size > 500


def test_python_example_runs():
    section = README.read_text(encoding="utf-8").split("## Exports", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert code
    namespace: dict[str, object] = {}
    exec(code.group(1), namespace)
    assert namespace["step"].loss > 0  # type: ignore[attr-defined]


def test_pytorch_example_runs():
    """README's "From PyTorch and back" example, as written."""
    pytest.importorskip("torch")
    section = README.read_text(encoding="utf-8").split("## From PyTorch and back", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert code
    namespace: dict[str, object] = {}
    exec(code.group(1), namespace)
    assert round(namespace["step"].loss, 4) > 0  # type: ignore[attr-defined]
    assert namespace["net"].widths == (2, 2, 1)  # type: ignore[attr-defined]


def test_readme_transcripts_and_the_xor_page_are_what_the_commands_print():
    """Every ``$ backprop …`` transcript in README.md, and docs/xor.md, as the commands print them
    now (timings and other run-to-run numbers masked); docs/make_readme.py --write updates them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_readme", Path(__file__).parents[1] / "docs" / "make_readme.py")
    assert spec and spec.loader
    make_readme = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_readme)
    readme, xor = make_readme.regenerate()
    assert make_readme.mask(README.read_text(encoding="utf-8")) == make_readme.mask(readme)
    assert make_readme.mask(make_readme.XOR.read_text(encoding="utf-8")) == make_readme.mask(xor)
    assert make_readme.EXERCISE.read_text(encoding="utf-8") == make_readme.exercise_page()
