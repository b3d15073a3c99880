"""The page's header as a textbook writes it: which activation each layer has, and the given
numbers as given (x = (0.5, -1), α = 0.1 beside μ = 0.9), in every format."""

from __future__ import annotations

import pytest

from backprop_cli.cli import main

FORMATS = ["rich", "markdown", "latex", "html"]


def page(capsys, *args: str) -> str:
    assert main(["step", *args]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_layer_says_its_activation_where_they_differ(capsys, fmt) -> None:
    text = page(capsys, "--layers", "5", "4", "3", "1", "--activation", "relu", "relu", "sigmoid",
                "--x", "0.5", "-1", "0", "1", "2", "--y", "1", "-f", fmt)
    assert "5 → 4 relu → 3 relu → 1 sigmoid" in text.replace(r"\ensuremath{\to}", "→")
    assert "2 → 2 → 1, sigmoid" in page(capsys, "-f", fmt).replace(r"\ensuremath{\to}", "→")


@pytest.mark.parametrize("fmt", FORMATS)
def test_given_numbers_are_written_as_given(capsys, fmt) -> None:
    text = page(capsys, "--layers", "2", "2", "1", "--x", "0.5", "-1", "--y", "0.25", "--loss", "mse",
                "--optimizer", "momentum", "--lr", "0.1", "-f", fmt)
    flat = text.replace(r"\ensuremath{\alpha}", "α").replace(r"\ensuremath{\mu}", "μ").replace("−", "-")
    assert "x = (0.5, -1), y = (0.25)" in flat
    assert "0.5000, -1" not in flat and "α = 0.1000" not in flat
    assert "α = 0.1" in flat and "μ = 0.9" in flat
