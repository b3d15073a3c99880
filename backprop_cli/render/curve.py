"""The loss curve, drawn: Unicode braille text lines (the terminal, the Markdown report's text
block), a Mermaid ``xychart-beta`` line chart (Markdown on GitHub), an SVG image (the HTML report)
and a LaTeX ``picture`` (the LaTeX report, with nothing beyond the LaTeX kernel).

Each braille character cell holds 2 × 4 dots, so a 60 × 10 cell plot has 120 × 40 dots;
consecutive points are joined by straight segments. When the loss spans more than two decades the
vertical axis is logarithmic (said under the plot), so that the slow end of training stays visible;
every drawing follows that rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from backprop_cli.printing import format_number

_BRAILLE = 0x2800
# Dot bits of a braille cell: column 0 top to bottom, then column 1.
_DOTS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))

LOG_SCALE_SPAN = 100.0
"""The vertical axis turns logarithmic when the largest loss is this many times the smallest."""


def log_scale(values: Sequence[float]) -> bool:
    """Whether a curve of these (finite) values is drawn on a logarithmic axis."""
    return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_SCALE_SPAN


def curve_lines(points: Sequence[tuple[int, float]], width: int = 60, height: int = 10,
                precision: int = 4) -> tuple[list[str], bool]:
    """The plot's text lines (axis labels included) and whether the axis is logarithmic.

    Args:
        points: (epoch, loss) in increasing epoch order; non-finite losses are left out.
        width: plot cells across (two dots each).
        height: plot cells down (four dots each).
        precision: decimals of the axis labels.
    """
    finite = [(e, v) for e, v in points if math.isfinite(v)]
    if not finite:
        return [], False
    values = [v for _, v in finite]
    logarithmic = log_scale(values)
    scale: Callable[[float], float] = math.log10 if logarithmic else (lambda v: v)
    low, high = scale(min(values)), scale(max(values))
    first, last = finite[0][0], finite[-1][0]
    columns, rows = 2 * width, 4 * height
    dots = [[False] * columns for _ in range(rows)]

    def dot_row(value: float) -> int:
        y = 0.0 if high == low else (value - low) / (high - low) * (rows - 1)
        return (rows - 1) - round(y)

    # Each dot column takes the curve's value at its epoch (linear between recorded epochs), and a
    # vertical run joins it to the column before: a monotone loss draws as a monotone line.
    epochs = [e for e, _ in finite]
    scaled = [scale(v) for _, v in finite]
    used = columns if last > first else 1
    previous: int | None = None
    targets = [first + (last - first) * column / max(used - 1, 1) for column in range(used)]
    for column, value in enumerate(_resample(epochs, scaled, targets)):
        current = dot_row(value)
        for r in range(min(current, previous if previous is not None else current),
                       max(current, previous if previous is not None else current) + 1):
            dots[r][column] = True
        previous = current
    cells = []
    for row in range(height):
        text = ""
        for column in range(width):
            code = 0
            for dx in range(2):
                for dy in range(4):
                    if dots[4 * row + dy][2 * column + dx]:
                        code |= _DOTS[dx][dy]
            text += chr(_BRAILLE + code) if code else " "
        cells.append(text)
    top, bottom = format_number(max(values), precision), format_number(min(values), precision)
    margin = max(len(top), len(bottom))
    lines = []
    for row, text in enumerate(cells):
        label = top if row == 0 else bottom if row == height - 1 else ""
        lines.append(f"{label:>{margin}} {'┤' if label else '│'}{text}".rstrip())
    lines.append(" " * margin + " └" + "─" * width)
    left, right = str(first), str(last)
    lines.append(" " * (margin + 2) + left + " " * max(1, width - len(left) - len(right)) + right)
    return lines, logarithmic


def _resample(epochs: Sequence[float], values: Sequence[float], targets: Sequence[float]) -> Iterator[float]:
    """The curve's value at each of ``targets`` (increasing epochs): linear between recorded epochs."""
    index = 0
    for epoch in targets:
        while index + 1 < len(epochs) and epochs[index + 1] < epoch:
            index += 1
        if index + 1 < len(epochs) and epochs[index + 1] > epochs[index]:
            t = min(1.0, max(0.0, (epoch - epochs[index]) / (epochs[index + 1] - epochs[index])))
            yield values[index] + t * (values[index + 1] - values[index])
        else:
            yield values[min(index + (epoch > epochs[index]), len(values) - 1)]


# --- a chart with axes: Mermaid, SVG, LaTeX --------------------------------------------------------

MERMAID_POINTS = 100
"""The Mermaid chart takes the loss at this many evenly spaced epochs (at most one per epoch)."""

MERMAID_COLOUR = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#2563eb"}}}}%%'
"""The line's colour (Mermaid's default theme draws it pale)."""


def mermaid_xychart(points: Sequence[tuple[int, float]], x_title: str, y_title: str, log_title: str,
                    precision: int = 4) -> list[str]:
    """A Mermaid ``xychart-beta`` line chart of the curve (GitHub draws it), as lines; none without a
    finite point.

    Mermaid spaces a line's values evenly along a numeric x-axis, so the curve is sampled at evenly
    spaced epochs (linear between recorded ones). Mermaid has no logarithmic axis: where the other
    drawings use one, the chart plots log₁₀ of the loss under the title ``log_title``.

    Args:
        points: (epoch, loss) in increasing epoch order; non-finite losses are left out.
        x_title: the x-axis title (epoch).
        y_title: the y-axis title (loss).
        log_title: the y-axis title when it shows log₁₀ of the loss.
        precision: decimals of the values (more where the curve spans less).
    """
    finite = [(e, v) for e, v in points if math.isfinite(v)]
    if not finite:
        return []
    logarithmic = log_scale([v for _, v in finite])
    epochs = [e for e, _ in finite]
    scaled = [math.log10(v) if logarithmic else v for _, v in finite]
    first, last = epochs[0], epochs[-1]
    count = min(MERMAID_POINTS, last - first + 1)
    targets = [first + (last - first) * i / max(count - 1, 1) for i in range(count)]
    values = list(_resample(epochs, scaled, targets))
    span = max(values) - min(values)
    decimals = min(15, max(precision, 2 - math.floor(math.log10(span)))) if span > 0 else precision
    axis = f"{first} --> {last}" if last > first else f"[{first}]"
    return [MERMAID_COLOUR, "xychart-beta", f'    x-axis "{_quoted(x_title)}" {axis}',
            f'    y-axis "{_quoted(log_title if logarithmic else y_title)}"',
            "    line [" + ", ".join(f"{v:.{decimals}f}" for v in values) + "]"]


def _quoted(text: str) -> str:
    return text.replace('"', "'")


@dataclass(frozen=True)
class Frame:
    """A loss curve laid out in the unit square (x to the right, y up), with the ticks of its axes.

    Args:
        points: the curve's points; the axes span the epochs run and the losses, widened to round
            tick values.
        x_ticks: (position, label) along the epoch axis.
        y_ticks: (position, label) along the loss axis.
        logarithmic: whether the loss axis is logarithmic (ticks at powers of ten).
    """

    points: tuple[tuple[float, float], ...]
    x_ticks: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, str], ...]
    logarithmic: bool


def frame(points: Sequence[tuple[int, float]]) -> Frame | None:
    """The curve of ``points`` ((epoch, loss), increasing epochs) in the unit square; None when no
    loss is finite."""
    finite = [(e, v) for e, v in points if math.isfinite(v)]
    if not finite:
        return None
    values = [v for _, v in finite]
    logarithmic = log_scale(values)
    if logarithmic:
        low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        every = max(1, math.ceil((high - low) / 6))
        low -= (low % every)
        high += (-high) % every
        y_ticks = [(float(k), _power_of_ten(k)) for k in range(low, high + 1, every)]
        y_low, y_high = float(low), float(high)
    else:
        y_low, y_high = min(values), max(values)
        if y_high == y_low:
            pad = abs(y_low) / 10 or 1.0
            y_low, y_high = y_low - pad, y_high + pad
        step, decimals = _nice_step(y_high - y_low)
        y_low, y_high = math.floor(y_low / step + 1e-9) * step, math.ceil(y_high / step - 1e-9) * step
        y_ticks = [(y_low + k * step, f"{y_low + k * step:.{decimals}f}")
                   for k in range(round((y_high - y_low) / step) + 1)]
    first, last = finite[0][0], finite[-1][0]
    x_low, x_high = (first, last) if last > first else (first - 1, first + 1)
    step = max(1, int(_nice_step(x_high - x_low)[0]))
    x_ticks = [(float(e), str(e)) for e in range(math.ceil(x_low / step) * step, x_high + 1, step)
               if first <= e <= last]
    if not x_ticks or x_ticks[0][0] - first > step / 2:
        x_ticks.insert(0, (float(first), str(first)))

    def x(epoch: float) -> float:
        return (epoch - x_low) / (x_high - x_low)

    def y(value: float) -> float:
        scaled = math.log10(value) if logarithmic else value
        return (scaled - y_low) / (y_high - y_low)

    return Frame(points=tuple((x(e), y(v)) for e, v in finite),
                 x_ticks=tuple((x(e), label) for e, label in x_ticks),
                 y_ticks=tuple(((value - y_low) / (y_high - y_low), label) for value, label in y_ticks),
                 logarithmic=logarithmic)


def _nice_step(span: float, count: int = 5) -> tuple[float, int]:
    """A round step (1, 2 or 5 times a power of ten) giving at most ``count`` intervals over
    ``span``, and the decimals its multiples need."""
    raw = span / count
    exponent = math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * 10.0**exponent >= raw * (1 - 1e-9):
            break
    if factor == 10:
        factor, exponent = 1, exponent + 1
    return factor * 10.0**exponent, max(0, -exponent)


def _power_of_ten(exponent: int) -> str:
    if exponent >= 0:
        return str(10**exponent)
    return f"{10.0**exponent:.{-exponent}f}" if exponent >= -4 else f"1e{exponent}"


SVG_SIZE = (640, 320)
"""The SVG chart's width and height in pixels (it scales down to fit a narrow page)."""
_SVG_MARGIN = (64, 16, 36, 48)  # left, right, top, bottom


def svg_chart(plot: Frame, x_title: str, y_title: str, label: str) -> list[str]:
    """The curve as an inline SVG image: axes, ticks, grid lines, the line; no script, nothing to fetch.

    Args:
        plot: the laid-out curve.
        x_title, y_title: the axis titles (escaped for HTML).
        label: the image's accessible name (escaped for HTML).
    """
    width, height = SVG_SIZE
    left, right, top, bottom = _SVG_MARGIN
    inner_w, inner_h = width - left - right, height - top - bottom

    def px(x: float, y: float) -> str:
        return f"{left + x * inner_w:.1f},{top + (1 - y) * inner_h:.1f}"

    lines = [f'<svg class="curve" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"'
             f' aria-label="{label}">']
    for y, text in plot.y_ticks:
        row = top + (1 - y) * inner_h
        lines.append(f'<line class="grid" x1="{left}" y1="{row:.1f}" x2="{width - right}" y2="{row:.1f}"/>')
        lines.append(f'<text x="{left - 6}" y="{row + 4:.1f}" text-anchor="end">{text}</text>')
    for x, text in plot.x_ticks:
        column = left + x * inner_w
        lines.append(f'<line class="axis" x1="{column:.1f}" y1="{top + inner_h}" x2="{column:.1f}"'
                     f' y2="{top + inner_h + 5}"/>')
        lines.append(f'<text x="{column:.1f}" y="{top + inner_h + 19}" text-anchor="middle">{text}</text>')
    lines.append(f'<path class="axis" d="M{left},{top} V{top + inner_h} H{width - right}"/>')
    if len(plot.points) == 1:
        cx, cy = px(*plot.points[0]).split(",")
        lines.append(f'<circle class="line" cx="{cx}" cy="{cy}" r="3"/>')
    else:
        lines.append(f'<polyline class="line" points="{" ".join(px(x, y) for x, y in plot.points)}"/>')
    lines.append(f'<text x="{left + inner_w / 2:.1f}" y="{height - 6}" text-anchor="middle" class="title">'
                 f"{x_title}</text>")
    lines.append(f'<text x="{left}" y="{top - 18}" text-anchor="middle" class="title">{y_title}</text>')
    return lines + ["</svg>"]


LATEX_SIZE = (120, 50)
"""The LaTeX chart's width and height in millimetres (the plot area, without the labels)."""

LATEX_STEP = 0.3
"""Millimetres between the curve's points drawn in LaTeX, at the least."""

LATEX_DOT = 0.1
"""Millimetres between the dots \\qbezier sets along a segment (the thick line is 0.28 mm wide)."""


def latex_picture(plot: Frame, x_title: str, y_title: str) -> list[str]:
    """The curve as a LaTeX ``picture`` (the kernel's, no package): the axes and ticks with
    ``\\line``, dotted grid lines and the curve's segments with ``\\qbezier``.

    Args:
        plot: the laid-out curve.
        x_title, y_title: the axis titles, already LaTeX.
    """
    width, height = LATEX_SIZE

    def at(x: float, y: float) -> str:
        return f"({_mm(x * width)},{_mm(y * height)})"

    lines = [r"\begin{center}", r"\setlength{\unitlength}{1mm}",
             rf"\begin{{picture}}({width + 20},{height + 16})(-18,-10)", r"\small"]
    for y, text in plot.y_ticks:
        row = _mm(y * height)
        if 0 < y < 1:
            lines.append(rf"\qbezier[{width // 2}](0,{row})({width // 2},{row})({width},{row})")
        lines.append(rf"\put(0,{row}){{\line(-1,0){{1.5}}}}")
        lines.append(rf"\put(-2.5,{row}){{\makebox(0,0)[r]{{{text}}}}}")
    for x, text in plot.x_ticks:
        column = _mm(x * width)
        lines.append(rf"\put({column},0){{\line(0,-1){{1.5}}}}")
        lines.append(rf"\put({column},-2.5){{\makebox(0,0)[t]{{{text}}}}}")
    lines += [rf"\put(0,0){{\line(1,0){{{width}}}}}", rf"\put(0,0){{\line(0,1){{{height}}}}}",
              rf"\put({width // 2},-8){{\makebox(0,0)[t]{{{x_title}}}}}",
              rf"\put(0,{height + 3}){{\makebox(0,0)[b]{{{y_title}}}}}", r"\thicklines"]
    if len(plot.points) == 1:
        lines.append(rf"\put{at(*plot.points[0])}{{\circle*{{1}}}}")
    # Points closer than LATEX_STEP to the last one drawn are skipped; each segment gets its count of
    # dots explicitly (the kernel's own count is 0, and divides by it, for a segment under 0.04 mm).
    kept = [plot.points[0]]
    for index, (x, y) in enumerate(plot.points[1:], start=1):
        if math.hypot((x - kept[-1][0]) * width, (y - kept[-1][1]) * height) >= LATEX_STEP or (
                index == len(plot.points) - 1):
            kept.append((x, y))
    for (x1, y1), (x2, y2) in zip(kept, kept[1:], strict=False):
        dots = max(1, math.ceil(math.hypot((x2 - x1) * width, (y2 - y1) * height) / LATEX_DOT))
        lines.append(rf"\qbezier[{dots}]{at(x1, y1)}{at((x1 + x2) / 2, (y1 + y2) / 2)}{at(x2, y2)}")
    return lines + [r"\end{picture}", r"\end{center}", ""]


def _mm(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
