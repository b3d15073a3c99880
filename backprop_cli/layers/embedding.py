"""``embedding``: ``nn.Embedding``, token ids to vectors.

A sample is a sequence of T token ids (``input_shape = [T]`` at the top of the spec; the ids are
kept as numbers in the sample's row, each a whole number from 0 to V − 1). The parameter is torch's
``weight`` E (V × d, one row per token). Forward: row t of a sample's output is row ``x_t`` of E,
which the page writes as a product with one-hot rows, ``A_t = X_t E`` (X_t: N × V, a 1 in each row
at that sample's token); the output is (T, d), time major, as a recurrent layer's ``output = "all"``
(a dense layer after it works every position). Backward: ``∂𝓛/∂E = Σ_t X_tᵀ ∂𝓛/∂A_t``, so row v of
the gradient is the sum of ∂𝓛/∂A_t over the positions where the token is v; a token the batch does
not hold gets no gradient. The ids themselves have no gradient: the layer comes first.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import DataError, SpecError
from backprop_cli.layers.base import (
    MAX_PARAMETERS,
    Array,
    Kind,
    NumpyRun,
    Path,
    SpecContext,
    check_keys,
    integer,
    matrix,
)

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message

Matrix = tuple[tuple[float, ...], ...]


def token_ids(X: Array) -> Array:
    """The ids of a batch of rows of numbers (whole numbers, checked by ``check_sample``), as integers."""
    import numpy as np

    return np.rint(np.asarray(X, dtype=float)).astype(np.intp)


@dataclass(frozen=True)
class Embedding(Kind):
    """A lookup table of ``num_embeddings`` vectors of ``embedding_dim`` over sequences of ``steps`` ids.

    Args:
        weight: E, one row per token (V × d).
        steps: T, the sequence's length.
    """

    weight: Matrix
    steps: int

    kind = "embedding"
    keys = ("kind", "num_embeddings", "embedding_dim", "weight")
    parameter_names = ("weight",)
    state_names = ("weight",)
    glyphs = {"weight": "E"}
    shapes = "shaped"
    compiles = False
    reads_tokens = True

    @property
    def vocabulary(self) -> int:
        return len(self.weight)

    @property
    def dim(self) -> int:
        return len(self.weight[0])

    def summary_in(self, lang: str) -> str:
        from backprop_cli.locales import named

        return f"{named(self.kind, lang)} {self.vocabulary}×{self.dim}"

    @property
    def summary(self) -> str:
        return self.summary_in("en")

    # --- shapes -----------------------------------------------------------------------------

    def in_features(self) -> int:
        return self.steps

    def input_shape(self) -> tuple[int, ...]:
        return (self.steps,)

    def out_features(self, in_features: int) -> int:
        return self.steps * self.dim

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.steps, self.dim)

    def time_steps(self, before: int | None) -> int | None:
        return self.steps

    def check_sample(self, values: Sequence[float], where: str) -> None:
        for value in values:
            if value != int(value) or not 0 <= value < self.vocabulary:
                raise DataError(f"x{where}: {value:g} is not a token id of the embedding's {self.vocabulary} rows;"
                                f" give whole numbers from 0 to {self.vocabulary - 1}")

    # --- files ------------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Embedding:
        check_keys(document, cls.keys, where + ".")
        shape = context.in_shape
        if shape is None or len(shape) != 1:
            raise SpecError(f"{where}: embedding reads sequences of token ids; give input_shape = [T] (the"
                            " sequence's length) at the top of the spec, and the embedding as the first layer")
        steps = shape[0]
        if "weight" in document:
            weight = matrix(document["weight"], f"{where}.weight")
            for key, size in (("num_embeddings", len(weight)), ("embedding_dim", len(weight[0]))):
                if key in document and integer(document[key], f"{where}.{key}") != size:
                    raise SpecError(f"{where}.{key}: is {document[key]} but weight is {len(weight)}×{len(weight[0])}"
                                    " (num_embeddings × embedding_dim)")
        else:
            if "num_embeddings" not in document or "embedding_dim" not in document:
                raise SpecError(f"{where}: needs weight (num_embeddings × embedding_dim), or num_embeddings and"
                                " embedding_dim for random weights")
            vocabulary = integer(document["num_embeddings"], f"{where}.num_embeddings")
            dim = integer(document["embedding_dim"], f"{where}.embedding_dim")
            if vocabulary * dim > MAX_PARAMETERS:
                raise SpecError(f"{where}.num_embeddings: the layer would have more than {MAX_PARAMETERS:,}"
                                " parameters")
            weight = cls.random(vocabulary, dim, random.Random(context.seed))
        return cls(weight=weight, steps=steps)

    @staticmethod
    def random(vocabulary: int, dim: int, rng: random.Random) -> Matrix:
        """torch's initialisation, N(0, 1), to 4 decimals."""
        return tuple(tuple(round(rng.gauss(0.0, 1.0), 4) for _ in range(dim)) for _ in range(vocabulary))

    def to_spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "num_embeddings": self.vocabulary, "embedding_dim": self.dim,
                "weight": [list(row) for row in self.weight]}

    @classmethod
    def recognizes_state(cls, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        return set(shapes) == {"weight"} and len(shapes["weight"]) == 2

    # --- numbers ----------------------------------------------------------------------------

    def lookup(self, E: Array, ids: Array) -> Array:
        """The rows of E the ids pick, N × T·d (time major)."""
        return E[ids].reshape(ids.shape[0], -1)

    def gradient(self, ids: Array, G: Array) -> Array:
        """∂𝓛/∂E: each position's ∂𝓛/∂A_t added to the row of its token (V × d)."""
        import numpy as np

        grad = np.zeros((self.vocabulary, self.dim))
        np.add.at(grad, ids.reshape(-1), np.asarray(G, dtype=float).reshape(-1, self.dim))
        return grad

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        ids = token_ids(X)
        run.cache[path] = {"ids": ids}
        return self.lookup(run.params[(path, "weight")], ids)

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        run.grads[(path, "weight")] = self.gradient(run.cache[path]["ids"], G)
        return G  # the ids have no gradient (the layer comes first)

    # --- PyTorch ----------------------------------------------------------------------------

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        inner = torch.nn.Embedding(self.vocabulary, self.dim, dtype=torch.float64)
        with torch.no_grad():
            inner.weight.copy_(torch.tensor(self.weight, dtype=torch.float64))
        layer = self
        base: Any = torch.nn.Module

        class Tokens(base):
            """nn.Embedding on flat rows of ids (N × T floats in, N × T·d out)."""

            def __init__(self) -> None:
                super().__init__()
                self.embedding = inner
                self.ids: tuple[Any, int, Any] | None = None
                self.spec = layer  # read by the PyTorch script (render/pytorch.py)

            def forward(self, x: Any) -> Any:
                # the ids of the last input, kept while it is the same tensor unchanged (a full-batch
                # loop passes the same X every epoch: one conversion, not one an epoch)
                if self.ids is None or self.ids[0] is not x or self.ids[1] != x._version:
                    self.ids = (x, x._version, x.long())
                return self.embedding(self.ids[2]).reshape(x.shape[0], -1)

        return Tokens()

    def torch_parameters(self, module: Any) -> dict[str, Any]:
        return {"weight": module.embedding.weight}

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import say

        return say("kind.embedding.title", layer=number, vocabulary=self.vocabulary, dim=self.dim, steps=self.steps)

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        from backprop_cli.errors import BackpropError

        raise BackpropError("form: embedding layers are worked in the matrix form (one-hot rows times E);"
                            " use --form matrix (or auto)")

    def one_hot(self, ids: Array) -> Array:
        """X_t for every t: (T, N, V), a 1 at each sample's token."""
        import numpy as np

        # Compared with the ids, not rows of np.eye(V): that is V × V, 80 GB for a vocabulary of 100,000.
        return (ids.T[..., None] == np.arange(self.vocabulary)).astype(float)

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import MatMul, Node

        n = page.number(path)
        values = page.arrays
        ids = token_ids(values[inputs])
        hot = self.one_hot(ids)
        E = Node("E", layer=n)
        steps: list[MatrixStep] = []
        for t in range(1, self.steps + 1):
            note = say("kind.embedding.one_hot", vocabulary=self.vocabulary) if t == 1 else None
            steps.append(page.record(values, Node("X", t, layer=n), (), value=hot[t - 1], substitute=False, note=note))
            steps.append(page.record(values, Node("A", t, layer=n), (MatMul(Node("X", t, layer=n), E),),
                                     note=say("kind.embedding.rows") if t == 1 else None))
        steps.append(page.record(values, page.A(n), (), value=self.lookup(values[E], ids), substitute=False,
                                 lead=page.output_lead(path),
                                 note=say("kind.embedding.output", steps=self.steps, dim=self.dim)))
        return steps

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        import numpy as np

        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, MatMul, Node, Partial, Transpose, add

        n = page.number(path)
        values = page.arrays
        steps, gradient = page.materialize(Partial(LOSS, page.A(n)), upstream)
        G = np.asarray(values[gradient], dtype=float).reshape(-1, self.steps, self.dim)
        ids = token_ids(values[inputs])
        parts = []
        for t in range(1, self.steps + 1):
            part = Partial(LOSS, Node("A", t, layer=n))
            steps.append(page.record(values, part, (), value=G[:, t - 1], substitute=False,
                                     note=say("kind.embedding.blocks", dim=self.dim) if t == 1 else None))
            parts.append(MatMul(Transpose(Node("X", t, layer=n)), part))
        used = set(ids.reshape(-1).tolist())
        unused = [str(v) for v in range(self.vocabulary) if v not in used]
        if unused:
            note = say("kind.embedding.unused" + ("_one" if len(unused) == 1 else ""), rows=", ".join(unused))
        else:
            note = say("kind.embedding.all_used")
        steps.append(page.record(values, Partial(LOSS, Node("E", layer=n)), (add(*parts),),
                                 value=self.gradient(ids, G), note=note))
        return steps, gradient
