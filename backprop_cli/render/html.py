"""HTML: one self-contained page with MathML math; no script, no stylesheet or font to fetch.

Every current browser draws MathML (MathML Core). Each line of the derivation is a row of pieces,
``target`` then ``= …`` parts that wrap before an ``=`` on a narrow screen, continuation lines
aligned under the first ``=``, as on the terminal page. ``fragment=True`` gives the body alone (a
``<div>`` with its own scoped style), which is what a Jupyter notebook shows.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from backprop_cli.derivation import Matrix, MatrixStep, Step
from backprop_cli.printing import elided_cells, mathml_number, to_mathml
from backprop_cli.render.base import DocumentPrinter, PagePrinter

if TYPE_CHECKING:
    from backprop_cli.render.figure import Figure

CSS = """
.backprop { word-break: keep-all; overflow-wrap: break-word; line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans KR", "Apple SD Gothic Neo",
  "Malgun Gothic", "Nanum Gothic", "UnDotum", sans-serif;
  max-width: 62rem; margin: 0 auto; padding: 0.5rem 1.5rem 2rem; }
.backprop math { font-family: "Latin Modern Math", "STIX Two Math", "Cambria Math", math; font-size: 1.1em; }
.backprop h1 { font-size: 1.6rem; margin: 0.5rem 0 1rem; }
.backprop h2 { font-size: 1.3rem; margin: 2rem 0 0.5rem; padding-bottom: 0.2rem; border-bottom: 1px solid #8884; }
.backprop h3 { font-size: 1.05rem; margin: 1.2rem 0 0.4rem; }
.backprop ul.facts { padding-left: 1.2rem; }
.backprop .intro { font-style: italic; }
.backprop .eq { display: flex; align-items: baseline; margin: 0.7rem 0 0.7rem 1.5rem;
  overflow-x: auto; overflow-y: hidden; padding: 0.15rem 0; }
.backprop .eq > .rest { display: flex; flex-wrap: wrap; align-items: baseline; column-gap: 0.3em;
  row-gap: 0.5rem; margin-left: 0.3em; }
.backprop .eq math { math-style: normal; }
.backprop .eqs { display: grid; grid-template-columns: max-content minmax(0, 1fr); margin: 0.7rem 0 0.7rem 1.5rem; }
.backprop .eqs > .eq { display: grid; grid-template-columns: subgrid; grid-column: 1 / -1; margin: 0.35rem 0; }
.backprop .eqs > .eq > math:first-child { justify-self: end; }
.backprop .eqs > p { grid-column: 1 / -1; }
.backprop .eq .value { background: #3c9d5b22; border-radius: 0.25rem; padding: 0 0.2rem; }
.backprop .note { font-style: italic; opacity: 0.75; margin: -0.3rem 0 0.7rem 1.5rem; }
.backprop .why { border-left: 3px solid #d4a72c; padding-left: 0.6rem; font-style: italic; }
.backprop table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
.backprop th, .backprop td { padding: 0.15rem 0.9rem; }
.backprop thead th { border-bottom: 1px solid #8886; }
.backprop th:first-child, .backprop td:first-child { text-align: left; }
.backprop th, .backprop td.number { text-align: right; font-variant-numeric: tabular-nums; }
.backprop mtable.matrix > mtr > mtd { padding: 0.1em 0.4em; }
.backprop svg.figure { display: block; margin: 1rem auto; max-width: 100%; height: auto; }
.backprop pre.code { background: #8881; padding: 0.6rem 0.8rem; border-radius: 0.3rem; overflow-x: auto;
  font-size: 0.85em; line-height: 1.35; }
""".strip()


class HtmlPrinter(DocumentPrinter):
    """Prints a derivation as an HTML page (or, with ``fragment=True``, the ``<div>`` of it)."""

    _default_settings = {**PagePrinter._default_settings, "fragment": False}

    style = CSS
    """The page's stylesheet (the training report adds to it)."""

    def document(self, lines: list[str]) -> str:
        body = "\n".join(lines)
        lang = escape(self.lang)
        if self._settings["fragment"]:
            return f'<div class="backprop" lang="{lang}">\n<style>\n{self.style}\n</style>\n{body}\n</div>\n'
        title = escape(self.words_key(self.title_key))
        return (
            f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            '<meta name="generator" content="backprop-cli">\n'
            f"<title>{title}</title>\n<style>\nbody {{ margin: 0; color: #1b1b1b; background: #fff; }}\n{self.style}\n"
            f'</style>\n</head>\n<body>\n<main class="backprop">\n{body}\n</main>\n</body>\n</html>\n'
        )

    def title(self, text: str) -> list[str]:
        return [f"<h1>{escape(text)}</h1>"]

    def facts(self, items: list[tuple[str | None, str]]) -> list[str]:
        lines = ['<ul class="facts">']
        for label, text in items:
            lead = f"<strong>{escape(label)}:</strong> " if label else ""
            lines.append(f"<li>{lead}{escape(text)}</li>")
        return lines + ["</ul>"]

    def heading(self, level: int, text: str) -> list[str]:
        return [f"<h{level}>{escape(text)}</h{level}>"]

    def paragraph(self, text: str) -> list[str]:
        return [f"<p>{escape(text)}</p>"]

    def note(self, text: str) -> list[str]:
        return [f'<p class="note">{escape(text)}</p>']

    def why(self, text: str) -> list[str]:
        # The formulas of a why line are written as on the terminal; here the minus is a true one.
        return [f'<p class="why">{escape(text).replace(" - ", " − ")}</p>']

    def footnote(self, text: str) -> list[str]:
        return [f'<p class="note">*&#8201;{escape(text)}</p>']

    def table(self, header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
        if align is None:  # the derivation's summary: the style aligns the headings
            heads = [f"<th>{escape(h)}</th>" for h in header]
            align = "l" + "r" * (len(header) - 1)
        else:
            heads = [f'<th class="{"number" if a == "r" else "text"}">{escape(h)}</th>'
                     for h, a in zip(header, align, strict=True)]
        lines = ["<table>", "<thead><tr>" + "".join(heads) + "</tr></thead>", "<tbody>"]
        for row in rows:
            cells = [f'<td class="number">{cell}</td>' if a == "r" else f"<td>{cell}</td>"
                     for cell, a in zip(row, align, strict=True)]
            lines.append("<tr>" + "".join(cells) + "</tr>")
        return lines + ["</tbody>", "</table>"]

    def inline_math(self, expr: Any) -> str:
        return f"<math>{to_mathml(expr)}</math>"


    def frozen_mark(self) -> str:
        return " *"

    def section_block(self, lines: list[str]) -> list[str]:
        return ["<section>", *lines, "</section>"]

    def intro(self, text: str) -> list[str]:
        return [f'<p class="intro">{escape(text)}</p>']

    def equation(self, parts: list[str], value: bool = True) -> list[str]:
        """``a = b = c``: the left side, then the ``= …`` parts that wrap; the last is the value
        (marked) unless ``value`` is false."""
        rest = []
        for i, part in enumerate(parts[1:], start=1):
            mark = ' class="value"' if value and i == len(parts) - 1 else ""
            rest.append(f"<math><mo>=</mo><mrow{mark}>{part}</mrow></math>")
        return [f'<div class="eq"><math>{parts[0]}</math><span class="rest">{"".join(rest)}</span></div>']

    def figure(self, drawn: Figure) -> list[str]:
        from backprop_cli.render.figure import svg

        return svg(drawn)

    def code_block(self, code: str) -> list[str]:
        return [f'<pre class="code"><code class="language-python">{escape(code.rstrip())}</code></pre>']

    def _print_Step(self, step: Step) -> list[str]:
        return self.equation(self.equation_parts(step, style="mathml")) + self.step_note(step)

    def steps(self, steps: tuple[Step | MatrixStep, ...]) -> list[str]:
        """A group's lines in one grid, their first ``=`` one under the other."""
        lines = super().steps(steps)
        return ['<div class="eqs">', *lines, "</div>"] if lines else []

    def cell_number(self, value: float) -> str:
        return escape(self.number(value)).replace("-", "−")

    def mtable(self, matrix: Matrix, heat: bool = False) -> str:
        """``matrix`` in brackets, its shape under it; a large one elided in the middle; with ``heat``,
        each cell shaded by its value (0 white, 1 the darkest)."""
        dots = ("<mo>⋯</mo>", "<mo>⋮</mo>", "<mo>⋱</mo>")

        def cell(v: float) -> str:
            text = mathml_number(self.number(v))
            if not heat:
                return text
            red, green, blue = heat_color(v)
            ink = "#fff" if v > 0.55 else "#1b1b1b"
            return f'<mstyle mathbackground="rgb({red},{green},{blue})" mathcolor="{ink}">{text}</mstyle>'

        cells = elided_cells(matrix, cell, dots)
        rows = "".join("<mtr>" + "".join(f"<mtd>{c}</mtd>" for c in row) + "</mtr>" for row in cells)
        shape = f"<mrow><mn>{matrix.shape[0]}</mn><mo>×</mo><mn>{matrix.shape[1]}</mn></mrow>"
        return (f'<munder><mrow><mo>[</mo><mtable class="matrix">{rows}</mtable><mo>]</mo></mrow>'
                f"{shape}</munder>")

    math_style = "mathml"

    def matrix(self, matrix: Matrix) -> str:
        return self.mtable(matrix)

    def heat_matrix(self, matrix: Matrix) -> str:
        return self.mtable(matrix, heat=True)

    def _print_MatrixStep(self, step: MatrixStep) -> list[str]:
        """As in LaTeX (``DocumentPrinter.matrix_step_rows``)."""
        rows = self.matrix_step_rows(step)
        lines: list[str] = []
        for index, (left, parts) in enumerate(rows):
            lines += self.equation([left, *parts], value=index == len(rows) - 1)
        return lines + self.step_note(step)


def heat_color(value: float) -> tuple[int, int, int]:
    """The shade of a weight from 0 (white) to 1 (deep blue), as a heat-map draws it."""
    t = min(max(value, 0.0), 1.0)
    return tuple(round(255 + (end - 255) * t) for end in (33, 102, 172))  # type: ignore[return-value]


def render(obj: Any, **settings: Any) -> str:
    """The derivation (or training report) as an HTML page; ``fragment=True`` for the part a notebook shows."""
    text: str = HtmlPrinter(**settings).doprint(obj)
    return text
