"""README's ``backprop step`` examples run as a newcomer types them: in order, in one empty folder."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from backprop_cli.cli import main

README = Path(__file__).parents[1] / "README.md"


def step_commands() -> list[str]:
    section = README.read_text(encoding="utf-8").split("## backprop step", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
    assert block
    return [line for line in block.group(1).splitlines() if line.startswith("backprop ")]


def test_step_examples_run_in_order_in_an_empty_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    commands = step_commands()
    assert any("--network" in command for command in commands)
    for command in commands:
        assert main(shlex.split(command, comments=True)[1:]) == 0, (command, capsys.readouterr().err)
    assert (tmp_path / "step.md").stat().st_size > 500
