"""``dropout``: ``nn.Dropout`` in training mode, with the mask written out.

``A = A_prev ⊙ M / (1 − p)``: a unit is kept where the mask is 1 and scaled by 1/(1 − p), as torch
does in training mode; backward ``∂𝓛/∂A_prev = ∂𝓛/∂A ⊙ M / (1 − p)``. torch draws the mask at
random; a page needs it given (``mask``, 0/1 per unit, one row per sample), so that the numbers
can be held against PyTorch given the same mask. Without ``mask`` one is drawn from ``seed``
(Bernoulli(1 − p) per unit) and written on the page.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import DataError, SpecError
from backprop_cli.layers.base import Array, Kind, NumpyRun, Path, SpecContext, check_keys, integer, matrix, number

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message


@dataclass(frozen=True)
class Dropout(Kind):
    """Dropout with probability ``p`` of zeroing a unit, and the mask of kept units per sample.

    Args:
        p: the probability of dropping a unit, in [0, 1).
        mask: one row of 0/1 per sample (1 keeps the unit), or None to draw from ``seed``.
        seed: seeds the drawn mask.
    """

    p: float = 0.5
    mask: tuple[tuple[float, ...], ...] | None = None
    seed: int = 0

    kind = "dropout"
    shapes = "any"
    keys = ("kind", "p", "mask", "seed", "inplace")

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Dropout:
        check_keys(document, cls.keys, where + ".")
        p = number(document.get("p", 0.5), f"{where}.p")
        if not 0.0 <= p < 1.0:
            raise SpecError(f"{where}.p: the probability of dropping a unit must be in [0, 1), got {p:g}"
                            " (p = 1 drops every unit)")
        mask = None
        if "mask" in document:
            mask = matrix(document["mask"], f"{where}.mask")
            for row in mask:
                for value in row:
                    if value not in (0.0, 1.0):
                        raise SpecError(f"{where}.mask: holds {value:g}; a mask is 0 (dropped) or 1 (kept)")
        seed = integer(document.get("seed", context.seed), f"{where}.seed", minimum=0)
        return cls(p=p, mask=mask, seed=seed)

    def to_spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": self.kind, "p": self.p}
        if self.mask is not None:
            entry["mask"] = [list(row) for row in self.mask]
        if self.seed:
            entry["seed"] = self.seed
        return entry

    def check(self, where: str, in_features: int) -> None:
        if self.mask is not None and len(self.mask[0]) != in_features:
            raise SpecError(f"{where}.mask: has {len(self.mask[0])} columns but the layer before gives"
                            f" {in_features} units; one 0/1 per unit")

    def masks(self, samples: int, features: int) -> tuple[tuple[float, ...], ...]:
        """The mask rows of ``samples`` samples: the given ones, or drawn from ``seed``."""
        if self.mask is not None:
            if len(self.mask) != samples:
                raise DataError(f"dropout mask: has {len(self.mask)} rows but there are {samples} samples;"
                                " give one row of 0/1 per sample")
            return self.mask
        rng = random.Random(self.seed)
        return tuple(tuple(0.0 if rng.random() < self.p else 1.0 for _ in range(features)) for _ in range(samples))

    # --- numbers ----------------------------------------------------------------------------

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        import numpy as np

        total = run.samples if run.samples is not None else X.shape[0]
        M = np.asarray(self.masks(total, X.shape[1]), dtype=X.dtype)
        if run.rows is not None:
            M = M[run.rows]
        scale = M / (1.0 - self.p)
        run.cache[path] = {"scale": scale}
        return X * scale

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        return G * run.cache[path]["scale"]

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        from backprop_cli.layers.torch_modules import MaskedDropout

        return MaskedDropout(torch, self)

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import say

        return say("kind.dropout.title", layer=number, units=in_features, p=f"{self.p:g}")

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        from backprop_cli.notation import Node, add, mul, neg, power

        p = page.constant("p", path, self.p)
        masks = self.masks(len(inputs), len(inputs[0]))
        steps, outputs = [], []
        for n, row in enumerate(inputs):
            out = []
            for j, x in enumerate(row):
                m = Node("M", j + 1, layer=page.number(path), sample=page.mark(n))
                page.values[m] = masks[n][j]
                a = page.output(path, j, n)
                note = None
                if n == 0 and j == 0:
                    from backprop_cli.locales import say

                    note = say("kind.dropout.mask" if self.mask is not None else "kind.dropout.mask_drawn",
                               p=f"{self.p:g}", seed=self.seed)
                steps.append(page.define(path, a, mul(x, m, power(add(1, neg(p)), -1)), note=note))
                out.append(a)
            outputs.append(out)
        page.outputs_of[path] = outputs
        return steps

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        import numpy as np

        from backprop_cli.locales import say
        from backprop_cli.notation import Hadamard, Node, add, mul, neg, power

        n = page.number(path)
        values = page.arrays
        M, p = Node("M", layer=n), Node("p", layer=n)
        features = values[inputs].shape[1]
        values[M] = np.asarray(self.masks(page.samples, features), dtype=float)
        values[p] = self.p
        kept = mul(power(add(1, neg(p)), -1), Hadamard(inputs, M))
        note = say("kind.dropout.mask" if self.mask is not None else "kind.dropout.mask_drawn",
                   p=f"{self.p:g}", seed=self.seed)
        return [page.record(values, page.A(n), (kept,), lead=page.output_lead(path), note=note)]

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        from backprop_cli.notation import Hadamard, Node, add, mul, neg, power

        if not page.wants_gradient(inputs):
            return [], upstream
        n = page.number(path)
        M, p = Node("M", layer=n), Node("p", layer=n)
        return page.gradient(inputs, mul(power(add(1, neg(p)), -1), Hadamard(upstream, M)))
