"""``positional``: a position's vector added to each position of a sequence (T, d).

Sinusoidal (fixed, "Attention is all you need", as torch's tutorials compute it):
``P[pos, 2i] = sin(pos / 10000^(2i/d))``, ``P[pos, 2i+1] = cos(pos / 10000^(2i/d))``, pos = 0…T − 1;
or learned (``learned = true``): a parameter ``weight`` of T × d, as ``nn.Embedding(T, d)`` looked up at
the positions 0…T − 1 (torch's initialisation N(0, 1)). Forward ``A = X + P`` (P's row t added to every
sample's position t); backward ``∂𝓛/∂X = ∂𝓛/∂A`` and, learned, ``∂𝓛/∂P`` = the sum over the samples of
each position's block of ∂𝓛/∂A.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import SpecError
from backprop_cli.layers.base import Array, Kind, NumpyRun, Path, SpecContext, check_keys, flag, matrix
from backprop_cli.layers.embedding import Embedding

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message

Matrix = tuple[tuple[float, ...], ...]


@cache
def sinusoidal(steps: int, dim: int) -> Matrix:
    """The fixed encoding P (steps × dim): sin at the even columns, cos at the odd ones."""
    rows = []
    for pos in range(steps):
        row = []
        for j in range(dim):
            angle = pos / 10000.0 ** ((j - j % 2) / dim)
            row.append(math.sin(angle) if j % 2 == 0 else math.cos(angle))
        rows.append(tuple(row))
    return tuple(rows)


@dataclass(frozen=True)
class Positional(Kind):
    """Positions' vectors added to a sequence of ``steps`` positions of ``dim`` features.

    Args:
        weight: P, learned (T × d), or None for the fixed sinusoidal encoding.
        steps: T.
        dim: d.
    """

    weight: Matrix | None
    steps: int
    dim: int

    kind = "positional"
    keys = ("kind", "learned", "weight")
    parameter_names = ("weight",)
    state_names = ("weight",)
    glyphs = {"weight": "P"}
    shapes = "shaped"
    compiles = False

    @property
    def learned(self) -> bool:
        return self.weight is not None

    @property
    def summary(self) -> str:
        return self.summary_in("en")

    def summary_in(self, lang: str) -> str:
        from backprop_cli.locales import named

        return named("positional_learned" if self.learned else "positional_sinusoidal", lang)

    @property
    def table(self) -> Matrix:
        """P: the learned weight or the sinusoidal encoding."""
        return self.weight if self.weight is not None else sinusoidal(self.steps, self.dim)

    def in_features(self) -> int:
        return self.steps * self.dim

    def input_shape(self) -> tuple[int, ...]:
        return (self.steps, self.dim)

    def out_features(self, in_features: int) -> int:
        return in_features

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.steps, self.dim)

    def time_steps(self, before: int | None) -> int | None:
        return self.steps

    @classmethod
    def recognizes_state(cls, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        # A learned table's tensor is an nn.Embedding's (and a bias-less nn.Linear's, which KINDS
        # lists first): a .pt file's layer is read as positional where the sidecar names the kind.
        return set(shapes) == {"weight"} and len(shapes["weight"]) == 2

    # --- files ------------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Positional:
        check_keys(document, cls.keys, where + ".")
        shape = context.in_shape
        if shape is None or len(shape) != 2:
            got = "" if shape is None else f"; the layer before gives {'×'.join(map(str, shape))}"
            raise SpecError(f"{where}: positional adds to sequences (T, d); put it after an embedding, or give"
                            f" input_shape = [T, d] at the top of the spec{got}")
        steps, dim = shape
        learned = flag(document.get("learned", "weight" in document), f"{where}.learned")
        weight: Matrix | None = None
        if "weight" in document:
            if not learned:
                raise SpecError(f"{where}.weight: the sinusoidal encoding has no weight; set learned = true or"
                                " leave weight out")
            weight = matrix(document["weight"], f"{where}.weight")
            if (len(weight), len(weight[0])) != (steps, dim):
                raise SpecError(f"{where}.weight: is {len(weight)}×{len(weight[0])} but the sequence is"
                                f" {steps}×{dim} (positions × features)")
        elif learned:
            weight = Embedding.random(steps, dim, random.Random(context.seed))
        return cls(weight=weight, steps=steps, dim=dim)

    def to_spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": self.kind}
        if self.weight is not None:
            entry["learned"] = True
            entry["weight"] = [list(row) for row in self.weight]
        return entry

    @classmethod
    def holds_state(cls, table: Mapping[str, Any]) -> bool:
        return table.get("learned") is True

    @classmethod
    def state_table(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        return {**values, "learned": True}

    # --- numbers ----------------------------------------------------------------------------

    def row(self, P: Array) -> Array:
        """P as one row (1 × T·d), time major, added to every sample."""
        import numpy as np

        return np.asarray(P, dtype=float).reshape(1, -1)

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        P = run.param(path, "weight")
        return X + self.row(P if P is not None else self.table)

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        if self.learned:
            run.grads[(path, "weight")] = G.reshape(G.shape[0], self.steps, self.dim).sum(axis=0)
        return G

    # --- PyTorch ----------------------------------------------------------------------------

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        layer = self
        base: Any = torch.nn.Module

        class Positions(base):
            """x + P on flat rows (N × T·d), P learned (nn.Embedding(T, d) at 0…T − 1) or fixed."""

            def __init__(self) -> None:
                super().__init__()
                self.spec = layer  # read by the PyTorch script (render/pytorch.py)
                if layer.weight is not None:
                    self.embedding = torch.nn.Embedding(layer.steps, layer.dim, dtype=torch.float64)
                    with torch.no_grad():
                        self.embedding.weight.copy_(torch.tensor(layer.weight, dtype=torch.float64))
                else:
                    self.register_buffer("encoding", torch.tensor(layer.table, dtype=torch.float64))

            def forward(self, x: Any) -> Any:
                if layer.weight is not None:
                    table = self.embedding(torch.arange(layer.steps, device=x.device))
                else:
                    table = self.encoding
                return (x.reshape(x.shape[0], layer.steps, layer.dim) + table).reshape(x.shape[0], -1)

        return Positions()

    def torch_parameters(self, module: Any) -> dict[str, Any]:
        return {"weight": module.embedding.weight} if self.learned else {}

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import say

        return say("kind.positional.title" + ("_learned" if self.learned else ""), layer=number, steps=self.steps,
                   dim=self.dim)

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        from backprop_cli.errors import BackpropError

        raise BackpropError("form: positional layers are worked in the matrix form; use --form matrix (or auto)")

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        import numpy as np

        from backprop_cli.locales import say
        from backprop_cli.notation import Node, add

        n = page.number(path)
        values = page.arrays
        P = Node("P", layer=n)
        steps: list[MatrixStep] = []
        if not self.learned:
            steps.append(page.record(values, P, (), value=np.array(self.table), substitute=False,
                                     note=say("kind.positional.sinusoidal", dim=self.dim)))
        else:
            steps.append(page.record(values, P, (), value=values[P], substitute=False,
                                     note=say("kind.positional.learned", steps=self.steps)))
        value = np.asarray(values[inputs], dtype=float) + self.row(values[P])
        steps.append(page.record(values, page.A(n), (add(inputs, P),), value=value, substitute=False,
                                 lead=page.output_lead(path), note=say("kind.positional.added", steps=self.steps)))
        return steps

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        import numpy as np

        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, Node, Partial

        n = page.number(path)
        values = page.arrays
        steps, gradient = page.materialize(Partial(LOSS, page.A(n)), upstream)
        if self.learned:
            G = np.asarray(values[gradient], dtype=float)
            steps.append(page.record(values, Partial(LOSS, Node("P", layer=n)), (),
                                     value=G.reshape(G.shape[0], self.steps, self.dim).sum(axis=0), substitute=False,
                                     note=say("kind.positional.gradient", steps=self.steps)))
        return steps, gradient  # ∂𝓛/∂X = ∂𝓛/∂A: the sum passes the gradient on unchanged
