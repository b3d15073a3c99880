"""Exact-text snapshots: ``assert_snapshot(name, text)`` compares with tests/snapshots/<name>.

Run with UPDATE_SNAPSHOTS=1 to rewrite them after a deliberate change, then read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER = Path(__file__).parent / "snapshots"


def assert_snapshot(name: str, text: str) -> None:
    path = FOLDER / name
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        if not os.environ.get("UPDATE_SNAPSHOTS"):
            raise AssertionError(f"snapshot {name} is missing; run with UPDATE_SNAPSHOTS=1 to create it")
        path.write_text(text, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its snapshot (UPDATE_SNAPSHOTS=1 rewrites it)"
