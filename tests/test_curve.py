"""The loss curve: braille dots, axis labels, the logarithmic axis; the Mermaid chart, the laid-out
frame the SVG and LaTeX drawings share, and those drawings."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from backprop_cli.render.curve import (
    LATEX_SIZE,
    MERMAID_POINTS,
    curve_lines,
    frame,
    latex_picture,
    log_scale,
    mermaid_xychart,
    svg_chart,
)


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


def chart_values(lines: list[str]) -> list[float]:
    (line,) = [line for line in lines if line.startswith("    line [")]
    return [float(v) for v in line.split("[", 1)[1].rstrip("]").split(", ")]


def test_the_mermaid_chart_takes_the_loss_at_evenly_spaced_epochs():
    # Recorded every third epoch; the chart spaces its values evenly, so it interpolates between them.
    points = [(e, 1.0 - e / 1000) for e in range(1, 302, 3)]
    lines = mermaid_xychart(points, "epoch", "loss", "log loss")
    assert lines[1:4] == ["xychart-beta", '    x-axis "epoch" 1 --> 301', '    y-axis "loss"']
    values = chart_values(lines)
    assert len(values) == MERMAID_POINTS
    expected = [1.0 - (1 + 300 * i / 99) / 1000 for i in range(100)]
    assert values == pytest.approx(expected, abs=5.001e-5)  # a straight line stays one (to 4 decimals)
    # A short run: one value per epoch, exactly the losses.
    assert chart_values(mermaid_xychart([(1, 0.5), (2, 0.25), (3, 0.2)], "e", "l", "g")) == [0.5, 0.25, 0.2]


def test_the_mermaid_chart_plots_log10_where_the_other_drawings_use_a_log_axis():
    lines = mermaid_xychart([(e, 10.0 ** -e) for e in range(1, 6)], "epoch", "loss", "log₁₀ loss")
    assert '    y-axis "log₁₀ loss"' in lines and chart_values(lines) == [-1, -2, -3, -4, -5]
    # Small values keep their digits: decimals follow the span of the values.
    tiny = chart_values(mermaid_xychart([(1, 2e-7), (2, 1.5e-7), (3, 1e-7)], "e", "l", "g"))
    assert tiny == [2e-7, 1.5e-7, 1e-7]


def test_the_mermaid_chart_of_one_epoch_or_of_nothing():
    assert mermaid_xychart([(1, 0.5)], "epoch", "loss", "g")[2:] == ['    x-axis "epoch" [1]', '    y-axis "loss"',
                                                                     "    line [0.5000]"]
    assert mermaid_xychart([(1, math.nan)], "e", "l", "g") == []
    assert mermaid_xychart([(1, 0.5)], 'say "hi"', "l", "g")[2] == "    x-axis \"say 'hi'\" [1]"


def test_the_frame_spans_round_ticks():
    plot = frame([(e, 0.7 - 0.5 * (e - 1) / 99) for e in range(1, 101)])  # 0.7 → 0.2, linear
    assert plot is not None and not plot.logarithmic
    assert [label for _, label in plot.y_ticks] == ["0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]
    assert [label for _, label in plot.x_ticks] == ["1", "20", "40", "60", "80", "100"]
    assert plot.points[0] == pytest.approx((0.0, 1.0)) and plot.points[-1] == pytest.approx((1.0, 0.0))
    for position, label in plot.y_ticks:
        assert position == pytest.approx((float(label) - 0.2) / 0.5)
    # Widened to the ticks around the losses: 0.01 … 0.5369 spans 0 … 0.6.
    wide = frame([(1, 0.5369), (2, 0.01)])
    assert wide is not None and [label for _, label in wide.y_ticks] == ["0.0", "0.2", "0.4", "0.6"]


def test_the_frame_of_a_log_axis_has_a_tick_at_every_power_of_ten():
    plot = frame([(e, 0.5 * 10.0 ** (-e / 25)) for e in range(1, 101)])  # 0.46 … 5e-5
    assert plot is not None and plot.logarithmic
    assert [label for _, label in plot.y_ticks] == ["1e-5", "0.0001", "0.001", "0.01", "0.1", "1"]
    x, y = plot.points[0]
    assert x == 0 and y == pytest.approx((math.log10(0.5 * 10 ** -0.04) + 5) / 5)
    many = frame([(1, 1e-12), (2, 1.0)])
    assert many is not None and len(many.y_ticks) <= 7  # twelve decades: a tick every second one


def test_the_frame_of_one_point_or_a_flat_curve_or_nothing():
    one = frame([(3, 0.25)])
    assert one is not None and one.points == (pytest.approx((0.5, 0.5)),) and one.x_ticks == ((0.5, "3"),)
    flat = frame([(1, 0.3), (2, 0.3)])
    assert flat is not None and all(y == pytest.approx(0.5) for _, y in flat.points)
    assert frame([(1, math.inf)]) is None


def test_the_svg_chart_is_one_line_over_ticked_axes():
    points = [(e, 1 / e) for e in range(1, 51)]
    plot = frame(points)
    assert plot is not None
    svg = "\n".join(svg_chart(plot, "epoch", "loss", "Loss curve"))
    root = ET.fromstring(svg)
    assert root.get("aria-label") == "Loss curve" and "xmlns" not in svg  # inline in HTML: no namespace URL
    polyline = root.find("polyline")
    assert polyline is not None and len(polyline.get("points", "").split()) == 50
    labels = [t.text for t in root.iter("text")]
    assert {"epoch", "loss", "1", "50", "0.0", "1.0"} <= set(labels)
    single = frame([(1, 0.5)])
    assert single is not None and ET.fromstring("".join(svg_chart(single, "e", "l", "c"))).find("circle") is not None


def test_the_latex_picture_draws_each_segment_with_the_kernels_qbezier():
    points = [(e, 1 / e) for e in range(1, 31)]
    plot = frame(points)
    assert plot is not None
    lines = latex_picture(plot, "epoch", "loss")
    text = "\n".join(lines)
    assert text.count("{") == text.count("}")
    curve = lines[lines.index(r"\thicklines") + 1:]
    segments = [line for line in curve if re.fullmatch(r"\\qbezier\[\d+\]\([^)]*\)\([^)]*\)\([^)]*\)", line)]
    assert len(segments) == len(points) - 1
    width, height = LATEX_SIZE
    first = re.findall(r"\(([-\d.]+),([-\d.]+)\)", segments[0])
    assert [tuple(map(float, p)) for p in first][0] == (0.0, pytest.approx(height * plot.points[0][1], abs=0.01))
    last = re.findall(r"\(([-\d.]+),([-\d.]+)\)", segments[-1])
    assert float(last[-1][0]) == width
    assert r"\makebox(0,0)[t]{epoch}" in text and r"\makebox(0,0)[b]{loss}" in text
    assert "\\begin{picture}" in text and "pict2e" not in text


def test_the_latex_picture_skips_points_too_close_to_draw_and_counts_every_segments_dots():
    # A flat stretch: thousands of points a hair apart (the kernel's \\qbezier divides by zero on them).
    points = [(e, 0.6931 - e * 1e-9) for e in range(1, 2001)] + [(2001, 0.01)]
    plot = frame(points)
    assert plot is not None
    lines = latex_picture(plot, "epoch", "loss")
    curve = lines[lines.index(r"\thicklines") + 1:]
    segments = [re.findall(r"[-\d.]+", line) for line in curve if line.startswith(r"\qbezier")]
    assert 100 < len(segments) < 500
    for dots, x1, y1, _, _, x2, y2 in ((int(d), *map(float, rest)) for d, *rest in segments):
        length = math.hypot(x2 - x1, y2 - y1)
        assert dots >= 1 and length / dots <= 0.1 + 0.001  # (the coordinates are rounded to 0.01 mm)
    x, y = plot.points[-1]  # the last point is always drawn
    assert segments[-1][-2:] == [str(LATEX_SIZE[0]), f"{y * LATEX_SIZE[1]:.2f}".rstrip("0").rstrip(".")]
