"""Snapshot files: exact text a renderer printed, reviewed once and compared from then on.

``BACKPROP_UPDATE_SNAPSHOTS=1 pytest`` rewrites them (then read the diff before committing).
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "snapshots"


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("BACKPROP_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {name}; run with BACKPROP_UPDATE_SNAPSHOTS=1 and review it"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), name, "now", n=2))
        raise AssertionError(f"{name} changed:\n{diff[:4000]}")
