"""The HTML page: exact text, self-contained, well-formed MathML, and laid out by a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from cases import adam_softmax, batch, mazur, seed, with_matrix_steps
from snapshot import assert_snapshot

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CASES = {"mazur": mazur, "batch": batch, "adam_softmax": adam_softmax, "matrix": with_matrix_steps}
VOID = {"meta", "br", "hr", "img", "input", "link", "mspace"}


@pytest.mark.parametrize("name", CASES)
def test_snapshot(name):
    assert_snapshot(f"{name}.html", CASES[name]().to_html())


class TagBalance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.open[-1:] or 'nothing'}")
        else:
            self.open.pop()


@pytest.mark.parametrize("make", [seed, *CASES.values()])
def test_well_formed_and_self_contained(make):
    page = make().to_html()
    checker = TagBalance()
    checker.feed(page)
    assert not checker.problems and not checker.open, (checker.problems, checker.open)
    for math in re.findall(r"<math[ >].*?</math>", page, flags=re.S):
        ET.fromstring(math.replace("<math", '<math xmlns="http://www.w3.org/1998/Math/MathML"', 1))
    # Nothing to fetch, nothing to run: no scripts, links, sources, imports or URLs.
    for needle in ("<script", "<link", "src=", "href=", "@import", "url(", "http:", "https:"):
        assert needle not in page


def test_fragment_for_notebooks():
    d = seed(lang="ko")
    fragment = d._repr_html_()
    assert fragment.startswith('<div class="backprop" lang="ko">\n<style>')
    assert "<html" not in fragment and "<body" not in fragment
    page = d.to_html()
    assert page.startswith('<!DOCTYPE html>\n<html lang="ko">')
    # The same body either way.
    body = page.split('<main class="backprop">\n', 1)[1].split("\n</main>", 1)[0]
    assert body in fragment


MEASURE = """
<script>
addEventListener("load", () => {
  const mn = document.querySelector("mn").getBoundingClientRect().height;
  const fractions = [...document.querySelectorAll("mfrac")];
  const equations = [...document.querySelectorAll(".eq")];
  const report = {
    mathml: [...document.querySelectorAll("math")].every(e => e instanceof MathMLElement),
    maths: document.querySelectorAll("math").length,
    fractions: fractions.length,
    flat_fractions: fractions.filter(f => f.getBoundingClientRect().height < 1.6 * mn).length,
    width: innerWidth,
    page_overflow: document.documentElement.scrollWidth - innerWidth,
    overflowing_equations: equations.filter(e => e.scrollWidth > e.clientWidth + 1).length,
  };
  const out = document.createElement("pre");
  out.id = "report";
  out.textContent = JSON.stringify(report);
  document.body.append(out);
});
</script>
"""


def chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp / 'profile'}", "--hide-scrollbars"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: chromium)")
@pytest.mark.parametrize(("name", "width"), [("seed", 1000), ("seed", 500), ("ko", 1000), ("matrix", 1000)])
def test_chromium_lays_the_math_out(name, width, tmp_path):
    derivation = seed(lang="ko") if name == "ko" else seed() if name == "seed" else with_matrix_steps()
    page = tmp_path / "page.html"
    page.write_text(derivation.to_html().replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    result = chromium([f"--window-size={width},900", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                      tmp_path)
    found = re.search(r'<pre id="report">(.*?)</pre>', result.stdout)
    assert found, result.stderr[-2000:]
    report = json.loads(found.group(1))
    assert report["width"] == width  # (headless Chromium's narrowest window is 500 pixels)
    assert report["mathml"] and report["maths"] > 50
    assert report["fractions"] > 0 and report["flat_fractions"] == 0, report  # fractions are stacked
    assert report["page_overflow"] <= 0, report
    if name != "matrix":  # a wide matrix may scroll inside its line; nothing else does
        assert report["overflowing_equations"] == 0, report
    # And a picture of the page as written, for a person to look at (pytest keeps tmp_path).
    plain = tmp_path / "plain.html"
    plain.write_text(derivation.to_html(), encoding="utf-8")
    shot = tmp_path / f"{name}-{width}.png"
    chromium([f"--window-size={width},2400", f"--screenshot={shot}", plain.as_uri()], tmp_path)
    assert shot.exists() and shot.stat().st_size > 20_000


def test_each_group_is_one_grid_and_the_minus_is_a_true_one():
    derivation = seed()
    page = derivation.to_html()
    groups = [g for s in derivation.sections for g in s.groups if g.steps]
    assert page.count('<div class="eqs">') == len(groups) == 7
    table = page.split("<table>")[1].split("</table>")[0]
    assert "−0.0162" in table and not re.search(r">-\d", table)
    assert "ŷ − y" in page.split('<p class="why">')[1].split("</p>")[0]


ALIGNMENT = """
<script>
addEventListener("load", () => {
  const groups = [...document.querySelectorAll(".eqs")].map(g =>
    [...g.querySelectorAll(":scope > .eq > .rest > math:first-child > mo:first-child")]
      .map(e => Math.round(e.getBoundingClientRect().left)));
  const figure = document.querySelector("svg.figure");
  const box = figure ? figure.getBoundingClientRect() : null;
  const labels = figure ? [...figure.querySelectorAll("text")].map(t => t.textContent) : [];
  const out = document.createElement("pre");
  out.id = "report";
  out.textContent = JSON.stringify({groups, figure: box && [box.width, box.height, box.top], labels});
  document.body.append(out);
});
</script>
"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: chromium)")
def test_chromium_aligns_a_groups_lines_on_their_first_equals_sign(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(seed().to_html().replace("</body>", ALIGNMENT + "</body>"), encoding="utf-8")
    result = chromium(["--window-size=1000,900", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()], tmp_path)
    found = re.search(r'<pre id="report">(.*?)</pre>', result.stdout)
    assert found, result.stderr[-2000:]
    report = json.loads(found.group(1))
    groups = report["groups"]
    # The network's figure heads the page, drawn at its size, with every weight's label.
    width, height, top = report["figure"]
    assert width > 300 and height > 100 and top < 600, report["figure"]
    assert {f"W{i}" for i in range(1, 7)} <= {label.replace("₁", "1").replace("₂", "2").replace("₃", "3")
                                              .replace("₄", "4").replace("₅", "5").replace("₆", "6")
                                              for label in report["labels"]}, report["labels"]
    assert len(groups) == 7 and all(len(g) >= 1 for g in groups)
    for lefts in groups:
        assert max(lefts) - min(lefts) <= 1, lefts
    # The left sides differ in width (z₁, σ₁, ∂𝓛/∂W₅): aligning them is what the grid does.
    assert len({g[0] for g in groups}) > 1
