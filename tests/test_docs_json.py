"""docs/json.md's example is what ``backprop step --format json`` prints, and its table names every key."""

from __future__ import annotations

import json
import re
from pathlib import Path

from backprop_cli.cli import main

DOC = (Path(__file__).parents[1] / "docs" / "json.md").read_text(encoding="utf-8")


def seed_json(capsys) -> dict:
    assert main(["step", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_example_is_the_seed_steps_json(capsys):
    example = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert example
    # The example shows the first layer and elides the rest with "…".
    shown = json.loads(re.sub(r",\s*…", "", example.group(1)))
    real = seed_json(capsys)
    assert list(shown) == list(real)
    for key in ("loss", "loss_after", "output"):
        assert shown[key] == real[key], key
    assert shown["layers"] == real["layers"][:1]


def test_the_table_names_every_key_of_the_output(capsys):
    real = seed_json(capsys)
    documented = set(re.findall(r"`(?:layers\[i\]\.)?(\w+)`", DOC))
    assert set(real) <= documented, set(real) - documented
    for layer in real["layers"]:
        assert set(layer) <= documented, set(layer) - documented
