"""The Markdown page: exact text (the seed's is in docs/gallery), and its computation graph."""

from __future__ import annotations

import re

import pytest
from cases import adam_softmax, batch, mazur, seed, with_matrix_steps
from snapshot import assert_snapshot

from backprop_cli.render.base import DocumentPrinter

CASES = {"mazur": mazur, "batch": batch, "adam_softmax": adam_softmax, "matrix": with_matrix_steps}


@pytest.mark.parametrize("name", CASES)
def test_snapshot(name):
    assert_snapshot(f"{name}.md", CASES[name]().to_markdown())


def test_korean_snapshot():
    # Frozen biases: the note and the mark, in Korean.
    d = mazur()
    from backprop_cli.render import render

    assert_snapshot("mazur.ko.md", render(d, "markdown", lang="ko"))


def test_the_same_sections_in_every_document_format():
    d = adam_softmax()
    headings = re.findall(r"^#+ (.*)$", d.to_markdown(), flags=re.M)
    latex = re.findall(r"^\\(?:sub)?section\*\{(.*)\}$", d.to_latex(), flags=re.M)
    html = re.findall(r"<h[23]>(.*?)</h[23]>", d.to_html())
    graph = headings.pop()  # the Markdown page ends with its Mermaid graph
    assert "Computation graph" in graph
    assert headings[1:] == html == [h.replace(r"\ensuremath{\to}", "→") for h in latex]


def test_mermaid_graph_is_part_of_the_page():
    text = seed().to_markdown()
    block = text.split("```mermaid\n", 2)[2].split("```", 1)[0]  # after the network's figure
    assert block.startswith("flowchart LR\n")
    assert 'n_W5["W₅ = -0.1725<br/>∂𝓛/∂W₅ = 0.2727"]:::weight' in block
    batch_text = batch().to_markdown()
    assert "values, one for each of the 2 samples" in batch_text
    # z₁ for x = (1, 1) and x = (0, 1): W₁ + W₂ + b₁ and W₂ + b₁.
    z1 = (0.4352 + 0.3545 - 0.1419, 0.3545 - 0.1419)
    assert f'n_z1["z₁ = ({z1[0]:.4f}, {z1[1]:.4f})"]:::sum' in batch_text


def test_every_part_a_format_draws_is_drawn():
    hooks = [name for name, value in vars(DocumentPrinter).items()
             if callable(value) and "NotImplementedError" in (value.__doc__ or "") + _source(value)]
    from backprop_cli.render.html import HtmlPrinter
    from backprop_cli.render.latex import LatexPrinter
    from backprop_cli.render.markdown import MarkdownPrinter

    for printer in (MarkdownPrinter, LatexPrinter, HtmlPrinter):
        for hook in hooks:
            assert getattr(printer, hook) is not getattr(DocumentPrinter, hook), (printer, hook)


def _source(function) -> str:
    import inspect

    return inspect.getsource(function)
