"""docs/example.ipynb: a valid notebook whose stored outputs are what its cells give now."""

from __future__ import annotations

import ast
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

NOTEBOOK = Path(__file__).parents[1] / "docs" / "example.ipynb"


def text(value: str | list[str]) -> str:
    return "".join(value) if isinstance(value, list) else value


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
            assert text(data["text/html"]) == value._repr_html_()
            assert text(data["text/markdown"]) == value._repr_markdown_()
    assert any("text/html" in o.get("data", {}) for cell in code_cells for o in cell["outputs"])
