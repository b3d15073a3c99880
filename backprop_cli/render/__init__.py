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
              ".htm": "html", ".json": "json", ".txt": "rich", ".py": "torch"}


def render(obj: Any, fmt: str, **settings: Any) -> str:
    """``obj`` (a Derivation, or a training result) as text in ``fmt``.

    Args:
        obj: what to print.
        fmt: ``markdown``, ``latex``, ``html``, ``json`` or ``rich`` (plain text of the terminal page).
        **settings: printer settings (``lang``, ``precision``, …); unknown ones are an error.
    """
    if _is_page(obj) or fmt == "json":
        module = _module("terminal" if fmt == "rich" else fmt)
    elif fmt == "rich":
        module = _module("train_terminal")
    else:
        text: str = _module("train_report").report(obj, fmt, **settings)
        return text
    text = module.render(obj, **settings)
    return text


def renderable(obj: Any, **settings: Any) -> Any:
    """The rich renderable of ``obj`` (a Derivation, or a training result), for a terminal."""
    if _is_page(obj):
        return _module("terminal").page_renderable(obj, **settings)
    return _module("train_terminal").training_renderable(obj, **settings)


def _module(name: str) -> Any:
    """A printer module of this package, imported when first asked for."""
    return importlib.import_module(f"backprop_cli.render.{name}")


def _is_page(obj: Any) -> bool:
    """A worked step (a Derivation has sections), not a training run. Told by what it has, so that
    this entry point imports neither (both call it)."""
    return hasattr(obj, "sections")
