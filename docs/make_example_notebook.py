"""Write and run docs/example.ipynb, the notebook example of the Python API.

    python docs/make_example_notebook.py

Needs nbformat, nbclient and ipykernel (``pip install nbformat nbclient ipykernel``); the outputs
stored in the notebook are those of this run. tests/test_notebook.py checks that running its cells
now gives the same outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

CELLS = [
    ("markdown", """# backprop-cli in a notebook

`backprop_cli.derive()` works out one training step of a small network, line by line, the way
`backprop step` does on the command line, and returns it as a `Derivation`. Jupyter draws a
Derivation as its page (HTML with MathML math: no script, nothing to download); `to_markdown()`,
`to_latex()`, `to_html()` and `to_json()` write it out, and `to_dict()` gives every number."""),
    ("code", """import backprop_cli

step = backprop_cli.derive()  # the seed example: 2-2-1 sigmoid network, BCE, x = (1, 1), y = 0, lr = 1
step"""),
    ("markdown", """The numbers are float64, equal to PyTorch autograd: the loss before and after the update, and
the gradient of the output layer's weights (the JSON contract of `backprop step --format json`)."""),
    ("code", "step.loss, step.loss_after"),
    ("code", 'step.to_dict()["layers"][1]["grad_weight"]'),
    ("markdown", """Any network, with the command line's options as keywords (`layers`, `activation`, `loss`, `lr`,
`seed`, `x`, `y`, `precision`, `rounding`, `form`, …); `lang="ko"` writes the page in Korean."""),
    ("code", """backprop_cli.derive(layers=[2, 3, 1], activation="tanh", loss="mse", x=[0.5, -1], y=[0.2],
                    seed=0, precision=3, lang="ko")"""),
    ("markdown", "For a LaTeX document (it compiles with pdflatex) or a blog post in Markdown:"),
    ("code", "print(step.to_latex()[:700])"),
    ("markdown", "The computation graph, every value and the gradient of the loss with respect to it, as a "
                 "Mermaid flowchart (`backprop step --graph graph.mmd`, or `.dot` for Graphviz):"),
    ("code", """from backprop_cli.graph import build_graph
from backprop_cli.render.graph import mermaid

print(mermaid(build_graph(step)))"""),
    ("markdown", """`backprop_cli.train()` trains for many epochs, as `backprop train` does, with the same options
(`data`, `epochs`, `batch_size`, `shuffle`, `optimizer`, `backend`, `show_steps`, …), and returns the
run. Jupyter draws it as the training report: the facts of the run, the loss table, the loss curve
(an SVG image), the trained weights and the predictions. Here XOR, from the seed's weights:"""),
    ("code", """run = backprop_cli.train(data="xor", epochs=2000)
run"""),
    ("code", "run.history[-1], run.final_loss  # (epoch, loss before its update), the loss after it"),
    ("markdown", """The report in Markdown (a Mermaid chart that GitHub draws, and the curve as text), LaTeX (the curve
drawn with LaTeX's own `picture`) or HTML; `timings=False` leaves out the run time, the one thing
that differs from run to run:"""),
    ("code", 'print(run.to_markdown(timings=False).split("## Trained parameters")[1])'),
]


def main() -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for kind, source in CELLS:
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        notebook.cells.append(make(source))
    for number, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{number}"  # stable ids: a rerun changes only what the code prints
    NotebookClient(notebook, timeout=120, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    notebook.metadata.pop("widgets", None)
    nbformat.validate(notebook)
    nbformat.write(notebook, HERE / "example.ipynb")


if __name__ == "__main__":
    main()
