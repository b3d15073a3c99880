"""The Markdown pages render where readers put them: through Jekyll's Liquid (the seed page is a
Jekyll blog), MathJax (GitHub's and most blogs' math), and Mermaid (the network figure and graph).

The MathJax and Mermaid checks need Node with the npm packages ``mathjax-full`` and ``mermaid``
(``.ci/run`` installs them and sets ``NODE_PATH`` and ``MERMAID_JS``); without them they are skipped.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs" / "gallery").glob("*.md")) + [ROOT / "README.md", ROOT / "docs" / "xor.md",
                                                           ROOT / "docs" / "exercise.md"]
NODE = shutil.which("node")
MATHJAX = next((Path(p) / "mathjax-full" for p in os.environ.get("NODE_PATH", "").split(os.pathsep)
                if p and (Path(p) / "mathjax-full").is_dir()), None)
MERMAID_JS = os.environ.get("MERMAID_JS")
CHROMIUM = shutil.which("chromium")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_liquid_renders_every_page_unchanged(page):
    liquid = pytest.importorskip("liquid")
    text = page.read_text(encoding="utf-8")
    assert liquid.render(text) == text


def test_liquid_would_catch_a_tag():
    liquid = pytest.importorskip("liquid")
    assert liquid.render("a {{ x }} b") != "a {{ x }} b"


@pytest.mark.skipif(NODE is None or MATHJAX is None, reason="needs node and NODE_PATH reaching mathjax-full")
def test_mathjax_typesets_every_formula():
    result = subprocess.run([NODE, str(ROOT / "tests" / "js" / "mathjax_check.js"), *map(str, PAGES)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    count = int(re.search(r"typeset (\d+) formulas", result.stdout).group(1))  # type: ignore[union-attr]
    assert count > 500


@pytest.mark.skipif(NODE is None or MATHJAX is None, reason="needs node and NODE_PATH reaching mathjax-full")
def test_mathjax_check_reports_a_bad_formula(tmp_path):
    page = tmp_path / "bad.md"
    page.write_text("$$\\frac{1}{2} \\notamacro$$\n", encoding="utf-8")
    result = subprocess.run([NODE, str(ROOT / "tests" / "js" / "mathjax_check.js"), str(page)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "notamacro" in result.stdout


def mermaid_drawn(charts: list[str], folder: Path) -> tuple[int, str]:
    """How many SVGs Mermaid draws from the ``charts`` (Mermaid sources) in headless Chromium, and the DOM."""
    assert MERMAID_JS and CHROMIUM
    blocks = "".join(f'<pre class="mermaid">{html.escape(chart)}</pre>' for chart in charts)
    document = folder / "mermaid.html"
    document.write_text(
        f'<!DOCTYPE html><meta charset="utf-8"><script src="{Path(MERMAID_JS).as_uri()}"></script>{blocks}'
        '<div id="status"></div><script>mermaid.initialize({startOnLoad: false}); mermaid.run().then('
        '() => document.getElementById("status").textContent = "drawn " + document.querySelectorAll("svg").length,'
        ' e => document.getElementById("status").textContent = "error " + e);</script>', encoding="utf-8")
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", f"--user-data-dir={folder / 'profile'}",
                             "--allow-file-access-from-files", "--virtual-time-budget=20000", "--dump-dom",
                             document.as_uri()], capture_output=True, text=True, timeout=180)
    drawn = re.search(r'<div id="status">drawn (\d+)</div>', result.stdout)
    return (int(drawn.group(1)) if drawn else -1), result.stdout[-2000:]


@pytest.mark.skipif(not (MERMAID_JS and CHROMIUM), reason="set MERMAID_JS to mermaid.min.js; needs chromium")
def test_mermaid_draws_every_figure_of_the_gallery(tmp_path):
    charts = [body for page in PAGES
              for body in re.findall(r"```mermaid\n(.*?)```", page.read_text(encoding="utf-8"), re.S)]
    assert len(charts) >= 4
    drawn, dom = mermaid_drawn(charts, tmp_path)
    assert drawn >= len(charts), dom
