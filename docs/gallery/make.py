"""Regenerate the gallery: the seed example in every format and language, one step and 100 epochs.

    python docs/gallery/make.py            # rewrite the files of this folder
    python docs/gallery/make.py --check    # exit 1, naming them, if any file differs from the code

Every file here is produced by this script from the code as it is (the tests run ``--check``), so
the gallery never drifts from what ``backprop step`` and ``backprop train`` print. The training
reports leave out the run time (``timings=False``), the one figure that differs from run to run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import backprop_cli
from backprop_cli.graph import build_graph
from backprop_cli.locales import LANGUAGES
from backprop_cli.render import render
from backprop_cli.render.graph import dot, mermaid
from backprop_cli.render.tree import tree

HERE = Path(__file__).resolve().parent
WIDTH = 80
"""Terminal pages are drawn 80 columns wide."""


def _terminal(renderable: object) -> str:
    import io

    from rich.console import Console

    buffer = io.StringIO()
    Console(width=WIDTH, file=buffer, color_system=None, force_terminal=False).print(renderable)
    return buffer.getvalue()


def pages() -> dict[str, str]:
    """File name -> contents, for every file of the gallery."""
    files: dict[str, str] = {}
    rows = []
    for lang in LANGUAGES:
        step = backprop_cli.derive(lang=lang)
        files[f"step.{lang}.md"] = step.to_markdown()
        files[f"step.{lang}.tex"] = step.to_latex()
        files[f"step.{lang}.html"] = step.to_html()
        files[f"step.{lang}.txt"] = render(step, "rich", width=WIDTH)
        files[f"tree.{lang}.txt"] = _terminal(tree(build_graph(step), lang=lang))
        commands = {
            f"step.{lang}.md": f"backprop step --lang {lang} --output step.md",
            f"step.{lang}.tex": f"backprop step --lang {lang} --output step.tex",
            f"step.{lang}.html": f"backprop step --lang {lang} --output step.html",
            f"step.{lang}.txt": f"COLUMNS={WIDTH} backprop step --lang {lang}",
            f"tree.{lang}.txt": f"COLUMNS={WIDTH} backprop step --lang {lang} --tree",
        }
        rows += list(commands.items())
    lenet = str(HERE.parent / "examples" / "lenet.toml")
    for lang in LANGUAGES:
        step = backprop_cli.derive(lenet, form="scalar", lang=lang)
        files[f"conv.{lang}.md"] = step.to_markdown()
        files[f"conv.{lang}.tex"] = step.to_latex()
        files[f"conv.{lang}.html"] = step.to_html()
        files[f"conv.{lang}.txt"] = render(step, "rich", width=WIDTH)
        spec = "--network docs/examples/lenet.toml --form scalar"
        rows += [(f"conv.{lang}.md", f"backprop step {spec} --lang {lang} --output conv.md"),
                 (f"conv.{lang}.tex", f"backprop step {spec} --lang {lang} --output conv.tex"),
                 (f"conv.{lang}.html", f"backprop step {spec} --lang {lang} --output conv.html"),
                 (f"conv.{lang}.txt", f"COLUMNS={WIDTH} backprop step {spec} --lang {lang}")]
    for name, form in (("rnn", "matrix"), ("lstm", "auto")):
        example = str(HERE.parent / "examples" / f"{name}.toml")
        spec = f"--network docs/examples/{name}.toml" + (f" --form {form}" if form != "auto" else "")
        for lang in LANGUAGES:
            step = backprop_cli.derive(example, lang=lang, form=form)
            files[f"{name}.{lang}.md"] = step.to_markdown()
            files[f"{name}.{lang}.tex"] = step.to_latex()
            files[f"{name}.{lang}.html"] = step.to_html()
            files[f"{name}.{lang}.txt"] = render(step, "rich", width=WIDTH)
            rows += [(f"{name}.{lang}.md", f"backprop step {spec} --lang {lang} --output {name}.md"),
                     (f"{name}.{lang}.tex", f"backprop step {spec} --lang {lang} --output {name}.tex"),
                     (f"{name}.{lang}.html", f"backprop step {spec} --lang {lang} --output {name}.html"),
                     (f"{name}.{lang}.txt", f"COLUMNS={WIDTH} backprop step {spec} --lang {lang}")]
        files[f"{name}.json"] = backprop_cli.derive(example, form=form).to_json()
        rows.append((f"{name}.json", f"backprop step {spec} --format json"))
    run = backprop_cli.train(epochs=100)
    for lang in LANGUAGES:
        files[f"report.{lang}.md"] = run.to_markdown(lang=lang, timings=False)
        files[f"report.{lang}.tex"] = run.to_latex(lang=lang, timings=False)
        files[f"report.{lang}.html"] = run.to_html(lang=lang, timings=False)
        files[f"report.{lang}.txt"] = render(run, "rich", width=WIDTH, lang=lang, timings=False)
        rows += [(f"report.{lang}.md", f"backprop train --lang {lang} --output report.md"),
                 (f"report.{lang}.tex", f"backprop train --lang {lang} --output report.tex"),
                 (f"report.{lang}.html", f"backprop train --lang {lang} --output report.html"),
                 (f"report.{lang}.txt", f"COLUMNS={WIDTH} backprop train --lang {lang}")]
    step = backprop_cli.derive()
    files["step.json"] = step.to_json()
    files["graph.dot"] = dot(build_graph(step))
    files["graph.mmd"] = mermaid(build_graph(step))
    rows += [("step.json", "backprop step --format json"), ("graph.dot", "backprop step --graph graph.dot"),
             ("graph.mmd", "backprop step --graph graph.mmd")]
    index = [
        "# Gallery",
        "",
        "The seed example (a 2-2-1 sigmoid network, binary cross-entropy, x = (1, 1), y = 0, SGD with",
        "learning rate 1) in every format and language: one step derived (`step.*`), and 100 epochs of",
        "training (`report.*`). `conv.*` is one step of a tiny LeNet (`docs/examples/lenet.toml`: a 6×6",
        "image, two 3×3 kernels with relu, 2×2 max pooling, flatten, a softmax over three classes),",
        "worked element by element. `rnn.*` is one step of a recurrent network through time",
        "(`docs/examples/rnn.toml`: three numbers in, their sum out, nn.RNN with two tanh units, then a",
        "dense layer) in the matrix form, a group of lines per time step; `lstm.*` Aidan Gomez's numerical",
        "LSTM example (`docs/examples/lstm.toml`: one unit, two steps of two features, a label at each step)",
        "unit by unit, the scalar form `--form auto` picks for a network this small: a line per gate and",
        "step, and each shared weight's gradient as its sum over the steps. Every file is written by",
        "`make.py` from the code (`python docs/gallery/make.py`); the tests check that they are what the",
        "code prints now.",
        "The training reports leave out the run time (seconds, epochs per second), which differs from run",
        "to run: the command prints it in the Run line, where these files say only `100 epochs`.",
        "",
        "| file | command |",
        "|---|---|",
        *(f"| [{name}]({name}) | `{command}` |" for name, command in rows),
        "",
        "The LaTeX files compile with `pdflatex` (the Korean ones need ko.TeX: Debian's",
        "`texlive-lang-korean`); `dot -Tsvg graph.dot -o graph.svg` draws the graph with Graphviz.",
        "",
    ]
    files["README.md"] = "\n".join(index)
    return files


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, text in pages().items():
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date: " + ", ".join(stale) + "; run python docs/gallery/make.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
