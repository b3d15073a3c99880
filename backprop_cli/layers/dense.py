"""``dense``: a fully connected layer and its activation, ``torch.nn.Linear`` then the function.

``z = W x + b`` for one sample, ``Z = A Wᵀ + b`` for a batch (the bias row added to every sample),
then ``A = f(Z)``. Backward, from ∂𝓛/∂A: ``δ = ∂𝓛/∂A ⊙ f′(Z)``, ``∂𝓛/∂W = δᵀA_prev``,
``∂𝓛/∂b = 1ᵀδ``, and ``δW`` for the layer before. ``weight[j][k]`` connects input ``k`` to unit
``j`` (``nn.Linear``'s layout). The scalar form of this kind (a line per unit and weight) is
``build.py``'s.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import SpecError
from backprop_cli.layers.base import (
    MAX_PARAMETERS,
    Array,
    Kind,
    NumpyRun,
    Path,
    SpecContext,
    check_keys,
    flag,
    integer,
    matrix,
    shown,
    vector,
)

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message

Matrix = tuple[tuple[float, ...], ...]
Vector = tuple[float, ...]


@dataclass(frozen=True)
class Layer(Kind):
    """One fully connected layer: ``a = activation(weight @ inputs + bias)``.

    Args:
        weight: rows are this layer's units, columns its inputs.
        bias: one value per unit, or None for a layer without bias.
        activation: a built-in name or a formula in ``x``.
        freeze_bias: when true, updates leave the bias as it is.
    """

    weight: Matrix
    bias: Vector | None
    activation: str = "sigmoid"
    freeze_bias: bool = False

    kind = "dense"
    keys = ("kind", "weight", "bias", "activation", "freeze_bias", "units", "in_features", "out_features")
    parameter_names = ("weight", "bias")
    state_names = ("weight", "bias")
    scalar_form = True
    transposable = True

    @classmethod
    def recognizes_state(cls, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        return len(shapes.get("weight", ())) == 2 and set(shapes) <= {"weight", "bias"}

    @property
    def units(self) -> int:
        return len(self.weight)

    @property
    def inputs(self) -> int:
        return len(self.weight[0])

    @property
    def parameter_count(self) -> int:
        return self.units * self.inputs + (self.units if self.bias is not None else 0)

    def in_features(self) -> int:
        return self.inputs

    def out_features(self, in_features: int) -> int:
        return self.units

    def check(self, where: str, in_features: int) -> None:
        if self.inputs != in_features:
            raise SpecError(
                f"{where}.weight: has {self.inputs} columns but the layer before has {in_features} units;"
                " each row needs one weight per unit of the layer before")

    def frozen(self, name: str) -> bool:
        return name == "bias" and self.freeze_bias

    def validate(self, where: str) -> None:
        """Rows of one length, one bias per unit, every number finite."""
        if not self.weight or not self.weight[0]:
            raise SpecError(f"{where}.weight: needs at least one row and one column")
        width = len(self.weight[0])
        for row_index, row in enumerate(self.weight):
            if len(row) != width:
                raise SpecError(f"{where}.weight: row {row_index + 1} has {len(row)} values, row 1 has {width}")
            _finite(row, f"{where}.weight")
        if self.bias is not None:
            if len(self.bias) != len(self.weight):
                raise SpecError(f"{where}.bias: has {len(self.bias)} values but the layer has"
                                f" {len(self.weight)} units (weight rows)")
            _finite(self.bias, f"{where}.bias")

    @classmethod
    def random(cls, fan_in: int, fan_out: int, rng: random.Random, *, init: str = "xavier", bias: bool = True,
               decimals: int | None = 4, activation: str = "sigmoid") -> Layer:
        """A layer with random weights: ``xavier`` is Glorot-uniform and ``he`` Kaiming-uniform (biases
        zero); ``uniform`` is ``torch.nn.Linear``'s default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
        weights and biases. Values are rounded to ``decimals`` so that every printed weight is exact."""

        def draw(bound: float) -> float:
            value = rng.uniform(-bound, bound)
            return round(value, decimals) if decimals is not None else value

        if init == "xavier":
            bound = math.sqrt(6.0 / (fan_in + fan_out))
        elif init == "he":
            bound = math.sqrt(6.0 / fan_in)
        else:
            bound = 1.0 / math.sqrt(fan_in)
        weight = tuple(tuple(draw(bound) for _ in range(fan_in)) for _ in range(fan_out))
        layer_bias: Vector | None = None
        if bias:
            if init == "uniform":
                layer_bias = tuple(draw(1.0 / math.sqrt(fan_in)) for _ in range(fan_out))
            else:
                layer_bias = tuple(0.0 for _ in range(fan_out))
        return cls(weight=weight, bias=layer_bias, activation=activation)

    def result(self, output: Any, gradients: Mapping[str, Any], new: Kind, buffers: Mapping[str, Any],
               children: tuple[Any, ...], pre_activation: Any = None) -> Any:
        """Today's dense entry (DESIGN.md): weight, bias, z, a and their gradients and updates."""
        from backprop_cli.derivation import LayerResult

        assert isinstance(new, Layer)
        return LayerResult(self.weight, self.bias, pre_activation, output, gradients["weight"],
                           gradients.get("bias"), new.weight, new.bias)

    # --- files ------------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Layer:
        check_keys(document, cls.keys, where + ".")
        activation = document.get("activation", "sigmoid")
        if not isinstance(activation, str):
            raise SpecError(f"{where}.activation: expected a name or a formula in x, got {shown(activation)}")
        freeze = flag(document.get("freeze_bias", False), f"{where}.freeze_bias")
        previous = context.in_features
        if "weight" in document:
            if "units" in document:
                raise SpecError(f"{where}.units: give either weight (explicit) or units (random), not both")
            weight = matrix(document["weight"], f"{where}.weight")
            bias = vector(document["bias"], f"{where}.bias") if "bias" in document else None
        elif "units" in document:
            units = integer(document["units"], f"{where}.units")
            if previous is None:
                raise SpecError("inputs: a first layer given by units needs the top-level inputs = N")
            if (previous + 1) * units > MAX_PARAMETERS:
                raise SpecError(f"{where}.units: the layer would have more than {MAX_PARAMETERS:,} parameters")
            has_bias = document.get("bias", True)
            if not isinstance(has_bias, bool):
                raise SpecError(f"{where}.bias: with units, bias is true or false (random weights), got"
                                f" {shown(has_bias)}")
            if context.init not in ("xavier", "he", "uniform"):
                raise SpecError(f"init: unknown initialisation {context.init!r}; choose one of xavier, he, uniform")
            drawn = cls.random(previous, units, random.Random(context.seed), init=context.init, bias=has_bias)
            weight, bias = drawn.weight, drawn.bias
        else:
            raise SpecError(f"{where}: needs weight (and bias) or units")
        for key, size in (("in_features", len(weight[0])), ("out_features", len(weight))):
            if key in document and integer(document[key], f"{where}.{key}") != size:
                raise SpecError(f"{where}.{key}: is {document[key]} but the weight gives {size}")
        if bias is not None and len(bias) != len(weight):
            raise SpecError(f"{where}.bias: has {len(bias)} values but the layer has {len(weight)} units"
                            " (weight rows)")
        return cls(weight=weight, bias=bias, activation=activation, freeze_bias=freeze)

    def to_spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"weight": [list(r) for r in self.weight]}
        if self.bias is not None:
            entry["bias"] = list(self.bias)
        if self.freeze_bias:
            entry["freeze_bias"] = True
        entry["activation"] = self.activation
        return entry

    # --- numbers ----------------------------------------------------------------------------

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        from backprop_cli.layers.elementwise import numpy_activation

        W, b = run.params[(path, "weight")], run.param(path, "bias")
        z = X @ W.T
        if b is not None:
            z += b
        function = numpy_activation(self.activation)
        a = function.forward(z)
        run.cache[path] = {"x": X, "z": z, "a": a, "f": function}
        return a

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        cache = run.cache[path]
        delta = G if pre_activation else cache["f"].backward(cache["z"], cache["a"], G)
        run.grads[(path, "weight")] = delta.T @ cache["x"]
        if self.bias is not None:
            run.grads[(path, "bias")] = delta.sum(axis=0)
        return delta @ run.params[(path, "weight")] if run.wants_input(path) else delta

    # --- PyTorch ----------------------------------------------------------------------------

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        from backprop_cli.layers.torch_modules import activation_module

        linear = torch.nn.Linear(self.inputs, self.units, bias=self.bias is not None, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.tensor(self.weight, dtype=torch.float64))
            if self.bias is not None:
                linear.bias.copy_(torch.tensor(self.bias, dtype=torch.float64))
        if self.bias is not None and self.freeze_bias:
            linear.bias.requires_grad_(False)
        if without_activation:
            return linear
        return torch.nn.Sequential(linear, activation_module(torch, self.activation))

    def torch_parameters(self, module: Any) -> dict[str, Any]:
        import torch

        linear = module[0] if isinstance(module, torch.nn.Sequential) else module
        return {name: getattr(linear, name) for name in self.parameters()}

    # --- the page (matrix form) -------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import name, say

        key = "group.output_layer" if last else "group.layer"
        return say(key, layer=number, inputs=self.inputs, units=self.units, activation=name(self.activation))

    def pre_activation(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> sp.Basic:
        """The symbol of what the activation is applied to: Z⁽ˡ⁾."""
        return page.Z(page.number(path))

    @property
    def time_blocks(self) -> int:
        """How many blocks of ``inputs`` values a sample holds: 1, or T after a sequence."""
        return 1

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        from backprop_cli.layers.activation import scalar_activation
        from backprop_cli.notation import add, mul

        W, b = page.parameter(path, "weight"), page.parameter(path, "bias") if self.bias is not None else None
        steps: list[Step] = []
        outputs = []
        for n, row in enumerate(inputs):
            zs = []
            for t in range(self.time_blocks):  # after a sequence, the same W at every step
                for j in range(self.units):
                    terms = [mul(W[j][k], row[t * self.inputs + k]) for k in range(self.inputs)]
                    z = page.node("z", path, t * self.units + j, n)
                    steps.append(page.define(path, z, add(*terms, *([b[j]] if b is not None else []))))
                    zs.append(z)
            outputs.append(scalar_activation(page, path, self.activation, zs, n, steps))
        page.outputs_of[path] = outputs
        return steps

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import MatMul, Transpose, add
        from backprop_cli.printing import to_text

        number = page.number(path)
        values = page.arrays
        steps = []
        product = MatMul(inputs, page.W(number)) if page.transposed else MatMul(inputs, Transpose(page.W(number)))
        note = None
        if self.bias is not None:
            weighted = add(product, page.b(number))
            if page.samples > 1:
                note = say("matrix.broadcast", bias=to_text(page.b(number)), samples=page.samples)
        else:
            weighted = product
        steps.append(page.record(values, page.Z(number), (weighted,), note=note))
        return steps + matrix_activation(page, path, self.activation)

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic,
                        upstream: sp.Basic, pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, ColumnSum, MatMul, Partial, Transpose

        number = page.number(path)
        values = page.arrays
        delta = page.delta(number)
        steps = [] if pre_activation else matrix_delta(page, path, self.activation, upstream)
        gradient = MatMul(Transpose(inputs), delta) if page.transposed else MatMul(Transpose(delta), inputs)
        steps.append(page.record(values, Partial(LOSS, page.W(number)), (gradient,)))
        if self.bias is not None:
            note = say("matrix.column_sums", samples=page.samples) if page.samples > 1 else None
            steps.append(page.record(values, Partial(LOSS, page.b(number)), (ColumnSum(delta),), note=note))
        return steps, MatMul(delta, Transpose(page.W(number)) if page.transposed else page.W(number))


def matrix_activation(page: MatrixPage, path: Path, name: str) -> list[MatrixStep]:
    """The line A⁽ˡ⁾ = f(Z⁽ˡ⁾) of a layer that ends with the activation ``name`` (Z⁽ˡ⁾ on the page)."""
    from backprop_cli import functions
    from backprop_cli.evaluate_array import ArrayEvaluator
    from backprop_cli.locales import say
    from backprop_cli.notation import Elementwise, activation_forms

    number = page.number(path)
    values = page.arrays
    activation = functions.activation(name)
    applied = Elementwise(activation.name if activation.name in functions.NAMES else "f", page.Z(number))
    lead = page.output_lead(path)
    if isinstance(activation, functions.Softmax):
        value = activation.array(values[page.Z(number)])
        return [page.record(values, page.A(number), (applied,), value=value, lead=lead, note=say(activation.note))]
    formula = activation.apply(page.Z(number))
    value = ArrayEvaluator(values)(formula)
    return [page.record(values, page.A(number), activation_forms(applied, formula), value=value,
                        numbers=applied, lead=lead, note=say("matrix.elementwise"))]


def matrix_delta(page: MatrixPage, path: Path, name: str, upstream: sp.Basic) -> list[MatrixStep]:
    """The lines f′(Z⁽ˡ⁾) and δ⁽ˡ⁾ = ∂𝓛/∂A⁽ˡ⁾ ⊙ f′(Z⁽ˡ⁾) of a layer that ends with the activation ``name``,
    from ``upstream`` (an expression of ∂𝓛/∂A⁽ˡ⁾)."""
    from backprop_cli import functions
    from backprop_cli.locales import say
    from backprop_cli.notation import LOSS, Elementwise, Hadamard, Partial, hadamard_form

    number = page.number(path)
    values = page.arrays
    activation = functions.activation(name)
    Z = page.Z(number)
    # Softmax ends the output layer only, whose δ the loss works out (pre_activation).
    assert isinstance(activation, functions.Activation)
    prime = Elementwise(activation.name if activation.name in functions.NAMES else "f", Z, prime=True)
    local = activation.local_derivative(Z, page.A(number))
    return [page.record(values, prime, (hadamard_form(local),), note=say("matrix.elementwise")),
            page.record(values, page.delta(number), (Partial(LOSS, Z), Hadamard(upstream, prime)),
                        also=(Partial(LOSS, Z),))]


def _finite(values: tuple[float, ...], key: str) -> None:
    for value in values:
        if not math.isfinite(value):
            raise SpecError(f"{key}: {value} is not a finite number")
