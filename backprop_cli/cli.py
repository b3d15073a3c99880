"""The command line: parses options, calls the core, prints; maps BackpropError to exit code 2.

Kept light on purpose: sympy, numpy and torch are imported inside the commands that need them,
so ``backprop --help`` starts as fast as typer itself.
"""

from __future__ import annotations

import math
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from backprop_cli.errors import BackpropError
from backprop_cli.render.status import working

app = typer.Typer(
    name="backprop",
    help=(
        "Backpropagation, worked out: every weighted sum, activation, loss, chain-rule"
        " derivative and update of a small neural network, symbolically and with the numbers.\n\n"
        "With no options every command uses the seed example: a 2-2-1 sigmoid network with"
        " binary cross-entropy, x = (1, 1), y = 0 and learning rate 1.\n\n"
        "Any command takes --verbose: notes on stderr, such as a derivative cache entry that was"
        " ignored and derived again."
    ),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

NETWORK = "Network (default: the seed's 2-2-1 sigmoid network)"
DATA = "Samples (default: the seed's x = 1 1, y = 0)"
OUTPUT = "Output"
OPTIMIZER = "Optimizer (torch.optim's definitions and defaults)"
TRAINING = "Training"

NetworkFile = Annotated[str | None, typer.Option(
    "--network", metavar="FILE", rich_help_panel=NETWORK,
    help="Spec file (.toml or .json, see backprop init) or a torch state_dict (.pt).")]
Layers = Annotated[list[str] | None, typer.Option(
    "--layers", metavar="N N …", rich_help_panel=NETWORK,
    help="Widths, inputs first, for random weights: --layers 2 3 1.")]
InputShapeOpt = Annotated[list[str] | None, typer.Option(
    "--input-shape", metavar="C [H] W", rich_help_panel=NETWORK,
    help="Images (channels, height, width) or signals (channels, length): a small random convolutional"
         " network, conv → relu → max pool → flatten → dense, seeded by --seed.")]
ActivationOpt = Annotated[list[str] | None, typer.Option(
    "--activation", metavar="NAME|FORMULA", rich_help_panel=NETWORK,
    help="sigmoid, tanh, relu, leaky_relu, identity, softmax (output layer) or a formula in x such"
         " as 'x/(1+abs(x))'; one for every layer, or one per layer: --activation tanh sigmoid.")]
LossOpt = Annotated[str | None, typer.Option(
    "--loss", metavar="NAME", rich_help_panel=NETWORK,
    help="bce, mse, sse, half_sse or cross_entropy (needs a softmax output).")]
LrOpt = Annotated[float | None, typer.Option("--lr", metavar="F", rich_help_panel=NETWORK,
                                             help="Learning rate α.")]
SeedOpt = Annotated[int | None, typer.Option("--seed", metavar="N", rich_help_panel=NETWORK,
                                             help="Seed for random weights (and shuffling).")]
InitOpt = Annotated[str | None, typer.Option(
    "--init", metavar="xavier|he|uniform", rich_help_panel=NETWORK,
    help="Initialisation for --layers: Glorot or Kaiming uniform, or torch.nn.Linear's default.")]
XOpt = Annotated[list[str] | None, typer.Option(
    "--x", metavar="V V …", rich_help_panel=DATA,
    help="Inputs of one sample, as typed: --x 1 1. Repeat --x/--y for a batch.")]
YOpt = Annotated[list[str] | None, typer.Option(
    "--y", metavar="V …", rich_help_panel=DATA, help="Targets of one sample: --y 0.")]
DataOpt = Annotated[str | None, typer.Option(
    "--data", metavar="xor|and|or|shapes|hello|corpus|FILE", rich_help_panel=DATA,
    help="A built-in truth table, shapes (300 6×6 images of bars and crosses, three classes), hello (the"
         " next character of \"hello\", a recurrent network), corpus (next words of a few short sentences,"
         " an embedding network), or a .csv"
         " (last --targets columns are y) / .npz / .npy file.")]
TokensOpt = Annotated[str | None, typer.Option(
    "--tokens", metavar="\"W W …\"", rich_help_panel=DATA,
    help="Words, one sample of next-token prediction: the input is every word but the last, the target at"
         " each position the word after it. Without --network: embedding → positions → a transformer block → softmax.")]
TokenIdsOpt = Annotated[list[str] | None, typer.Option(
    "--token-ids", metavar="N N …", rich_help_panel=DATA, help="The same as token ids: --token-ids 0 2 1.")]
VocabTextOpt = Annotated[str | None, typer.Option(
    "--vocab-text", metavar="TEXT", rich_help_panel=DATA,
    help="The vocabulary: the sorted distinct words of TEXT (default: of --tokens).")]
TargetsOpt = Annotated[int | None, typer.Option("--targets", metavar="K", rich_help_panel=DATA,
                                                help="How many trailing columns of a .csv (or a .npy array) are"
                                                     " targets (default 1).")]
OptimizerOpt = Annotated[str | None, typer.Option(
    "--optimizer", metavar="sgd|momentum|adam|adamw|rmsprop", rich_help_panel=OPTIMIZER,
    help="sgd; momentum (SGD with momentum); adam; adamw (decoupled weight decay); rmsprop."
         " Default: the spec file's, else sgd.")]
MomentumOpt = Annotated[float | None, typer.Option("--momentum", metavar="F", rich_help_panel=OPTIMIZER,
                                                   help="Momentum μ of --optimizer momentum (0.9).")]
Beta1Opt = Annotated[float | None, typer.Option("--beta1", metavar="F", rich_help_panel=OPTIMIZER,
                                                help="Adam's β₁ (0.9).")]
Beta2Opt = Annotated[float | None, typer.Option("--beta2", metavar="F", rich_help_panel=OPTIMIZER,
                                                help="Adam's β₂ (0.999).")]
EpsOpt = Annotated[float | None, typer.Option("--eps", metavar="F", rich_help_panel=OPTIMIZER,
                                              help="Adam's and RMSprop's ε (1e-8).")]
AlphaOpt = Annotated[float | None, typer.Option("--alpha", metavar="F", rich_help_panel=OPTIMIZER,
                                                help="RMSprop's smoothing constant (torch's alpha, 0.99).")]
WeightDecayOpt = Annotated[float | None, typer.Option(
    "--weight-decay", metavar="F", rich_help_panel=OPTIMIZER,
    help="L2 weight decay λ added to the gradient, as torch.optim does (AdamW: decoupled; 0, AdamW 0.01).")]
CenteredOpt = Annotated[bool | None, typer.Option("--centered", rich_help_panel=OPTIMIZER,
                                                  help="RMSprop's centered variant.")]
FormatOpt = Annotated[str | None, typer.Option(
    "--format", "-f", metavar="rich|markdown|latex|html|json", rich_help_panel=OUTPUT,
    help="Output format (default: rich, or from the --output file's extension).")]
StepFormatOpt = Annotated[str | None, typer.Option(
    "--format", "-f", metavar="rich|markdown|latex|html|json|torch", rich_help_panel=OUTPUT,
    help="Output format (default: rich, or from the --output file's extension); torch: a runnable"
         " PyTorch script of this step that prints its numbers as JSON.")]
OutputOpt = Annotated[Path | None, typer.Option(
    "--output", "-o", metavar="FILE", rich_help_panel=OUTPUT,
    help="Write to FILE (.md, .tex, .html, .json, .txt); refuses to overwrite without --force.")]
ForceOpt = Annotated[bool, typer.Option("--force", rich_help_panel=OUTPUT,
                                        help="Overwrite an existing output file.")]
PrecisionOpt = Annotated[int, typer.Option("--precision", metavar="N", rich_help_panel=OUTPUT,
                                           help="Printed decimals.")]
RoundingOpt = Annotated[str, typer.Option(
    "--rounding", metavar="exact|carry", rich_help_panel=OUTPUT,
    help="exact: float64 throughout. carry: round every line to the printed digits before the"
         " next uses it, as on paper.")]
LangOpt = Annotated[str, typer.Option("--lang", metavar="en|ko", rich_help_panel=OUTPUT,
                                      help="Language of the page: en (English) or ko (Korean).")]
GraphOpt = Annotated[Path | None, typer.Option(
    "--graph", metavar="FILE", rich_help_panel=OUTPUT,
    help="Also write the computation graph, every value and gradient: .dot (Graphviz) or .mmd (Mermaid).")]
TreeOpt = Annotated[bool, typer.Option(
    "--tree", rich_help_panel=OUTPUT,
    help="Print the computation graph as a tree (the loss at the root) instead of the page.")]
FormOpt = Annotated[str, typer.Option(
    "--form", metavar="auto|scalar|matrix", rich_help_panel=OUTPUT,
    help="scalar: a line per weight. matrix: Z = AWᵀ + b with every matrix. auto: matrix for a"
         " batch or a layer wider than 8 units.")]


BriefOpt = Annotated[bool, typer.Option(
    "--brief", rich_help_panel=OUTPUT,
    help="Leave out the \"why\" lines (the chain rule in general, why δ is ŷ − y, dead units, shrinking"
         " |δ|): the lines and their numbers alone.")]
LayoutOpt = Annotated[str, typer.Option(
    "--layout", rich_help_panel=OUTPUT, metavar="torch|transposed",
    help="Write the weights as torch stores them (z = Wx, W units × inputs: the default) or as books that"
         " write z = Wᵀx do (W inputs × units, numbered input by input); the numbers are the same.")]
MomentumFormOpt = Annotated[str, typer.Option(
    "--momentum-form", rich_help_panel=OUTPUT, metavar="torch|textbook",
    help="Write SGD with momentum as torch does (v = μv + g, θ = θ − αv) or as v = μv − αg,"
         " θ = θ + v; the same numbers.")]


def _numbers(values: list[str] | None, name: str) -> list[tuple[float, ...]] | None:
    if not values:
        return None
    samples = []
    for value in values:
        row = []
        for token in value.replace(",", " ").split():
            try:
                row.append(float(token))
            except ValueError:
                raise BackpropError(f"{name}: {token!r} is not a number (e.g. --{name} 1 0.5 -2)") from None
        if not row:
            raise BackpropError(f"{name}: give at least one number after --{name}")
        samples.append(tuple(row))
    return samples


def _widths(values: list[str] | None, name: str = "layers", example: str = "2 3 1") -> list[int] | None:
    rows = _numbers(values, name)
    if rows is None:
        return None
    widths = [w for row in rows for w in row]
    for w in widths:
        if not math.isfinite(w) or w != int(w) or w < 1:
            raise BackpropError(
                f"{name}: every {'width' if name == 'layers' else 'size'} must be a whole number of at least 1,"
                f" got {w:g}; e.g. --{name.replace('_', '-')} {example}")
    return [int(w) for w in widths]


def _patience(patience: int | None, early_stop: float | None) -> int:
    """--patience's epochs (10 when not given); given without --early-stop, an error: it would do nothing."""
    if patience is None:
        return 10
    if early_stop is None:
        raise BackpropError(f"patience: --patience counts epochs for --early-stop; add --early-stop DELTA"
                            f" (e.g. --early-stop 1e-4 --patience {patience}) or leave --patience out")
    return patience


def network_options(**given: Any) -> Any:
    """NetworkOptions from the command's parsed options."""
    from backprop_cli.resolve import NetworkOptions

    return NetworkOptions(
        network=given.get("network"),
        layers=_widths(given.get("layers")),
        input_shape=_widths(given.get("input_shape"), "input_shape", "1 6 6"),
        activation=given.get("activation"),
        loss=given.get("loss"),
        lr=given.get("lr"),
        seed=given.get("seed"),
        init=given.get("init"),
        optimizer=given.get("optimizer"),
        momentum=given.get("momentum"),
        beta1=given.get("beta1"),
        beta2=given.get("beta2"),
        eps=given.get("eps"),
        alpha=given.get("alpha"),
        weight_decay=given.get("weight_decay"),
        centered=given.get("centered"),
        x=_numbers(given.get("x"), "x"),
        y=_numbers(given.get("y"), "y"),
        data=given.get("data"),
        targets=given.get("targets"),
        tokens=given.get("tokens"),
        token_ids=None if given.get("token_ids") is None else [v for row in _numbers(given["token_ids"], "token-ids")
                                                               or () for v in row],
        vocab_text=given.get("vocab_text"),
    )


MAX_PRECISION = 15
"""float64 holds 15 to 17 significant digits: more printed decimals would print rounding noise."""


def check_precision(precision: int) -> None:
    """Printed decimals: 0 to 15, the same rule for every command."""
    if not 0 <= precision <= MAX_PRECISION:
        raise BackpropError(f"precision: must be between 0 and {MAX_PRECISION}, got {precision}")


def output_format(fmt: str | None, output: Path | None, allowed: tuple[str, ...]) -> str:
    """The format to write: --format if given, else the --output file's extension, else rich."""
    from backprop_cli.render import EXTENSIONS

    if fmt is not None:
        if fmt not in allowed:
            raise BackpropError(f"format: unknown format {fmt!r}; choose one of {', '.join(allowed)}")
        return fmt
    if output is not None:
        found = EXTENSIONS.get(output.suffix.lower())
        if found is None or found not in allowed:
            known = ", ".join(e for e, f in EXTENSIONS.items() if f in allowed)
            raise BackpropError(f"output: cannot tell the format of {output.name}; use {known} or --format")
        return found
    return "rich"


def emit(obj: Any, fmt: str, output: Path | None, force: bool, **settings: Any) -> None:
    """Print ``obj`` in ``fmt``, or write it to ``output`` atomically."""
    from backprop_cli.render import render

    if output is not None:
        from backprop_cli.io import write_atomic

        text = render(obj, fmt, **settings)
        write_atomic(output, text, force=force)
        typer.echo(f"wrote {output}", err=True)
        return
    if fmt == "rich":
        from rich.console import Console

        from backprop_cli.render import renderable

        Console(highlight=False, emoji=False).print(renderable(obj, **settings))
        return
    sys.stdout.write(render(obj, fmt, **settings))


STEP_FORMATS = ("rich", "markdown", "latex", "html", "json", "torch")


def json_form(chosen: str, rounding: str, graph: Path | None, form: str) -> str:
    """The form whose page computes step's numbers: JSON prints no page, so its exact values come
    from the matrix form (one numpy pass over each layer) whichever form is asked, identical in
    both and never paying for a line per weight and unit. Carried values are the page's own
    rounding, and a graph is drawn from the page asked for, so those keep the form."""
    if chosen == "json" and rounding == "exact" and graph is None and form in ("auto", "scalar"):
        return "matrix"
    return form


@app.command()
def step(
    network: NetworkFile = None,
    layers: Layers = None,
    input_shape: InputShapeOpt = None,
    activation: ActivationOpt = None,
    loss: LossOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    init: InitOpt = None,
    optimizer: OptimizerOpt = None,
    momentum: MomentumOpt = None,
    beta1: Beta1Opt = None,
    beta2: Beta2Opt = None,
    eps: EpsOpt = None,
    alpha: AlphaOpt = None,
    weight_decay: WeightDecayOpt = None,
    centered: CenteredOpt = None,
    x: XOpt = None,
    y: YOpt = None,
    data: DataOpt = None,
    targets: TargetsOpt = None,
    tokens: TokensOpt = None,
    token_ids: TokenIdsOpt = None,
    vocab_text: VocabTextOpt = None,
    form: FormOpt = "auto",
    fmt: StepFormatOpt = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
    precision: PrecisionOpt = 4,
    rounding: RoundingOpt = "exact",
    lang: LangOpt = "en",
    graph: GraphOpt = None,
    tree: TreeOpt = False,
    figure: Annotated[bool, typer.Option(
        "--figure/--no-figure", rich_help_panel=OUTPUT,
        help="Begin the page with the network's figure (networks of dense layers up to 6 units wide):"
             " a text drawing in the terminal, Mermaid, LaTeX or SVG in the documents.")] = True,
    with_code: Annotated[bool, typer.Option(
        "--with-code", rich_help_panel=OUTPUT,
        help="End the page with the PyTorch code of this step (model(x), criterion, backward, step),"
             " which prints the page's numbers when run.")] = False,
    brief: BriefOpt = False,
    layout: LayoutOpt = "torch",
    momentum_form: MomentumFormOpt = "torch",
    clip_norm: Annotated[float | None, typer.Option(
        "--clip-norm", metavar="MAX", rich_help_panel=OPTIMIZER,
        help="Scale the gradients to a 2-norm of at most MAX before the update"
             " (torch.nn.utils.clip_grad_norm_), shown on the page with the norm before and after."
             " Matrix form.")] = None,
    clip_value: Annotated[float | None, typer.Option(
        "--clip-value", metavar="V", rich_help_panel=OPTIMIZER,
        help="Clamp every gradient to [-V, V] before the update (clip_grad_value_). Matrix form.")] = None,
) -> None:
    """One training step, derived line by line: forward pass, loss, chain rule, update.

    Every line is shown three ways: in symbols, with the numbers substituted, and its value.

    \b
    Examples:
      backprop step                                 the seed example
      backprop step --x 1 0 --y 1 --rounding carry  another sample, rounded as on paper
      backprop step --layers 2 3 1 --activation tanh --loss mse --x 0.5 -1 --y 0.2
      backprop step --network net.toml -o step.md   Markdown for notes and blogs
      backprop step -o step.tex --lang ko           LaTeX (pdflatex), in Korean
      backprop step -o step.html --graph step.dot   a web page, and the graph for Graphviz
      backprop step --tree                          the computation graph as a tree
      backprop step --optimizer adam --lr 0.01      Adam's moments and bias correction
      backprop step --input-shape 1 5 5 --seed 1    a small convolutional network, one image
      backprop step --format json                   every number, float64
      backprop step -o step.py                      the step in PyTorch (python step.py prints it)
      backprop step --tokens "i love you"           next tokens: embedding, positions, softmax
      backprop step --with-code -o step.md          the page, then its PyTorch code
    """
    from backprop_cli.build import build_derivation
    from backprop_cli.derivation import Options
    from backprop_cli.locales import check_language
    from backprop_cli.resolve import resolve

    chosen = output_format(fmt, output, STEP_FORMATS)
    check_language(lang)
    check_precision(precision)
    if tree and (fmt is not None or output is not None):
        raise BackpropError("tree: --tree prints to the terminal; leave out --format and --output,"
                            " or write the graph to a file with --graph FILE.dot")
    if output is not None:
        from backprop_cli.io import check_writable

        check_writable(output, force)
    if graph is not None:
        from backprop_cli.io import check_writable
        from backprop_cli.render.graph import graph_format

        graph_format(graph)
        check_writable(graph, force)
    if output is not None and graph is not None:
        from backprop_cli.io import check_distinct

        check_distinct({"--output": output, "--graph": graph})
    with working(say("status.step", lang), _interactive()):
        net, xs, ys = resolve(network_options(
            network=network, layers=layers, input_shape=input_shape, activation=activation, loss=loss, lr=lr, seed=seed,
            init=init, optimizer=optimizer, momentum=momentum, beta1=beta1, beta2=beta2, eps=eps,
            alpha=alpha, weight_decay=weight_decay, centered=centered,
            x=x, y=y, data=data, targets=targets, tokens=tokens, token_ids=token_ids, vocab_text=vocab_text))
        from backprop_cli.schedules import parse_clip

        clip = parse_clip(clip_norm, clip_value)
        if clip is not None and (with_code or chosen == "torch"):
            raise BackpropError("clip: the PyTorch script of a step does not clip; leave out --clip-norm/--clip-value"
                                " or --with-code/--format torch")
        page_form = json_form(chosen, rounding, graph, form)
        derivation = build_derivation(net, xs, ys, Options(precision, rounding, page_form, lang, figure, brief,
                                                           layout, momentum_form, clip))
    if with_code:
        from dataclasses import replace

        from backprop_cli.render.pytorch import script

        derivation = replace(derivation, extra={**derivation.extra, "code": script(derivation)})
    if graph is not None:
        from backprop_cli.graph import build_graph
        from backprop_cli.io import write_atomic
        from backprop_cli.render.graph import graph_text

        write_atomic(graph, graph_text(build_graph(derivation), graph_format(graph), precision), force=force)
        typer.echo(f"wrote {graph}", err=True)
    if tree:
        from rich.console import Console

        from backprop_cli.graph import build_graph
        from backprop_cli.render.tree import tree as tree_panel

        Console(highlight=False).print(tree_panel(build_graph(derivation), precision, lang))
        return
    if chosen == "torch":
        from backprop_cli.io import write_atomic
        from backprop_cli.render.pytorch import script

        text = script(derivation)
        if output is None:
            sys.stdout.write(text)
        else:
            write_atomic(output, text, force=force)
            typer.echo(f"wrote {output}; run it with python {output}", err=True)
        return
    emit(derivation, chosen, output, force)


VERIFY_FORMATS = ("rich", "json")


@app.command()
def verify(
    network: NetworkFile = None,
    layers: Layers = None,
    input_shape: InputShapeOpt = None,
    activation: ActivationOpt = None,
    loss: LossOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    init: InitOpt = None,
    x: XOpt = None,
    y: YOpt = None,
    data: DataOpt = None,
    targets: TargetsOpt = None,
    tokens: TokensOpt = None,
    token_ids: TokenIdsOpt = None,
    vocab_text: VocabTextOpt = None,
    form: FormOpt = "auto",
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", metavar="rich|json", rich_help_panel=OUTPUT,
        help="Output format (default: rich).")] = None,
    precision: Annotated[int, typer.Option("--precision", metavar="N", rich_help_panel=OUTPUT,
                                           help="Printed decimals of the gradients.")] = 8,
    lang: LangOpt = "en",
) -> None:
    """Check every gradient of the derivation against PyTorch autograd and finite differences.

    Prints a table with the absolute and relative error of each gradient against each reference
    and a verdict. Exit code 0 when every gradient agrees, 1 on a mismatch, 2 for bad input.
    PyTorch is used where it is installed; finite differences always.

    \b
    Examples:
      backprop verify                               the seed example
      backprop verify --layers 2 3 1 --activation tanh --loss mse --x 0.5 -1 --y 0.2
      backprop verify --activation "x*sigmoid(x)" --format json
    """
    from backprop_cli.resolve import resolve
    from backprop_cli.verification import check_gradients

    chosen = output_format(fmt, None, VERIFY_FORMATS)
    check_precision(precision)
    with working(say("status.verify", lang), _interactive()):
        net, xs, ys = resolve(network_options(
            network=network, layers=layers, input_shape=input_shape, activation=activation, loss=loss, lr=lr, seed=seed,
            init=init, x=x, y=y, data=data, targets=targets, tokens=tokens, token_ids=token_ids,
            vocab_text=vocab_text))
        report = check_gradients(net, xs, ys, form=form, autograd=autograd_ahead[0])
    if chosen == "json":
        import json

        sys.stdout.write(json.dumps(report.to_dict(), indent=1, ensure_ascii=False) + "\n")
    else:
        from rich.console import Console

        from backprop_cli.render.verify_terminal import verification_renderable

        Console(highlight=False).print(verification_renderable(report, precision=precision, lang=lang))
    if not report.ok:
        raise typer.Exit(code=1)


CHECK_FORMATS = ("rich", "markdown", "latex", "html", "json")


@app.command()
def check(
    answers: Annotated[str, typer.Argument(
        metavar="ANSWERS", help="File of 'name = value' lines or a JSON document in the layout of"
                                " backprop step --format json; - for standard input.")],
    network: NetworkFile = None,
    layers: Layers = None,
    input_shape: InputShapeOpt = None,
    activation: ActivationOpt = None,
    loss: LossOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    init: InitOpt = None,
    optimizer: OptimizerOpt = None,
    momentum: MomentumOpt = None,
    beta1: Beta1Opt = None,
    beta2: Beta2Opt = None,
    eps: EpsOpt = None,
    alpha: AlphaOpt = None,
    weight_decay: WeightDecayOpt = None,
    centered: CenteredOpt = None,
    x: XOpt = None,
    y: YOpt = None,
    data: DataOpt = None,
    targets: TargetsOpt = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", metavar="rich|markdown|latex|html|json", rich_help_panel=OUTPUT,
        help="Output format (default: rich; else from --output's extension).")] = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
    brief: Annotated[bool, typer.Option(
        "--brief", rich_help_panel=OUTPUT,
        help="Only the lines given, not the whole page with the marks.")] = False,
    precision: PrecisionOpt = 4,
    lang: LangOpt = "en",
) -> None:
    """Check a step worked by hand: each value against the page, and the mistake behind a wrong one.

    ANSWERS holds 'name = value' lines with the page's names in ASCII (z1, a1 or sigma1, yhat, L,
    delta3, dL/dW5, W5(t+1); in a batch z1[2] for sample 2), or a JSON document in the layout of
    `backprop step --format json`; any subset, in any order. Each value is checked with the
    tolerance of the digits written (and what carrying them line by line moves it by). A wrong one
    is recomputed under each known mistake (sign, missing activation derivative, updated weight
    used, update sign, missing learning rate, mean vs sum, mse factor, swapped index, z for a,
    rounding) and the one that gives the value is named. The page is printed with ✓ or ✗ under
    each line given. Exit code 0 when all are right, 1 otherwise.

    \b
    Examples:
      backprop check answers.txt                    against the seed example
      backprop check answers.txt --x 1 0 --y 1 --format json
      backprop check answers.txt --brief --lang ko  only the lines given, in Korean
      backprop check answers.txt -o marked.md       the marked page as Markdown
      backprop check answers.txt --network network.toml
                                                    a sheet of backprop exercise
    """
    from backprop_cli.check import check_work, marked, read_answers, report_text
    from backprop_cli.locales import check_language
    from backprop_cli.resolve import resolve

    chosen = output_format(fmt, output, CHECK_FORMATS)
    check_language(lang)
    check_precision(precision)
    if output is not None:
        from backprop_cli.io import check_writable

        check_writable(output, force)
    net, xs, ys = resolve(network_options(
        network=network, layers=layers, input_shape=input_shape, activation=activation, loss=loss, lr=lr, seed=seed,
        init=init, optimizer=optimizer, momentum=momentum, beta1=beta1, beta2=beta2, eps=eps,
        alpha=alpha, weight_decay=weight_decay, centered=centered,
        x=x, y=y, data=data, targets=targets))
    given = read_answers(answers, net)
    page, results = check_work(net, xs, ys, given, lang, precision)
    if chosen == "json":
        import json

        text = json.dumps([r.to_dict() for r in results], indent=1, ensure_ascii=False) + "\n"
    elif brief or chosen == "rich":
        text = report_text(results, lang)
    else:
        from backprop_cli.render import render

        text = render(marked(page, results), chosen)
    if chosen == "rich" and not brief and output is None:
        from rich.console import Console

        from backprop_cli.render import renderable

        Console(highlight=False, emoji=False).print(renderable(marked(page, results)))
    if output is not None:
        from backprop_cli.io import write_atomic

        write_atomic(output, text, force=force)
        typer.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.write(text)
    if not all(r.ok for r in results):
        raise typer.Exit(code=1)


EXERCISE_FORMATS = ("markdown", "latex", "html")
EXERCISE_PARTS = ("sheet", "key", "answers", "network")


@app.command()
def exercise(
    network: NetworkFile = None,
    layers: Layers = None,
    input_shape: InputShapeOpt = None,
    activation: ActivationOpt = None,
    loss: LossOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    optimizer: OptimizerOpt = None,
    momentum: MomentumOpt = None,
    beta1: Beta1Opt = None,
    beta2: Beta2Opt = None,
    eps: EpsOpt = None,
    alpha: AlphaOpt = None,
    weight_decay: WeightDecayOpt = None,
    centered: CenteredOpt = None,
    x: XOpt = None,
    y: YOpt = None,
    data: DataOpt = None,
    targets: TargetsOpt = None,
    ask: Annotated[str | None, typer.Option(
        "--ask", metavar="forward,loss,backward,update",
        help="The sections to ask, comma-separated (default: all four).")] = None,
    variants: Annotated[int, typer.Option(
        "--variants", metavar="N", help="How many different sheets, one per student (needs --output).")] = 1,
    decimals: Annotated[int, typer.Option(
        "--decimals", metavar="1|2", help="Decimals of the drawn weights and inputs.")] = 1,
    show: Annotated[str, typer.Option(
        "--show", metavar="sheet|key|answers|network", rich_help_panel=OUTPUT,
        help="Without --output: what to print (the sheet, its answer key, the answer template"
             " or the network's spec file).")] = "sheet",
    fmt: Annotated[str | None, typer.Option(
        "--format", "-f", metavar="markdown|latex|html", rich_help_panel=OUTPUT,
        help="Format of the sheet and the key (default: markdown).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", metavar="FOLDER", rich_help_panel=OUTPUT,
        help="Write every variant's sheet, key, answer template and spec file into FOLDER.")] = None,
    figure: Annotated[bool, typer.Option(
        "--figure/--no-figure", rich_help_panel=OUTPUT, help="Draw the network at the top of the sheet.")] = True,
    force: ForceOpt = False,
    precision: PrecisionOpt = 4,
    lang: LangOpt = "en",
) -> None:
    """Exercise sheets with answer keys: a network with numbers a person can work by hand.

    The network's architecture comes from the usual options (default: the seed's 2-2-1 sigmoid
    network); every weight, bias and input is drawn anew with one or two decimals (--seed), so
    that no line of the page needs more than a calculator. The sheet gives the network's figure,
    the numbers, and each line of the sections asked in symbols with its value left blank. The
    key is the page `backprop step --network network.toml --form scalar` prints. The answer
    template lists the blanks as 'name = ?' lines: fill them in and run `backprop check`.

    \b
    Examples:
      backprop exercise                             a sheet for the seed network, Markdown
      backprop exercise --show key                  its answer key
      backprop exercise --ask forward,loss --layers 2 3 1 --activation tanh --loss mse
      backprop exercise --variants 30 --seed 1 -f latex -o sheets
                                                    30 sheets and keys; sheets/sheets.tex has them all
      backprop exercise -o sheet --lang ko -f html  in Korean, as web pages
      backprop check sheet/answers.txt --network sheet/network.toml
                                                    check a filled-in answer template
    """
    from backprop_cli.exercise import exercises, parse_ask, spec
    from backprop_cli.locales import check_language
    from backprop_cli.render.sheet import combined_keys, combined_latex, sheet_text
    from backprop_cli.resolve import resolve

    chosen = fmt or "markdown"
    if chosen not in EXERCISE_FORMATS:
        raise BackpropError(f"format: unknown format {chosen!r}; choose one of {', '.join(EXERCISE_FORMATS)}")
    if show not in EXERCISE_PARTS:
        raise BackpropError(f"show: unknown part {show!r}; choose one of {', '.join(EXERCISE_PARTS)}")
    check_language(lang)
    check_precision(precision)
    asked = parse_ask(ask)
    if variants != 1 and output is None:
        raise BackpropError(f"variants: {variants} sheets are written to a folder; add --output FOLDER")
    files: dict[str, Path] = {}
    if output is not None:
        from backprop_cli.exercise import file_names
        from backprop_cli.io import check_folder, check_writable

        check_folder(output)
        files = {name: output / name for name in file_names(variants, chosen)}
        if output.is_dir():
            for path in files.values():
                check_writable(path, force)
    keep = x is not None or y is not None or data is not None
    with working(say("status.step", lang), _interactive()):
        net, xs, ys = resolve(network_options(
            network=network, layers=layers, input_shape=input_shape, activation=activation, loss=loss, lr=lr, seed=seed,
            optimizer=optimizer, momentum=momentum, beta1=beta1, beta2=beta2, eps=eps,
            alpha=alpha, weight_decay=weight_decay, centered=centered,
            x=x, y=y, data=data, targets=targets))
        made = exercises(net, xs, ys, variants=variants, seed=seed or 0, decimals=decimals, ask=asked,
                         keep_samples=keep, lang=lang, precision=precision)
    settings = {"lang": lang, "precision": precision}
    sheet_settings = {**settings, "figure": figure}
    if output is None:
        from backprop_cli.render import render

        one = made[0]
        text = {"sheet": lambda: sheet_text(one, chosen, **sheet_settings),
                "key": lambda: render(one.derivation, chosen),
                "answers": lambda: one.template("network.toml"),
                "network": lambda: spec(one)}[show]()
        sys.stdout.write(text)
        return
    from backprop_cli.exercise import variant_files
    from backprop_cli.io import write_atomic
    from backprop_cli.render import render

    output.mkdir(exist_ok=True)
    for one in made:
        names = variant_files(one.number, variants, chosen)
        texts = {"sheet": sheet_text(one, chosen, **sheet_settings), "key": render(one.derivation, chosen),
                 "answers": one.template(names["network"], names["answers"]), "network": spec(one)}
        for part, name in names.items():
            write_atomic(files[name], texts[part], force=force)
    if chosen == "latex" and variants > 1:
        write_atomic(files["sheets.tex"], combined_latex(made, **sheet_settings), force=force)
        write_atomic(files["keys.tex"], combined_keys(made, **settings), force=force)
    typer.echo(f"wrote {len(files)} files to {output}", err=True)


@app.command()
def init(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Where to write (.toml or .json).")] = Path(
        "network.toml"),
    force: ForceOpt = False,
    network: NetworkFile = None,
    layers: Layers = None,
    input_shape: InputShapeOpt = None,
    activation: ActivationOpt = None,
    loss: LossOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    init: InitOpt = None,
    x: XOpt = None,
    y: YOpt = None,
) -> None:
    """Write an editable network spec file (default: the seed network and sample).

    \b
    Examples:
      backprop init                                 network.toml with the seed network
      backprop init xor.toml --layers 2 2 1 --seed 3 --x 0 1 --y 1
      backprop step --network network.toml          then use it
    """
    from backprop_cli.io import check_writable
    from backprop_cli.resolve import resolve

    if file.suffix.lower() not in (".toml", ".json"):
        raise BackpropError(f"init: {file.name} should end in .toml or .json")
    check_writable(file, force)
    net, xs, ys = resolve(network_options(
        network=network, layers=layers, input_shape=input_shape, activation=activation, loss=loss, lr=lr, seed=seed,
        init=init, x=x, y=y))
    from backprop_cli.io import spec_text

    text = spec_text(file, net, xs, ys, header=(
        "backprop-cli network spec. Edit the numbers, then: backprop step --network "
        f"{file.name}\nweight rows are a layer's units, columns its inputs (torch.nn.Linear)."))
    from backprop_cli.io import write_atomic

    write_atomic(file, text, force=force)
    typer.echo(f"wrote {file}; try: backprop step --network {file}")


TRAIN_FORMATS = ("rich", "markdown", "latex", "html", "json")
SAVE_SAMPLES = 64
"""``--save`` writes the samples into the spec file up to this many (so ``step --network`` has them)."""


@app.command()
def train(
    network: NetworkFile = None,
    layers: Layers = None,
    input_shape: InputShapeOpt = None,
    activation: ActivationOpt = None,
    loss: LossOpt = None,
    lr: LrOpt = None,
    seed: SeedOpt = None,
    init: InitOpt = None,
    optimizer: OptimizerOpt = None,
    momentum: MomentumOpt = None,
    beta1: Beta1Opt = None,
    beta2: Beta2Opt = None,
    eps: EpsOpt = None,
    alpha: AlphaOpt = None,
    weight_decay: WeightDecayOpt = None,
    centered: CenteredOpt = None,
    x: XOpt = None,
    y: YOpt = None,
    data: DataOpt = None,
    targets: TargetsOpt = None,
    tokens: TokensOpt = None,
    token_ids: TokenIdsOpt = None,
    vocab_text: VocabTextOpt = None,
    epochs: Annotated[int, typer.Option("--epochs", metavar="N", rich_help_panel=TRAINING,
                                        help="Passes over the data.")] = 100,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", metavar="N", rich_help_panel=TRAINING,
        help="Samples per update (default: all of them, one update per epoch).")] = None,
    shuffle: Annotated[bool, typer.Option("--shuffle", rich_help_panel=TRAINING,
                                          help="A new sample order every epoch, drawn from --seed.")] = False,
    backend: Annotated[str, typer.Option(
        "--backend", metavar="auto|compiled|numba|numpy|torch", rich_help_panel=TRAINING,
        help="compiled: the derivation compiled to one Python function (small problems); numba: the"
             " same compiled to machine code (pip install 'backprop-cli[fast]'); numpy: matrix operations;"
             " torch: PyTorch. auto picks by size and says which.")] = "auto",
    device: Annotated[str, typer.Option("--device", metavar="cpu|cuda", rich_help_panel=TRAINING,
                                        help="Where the torch backend runs.")] = "cpu",
    dtype: Annotated[str, typer.Option("--dtype", metavar="float64|float32", rich_help_panel=TRAINING,
                                       help="Floating point type of the torch and numpy backends.")] = "float64",
    log_every: Annotated[int | None, typer.Option(
        "--log-every", metavar="K", rich_help_panel=TRAINING,
        help="Record the loss every K epochs, and the first and last (default: about ten rows).")] = None,
    show_steps: Annotated[str | None, typer.Option(
        "--show-steps", metavar="E,E …", rich_help_panel=TRAINING,
        help="Derive these epochs' steps in full, as backprop step does: --show-steps 1,100.")] = None,
    schedule: Annotated[str | None, typer.Option(
        "--schedule", metavar="NAME[:key=v,…]", rich_help_panel=TRAINING,
        help="The learning rate epoch by epoch, as torch.optim.lr_scheduler (stepped after every epoch):"
             " step:step_size=10,gamma=0.5 (StepLR), exponential:gamma=0.95, cosine:T_max=100,eta_min=0,"
             " linear:start_factor=0.1,total_iters=10 (LinearLR warm-up).")] = None,
    clip_norm: Annotated[float | None, typer.Option(
        "--clip-norm", metavar="MAX", rich_help_panel=TRAINING,
        help="Scale the gradients to a 2-norm of at most MAX before every update"
             " (torch.nn.utils.clip_grad_norm_).")] = None,
    clip_value: Annotated[float | None, typer.Option(
        "--clip-value", metavar="V", rich_help_panel=TRAINING,
        help="Clamp every gradient to [-V, V] before every update (clip_grad_value_).")] = None,
    validation: Annotated[float, typer.Option(
        "--validation", metavar="F", rich_help_panel=TRAINING,
        help="Hold out this share of the samples (drawn by --seed) and record their loss beside the"
             " training loss: --validation 0.2.")] = 0.0,
    early_stop: Annotated[float | None, typer.Option(
        "--early-stop", metavar="DELTA", rich_help_panel=TRAINING,
        help="Stop when the loss (the validation loss with --validation) has not fallen by more than"
             " DELTA for --patience epochs in a row.")] = None,
    patience: Annotated[int | None, typer.Option(
        "--patience", metavar="N", rich_help_panel=TRAINING,
        help="Epochs without improvement before --early-stop stops (default 10).")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", metavar="FILE.png|svg", rich_help_panel=OUTPUT,
                                              help="Draw the loss curve into an image (needs matplotlib).")] = None,
    save: Annotated[Path | None, typer.Option(
        "--save", metavar="FILE.toml", rich_help_panel=OUTPUT,
        help="Write the trained network as a spec file (.toml or .json) for backprop step --network.")] = None,
    form: FormOpt = "auto",
    fmt: FormatOpt = None,
    output: OutputOpt = None,
    force: ForceOpt = False,
    precision: PrecisionOpt = 4,
    lang: LangOpt = "en",
    history: Annotated[str, typer.Option(
        "--history", metavar="before|after", rich_help_panel=OUTPUT,
        help="Label the loss table by epoch, the loss before its updates (as a PyTorch loop prints it),"
             " or 'after iteration i', the loss after i updates, as books do. JSON is unchanged.")] = "before",
    brief: BriefOpt = False,
    layout: LayoutOpt = "torch",
    momentum_form: MomentumFormOpt = "torch",
) -> int:
    """Train for many epochs: progress, the loss table and curve, trained weights, predictions.

    With no options: the seed network on the seed sample for 100 epochs. Ctrl-C stops after the
    current epoch and still prints the summary (and writes --save, --output, --plot).

    \b
    Examples:
      backprop train                                the seed example, 100 epochs
      backprop train --data xor --epochs 10000      the XOR gate from the seed's weights
      backprop train --data xor --optimizer adam --lr 0.1 --plot loss.png
      backprop train --data data.csv --layers 2 16 16 1 --batch-size 32 --shuffle
      backprop train --data shapes --epochs 300     a tiny LeNet learns bars and crosses (6×6 images)
      backprop train --show-steps 1,100             the full derivation of epochs 1 and 100
      backprop train --save trained.toml            then: backprop step --network trained.toml
      backprop train --data xor -o report.html      the report as a web page (.md, .tex: Markdown, LaTeX)
      backprop train --format json --log-every 1    every epoch's loss, float64
      backprop train --data xor --schedule step:step_size=500,gamma=0.5 --clip-norm 1 --epochs 2000
      backprop train --data data.csv --validation 0.2 --early-stop 1e-4 --patience 20
    """
    from backprop_cli.derivation import Options
    from backprop_cli.io import check_distinct, check_writable, write_atomic
    from backprop_cli.locales import check_language
    from backprop_cli.resolve import data_label, resolve
    from backprop_cli.training import TrainSettings, with_derivations
    from backprop_cli.training import train as run_training

    chosen = output_format(fmt, output, TRAIN_FORMATS)
    check_language(lang)
    check_precision(precision)
    if history not in ("before", "after"):
        raise BackpropError(f"history: must be before or after, not {history!r}")
    check_distinct({"--output": output, "--plot": plot, "--save": save})
    for path in (output, plot, save):
        if path is not None:
            check_writable(path, force)
    if save is not None and save.suffix.lower() not in (".toml", ".json"):
        raise BackpropError(f"save: {save.name} should end in .toml or .json")
    if plot is not None:
        from backprop_cli.render.train_plot import check_plot_format, import_pyplot

        plot_format = check_plot_format(plot.suffix)
        import_pyplot()
    given = network_options(
        network=network, layers=layers, input_shape=input_shape, activation=activation, loss=loss, lr=lr,
        seed=seed, init=init,
        optimizer=optimizer, momentum=momentum, beta1=beta1, beta2=beta2, eps=eps,
        alpha=alpha, weight_decay=weight_decay, centered=centered, x=x, y=y, data=data,
        targets=targets, tokens=tokens, token_ids=token_ids, vocab_text=vocab_text)
    from backprop_cli.schedules import parse_clip, parse_schedule

    settings = TrainSettings(epochs=epochs, batch_size=batch_size, shuffle=shuffle, seed=seed, backend=backend,
                             device=device, dtype=dtype, log_every=log_every, show_steps=_epoch_list(show_steps),
                             schedule=parse_schedule(schedule), clip=parse_clip(clip_norm, clip_value),
                             validation=validation, early_stop=early_stop, patience=_patience(patience, early_stop))
    from backprop_cli.render.train_terminal import ProgressBar

    live = chosen == "rich" and output is None and sys.stdout.isatty() and sys.stderr.isatty()
    # A line says the run is working (data read, code compiled); the progress bar takes over where it shows.
    with working(say("status.train", lang), _interactive()) as prepared, \
            ProgressBar(live, lang=lang, before=prepared) as progress:
        net, xs, ys = resolve(given)
        result = run_training(net, xs, ys, settings, progress=progress, data=data_label(given, xs, ys))
    if result.snapshots:
        result = with_derivations(result, Options(precision, "exact", form, lang, brief=brief, layout=layout,
                                                  momentum_form=momentum_form))
    extra: dict[str, Any] = {}
    if plot is not None and chosen == "markdown":
        extra["plot"] = os.path.relpath(plot, output.parent) if output is not None else str(plot)
    if history != "before" and chosen != "json":
        extra["history"] = history
    emit(result, chosen, output, force, lang=lang, precision=precision, **extra)
    if plot is not None:
        from backprop_cli.render.train_plot import loss_plot

        write_atomic(plot, loss_plot(result, plot_format, lang), force=force)
        typer.echo(f"wrote {plot}", err=True)
    if save is not None:
        embed = len(xs) <= SAVE_SAMPLES
        header = (f"backprop-cli network spec: trained by backprop train for {result.epochs} epochs"
                  f" (final loss {result.final_loss:.6g}).\nTry: backprop step --network {save.name}"
                  + ("" if embed else f" --data … (the {len(xs)} samples are not embedded)"))
        from backprop_cli.io import spec_text

        text = spec_text(save, result.network, xs if embed else None, ys if embed else None, header)
        write_atomic(save, text, force=force)
        typer.echo(f"wrote {save}; try: backprop step --network {save}", err=True)
    return 130 if result.interrupted else 0


def _epoch_list(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    epochs = []
    for token in text.replace(",", " ").split():
        if not (token.isascii() and token.isdigit()):
            raise BackpropError(f"show-steps: {token!r} is not an epoch number; e.g. --show-steps 1,100")
        epochs.append(int(token))
    return tuple(epochs)


# --- argv: several numbers after one flag ------------------------------------------------------

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^[-+]?(nan|inf|infinity)$", re.IGNORECASE)
_VALUES = {"--x": "any", "--y": "any", "--layers": "numbers", "--input-shape": "numbers", "--show-steps": "numbers",
           "--token-ids": "numbers"}
_REPEATED = {"--activation"}


def _looks_like_formula(token: str) -> bool:
    """A formula in x such as ``x/(1+abs(x))`` (not a file name such as ``xor.toml``)."""
    if token.startswith("--") or token in ("-f", "-o", "-h"):
        return False
    return (re.fullmatch(r"[\w\s.+\-*/(),]+", token) is not None and re.search(r"\bx\b", token) is not None
            and (re.search(r"[()+\-*/]", token) is not None or token.strip() == "x"))


def join_values(argv: list[str]) -> list[str]:
    """Let a flag take several space-separated values, as typed: ``--x 1 -1 --y 0``.

    Click options take one value each, so the values after ``--x`` (numbers, negative ones
    included) are joined into one argument; ``--activation tanh sigmoid`` becomes one
    ``--activation`` per name (or formula).
    """
    from backprop_cli.model import ACTIVATIONS

    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        flag, _, inline = token.partition("=")
        if flag in _VALUES or flag in _REPEATED:
            values = [inline] if inline else []
            i += 1
            if not values and i < len(argv):
                values.append(argv[i])
                i += 1
            while i < len(argv):
                nxt = argv[i]
                if flag in _REPEATED:
                    take = nxt in ACTIVATIONS or _looks_like_formula(nxt)
                elif _VALUES[flag] == "numbers":
                    take = bool(_NUMBER.match(nxt)) or bool(re.match(r"^\d+(,\d+)*$", nxt))
                else:
                    take = bool(_NUMBER.match(nxt)) or not nxt.startswith("-")
                if not take:
                    break
                values.append(nxt)
                i += 1
            if not values:
                out.append(flag)  # no value: click says the option needs one
            elif flag in _REPEATED:
                for value in values:
                    out.append(f"{flag}={value}")
            else:
                out.append(f"{flag}={' '.join(values)}")
            continue
        out.append(token)
        i += 1
    return out


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like Ctrl-C, so that no temporary file is left behind."""


_interrupted = False
verbose_sink_set = [False]


def _install_signal_handlers() -> dict[int, Any]:
    """Ctrl-C is noted (typer turns it into exit code 130 silently); SIGTERM/SIGHUP unwind the stack.

    Returns the handlers replaced, to put back when the command is done.
    """
    import signal
    import threading

    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous

    def on_interrupt(signum: int, frame: Any) -> None:
        global _interrupted
        _interrupted = True
        raise KeyboardInterrupt

    def on_terminate(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, on_interrupt)
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) is signal.SIG_DFL:
            previous[number] = signal.signal(number, on_terminate)
    return previous


def _take_verbose(args: list[str]) -> tuple[list[str], bool]:
    """``--verbose`` anywhere before ``--``: notes (such as an ignored cache entry) go to stderr."""
    end = args.index("--") if "--" in args else len(args)
    kept = [a for a in args[:end] if a != "--verbose"] + args[end:]
    return kept, len(kept) != len(args)


def _interactive() -> bool:
    """Whether a person watches stderr (a spinner shows work that takes more than a second)."""
    return sys.stderr.isatty()


def say(key: str, lang: str) -> str:
    from backprop_cli.locales import Message

    return Message(key, {}).text(lang)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for bad input, with one line on stderr)."""
    global _interrupted
    _interrupted = False
    previous = _install_signal_handlers()
    try:
        return _main(argv)
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130
    except Terminated as signal_number:
        _fail(f"terminated (signal {signal_number})")
        return 128 + int(str(signal_number) or 15)
    finally:
        import signal

        for number, handler in previous.items():
            signal.signal(number, handler)
        if verbose_sink_set[0]:
            from backprop_cli.derived import set_note_sink

            set_note_sink(None)
            verbose_sink_set[0] = False


def _main(argv: list[str] | None) -> int:
    args, verbose = _take_verbose(list(sys.argv[1:] if argv is None else argv))
    if verbose:
        from backprop_cli.derived import set_note_sink

        def note(text: str) -> None:
            sys.stderr.write(f"note: {text}\n")

        set_note_sink(note)
        verbose_sink_set[0] = True
    args = join_values(args)
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="backprop", standalone_mode=False)
    except BackpropError as error:
        _fail(str(error))
        return 2
    except typer.TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":
            # `backprop` alone: the help, as click shows it (stderr, exit code 2), not one line.
            error.show()  # type: ignore[attr-defined]
            return 2
        # Usage errors of the command line (typer's click): unknown option, missing value, …
        possibilities = getattr(error, "possibilities", None)
        option = getattr(error, "option_name", None)
        if possibilities is not None and option:
            hint = f"; did you mean {sorted(possibilities)[0]}?" if possibilities else ""
            _fail(f"unknown option {option}{hint} (see backprop --help)")
        else:
            _fail(f"{error.format_message()} (see backprop --help)")
        return 2
    except (typer.Abort, KeyboardInterrupt):
        _fail("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Terminated:
        raise
    except Exception as error:  # a bug, not a user mistake: still one line, no traceback
        if os.environ.get("BACKPROP_DEBUG"):
            raise
        _fail(f"internal error ({type(error).__name__}: {error}); please report it, and run with"
              " BACKPROP_DEBUG=1 for the traceback")
        return 1
    if result == 130 and _interrupted:
        # typer turns Ctrl-C into a silent exit code 130; train's own summary of a stop is not this.
        _fail("interrupted")
    return result if isinstance(result, int) else 0


MAX_ERROR_LENGTH = 300
"""An error line longer than this is shortened in the middle (a value quoted in full can be huge)."""


def _fail(message: str) -> None:
    text = " ".join(message.split())
    if len(text) > MAX_ERROR_LENGTH:
        half = MAX_ERROR_LENGTH // 2 - 2
        text = f"{text[:half]} … {text[-half:]}"
    try:
        sys.stderr.write(f"error: {text}\n")
    except BrokenPipeError:
        pass


autograd_ahead: list[Any] = [None]
"""``backprop verify``'s autograd child, started by the entry point before this module loaded."""


def run(ahead: Any = None) -> None:
    """Console-script entry point (``backprop_cli.__main__.run``, which starts ``backprop verify``'s
    autograd child first and hands it here as ``ahead``).

    With that child, the command ends without the interpreter's teardown (a fifth of a second with
    sympy loaded) once its report is written: verify writes no file, and its child is ended.
    """
    autograd_ahead[0] = ahead
    try:
        code = main()
    finally:
        autograd_ahead[0] = None
        if ahead is not None:
            ahead.close()
    if ahead is not None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (BrokenPipeError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)
