"""The worked derivation as data: what every renderer draws, independent of how it is drawn.

A :class:`Derivation` holds sections (forward, loss, backward, update, summary); a section holds
groups (a layer, a sample); a group holds steps. A :class:`Step` is one line of the page: a target
symbol, its forms (symbolic right sides, printed in turn), and the value; the numbers-substituted
form is printed from the last form with the derivation's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sympy as sp

from backprop_cli.locales import Message

if TYPE_CHECKING:
    from backprop_cli.model import Network


@dataclass(frozen=True)
class Step:
    """One line: ``lead = target = forms… = numbers = value``.

    Args:
        target: the quantity this line computes.
        forms: symbolic right sides, printed in order (definition, chain rule, local factors).
        value: the number, float64 (rounded when ``--rounding carry``).
        lead: names printed before the target (``ŷ`` in ``ŷ = σ₃ = …``).
        substitute: whether to print the last form again with numbers.
        note: a remark printed after the line.
        numeric: where the number is not computed from the last form as printed, the expression
            it is computed from (PyTorch's floors written out, softmax with its maximum subtracted);
            the compiled engine runs this.
        reduced: the numbers worked one line further, printed after them: the terms a target of 0
            or 1 removes gone, as the seed writes its loss: = −log(0.5846).
    """

    target: sp.Basic
    forms: tuple[sp.Basic, ...]
    value: float
    lead: tuple[sp.Basic, ...] = ()
    substitute: bool = True
    note: Message | None = None
    numeric: sp.Basic | None = None
    reduced: sp.Basic | None = None

    @property
    def definition(self) -> sp.Basic:
        """The expression the value comes from: ``numeric``, else the last form."""
        return self.forms[-1] if self.numeric is None else self.numeric


@dataclass(frozen=True)
class Matrix:
    """A matrix of a matrix-form step, with its name and shape (samples × units and so on)."""

    rows: tuple[tuple[float, ...], ...]

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), len(self.rows[0]) if self.rows else 0)


@dataclass(frozen=True)
class MatrixStep:
    """One line of the matrix form: ``lead = target = forms… = numbers = value``, value a matrix.

    Args:
        target: the matrix computed (Z⁽¹⁾, δ⁽²⁾ …).
        forms: symbolic right sides, printed in order.
        value: the matrix (a 1 × 1 matrix for the loss).
        numbers: the expression printed again with every matrix's numbers, or None.
        operands: the matrices ``numbers`` combines, in order, for printers that draw them apart.
        lead: names printed before the target (``Ŷ`` in ``Ŷ = A⁽²⁾ = …``).
        note: a remark (how a bias is broadcast, how δ simplifies).
        heat: whether printers shade the value's cells by size (attention weights, 0 to 1).
    """

    target: sp.Basic
    forms: tuple[sp.Basic, ...]
    value: Matrix
    numbers: sp.Basic | None = None
    operands: tuple[tuple[sp.Basic, Matrix], ...] = ()
    lead: tuple[sp.Basic, ...] = ()
    note: Message | None = None
    heat: bool = False


@dataclass(frozen=True)
class Group:
    """Steps under one heading (a layer, a sample).

    Args:
        title: the heading.
        steps: the lines.
        intro: a sentence before the lines.
        why: what a textbook says before these lines (the chain rule's general form); ``--brief``
            leaves it out (``why.py``).
        remarks: what a textbook says after them (why δ is ŷ − y, a unit whose δ is 0).
    """

    title: Message | None
    steps: tuple[Step | MatrixStep, ...]
    intro: Message | None = None
    why: tuple[Message, ...] = ()
    remarks: tuple[Message, ...] = ()


@dataclass(frozen=True)
class Section:
    """A phase of the step: ``forward``, ``loss``, ``backward``, ``batch``, ``update``."""

    key: str
    groups: tuple[Group, ...]
    intro: Message | None = None


@dataclass(frozen=True)
class ParameterRow:
    """A row of the summary table: one weight or bias before and after the update."""

    symbol: sp.Basic
    before: float
    gradient: float
    after: float
    frozen: bool = False


@dataclass(frozen=True)
class LayerResult:
    """A layer's numbers, in the JSON contract's layout (samples × units for z and a)."""

    weight: tuple[tuple[float, ...], ...]
    bias: tuple[float, ...] | None
    z: tuple[tuple[float, ...], ...]
    a: tuple[tuple[float, ...], ...]
    grad_weight: tuple[tuple[float, ...], ...]
    grad_bias: tuple[float, ...] | None
    new_weight: tuple[tuple[float, ...], ...]
    new_bias: tuple[float, ...] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "dense",
            "weight": [list(r) for r in self.weight],
            "bias": None if self.bias is None else list(self.bias),
            "z": [list(r) for r in self.z],
            "a": [list(r) for r in self.a],
            "grad_weight": [list(r) for r in self.grad_weight],
            "grad_bias": None if self.grad_bias is None else list(self.grad_bias),
            "new_weight": [list(r) for r in self.new_weight],
            "new_bias": None if self.new_bias is None else list(self.new_bias),
            "output": [list(r) for r in self.a],
        }


def _listed(value: Any) -> Any:
    return [_listed(v) for v in value] if isinstance(value, (tuple, list)) else value


@dataclass(frozen=True)
class KindResult:
    """A layer's numbers in the JSON contract's layout for the kinds beyond dense (DESIGN.md).

    Args:
        kind: the layer's kind.
        output: the layer's output, samples first.
        parameters: per parameter name: its value, ∂𝓛/∂ it and its value after the update
            (None where absent; the last None where frozen).
        buffers: what the step updates besides parameters (``new_running_mean`` …).
        layers: the results of the layers it holds (``residual``).
    """

    kind: str
    output: tuple[tuple[float, ...], ...]
    parameters: Mapping[str, tuple[Any, Any, Any]] = field(default_factory=dict)
    buffers: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple[LayerResult | KindResult, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "output": _listed(self.output)}
        for name, (value, gradient, after) in self.parameters.items():
            out[name] = _listed(value)
            out[f"grad_{name}"] = _listed(gradient)
            out[f"new_{name}"] = _listed(after)
        out.update({name: _listed(value) for name, value in self.buffers.items()})
        if self.layers:
            out["layers"] = [layer.to_dict() for layer in self.layers]
        return out


@dataclass(frozen=True)
class Options:
    """How the derivation is worked and printed.

    Args:
        precision: printed decimals (and, with ``carry``, the digits carried).
        rounding: ``exact`` keeps float64 throughout; ``carry`` rounds each line as on paper.
        form: ``scalar``, ``matrix`` or ``auto``.
        lang: language of the words.
        figure: whether a document page (Markdown, LaTeX, HTML) begins with the network's figure.
        brief: leave out the "why" lines (``why.py``): the lines and their numbers alone.
        layout: ``torch`` numbers the scalar form's weights row by row of torch's weight (z = Wx);
            ``transposed`` as books that write z = Wᵀx do, input by input (W₁ from x₁ to unit 1,
            W₂ from x₁ to unit 2 …). The numbers are the same.
        momentum_form: ``torch`` writes SGD with momentum as torch.optim.SGD does (v = μv + g,
            θ = θ − αv); ``textbook`` as v = μv − αg, θ = θ + v, the same numbers while α is constant.
    """

    precision: int = 4
    rounding: str = "exact"
    form: str = "auto"
    lang: str = "en"
    figure: bool = True
    brief: bool = False
    layout: str = "torch"
    momentum_form: str = "torch"
    clip: Any = None
    """``schedules.Clip`` (clip_grad_norm_ or clip_grad_value_ before the update; the matrix form
    shows it), or None."""


@dataclass(frozen=True)
class Derivation:
    """A worked training step: the sections to print and the numbers they arrive at."""

    network: Network
    xs: tuple[tuple[float, ...], ...]
    ys: tuple[tuple[float, ...], ...]
    options: Options
    form: str
    sections: tuple[Section, ...]
    values: Mapping[sp.Basic, Any]
    loss: float
    loss_after: float
    output: tuple[tuple[float, ...], ...]
    layers: tuple[LayerResult | KindResult, ...]
    parameters: tuple[ParameterRow, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``backprop step --format json`` (DESIGN.md)."""
        return {
            "loss": self.loss,
            "loss_after": self.loss_after,
            "output": [list(r) for r in self.output],
            "layers": [layer.to_dict() for layer in self.layers],
        }

    def __repr__(self) -> str:
        widths = "-".join(str(w) for w in self.network.widths)
        return (f"<Derivation {widths} {self.network.loss}, {len(self.xs)} sample(s), {self.form} form:"
                f" loss {self.loss:.6g} -> {self.loss_after:.6g}>")

    def to_json(self) -> str:
        from backprop_cli.render import render

        return render(self, "json")

    def to_markdown(self) -> str:
        from backprop_cli.render import render

        return render(self, "markdown")

    def to_latex(self) -> str:
        from backprop_cli.render import render

        return render(self, "latex")

    def to_html(self) -> str:
        from backprop_cli.render import render

        return render(self, "html")

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        from backprop_cli.render import render

        return render(self, "html", fragment=True)
