"""``activation``: an element-wise function on its own, as ``nn.ReLU``, ``nn.Sigmoid`` … are.

``A = f(A_prev)`` (softmax row by row); backward ``∂𝓛/∂A_prev = ∂𝓛/∂A ⊙ f′(A_prev)``. With it a
``dense`` layer with the identity, then ``batch_norm``, then ``activation`` relu, is the usual
order of a normalised network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import SpecError
from backprop_cli.layers.base import Array, Kind, NumpyRun, Path, SpecContext, check_keys, shown

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message


@dataclass(frozen=True)
class Activation(Kind):
    """An activation layer: ``activation`` is a built-in name or a formula in ``x``."""

    activation: str = "relu"

    kind = "activation"
    shapes = "any"
    keys = ("kind", "activation")

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Activation:
        check_keys(document, cls.keys, where + ".")
        if "activation" not in document:
            raise SpecError(f"{where}.activation: kind = \"activation\" needs activation = NAME (e.g. \"relu\")")
        name = document["activation"]
        if not isinstance(name, str):
            raise SpecError(f"{where}.activation: expected a name or a formula in x, got {shown(name)}")
        return cls(activation=name)

    def to_spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "activation": self.activation}

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        from backprop_cli.layers.elementwise import numpy_activation

        function = numpy_activation(self.activation)
        a = function.forward(X)
        run.cache[path] = {"z": X, "a": a, "f": function}
        return a

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        if pre_activation:
            return G
        cache = run.cache[path]
        return cache["f"].backward(cache["z"], cache["a"], G)

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        from backprop_cli.layers.torch_modules import activation_module

        return torch.nn.Identity() if without_activation else activation_module(torch, self.activation)

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import name, say

        return say("kind.activation.title", layer=number, units=in_features, activation=name(self.activation))

    def pre_activation(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> sp.Basic:
        return inputs

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        steps: list[Step] = []
        page.outputs_of[path] = [scalar_activation(page, path, self.activation, row, n, steps)
                                 for n, row in enumerate(inputs)]
        return steps

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:

        from backprop_cli import functions
        from backprop_cli.evaluate_array import ArrayEvaluator
        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise, activation_forms

        number = page.number(path)
        values = page.arrays
        activation = functions.activation(self.activation)
        applied = Elementwise(activation.name if activation.name in functions.NAMES else "f", inputs)
        lead = page.output_lead(path)
        if isinstance(activation, functions.Softmax):
            return [page.record(values, page.A(number), (applied,), value=activation.array(values[inputs]),
                                lead=lead, note=say(activation.note))]
        formula = activation.apply(inputs)
        return [page.record(values, page.A(number), activation_forms(applied, formula),
                            value=ArrayEvaluator(values)(formula), numbers=applied, lead=lead,
                            note=say("matrix.elementwise"))]

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        from backprop_cli import functions
        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise, Hadamard, hadamard_form

        if pre_activation or not page.wants_gradient(inputs):
            return [], upstream
        activation = functions.activation(self.activation)
        assert isinstance(activation, functions.Activation)  # softmax ends the output layer only
        values = page.arrays
        prime = Elementwise(activation.name if activation.name in functions.NAMES else "f", inputs, prime=True)
        local = activation.local_derivative(inputs, page.A(page.number(path)))
        steps = [page.record(values, prime, (hadamard_form(local),), note=say("matrix.elementwise"))]
        more, gradient = page.gradient(inputs, Hadamard(upstream, prime))
        return steps + more, gradient


def scalar_activation(page: KindsScalarPage, path: Path, name: str, zs: list[Any], sample: int,
                      steps: list[Step]) -> list[Any]:
    """The lines a = f(z) of one sample's units (softmax and log_softmax of the whole row), with the
    local derivative a textbook writes (σ(1 − σ)); the outputs' symbols."""
    from backprop_cli import functions

    activation = functions.activation(name)
    outputs = [page.output(path, j, sample) for j in range(len(zs))]
    if isinstance(activation, functions.Softmax):
        steps += row_lines(page, path, activation, zs, outputs)
        return outputs
    for z, a in zip(zs, outputs, strict=True):
        steps.append(page.define(path, a, activation.apply(z), local={z: activation.local_derivative(z, a)}))
    return outputs


def row_lines(page: KindsScalarPage, path: Path, activation: Any, zs: list[Any], outputs: list[Any],
              note: Message | None = None) -> list[Step]:
    """The lines aⱼ = softmax(z)ⱼ of one row, with ∂aⱼ/∂zᵢ in the outputs (aⱼ(1 − aⱼ), −aⱼaᵢ) as the
    textbook writes it, not sympy's derivative of the stable form PyTorch computes."""
    from backprop_cli.notation import replace

    _, ps, _ = activation._symbols(len(zs))
    by_output = dict(zip(ps, outputs, strict=True))
    jacobian = activation.jacobian(len(zs))
    steps = []
    for j, a in enumerate(outputs):
        local = {zi: replace(jacobian[j][i], by_output) for i, zi in enumerate(zs)}
        steps.append(page.define(path, a, activation.apply(zs, j), numeric=activation.stable(zs, j), local=local,
                                 note=note if j == 0 else None))
    return steps
