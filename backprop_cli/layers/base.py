"""What every layer kind declares, and what the builders, engines and files ask of it.

A layer kind is a PyTorch module (DESIGN.md, "Layer kinds"): its ``kind`` is the snake case of the
module's name, its parameters are the module's ``state_dict`` keys with torch's shapes, its settings
the constructor's arguments. A kind is one frozen dataclass in one module of this package, which
says in one place:

- its spec keys and their checks (``from_spec``, ``to_spec``);
- its parameters: names, values, page symbols (``parameter_names``, ``symbol``);
- its shapes (``out_features``);
- its forward and backward lines of the matrix form, as sympy expressions (``matrix_forward``,
  ``matrix_backward``);
- what the numpy engine runs (``np_forward``, ``np_backward``);
- its PyTorch module (``torch_module``), for ``verify``, the torch engine and ``.pt`` files.

Its sentences live in the locales under ``kind.<name>.*``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from backprop_cli.errors import SpecError

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message

Array = Any  # numpy.ndarray
MAX_PARAMETERS = 1_000_000
"""The most weights and biases a random network may have (a typo such as --layers 2 100000000 1
would otherwise fill the memory before anything is printed)."""
Path = tuple[int, ...]
"""Where a layer sits: ``(2,)`` is ``layers[2]``, ``(2, 0)`` the first layer inside it."""


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened: a message stays one readable line whatever the file holds."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unknown_key(key: Any, allowed: Sequence[str], where: str) -> SpecError:
    """The error for a key a table does not take, with the closest allowed key."""
    from difflib import get_close_matches

    key = str(key)
    close = get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; allowed: {', '.join(allowed)}"
    name = key if key.isidentifier() else shown(key)
    return SpecError(f"{where}{name}: unknown key{hint}")


def check_keys(document: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    for key in document:
        if key not in allowed:
            raise unknown_key(key, allowed, where)


def number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{key}: expected a number, got {type(value).__name__} {shown(value)}")
    try:
        result = float(value)
    except OverflowError:
        raise SpecError(f"{key}: the number is too large for float64") from None
    if not math.isfinite(result):
        raise SpecError(f"{key}: {value} is not a finite number")
    return result


def vector(value: Any, key: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{key}: expected a non-empty list of numbers")
    return tuple(number(v, f"{key}[{i}]") for i, v in enumerate(value))


def matrix(value: Any, key: str) -> tuple[tuple[float, ...], ...]:
    if not isinstance(value, list) or not value:
        raise SpecError(f"{key}: expected a list of rows, e.g. [[0.1, 0.2], [0.3, 0.4]]")
    rows = tuple(vector(row, f"{key}[{i}]") for i, row in enumerate(value))
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise SpecError(f"{key}: row {i + 1} has {len(row)} values, row 1 has {width} (ragged)")
    return rows


def integer(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{key}: expected a whole number of at least {minimum}, got {shown(value)}")
    return value


def flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(f"{key}: expected true or false, got {shown(value)}")
    return value


@dataclass(frozen=True)
class SpecContext:
    """What a kind's ``from_spec`` needs besides its own table.

    Args:
        in_features: the width of the layer's input (None where the first layer sets it).
        seed: seeds random weights (``units = N`` instead of ``weight``).
        init: xavier, he or uniform.
        samples: the number of samples of the spec's data, where known (dropout's mask rows).
    """

    in_features: int | None
    seed: int = 0
    init: str = "xavier"
    samples: int | None = None
    in_shape: tuple[int, ...] | None = None
    """The shape of each sample at the layer's input (``(C, H, W)``, ``(C, L)``) where it has one."""
    parse: Any = field(default=None, compare=False)
    """``parse(document, where, in_features) -> list of layers``: for kinds that hold layers."""


class Kind:
    """The base of every layer kind (a frozen dataclass mixin); see the module's docstring."""

    kind: ClassVar[str]
    keys: ClassVar[tuple[str, ...]]
    parameter_names: ClassVar[tuple[str, ...]] = ()
    """Trainable parameters, in the module's ``state_dict`` order."""
    buffer_names: ClassVar[tuple[str, ...]] = ()
    """Buffers a training step updates (batch_norm's running statistics)."""
    state_names: ClassVar[tuple[str, ...]] = ()
    """The module's ``state_dict`` keys this kind reads from a .pt file (none: not read from one)."""
    glyphs: ClassVar[dict[str, str]] = {"weight": "W", "bias": "b"}
    """The letter the page writes each parameter with (W⁽ˡ⁾, γ⁽ˡ⁾ …)."""
    activation: str | None = None
    """The element-wise function the layer ends with, if it ends with one (the loss may fuse with it)."""
    scalar_form: ClassVar[bool] = False
    """Whether the scalar form (a line per unit, ``build.py``) works this kind; else the matrix form."""
    compiles: ClassVar[bool] = True
    """Whether the compiled engine runs the kind (it compiles the scalar page; not the recurrent kinds',
    whose lines grow with every time step)."""
    transposable: ClassVar[bool] = False
    """Whether ``--layout transposed`` writes this kind's ``weight`` transposed (dense: inputs × units)."""
    shapes: ClassVar[str] = "flat"
    """What the kind does with a sample's shape: ``flat`` takes one vector per sample (as nn.Linear
    does, on the last axis); ``any`` works element by element and keeps the shape; ``shaped``
    reads the shape (convolution, pooling, flatten) and says its output's (``out_shape``)."""

    @property
    def summary(self) -> str:
        """The layer in a word or two for the page's header: its activation, or its kind."""
        return self.activation or self.kind.replace("_", " ")

    def summary_in(self, lang: str) -> str:
        """``summary`` in ``lang``'s words (시그모이드 함수 for sigmoid)."""
        from backprop_cli.locales import named

        return named(self.summary, lang)

    # --- shapes -----------------------------------------------------------------------------

    def out_features(self, in_features: int) -> int:
        """The width of the output for an input of ``in_features``."""
        return in_features

    def in_features(self) -> int | None:
        """The input width the layer's parameters fix, or None where any width fits."""
        return None

    def input_shape(self) -> tuple[int, ...] | None:
        """The shape of a sample this layer reads, for a kind that reads one (``shapes = "shaped"``)."""
        return None

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of a sample at the output for one of ``in_shape`` at the input."""
        if self.shapes == "any":
            return in_shape
        return (self.out_features(math.prod(in_shape)),)

    def time_steps(self, before: int | None) -> int | None:
        """The number of time steps of the output, for a sequence (T, features) whose steps a
        following dense layer works one by one; ``before``: the input's (None: not a sequence)."""
        return before if self.shapes == "any" else None

    def truncates_gradients(self) -> bool:
        """Whether the layer's gradients stop short of the loss's derivative on purpose (truncated
        BPTT): finite differences of the loss cannot check them."""
        return False

    def validate(self, where: str) -> None:
        """Raise SpecError naming the key when the layer's own numbers do not hold together."""

    def check(self, where: str, in_features: int) -> None:
        """Raise SpecError naming the key when the layer does not fit an input of this width."""
        fixed = self.in_features()
        if fixed is not None and fixed != in_features:
            raise SpecError(f"{where}: expects {fixed} inputs but the layer before gives {in_features}")

    # --- parameters ---------------------------------------------------------------------------

    def parameters(self) -> dict[str, Any]:
        """Trainable parameters present, by name: nested tuples of floats."""
        out = {}
        for name in self.parameter_names:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def frozen(self, name: str) -> bool:
        """Whether updates leave this parameter as it is."""
        return False

    def with_parameters(self, values: Mapping[str, Any]) -> Kind:
        """The same layer with other parameter values (same shapes)."""
        from dataclasses import replace

        return replace(self, **dict(values))  # type: ignore[type-var]

    def children(self) -> tuple[Kind, ...]:
        """Layers held inside this one (``residual``)."""
        return ()

    def buffers_after(self, cache: Mapping[str, Any]) -> dict[str, Any]:
        """Buffers the step updates (batch_norm's running statistics), from the forward cache."""
        return {}

    @classmethod
    def recognizes_state(cls, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        """Whether a .pt file's tensors of one module (names → shapes) are this kind's."""
        return False

    @classmethod
    def state_table(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """The spec table's entries for a .pt file's tensors of this kind (state_dict key → values)."""
        return dict(values)

    # --- files ------------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Kind:
        raise NotImplementedError

    def to_spec(self) -> dict[str, Any]:
        raise NotImplementedError

    # --- numbers (numpy) --------------------------------------------------------------------

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        """The output for input ``X`` (samples × features); keeps what backward needs in ``run``."""
        raise NotImplementedError

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        """∂𝓛/∂input from ``G`` = ∂𝓛/∂output (or ∂𝓛/∂ before the final activation, where
        ``pre_activation``); stores the parameters' gradients in ``run.grads``. ``G`` is handed
        over: the kind may overwrite it (the engine's arrays are large; no copy is made). Where
        ``run.wants_input(path)`` is false (the first layer) ∂𝓛/∂input is not needed."""
        raise NotImplementedError

    # --- PyTorch ----------------------------------------------------------------------------

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        """The PyTorch module, its parameters set to this layer's (float64)."""
        raise NotImplementedError

    def torch_parameters(self, module: Any) -> dict[str, Any]:
        """The tensors of ``module`` (this kind's ``torch_module``) that hold its parameters, by name."""
        return {name: getattr(module, name) for name in self.parameters()}

    def torch_buffers(self, module: Any) -> dict[str, Any]:
        """The tensors of ``module`` holding buffers a training step updates, by name."""
        return {}

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        """The heading of the layer's forward group."""
        raise NotImplementedError

    def scalar_auto(self) -> bool:
        """Whether ``--form auto`` may write this layer's scalar page (one sample, a page a reader can
        follow): the dense layers' own form, and kinds that say so for small sizes."""
        return self.scalar_form

    def scalar_symbols(self, name: str, number: int, value: Any) -> Any:
        """The scalar page's symbols of parameter ``name``, shaped as its ``value``; None: the generic
        ones (W⁽ˡ⁾ⱼₖ, b⁽ˡ⁾ⱼ of the kind's glyph)."""
        return None

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        """The forward lines unit by unit, ``inputs`` the input's symbols (samples × features); sets
        ``page.outputs_of[path]``. The backward lines are the page's generic chain rule."""
        raise NotImplementedError

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        """The forward lines: the output is ``page.A(page.number(path))``, ``inputs`` the input's symbol."""
        raise NotImplementedError

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        """The backward lines from ``upstream`` (an expression of ∂𝓛/∂output, or of ∂𝓛/∂ before the
        final activation where ``pre_activation``), and the expression of ∂𝓛/∂input it hands to the
        layer before (a line's symbol, or an expression that layer writes into its own line)."""
        raise NotImplementedError

    def pre_activation(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> sp.Basic:
        """For a kind that ends with an activation: the symbol the activation is applied to."""
        raise NotImplementedError

    def page_parameters(self, page: MatrixPage, path: Path) -> list[tuple[str, sp.Basic]]:
        """(name, symbol) of each parameter present, as the page writes them."""
        return parameter_symbols(self, page.number(path))

    def result(self, output: Any, gradients: Mapping[str, Any], new: Kind, buffers: Mapping[str, Any],
               children: tuple[Any, ...], pre_activation: Any = None) -> Any:
        """The layer's entry of the step's JSON (``derivation.KindResult``): its output, each parameter
        before, its gradient and after (None where absent), the buffers after the step, the layers it holds."""
        from backprop_cli.derivation import KindResult

        present, after = self.parameters(), new.parameters()
        parameters = {name: (present.get(name), gradients.get(name), after.get(name)) for name in self.parameter_names}
        return KindResult(self.kind, output, parameters, {f"new_{k}": v for k, v in buffers.items()}, children)

    def state(self) -> dict[str, Any]:
        """Parameters and buffers by name, as ``train --format json`` reports them (None where absent)."""
        return {name: getattr(self, name) for name in (*self.parameter_names, *self.buffer_names)}


class NumpyRun:
    """One forward and backward pass of the numpy engine over a network of kinds.

    Args:
        params: the parameters' arrays by (path, name).
        training: whether batch statistics and dropout masks apply (always, as in the step).
        rows: the indices of the samples in this batch (dropout's mask rows), or None for all.
        samples: how many samples the data has (dropout draws a mask row for each).
    """

    def __init__(self, params: Mapping[tuple[Path, str], Array], rows: Array | None = None,
                 samples: int | None = None) -> None:
        self.params = params
        self.rows = rows
        self.samples = samples
        self.cache: dict[Path, dict[str, Any]] = {}
        self.grads: dict[tuple[Path, str], Array] = {}

    def param(self, path: Path, name: str) -> Array | None:
        return self.params.get((path, name))

    def wants_input(self, path: Path) -> bool:
        """Whether ∂𝓛/∂(input) of the layer at ``path`` is needed: not for the data."""
        return path != (0,)


def parameter_symbols(layer: Kind, number: int) -> list[tuple[str, Any]]:
    """(name, symbol) of each parameter ``layer`` has, numbered ``number``: W⁽ˡ⁾, b⁽ˡ⁾, γ⁽ˡ⁾ …"""
    from backprop_cli.notation import Node

    return [(name, Node(layer.glyphs[name], layer=number)) for name in layer.parameters()]
