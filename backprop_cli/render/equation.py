"""A line of the terminal page: ``a = b = c`` broken before an ``=`` to fit, and its styles.

Shared by the page (``terminal.py``) and its matrix-form lines (``matrix_terminal.py``).
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

STYLES = {"target": "bold", "form": "", "numbers": "cyan", "value": "bold green", "eq": "dim",
          "note": "italic dim", "intro": "italic", "title": "bold", "why": "italic yellow"}


def split_terms(text: str) -> list[str]:
    """Cut a long side before its top-level ``+`` and ``-`` (outside any brackets)."""
    pieces, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and i > start and text[i - 1 : i + 2] in (" + ", " - "):
            pieces.append(text[start : i - 1])
            start = i
    pieces.append(text[start:])
    return pieces


class Equation:
    """``a = b = c`` that breaks before an ``=`` when it does not fit, continuation lines aligned.

    A side that is wider than the page on its own is cut before its top-level + and - signs.
    """

    def __init__(self, parts: list[tuple[str, str]], indent: int = 2) -> None:
        self.parts = parts
        self.indent = indent

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(20, options.max_width - self.indent)
        head_text, head_style = self.parts[0]
        hang = cell_len(head_text) + 1
        line = Text(" " * self.indent, no_wrap=True)
        line.append(head_text, style=head_style)
        used = cell_len(head_text)
        for text, style in self.parts[1:]:
            piece = cell_len(text) + 3
            if used + piece > width and used > hang:
                line.no_wrap = used <= width
                yield line
                line = Text(" " * (self.indent + hang), no_wrap=True)
                used = hang
                line.append("= ", style=STYLES["eq"])
                used += 2
            else:
                line.append(" = ", style=STYLES["eq"])
                used += 3
            chunks = split_terms(text) if used + cell_len(text) > width else [text]
            for index, chunk in enumerate(chunks):
                if index and used + 1 + cell_len(chunk) > width:
                    line.no_wrap = used <= width  # a term wider than the page wraps at its spaces, not cut
                    yield line
                    line = Text(" " * (self.indent + hang + 2), no_wrap=False)
                    used = hang + 2
                    chunk = chunk.lstrip()
                elif index:
                    line.append(" ")  # split_terms cut the space before the sign
                    used += 1
                line.append(chunk, style=style)
                used += cell_len(chunk)
        line.no_wrap = used <= width
        yield line
