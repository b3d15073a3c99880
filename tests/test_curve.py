"""The terminal loss curve: braille dots, axis labels, the logarithmic axis."""

from __future__ import annotations

import math

from backprop_cli.render.curve import curve_lines, log_scale


def dots(lines: list[str]) -> list[list[bool]]:
    """The plot's dots as a grid (rows × columns), read back from the braille cells."""
    bits = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
    body = [line.split("┤" if "┤" in line else "│", 1)[1] for line in lines[:-2]]
    width = max(len(row) for row in body)
    grid = [[False] * (2 * width) for _ in range(4 * len(body))]
    for r, row in enumerate(body):
        for c, char in enumerate(row):
            code = ord(char) - 0x2800 if char != " " else 0
            for dx in range(2):
                for dy in range(4):
                    grid[4 * r + dy][2 * c + dx] = bool(code & bits[dx][dy])
    return grid


def test_a_falling_line_runs_from_top_left_to_bottom_right():
    points = [(e, 1.0 - (e - 1) / 99) for e in range(1, 101)]
    lines, logarithmic = curve_lines(points, width=20, height=5)
    assert not logarithmic
    assert lines[0].startswith("1 ┤") and lines[4].startswith("0 ┤")
    assert lines[-1].split() == ["1", "100"]
    grid = dots(lines)
    assert grid[0][0] and grid[-1][-1]
    # Every column has a dot (the segments are joined), and the line only falls.
    heights = [max(r for r in range(len(grid)) if grid[r][c]) for c in range(len(grid[0]))]
    assert heights == sorted(heights)


def test_a_loss_over_several_decades_is_drawn_on_a_log_axis():
    points = [(e, 10.0 ** -(e / 10)) for e in range(1, 51)]
    lines, logarithmic = curve_lines(points, width=30, height=6)
    assert logarithmic and log_scale([1.0, 0.001]) and not log_scale([1.0, 0.5])
    # On a log axis an exponential decay is a straight line: the middle epoch sits in the middle row.
    grid = dots(lines)
    middle = [r for r in range(len(grid)) if grid[r][len(grid[0]) // 2]]
    assert abs(sum(middle) / len(middle) - len(grid) / 2) <= 2


def test_non_finite_losses_are_left_out_and_nothing_to_draw_is_empty():
    lines, _ = curve_lines([(1, 1.0), (2, math.nan), (3, math.inf), (4, 0.5)])
    assert lines and "nan" not in "".join(lines)
    assert curve_lines([(1, math.nan)]) == ([], False)


def test_a_single_point_or_a_flat_curve_is_drawn():
    for points in ([(1, 0.3)], [(1, 0.3), (2, 0.3), (3, 0.3)]):
        lines, _ = curve_lines(points, width=10, height=3)
        assert any(ch not in " ┤│└─0123456789." for ch in "".join(lines))
