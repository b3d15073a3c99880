"""Numbers as the page prints them: enough significant digits for a hand check at every magnitude."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from backprop_cli.printing import format_number

SIGNIFICANT = 3
"""The fewest significant digits any printed number may have."""


def significant_digits(text: str) -> int:
    mantissa = text.split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mantissa)


@given(st.floats(-1e5, 1e5, allow_nan=False, allow_subnormal=False).filter(lambda v: v != int(v)),
       st.integers(1, 8))
def test_every_number_keeps_its_significant_digits(value, precision):
    text = format_number(value, precision)
    assert significant_digits(text) >= min(SIGNIFICANT, precision), text
    digits = min(SIGNIFICANT, precision)
    assert math.isclose(float(text), value, rel_tol=0.5 * 10.0 ** (1 - digits) + 1e-12), (value, text)


def test_adams_second_moment_is_not_rounded_away():
    """v̂ = 2.6e-4 printed 0.0003 at 4 decimals: 15% off, enough to break a hand check of the update."""
    assert format_number(2.6316e-4, 4) == "2.6316e-4"
    assert format_number(2.6316e-4, 4, latex=True) == r"2.6316 \times 10^{-4}"


def test_a_training_history_tells_small_losses_apart():
    """0.000107, 0.000071 and 0.000053 all printed 0.0001, next to 4.2495e-5."""
    printed = [format_number(v, 4) for v in (0.000107, 0.000071, 0.000053, 4.2495e-5)]
    assert printed == ["1.0700e-4", "7.1000e-5", "5.3000e-5", "4.2495e-5"]


def test_ordinary_values_keep_fixed_decimals():
    assert [format_number(v, 4) for v in (0.0439, -0.0162, 0.6478, 12.5)] == ["0.0439", "-0.0162", "0.6478",
                                                                             "12.5000"]
