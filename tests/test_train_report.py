"""The training report in Markdown, LaTeX and HTML: exact text, one outline, pdflatex, a real browser."""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
from snapshot import assert_snapshot
from test_render_html import CHROMIUM, TagBalance, chromium
from test_render_latex import PDFLATEX, compile_pdf, kotex

from backprop_cli.model import DATASETS, SEED, SEED_X, SEED_Y, Optimizer
from backprop_cli.render import render
from backprop_cli.render.train_report import LONG_TABLE_ROWS, REPORTS
from backprop_cli.training import TrainResult, TrainSettings, train, with_derivations

FORMATS = {"md": "markdown", "tex": "latex", "html": "html"}


def xor_momentum() -> TrainResult:
    """XOR from the seed's weights with momentum: the loss falls 0.71 → 0.02 (a linear axis)."""
    network = replace(SEED, optimizer=Optimizer("momentum"), lr=0.5)
    return train(network, *DATASETS["xor"], TrainSettings(epochs=300, log_every=50), data="xor")


def xor_steps() -> TrainResult:
    """Batches of two with the derivations of epoch 2's two steps, stopped (as by Ctrl-C) after epoch 3."""
    def stop_after_three(done: int, total: int, loss: float | None) -> None:
        if done >= 3:
            raise KeyboardInterrupt

    result = train(SEED, *DATASETS["xor"], TrainSettings(epochs=5, batch_size=2, log_every=1, show_steps=(2,)),
                   progress=stop_after_three, data="xor")
    assert result.interrupted and result.epochs == 3
    return with_derivations(result)


def seed_run() -> TrainResult:
    return train(SEED, SEED_X, SEED_Y, TrainSettings(epochs=100), data="seed")


@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("suffix", FORMATS)
def test_snapshot(suffix, lang):
    assert_snapshot(f"train_xor.{lang}.{suffix}", render(xor_momentum(), FORMATS[suffix], lang=lang, timings=False))


def test_snapshot_of_the_derived_epochs_and_a_stopped_run():
    assert_snapshot("train_steps.md", render(xor_steps(), "markdown", timings=False))


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_one_outline_in_every_format(lang):
    """The same headings, in the same order, in every format (Markdown adds the computation graph to
    each derivation; LaTeX sets the title apart, not as a section)."""
    result = xor_steps()
    markdown = [title for _, title in re.findall(r"^(#+) (.*)$", render(result, "markdown", lang=lang), flags=re.M)]
    graph = "계산 그래프" if lang == "ko" else "Computation graph"
    outline = [title for title in markdown if graph not in title]
    page = render(result, "html", lang=lang)
    assert [html.unescape(t) for t in re.findall(r"^<h\d>(.*)</h\d>$", page, flags=re.M)] == outline
    tex = render(result, "latex", lang=lang)
    sections = re.findall(r"^\\(?:sub)*section\*\{(.*)\}$", tex, flags=re.M)
    assert len(sections) == len(outline) - 1 and len(outline) > 20
    words = {"en": ["Training report", "Loss", "Loss curve", "Trained parameters", "Predictions",
                    "Epoch 2, batch 1 of 2"],
             "ko": ["학습 보고서", "오차", "오차 곡선", "학습된 매개변수", "예측값", "에폭 2, 배치 2개 중 1번째"]}[lang]
    assert outline[:6] == words


def test_timings_are_there_unless_left_out():
    result = seed_run()
    for fmt in FORMATS.values():
        assert "epochs/s" in render(result, fmt)
        assert "epochs/s" not in render(result, fmt, timings=False)
        assert "초당" in render(result, fmt, lang="ko") and "초당" not in render(result, fmt, lang="ko", timings=False)


def test_settings_each_format_takes():
    result = seed_run()
    assert "![Loss curve](loss.svg)" in render(result, "markdown", plot="loss.svg")
    assert "![Loss curve](<my plots/loss (1).png>)" in render(result, "markdown", plot="my plots/loss (1).png")
    with pytest.raises(TypeError, match="unknown setting"):
        render(result, "latex", plot="loss.png")
    assert render(result, "html", fragment=True).startswith('<div class="backprop" lang="en">')
    assert set(REPORTS) == {"markdown", "latex", "html"}


def test_markdown_draws_the_curve_for_github_and_as_text():
    text = render(seed_run(), "markdown")
    chart = re.search(r"```mermaid\n(.*?)```", text, flags=re.S)
    assert chart and "\nxychart-beta\n" in chart.group(1)
    assert '    x-axis "epoch" 1 --> 100\n    y-axis "log₁₀ loss"\n' in chart.group(1)
    values = json.loads(chart.group(1).split("line ", 1)[1])
    history = dict(seed_run().curve)
    assert len(values) == 100 and values[0] == round(math.log10(history[1]), 4)
    assert values[-1] == round(math.log10(history[100]), 4)
    assert re.search(r"```text\n *0\.5369 ┤", text) and "*loss on a logarithmic axis*" in text


def test_parameters_are_the_trained_network_in_the_formats_math():
    result = xor_momentum()
    w = result.network.layers[1].weight[0]
    md, tex, page = (render(result, fmt) for fmt in ("markdown", "latex", "html"))
    cells = f"{w[0]:.4f} & {w[1]:.4f}"
    assert f"W^{{(2)}} = \\underset{{1 \\times 2}}{{\\begin{{bmatrix}} {cells} \\end{{bmatrix}}}}" in md
    assert f"W^{{(2)}} = \\underset{{1 \\times 2}}{{\\begin{{bmatrix}} {cells} \\end{{bmatrix}}}}" in tex
    assert page.count('<div class="eq">') == 4  # W and b of each layer, drawn in MathML
    assert f"<mn>{abs(w[1]):.4f}</mn>" in page


def test_a_long_loss_table_runs_on_over_pages_in_latex():
    result = train(SEED, SEED_X, SEED_Y, TrainSettings(epochs=60, log_every=1), data="seed")
    text = render(result, "latex")
    assert len(result.history) > LONG_TABLE_ROWS
    assert text.count(r"\begin{longtable}{rr}") == 1 and r"\endhead" in text
    assert r"\begin{longtable}" not in render(xor_momentum(), "latex")


def test_latex_is_ascii_in_english_and_needs_no_package_beyond_latex_recommended():
    for result in (seed_run(), xor_steps()):
        text = render(result, "latex")
        assert text.isascii(), sorted({c for c in text if not c.isascii()})
        packages = set(re.findall(r"\\usepackage(?:\[[^]]*\])?\{([^}]*)\}", text))
        assert packages == {"inputenc", "geometry", "amsmath", "amssymb", "booktabs", "longtable"}
    assert "tikz" not in text and "pgfplots" not in text and "pict2e" not in text
    assert r"\usepackage{kotex}" in render(seed_run(), "latex", lang="ko")


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex is not installed (Debian: texlive-latex-base)")
@pytest.mark.parametrize("case", ["seed", "xor", "steps", "long", "plateau"])
def test_compiles_with_pdflatex(case, tmp_path):
    make = {"seed": seed_run, "xor": xor_momentum, "steps": xor_steps,
            "long": lambda: train(SEED, SEED_X, SEED_Y, TrainSettings(epochs=120, log_every=1), data="seed"),
            # XOR from the seed's weights stays near 0.6931 for hundreds of epochs: a curve of tiny steps.
            "plateau": lambda: train(SEED, *DATASETS["xor"], TrainSettings(epochs=2000), data="xor")}[case]
    log = compile_pdf(render(make(), "latex"), tmp_path)
    assert "LaTeX Warning" not in log and "Overfull" not in log
    assert re.search(r"Output written on page\.pdf \((\d+) page", log)


@pytest.mark.skipif(PDFLATEX is None or not kotex(),
                    reason="pdflatex with ko.TeX is not installed (Debian: texlive-lang-korean)")
def test_korean_compiles_with_pdflatex(tmp_path):
    log = compile_pdf(render(xor_steps(), "latex", lang="ko"), tmp_path)
    assert "LaTeX Warning" not in log and "Overfull" not in log


@pytest.mark.skipif(not shutil.which("pdftotext") or PDFLATEX is None, reason="needs pdflatex and pdftotext")
def test_the_pdf_has_the_curves_axes_labelled(tmp_path):
    compile_pdf(render(seed_run(), "latex"), tmp_path)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "page.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    for label in ("0.001", "0.01", "0.1", "epoch", "loss on a logarithmic axis", "Trained parameters"):
        assert label in text, label


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_html_is_well_formed_and_self_contained(lang):
    for result in (seed_run(), xor_steps()):
        page = render(result, "html", lang=lang)
        checker = TagBalance()
        checker.feed(page)
        assert not checker.problems and not checker.open, (checker.problems, checker.open)
        for math_element in re.findall(r"<math[ >].*?</math>", page, flags=re.S):
            ET.fromstring(math_element.replace("<math", '<math xmlns="http://www.w3.org/1998/Math/MathML"', 1))
        # The loss curve (the derived steps' pages begin with the network's figure, an SVG too).
        (svg,) = [s for s in re.findall(r"<svg .*?</svg>", page, flags=re.S) if 'class="figure"' not in s]
        drawing = ET.fromstring(svg)
        assert drawing.get("role") == "img" and drawing.find("polyline") is not None
        for needle in ("<script", "<link", "src=", "href=", "@import", "url(", "http:", "https:"):
            assert needle not in page


MEASURE = """
<script>
addEventListener("load", () => {
  const svg = document.querySelector("svg.curve").getBoundingClientRect();
  const line = document.querySelector("svg.curve polyline");
  const report = {
    width: innerWidth,
    page_overflow: document.documentElement.scrollWidth - innerWidth,
    svg_width: svg.width, svg_height: svg.height,
    line_length: line.getTotalLength(),
    mathml: [...document.querySelectorAll("math")].every(e => e instanceof MathMLElement),
    maths: document.querySelectorAll("math").length,
    tables: document.querySelectorAll("table").length,
  };
  const out = document.createElement("pre");
  out.id = "report";
  out.textContent = JSON.stringify(report);
  document.body.append(out);
});
</script>
"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: chromium)")
@pytest.mark.parametrize(("lang", "width"), [("en", 1000), ("en", 500), ("ko", 1000)])
def test_chromium_draws_the_report(lang, width, tmp_path):
    result = xor_steps()
    text = render(result, "html", lang=lang)
    page = tmp_path / "report.html"
    page.write_text(text.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    run = chromium([f"--window-size={width},900", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                   tmp_path)
    found = re.search(r'<pre id="report">(.*?)</pre>', run.stdout)
    assert found, run.stderr[-2000:]
    report = json.loads(found.group(1))
    assert report["width"] == width and report["page_overflow"] <= 0, report
    assert report["mathml"] and report["maths"] > 50 and report["tables"] >= 2, report
    # The chart scales down with the page and keeps its proportions; the line is drawn.
    assert 0 < report["svg_width"] <= min(640, width) and report["svg_height"] == pytest.approx(
        report["svg_width"] / 2, rel=0.01), report
    assert report["line_length"] > 300, report
    plain = tmp_path / "plain.html"
    plain.write_text(text, encoding="utf-8")
    shot = tmp_path / f"report-{lang}-{width}.png"
    chromium([f"--window-size={width},2400", f"--screenshot={shot}", plain.as_uri()], tmp_path)
    assert shot.exists() and shot.stat().st_size > 20_000


MERMAID_JS = os.environ.get("MERMAID_JS")  # mermaid.min.js (npm package mermaid), to draw the chart


@pytest.mark.skipif(not (MERMAID_JS and CHROMIUM), reason="set MERMAID_JS to mermaid.min.js; needs chromium")
def test_mermaid_draws_the_chart(tmp_path):
    assert MERMAID_JS is not None
    charts = ""
    for text in (render(seed_run(), "markdown"), render(xor_momentum(), "markdown", lang="ko")):
        chart = re.search(r"```mermaid\n(.*?)```", text, flags=re.S)
        assert chart
        charts += f'<pre class="mermaid">{html.escape(chart.group(1))}</pre>'
    page = tmp_path / "mermaid.html"
    page.write_text(
        f'<!DOCTYPE html><meta charset="utf-8"><script src="{Path(MERMAID_JS).as_uri()}"></script>{charts}'
        '<div id="status"></div><script>mermaid.initialize({startOnLoad: false}); mermaid.run().then('
        '() => document.getElementById("status").textContent = "drawn " + document.querySelectorAll('
        '"svg .line-plot-0 path").length, e => document.getElementById("status").textContent = "error " + e);'
        "</script>", encoding="utf-8")
    run = chromium(["--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                   tmp_path)
    assert '<div id="status">drawn 2</div>' in run.stdout, run.stdout[-2000:]
