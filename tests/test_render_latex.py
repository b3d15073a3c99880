"""The LaTeX document: exact text, ASCII for English, and that pdflatex compiles it."""

from __future__ import annotations

import re
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
    assert latex_text("m̂ = m/(1 − β₁ᵗ)") == (r"\ensuremath{\hat{m}} = \ensuremath{m}/(1 \ensuremath{-}"
                                              r" \ensuremath{\beta_{1}^{t}})")
    # A letter alone is a symbol; a word, an article, an option or a file name is not.
    assert latex_text("the target y. a z, --x/--y, e.g. x.csv, 10 epochs/s, (y)/N") == (
        r"the target \ensuremath{y}. a \ensuremath{z}, --x/--y, e.g. x.csv, 10 epochs/s,"
        r" (\ensuremath{y})/\ensuremath{N}")
    assert latex_text("50% & $5 #1 a_b {xy} ~ ^ \\ <>|") == (
        r"50\% \& \$5 \#1 a\_b \{xy\} \~{} \^{} \textbackslash{} \textless{}\textgreater{}\textbar{}")
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


def test_each_group_is_one_align_on_its_equals_signs():
    derivation = seed()
    page = derivation.to_latex()
    groups = [g for s in derivation.sections for g in s.groups if g.steps]
    assert page.count(r"\begin{align*}") == len(groups) == 7
    assert r"\[" not in page
    for block in re.findall(r"\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", page, flags=re.S):
        rows = block.split(" \\\\\n")
        # Every row is aligned at its first "=": a line's left side, or a continuation that begins with it.
        assert all(row.count("&=") == 1 for row in rows), rows
    forward = re.search(r"\\begin\{align\*\}\n(.*?)\n\\end\{align\*\}", page, flags=re.S).group(1)
    assert forward.splitlines() == [
        r"z_{1} &= W_{1} x_{1} + W_{2} x_{2} + b_{1} = 0.4352 \times 1 + 0.3545 \times 1 - 0.1419 = 0.6478 \\",
        r"z_{2} &= W_{3} x_{1} + W_{4} x_{2} + b_{2} = 0.1951 \times 1 + 0.4835 \times 1 + 0.0439 = 0.7225 \\",
        r"\sigma_{1} &= \frac{1}{1 + e^{-z_{1}}} = \frac{1}{1 + e^{-0.6478}} = 0.6565 \\",
        r"\sigma_{2} &= \frac{1}{1 + e^{-z_{2}}} = \frac{1}{1 + e^{-0.7225}} = 0.6732"]


def test_a_remark_under_a_line_is_intertext_inside_its_group():
    # Mazur's frozen biases: the remark under b₃(t+1) stays in the group's align*; under the last line
    # it follows the environment.
    page = mazur().to_latex()
    assert ("b_{3}(t+1) &= b_{3} = 0.6000 \\\\\n\\intertext{\\emph{frozen: the bias stays as it is}}\n"
            "b_{4}(t+1) &= b_{4} = 0.6000\n\\end{align*}\n\n\\emph{frozen: the bias stays as it is}") in page
