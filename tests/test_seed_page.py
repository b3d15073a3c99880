"""The seed page's figures (/work/shared/seed, a 2-2-1 sigmoid network with bce, worked by hand).

Where the seed slips (docs/notation.md says so), the page prints the correct figure.
"""

from __future__ import annotations

import math

from backprop_cli.cli import main


def seed_page(capsys, *args: str) -> str:
    assert main(["step", "--format", "markdown", *args]) == 0
    return capsys.readouterr().out


def test_z2_adds_the_positive_bias_the_seed_writes_with_a_minus(capsys):
    # The seed: "0.1951 × 1 + 0.4835 × 1 - 0.0439 = 0.7225"; b₂ = +0.0439 and the sum is 0.7225.
    assert abs(0.1951 + 0.4835 + 0.0439 - 0.7225) < 1e-12
    page = seed_page(capsys)
    assert r"0.1951 \times 1 + 0.4835 \times 1 + 0.0439 = 0.7225" in page


def test_z3_uses_sigma2_as_computed_where_the_seed_writes_0_6731(capsys):
    sigma2 = 1 / (1 + math.exp(-(0.1951 + 0.4835 + 0.0439)))
    assert f"{sigma2:.4f}" == "0.6732"
    page = seed_page(capsys)
    assert r"0.1129 \times 0.6732" in page and "0.6731" not in page
