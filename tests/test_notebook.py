"""docs/example.ipynb: a valid notebook whose stored outputs are what its cells give now."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = Path(__file__).parents[1] / "docs" / "example.ipynb"


def text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


RUN_TIME = re.compile(r"[\d.e+-]+ s \([\d,.e+-]+ epochs/s\)|[\d.e+-]+초 \(초당 [\d,.e+-]+ 에폭\)")


def without_run_time(page: str) -> str:
    """A training report with its run time (seconds, epochs/s) taken out: it differs from run to run."""
    return RUN_TIME.sub("…", page)


def run_cell(source: str, namespace: dict[str, Any]) -> tuple[str, Any]:
    """Run a cell as Jupyter does: everything, and the value of a last expression; returns stdout and it."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(tree, "<cell>", "exec"), namespace)
        value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace) if last else None
    return out.getvalue(), value


def test_notebook_is_valid():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4 and notebook["metadata"]["kernelspec"]["name"] == "python3"
    assert all(cell["cell_type"] in ("markdown", "code") for cell in notebook["cells"])
    nbformat = pytest.importorskip("nbformat")
    nbformat.validate(nbformat.reads(NOTEBOOK.read_text(encoding="utf-8"), as_version=4))


def test_stored_outputs_are_what_the_cells_give_now():
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {}
    code_cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert len(code_cells) >= 5
    for cell in code_cells:
        printed, value = run_cell(text(cell["source"]), namespace)
        assert all(o["output_type"] != "error" for o in cell["outputs"])
        streams = "".join(text(o["text"]) for o in cell["outputs"] if o["output_type"] == "stream")
        assert streams == printed
        results = [o for o in cell["outputs"] if o["output_type"] == "execute_result"]
        if value is None:
            assert not results
            continue
        (result,) = results
        data = result["data"]
        assert text(data["text/plain"]) == repr(value)
        if "text/html" in data:
            assert without_run_time(text(data["text/html"])) == without_run_time(value._repr_html_())
            assert without_run_time(text(data["text/markdown"])) == without_run_time(value._repr_markdown_())
    assert any("text/html" in o.get("data", {}) for cell in code_cells for o in cell["outputs"])


def test_the_run_time_is_all_that_is_taken_out():
    run = "- **Run:** 2000 epochs in 0.00452 s (442,658 epochs/s)\n"
    assert without_run_time(run) == "- **Run:** 2000 epochs in …\n"
    assert without_run_time("<li>100 에폭, 4.5e-05초 (초당 2,222,222 에폭)</li>") == "<li>100 에폭, …</li>"
    assert without_run_time("| 1 | 0.5369 |") == "| 1 | 0.5369 |"
