"""LaTeX: a standalone amsmath article that compiles with pdflatex, with the Markdown page's sections.

The English page is plain ASCII: the Greek letters and symbols of the prose become math commands
(``latex_text``), so the file needs nothing beyond texlive-latex-base and -recommended. A language
whose letters need a package names it in its locale file (``LATEX_PACKAGES``: ``kotex`` for Korean).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from backprop_cli.derivation import MatrixStep, Step
from backprop_cli.locales import latex_packages
from backprop_cli.printing import _VULGAR, to_latex
from backprop_cli.render.base import DocumentPrinter

if TYPE_CHECKING:
    from backprop_cli.render.figure import Figure

LINE_WIDTH = 90
"""How many characters of an equation's plain-text form fit on one display line of the page."""

_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
            "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\~{}", "<": r"\textless{}", ">": r"\textgreater{}",
            "|": r"\textbar{}"}
_MATH = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\epsilon", "η": r"\eta",
    "θ": r"\theta", "λ": r"\lambda", "μ": r"\mu", "σ": r"\sigma", "τ": r"\tau", "φ": r"\phi",
    "Σ": r"\Sigma", "Δ": r"\Delta", "ℓ": r"\ell", "∂": r"\partial", "𝓛": r"\mathcal{L}",
    "×": r"\times", "·": r"\cdot", "⋅": r"\cdot", "−": "-", "→": r"\to", "←": r"\leftarrow",
    "⋯": r"\cdots", "⋮": r"\vdots", "⋱": r"\ddots", "…": r"\ldots", "⊙": r"\odot", "√": r"\surd",
    "⋆": r"\star", "∗": r"\ast",
    "≤": r"\leq", "≥": r"\geq", "≠": r"\neq", "≈": r"\approx", "±": r"\pm", "∞": r"\infty",
    "ŷ": r"\hat{y}", "Ŷ": r"\hat{Y}", "′": "'", "✓": r"\checkmark", "✗": r"\times",
}
_MATH.update({text: rf"\tfrac{{{p}}}{{{q}}}" for (p, q), text in _VULGAR.items()})
# Runs of superscript (subscript) characters become one ^{…} (_{…}): W⁽ˡ⁻¹⁾ is W^{(l-1)}.
_SCRIPTS = {
    "^": {**dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿᵗˡ", "0123456789+-()ntl", strict=True)), "ᵀ": r"\top"},
    "_": dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", "0123456789+-()aehijklmnoprstuvx", strict=True)),
}
_HAT = "\u0302"


def latex_text(text: str) -> str:
    """Prose as LaTeX: specials escaped, the math letters and symbols of the prose as math.

    ``δ = ∂𝓛/∂z`` becomes ``\\ensuremath{\\delta} = \\ensuremath{\\partial\\mathcal{L}}/...``; letters
    of other scripts (Hangul) are kept as they are, for a package such as kotex to set.
    """
    pieces: list[tuple[bool, str]] = []
    for i, char in enumerate(text):
        if char == _HAT:
            continue
        if i + 1 < len(text) and text[i + 1] == _HAT:
            pieces.append((True, rf"\hat{{{_MATH.get(char, char)}}}"))
        elif char in _MATH:
            _letter_into_math(pieces, text, i, char)
            pieces.append((True, _MATH[char]))
        elif char in _SCRIPTS["^"] or char in _SCRIPTS["_"]:
            _letter_into_math(pieces, text, i, char)
            mark = "^" if char in _SCRIPTS["^"] else "_"
            inner = _SCRIPTS[mark][char]
            if i > 0 and text[i - 1] in _SCRIPTS[mark] and pieces and pieces[-1][1].startswith(mark + "{"):
                body = pieces[-1][1][2:-1]
                space = " " if re.search(r"\\[A-Za-z]+$", body) and inner[0].isalpha() else ""
                pieces[-1] = (True, f"{mark}{{{body}{space}{inner}}}")
            else:
                pieces.append((True, f"{mark}{{{inner}}}"))
        elif char.isascii() and char.isalpha() and i > 0 and text[i - 1] == "∂":
            pieces.append((True, char))  # the z of ∂𝓛/∂z
        elif _symbol_letter(text, i):
            pieces.append((True, char))  # the z of "the weighted sum z"
        else:
            pieces.append((False, _ESCAPES.get(char, char)))
    out: list[str] = []
    math: list[str] = []
    for is_math, piece in pieces + [(False, "")]:
        if is_math:
            math.append(piece)
            continue
        if math:
            out.append(r"\ensuremath{" + _join_math(math) + "}")
            math = []
        out.append(piece)
    return "".join(out)


def _symbol_letter(text: str, i: int) -> bool:
    """Whether ``text[i]`` is a letter standing alone as a symbol (z, y, W, N), not a word (a, I) or
    part of a name (--x, e.g., x.csv)."""
    char = text[i]
    if not (char.isascii() and char.isalpha()) or char in "aAI":
        return False
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    beyond = text[i + 2] if i + 2 < len(text) else " "
    if before == "/" and i > 1 and text[i - 2].isascii() and text[i - 2].isalpha():
        return False  # a unit: epochs/s
    return not (before.isascii() and (before.isalnum() or before in "-_.\\")) and not (
        after.isascii() and (after.isalnum() or after in "-_'" or (after == "." and beyond.isalnum())))


def _letter_into_math(pieces: list[tuple[bool, str]], text: str, i: int, char: str) -> None:
    """A one-letter symbol before a subscript or a prime joins the math: Wₖⱼ is W_{kj}, f′ is f'."""
    if char not in "′" and char not in _SCRIPTS["^"] and char not in _SCRIPTS["_"]:
        return
    if (i > 0 and text[i - 1].isascii() and text[i - 1].isalpha() and pieces and not pieces[-1][0]
            and (i < 2 or not (text[i - 2].isascii() and text[i - 2].isalpha()))):
        pieces[-1] = (True, text[i - 1])


def _join_math(pieces: list[str]) -> str:
    out = ""
    for piece in pieces:
        # \partial then a letter would read as one command name: \partialx.
        if out and out[-1].isalpha() and piece[0].isalpha():
            out += " "
        out += piece
    return out


def line_breaks(widths: list[int], width: int = LINE_WIDTH) -> list[list[int]]:
    """Which parts of ``a = b = c …`` go on each line: break before an ``=`` when a line is full.

    Args:
        widths: the printed width of each part; the first is the left side.
        width: the widest a line may be.
    """
    lines = [[0]]
    used = widths[0]
    for index in range(1, len(widths)):
        piece = widths[index] + 3
        shortest = 2 if len(lines) == 1 else 1  # the left side and one part; one part
        if used + piece > width and len(lines[-1]) >= shortest:
            lines.append([index])
            used = widths[0] + piece
        else:
            lines[-1].append(index)
            used += piece
    return lines


class LatexPrinter(DocumentPrinter):
    """Prints a derivation as a standalone LaTeX document."""

    packages: tuple[str, ...] = ()
    """Packages beyond amsmath, amssymb and booktabs (and the language's)."""

    def document(self, lines: list[str]) -> str:
        packages = ["amsmath", "amssymb", "booktabs", *self.packages, *latex_packages(self.lang)]
        head = [
            f"% {latex_text(self.words_key(self.title_key))}",
            f"% Written by backprop-cli ({self.command} --format latex); compile with pdflatex.",
            r"\documentclass[11pt]{article}",
            r"\usepackage[utf8]{inputenc}",
            r"\usepackage[a4paper,margin=2cm]{geometry}",
            *(rf"\usepackage{{{name}}}" for name in packages),
            r"\setlength{\parindent}{0pt}",
            r"\setlength{\parskip}{0.5\baselineskip}",
            r"\allowdisplaybreaks",
            r"\begin{document}",
            "",
        ]
        body = "\n".join(head + lines).rstrip("\n")
        return body + "\n\n" + r"\end{document}" + "\n"

    def title(self, text: str) -> list[str]:
        return [r"\begin{center}", rf"{{\Large\bfseries {latex_text(text)}\par}}", r"\end{center}", ""]

    def facts(self, items: list[tuple[str | None, str]]) -> list[str]:
        lines = [r"\begin{itemize}"]
        for label, text in items:
            lead = rf"\textbf{{{latex_text(label)}:}} " if label else ""
            lines.append(rf"\item {lead}{latex_text(text)}")
        return lines + [r"\end{itemize}", ""]

    def heading(self, level: int, text: str) -> list[str]:
        command = "section" if level <= 2 else "subsection" if level == 3 else "subsubsection"
        return [rf"\{command}*{{{latex_text(text)}}}", ""]

    def paragraph(self, text: str) -> list[str]:
        return [latex_text(text), ""]

    def note(self, text: str) -> list[str]:
        return [rf"\emph{{{latex_text(text)}}}", ""]

    def footnote(self, text: str) -> list[str]:
        return [rf"{self.frozen_mark()} {latex_text(text)}", ""]

    def table(self, header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
        align = align or "l" + "r" * (len(header) - 1)
        lines = [r"\begin{center}", r"\begin{tabular}{" + align + "}", r"\toprule",
                 " & ".join(latex_text(h) for h in header) + r" \\", r"\midrule"]
        lines += [" & ".join(row) + r" \\" for row in rows]
        return lines + [r"\bottomrule", r"\end{tabular}", r"\end{center}", ""]

    def inline_math(self, expr: Any) -> str:
        return f"${to_latex(expr)}$"

    def cell_number(self, value: float) -> str:
        return f"${self.number(value, latex=True)}$"

    def frozen_mark(self) -> str:
        return "${}^{*}$"

    def display(self, parts: list[str], widths: list[int]) -> list[str]:
        """``a = b = c …`` as display math, broken before an ``=`` onto aligned lines when long."""
        if len(widths) != len(parts):
            widths = [LINE_WIDTH] * len(parts)
        lines = line_breaks(widths)
        if len(lines) == 1:
            return [r"\[", " = ".join(parts), r"\]", ""]
        out = [r"\begin{align*}"]
        for number, indices in enumerate(lines):
            texts = [parts[i] for i in indices]
            if number == 0:
                text = texts[0] + " &= " + " = ".join(texts[1:])
            else:
                text = "&= " + " = ".join(texts)
            out.append(text + (r" \\" if number < len(lines) - 1 else ""))
        return out + [r"\end{align*}", ""]

    def steps(self, steps: tuple[Step | MatrixStep, ...]) -> list[str]:
        """A group's lines: each run of scalar lines in one ``align*``, every ``=`` that begins a
        line under the first; a matrix line as it is."""
        out: list[str] = []
        run: list[Step] = []
        for step in (*steps, None):
            if isinstance(step, Step):
                run.append(step)
                continue
            if run:
                out += self.aligned(run)
                run = []
            if step is not None:
                out += self._print(step)
        return out

    def aligned(self, steps: list[Step]) -> list[str]:
        """Scalar lines in one ``align*``, a long one broken before an ``=``; a remark under a line
        is ``\\intertext`` (after the last line, a paragraph)."""
        rows: list[tuple[str, bool]] = []  # (row, is text)
        for step in steps:
            parts = self.equation_parts(step, latex=True)
            widths = [len(p) for p in self.equation_parts(step, latex=False)]
            if len(widths) != len(parts):
                widths = [LINE_WIDTH] * len(parts)
            for number, indices in enumerate(line_breaks(widths)):
                texts = [parts[i] for i in indices]
                rows.append((texts[0] + " &= " + " = ".join(texts[1:]) if number == 0 else "&= " + " = ".join(texts),
                             False))
            if step.note is not None:
                rows.append((rf"\intertext{{\emph{{{latex_text(self.words(step.note))}}}}}", True))
        after: list[str] = []
        if rows[-1][1]:
            after = self.step_note(steps[-1])
            rows.pop()
        out = [r"\begin{align*}"]
        for index, (row, text) in enumerate(rows):
            last = index == len(rows) - 1
            out.append(row if text or last else row + r" \\")
        return [*out, r"\end{align*}", "", *after]

    def figure(self, drawn: Figure) -> list[str]:
        from backprop_cli.render.figure import latex_picture

        return latex_picture(drawn)

    def code_block(self, code: str) -> list[str]:
        return [r"{\small", r"\begin{verbatim}", *code.rstrip("\n").split("\n"), r"\end{verbatim}", "}", ""]

    def _print_Step(self, step: Step) -> list[str]:
        parts = self.equation_parts(step, latex=True)
        widths = [len(p) for p in self.equation_parts(step, latex=False)]
        return self.display(parts, widths) + self.step_note(step)

    def _print_MatrixStep(self, step: MatrixStep) -> list[str]:
        from backprop_cli.render.matrix_latex import matrix_step_lines

        return matrix_step_lines(self, step, markdown=False)


def render(obj: Any, **settings: Any) -> str:
    """The derivation (or training report) as a LaTeX document."""
    text: str = LatexPrinter(**settings).doprint(obj)
    return text
