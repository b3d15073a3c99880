"""JSON: the scripting contract of DESIGN.md, float64 values as Python writes them (exact)."""

from __future__ import annotations

import json
from typing import Any


def render(obj: Any, indent: int = 1, **settings: Any) -> str:
    """``obj.to_dict()`` as JSON text; printer settings (lang, precision) do not apply to JSON."""
    unknown = set(settings) - {"lang", "precision"}
    if unknown:
        raise TypeError(f"unknown setting(s) for json: {', '.join(sorted(unknown))}")
    return json.dumps(obj.to_dict(), indent=indent, ensure_ascii=False, allow_nan=True) + "\n"
