"""Printers over a Derivation: terminal (rich), Markdown, LaTeX, HTML and JSON.

Each format is a module of this package, imported only when asked for; ``render`` is the one
entry point for the formats that produce text.
"""

from __future__ import annotations

import importlib
from typing import Any

FORMATS = ("rich", "markdown", "latex", "html", "json")
TEXT_FORMATS = ("markdown", "latex", "html", "json")
EXTENSIONS = {".md": "markdown", ".markdown": "markdown", ".tex": "latex", ".html": "html",
              ".htm": "html", ".json": "json", ".txt": "rich"}


def render(obj: Any, fmt: str, **settings: Any) -> str:
    """``obj`` (a Derivation, or a training result) as text in ``fmt``.

    Args:
        obj: what to print.
        fmt: ``markdown``, ``latex``, ``html``, ``json`` or ``rich`` (plain text of the terminal page).
        **settings: printer settings (``lang``, ``precision``, …); unknown ones are an error.
    """
    module = importlib.import_module(f"backprop_cli.render.{'terminal' if fmt == 'rich' else fmt}")
    text: str = module.render(obj, **settings)
    return text
