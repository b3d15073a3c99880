"""The LaTeX document: exact text, ASCII for English, and that pdflatex compiles it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cases import adam_softmax, batch, mazur, seed, with_matrix_steps
from snapshot import assert_snapshot

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Derivation
from backprop_cli.model import DATASETS, SEED
from backprop_cli.render.latex import latex_text, line_breaks

PDFLATEX = shutil.which("pdflatex")
CASES = {"mazur": mazur, "batch": batch, "adam_softmax": adam_softmax, "matrix": with_matrix_steps}


def xor_matrix() -> Derivation:
    """The XOR batch in matrix form, whose prose names W⁽ˡ⁾, δ⁽ˡ⁻¹⁾ and f′."""
    return build_derivation(SEED, *DATASETS["xor"])


PAGES = {"seed": seed, **CASES, "xor_matrix": xor_matrix}


def kotex() -> bool:
    if not shutil.which("kpsewhich"):
        return False
    return subprocess.run(["kpsewhich", "kotex.sty"], capture_output=True, text=True).stdout.strip() != ""


@pytest.mark.parametrize("name", CASES)
def test_snapshot(name):
    assert_snapshot(f"{name}.tex", CASES[name]().to_latex())


def test_prose_becomes_latex():
    assert latex_text("δ = ∂𝓛/∂z, α = 1") == (r"\ensuremath{\delta} = \ensuremath{\partial\mathcal{L}}/"
                                               r"\ensuremath{\partial z}, \ensuremath{\alpha} = 1")
    assert latex_text("m̂ = m/(1 − β₁ᵗ)") == r"\ensuremath{\hat{m}} = m/(1 \ensuremath{-} \ensuremath{\beta_{1}^{t}})"
    assert latex_text("50% & $5 #1 a_b {x} ~ ^ \\ <>|") == (
        r"50\% \& \$5 \#1 a\_b \{x\} \~{} \^{} \textbackslash{} \textless{}\textgreater{}\textbar{}")
    assert latex_text("순전파 ŷ") == r"순전파 \ensuremath{\hat{y}}"
    # A run of superscripts is one superscript: W⁽ˡ⁻¹⁾ is W^{(l-1)}, not W^{(}^{l}….
    assert latex_text("δ⁽ˡ⁻¹⁾ = (δ⁽ˡ⁾W⁽ˡ⁾) ⊙ f′(Z⁽ˡ⁻¹⁾), 1ᵀδ") == (
        r"\ensuremath{\delta^{(l-1)}} = (\ensuremath{\delta^{(l)}W^{(l)}}) \ensuremath{\odot}"
        r" \ensuremath{f'}(\ensuremath{Z^{(l-1)}}), 1\ensuremath{^{\top}\delta}")
    # A one-letter symbol before its subscript, superscript or prime is math with them; a word is not.
    assert latex_text("Aᵀˡ ½") == r"\ensuremath{A^{\top l}} \ensuremath{\tfrac{1}{2}}"
    assert latex_text("Wₖⱼ, units′") == r"\ensuremath{W_{kj}}, units\ensuremath{'}"


def test_english_pages_are_ascii():
    for make in PAGES.values():
        text = make().to_latex()
        assert text.isascii(), sorted({c for c in text if not c.isascii()})
    assert r"\usepackage{kotex}" in seed(lang="ko").to_latex()
    assert "kotex" not in seed().to_latex()


def test_long_lines_break_before_an_equals_sign():
    assert line_breaks([5, 20, 20], width=60) == [[0, 1, 2]]
    assert line_breaks([5, 40, 40, 6], width=60) == [[0, 1], [2, 3]]
    # A part longer than a line still gets a line: the left side keeps at least one part.
    assert line_breaks([5, 100, 100], width=60) == [[0, 1], [2]]
    text = seed().to_latex()
    assert "\\begin{align*}\n\\mathcal{L} &= " in text


def compile_pdf(tex: str, folder: Path) -> str:
    source = folder / "page.tex"
    source.write_text(tex, encoding="utf-8")
    result = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "page.tex"], cwd=folder,
                            capture_output=True, text=True, timeout=120)
    log = (folder / "page.log").read_text(encoding="utf-8", errors="replace")
    assert result.returncode == 0, log[-3000:]
    assert (folder / "page.pdf").stat().st_size > 1000
    return log


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")
@pytest.mark.parametrize("name", PAGES)
def test_compiles_with_pdflatex(name, tmp_path):
    log = compile_pdf(PAGES[name]().to_latex(), tmp_path)
    assert "LaTeX Warning" not in log
    if name in ("seed", "mazur"):
        assert "Overfull" not in log, "a line runs into the margin"


@pytest.mark.skipif(PDFLATEX is None or not kotex(),
                    reason="pdflatex with ko.TeX is not installed (Debian: texlive-lang-korean)")
def test_korean_compiles_with_pdflatex(tmp_path):
    log = compile_pdf(seed(lang="ko").to_latex(), tmp_path)
    assert "Overfull" not in log
