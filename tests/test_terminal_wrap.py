"""A terminal line wrapped at the page width keeps every term and every space between terms."""

from __future__ import annotations

import io
import re

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from backprop_cli.render.terminal import Equation

terms = st.lists(st.tuples(st.sampled_from([" + ", " - "]),
                            st.floats(-10, 10, allow_nan=False).map(lambda v: f"{v:.4f} × ({-v / 3:.4f})")),
                 min_size=2, max_size=12)


def rendered(parts: list[tuple[str, str]], width: int) -> str:
    buffer = io.StringIO()
    Console(width=width, file=buffer, color_system=None, force_terminal=False).print(Equation(parts))
    return buffer.getvalue()


@given(terms, st.integers(50, 120))
def test_wrapped_sums_keep_their_spaces(pieces, width):
    side = pieces[0][1] + "".join(sign + term for sign, term in pieces[1:])
    page = rendered([("∂𝓛/∂W⁽¹⁾", ""), (side, ""), ("0.1234", "")], width)
    assert max(len(line) for line in page.splitlines()) <= width
    joined = " ".join(line.strip() for line in page.splitlines())
    assert re.sub(r"\s+", " ", joined) == f"∂𝓛/∂W⁽¹⁾ = {side} = 0.1234"


def test_a_sum_cut_into_pieces_on_one_line_keeps_the_space_before_plus():
    """Seen at 80 columns: ``-0.4000 × (-0.1974)+ 0.5000 × …``."""
    side = " + ".join(["-0.4000 × (-0.1974)"] * 2 + ["0.5000 × (0.1234)"] * 4)
    page = rendered([("z", ""), (side, "")], 80)
    assert ")+" not in page and ") +" in page



def test_a_note_wrapped_at_the_page_width_keeps_its_indent():
    """A step's note under a line of the page wraps under itself, not at the panel's edge."""
    from pathlib import Path

    import backprop_cli
    from backprop_cli.render.terminal import page_renderable, plain_text

    lenet = Path(__file__).parent.parent / "docs" / "examples" / "lenet.toml"
    page = plain_text(page_renderable(backprop_cli.derive(str(lenet), form="scalar")), width=80)
    lines = page.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("│     the largest value")]
    assert starts, "the max pooling note is on the page"
    after = lines[starts[0] + 1]
    assert after.startswith("│     ") and after[6] != " ", after
