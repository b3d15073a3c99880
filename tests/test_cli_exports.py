"""backprop step's exports on the command line: formats, files, languages, the graph and the tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from backprop_cli.cli import main

GALLERY = Path(__file__).parents[1] / "docs" / "gallery"


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def gallery(name: str) -> str:
    return (GALLERY / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(("fmt", "lang", "name"), [
    ("markdown", "en", "step.en.md"), ("latex", "en", "step.en.tex"), ("html", "en", "step.en.html"),
    ("markdown", "ko", "step.ko.md"), ("latex", "ko", "step.ko.tex"), ("html", "ko", "step.ko.html"),
    ("json", "en", "step.json")])
def test_format_to_stdout(fmt, lang, name, capsys):
    code, out, err = run(["step", "--format", fmt, "--lang", lang], capsys)
    assert code == 0, err
    assert out == gallery(name)


@pytest.mark.parametrize(("suffix", "name"), [(".tex", "step.ko.tex"), (".html", "step.ko.html"),
                                              (".htm", "step.ko.html"), (".md", "step.ko.md")])
def test_output_file_format_from_its_extension(suffix, name, tmp_path, capsys):
    target = tmp_path / f"page{suffix}"
    code, out, err = run(["step", "--lang", "ko", "--output", str(target)], capsys)
    assert code == 0 and out == "" and err == f"wrote {target}\n"
    assert target.read_text(encoding="utf-8") == gallery(name)


def test_terminal_page_and_tree_in_korean(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(["step", "--lang", "ko"], capsys)
    assert code == 0 and out == gallery("step.ko.txt")
    code, out, _ = run(["step", "--tree", "--lang", "ko"], capsys)
    assert code == 0 and out == gallery("tree.ko.txt")
    code, out, _ = run(["step", "--tree"], capsys)
    assert code == 0 and out == gallery("tree.en.txt")


@pytest.mark.parametrize("suffix", [".dot", ".gv", ".mmd"])
def test_graph_file_beside_the_page(suffix, tmp_path, capsys):
    graph, page = tmp_path / f"graph{suffix}", tmp_path / "step.html"
    code, out, err = run(["step", "--graph", str(graph), "--output", str(page)], capsys)
    assert code == 0, err
    assert graph.read_text(encoding="utf-8") == gallery("graph.mmd" if suffix == ".mmd" else "graph.dot")
    assert page.read_text(encoding="utf-8") == gallery("step.en.html")
    code, _, err = run(["step", "--graph", str(graph)], capsys)
    assert code == 2 and "exists" in err and "--force" in err
    code, out, err = run(["step", "--graph", str(graph), "--force", "--precision", "2"], capsys)
    assert code == 0 and "W₅ = -0.17" in graph.read_text(encoding="utf-8")
    assert "Backpropagation, worked out" in out  # the page still goes to the terminal


def test_mistakes_are_one_line_exit_2_and_write_nothing(tmp_path, capsys):
    page, graph = tmp_path / "step.md", tmp_path / "graph.dot"
    cases = [
        (["step", "--lang", "fr", "--output", str(page)], "lang: unknown language 'fr'; choose one of en, ko"),
        (["step", "--graph", str(tmp_path / "graph.png"), "--output", str(page)], "graph: cannot tell the format"),
        (["step", "--graph", str(page), "--output", str(page)], "graph: cannot tell the format of step.md"),
        (["step", "--tree", "--output", str(page)], "tree: --tree prints to the terminal"),
        (["step", "--tree", "--format", "json"], "tree: --tree prints to the terminal"),
        (["step", "--format", "pdf"], "unknown format 'pdf'; choose one of rich, markdown, latex, html, json"),
        (["step", "--graph", str(graph), "--x", "1", "--y", "0"], "x: 1 values but the network has 2 inputs"),
        (["step", "--graph", str(tmp_path / "missing" / "g.dot")], "does not exist"),
    ]
    for args, expected in cases:
        code, out, err = run(args, capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], (args, err)
        assert not page.exists() and not graph.exists() and out == ""
