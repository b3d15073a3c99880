"""docs/gallery is what the code prints now: every file, and no other."""

from __future__ import annotations

import importlib.util
from pathlib import Path

GALLERY = Path(__file__).parents[1] / "docs" / "gallery"


def load_script():
    spec = importlib.util.spec_from_file_location("gallery_make", GALLERY / "make.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gallery_is_up_to_date():
    pages = load_script().pages()
    stale = [name for name, text in pages.items()
             if not (GALLERY / name).exists() or (GALLERY / name).read_text(encoding="utf-8") != text]
    assert not stale, f"out of date: {stale}; run python docs/gallery/make.py"
    extra = {p.name for p in GALLERY.iterdir() if p.is_file()} - set(pages) - {"make.py"}
    assert not extra, f"not made by make.py: {extra}"


def test_every_format_and_language():
    names = set(load_script().pages())
    for lang in ("en", "ko"):
        assert {f"{page}.{lang}.{ext}" for page in ("step", "report") for ext in ("md", "tex", "html", "txt")} <= names
    assert {"step.json", "graph.dot", "graph.mmd", "README.md"} <= names
