"""A loss curve drawn with Unicode braille characters, as plain text lines.

Each character cell holds 2 × 4 dots, so a 60 × 10 cell plot has 120 × 40 dots; consecutive points
are joined by straight segments. When the loss spans more than two decades the vertical axis is
logarithmic (said under the plot), so that the slow end of training stays visible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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
    index = 0
    for column in range(used):
        epoch = first + (last - first) * column / max(used - 1, 1)
        while index + 1 < len(epochs) and epochs[index + 1] < epoch:
            index += 1
        if index + 1 < len(epochs) and epochs[index + 1] > epochs[index]:
            t = min(1.0, max(0.0, (epoch - epochs[index]) / (epochs[index + 1] - epochs[index])))
            value = scaled[index] + t * (scaled[index + 1] - scaled[index])
        else:
            value = scaled[min(index + (epoch > epochs[index]), len(scaled) - 1)]
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
