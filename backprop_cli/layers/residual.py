"""``residual``: a sub-stack of layers with its input added to its output, ``x + block(x)``.

Forward: the block's layers, then ``A = A_prev + A_block``. Backward: ∂𝓛/∂A reaches the input by
two paths, straight along the skip connection and back through the block; the input's gradient
is their sum, ``∂𝓛/∂A_prev = ∂𝓛/∂A + (the block's)``, which the page shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import SpecError
from backprop_cli.layers.base import Array, Kind, NumpyRun, Path, SpecContext, check_keys

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message


@dataclass(frozen=True)
class Residual(Kind):
    """``x + block(x)``; ``layers`` is the block, input side first."""

    layers: tuple[Kind, ...]

    kind = "residual"
    keys = ("kind", "layers")
    tokenwise = True

    def children(self) -> tuple[Kind, ...]:
        return self.layers

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return in_shape

    def input_shape(self) -> tuple[int, ...] | None:
        return self.layers[0].input_shape()

    def time_steps(self, before: int | None) -> int | None:
        for layer in self.layers:
            before = layer.time_steps(before)
        return before

    def in_features(self) -> int | None:
        for layer in self.layers:
            fixed = layer.in_features()
            if fixed is not None:
                return fixed
        return None

    def check(self, where: str, in_features: int) -> None:
        width = in_features
        for index, layer in enumerate(self.layers):
            layer.check(f"{where}.layers[{index}]", width)
            width = layer.out_features(width)
        if width != in_features:
            raise SpecError(f"{where}.layers: the block gives {width} features but its input has {in_features};"
                            " a residual connection adds the two, so they must have the same width")

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Residual:
        check_keys(document, cls.keys, where + ".")
        block = document.get("layers")
        if not isinstance(block, list) or not block:
            raise SpecError(f"{where}.layers: a residual needs its block, a [[layers.layers]] table per layer")
        return cls(layers=tuple(context.parse(block, where + ".layers", context.in_features)))

    def to_spec(self) -> dict[str, Any]:
        from backprop_cli.layers import layer_spec

        return {"kind": self.kind, "layers": [layer_spec(layer) for layer in self.layers]}

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        out = X
        for index, layer in enumerate(self.layers):
            out = layer.np_forward(run, (*path, index), out)
        return X + out

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        back = G.copy()  # the block's layers may overwrite what they are handed; the skip path keeps G
        for index in range(len(self.layers) - 1, -1, -1):
            back = self.layers[index].np_backward(run, (*path, index), back)
        return G + back

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        from backprop_cli.layers.torch_modules import residual_module, sequential

        return residual_module(torch, sequential(torch, self.layers))

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import say

        return say("kind.residual.title", layer=number, units=in_features)

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        from backprop_cli.locales import say
        from backprop_cli.notation import add

        block = page.forward_stack(self.layers, path, inputs)
        steps, outputs = [], []
        for n, (row, inner) in enumerate(zip(inputs, block, strict=True)):
            out = []
            for j, (x, f) in enumerate(zip(row, inner, strict=True)):
                a = page.output(path, j, n)
                note = say("kind.residual.forward") if n == 0 and j == 0 else None
                steps.append(page.define(path, a, add(x, f), note=note))
                out.append(a)
            outputs.append(out)
        page.outputs_of[path] = outputs
        return steps

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import add

        block = page.forward_stack(self.layers, path, inputs)
        return [page.record(page.arrays, page.A(page.number(path)), (add(inputs, block),),
                            lead=page.output_lead(path), note=say("kind.residual.forward"))]

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, Partial, add

        steps, gradient = page.materialize(Partial(LOSS, page.A(page.number(path))), upstream)
        page.emit(path, steps)
        through_block = page.backward_stack(self.layers, path, inputs, gradient)
        if not page.wants_gradient(inputs):
            return [], through_block
        return page.gradient(inputs, add(gradient, through_block), note=say("kind.residual.backward"))
