"""``attention``: scaled dot-product self-attention, ``nn.MultiheadAttention(embed_dim, num_heads,
batch_first=True)`` called as ``attn(x, x, x)``.

A sample is a sequence of T tokens of d features ((T, d), time major, flat in the data as a
recurrent layer's ``output = "all"`` gives it). The parameters are torch's: ``in_proj_weight``
(3d × d: W_Q, W_K, W_V stacked), ``in_proj_bias`` (3d), ``out_proj_weight`` (d × d) and
``out_proj_bias`` (d). Forward, for each sample X (T × d) and head h (of ``num_heads``, d_k = d / heads):

- ``Q = X W_Qᵀ + b_Q``, ``K = X W_Kᵀ + b_K``, ``V = X W_Vᵀ + b_V``; head h takes columns
  h·d_k … (h + 1)·d_k of each;
- ``S_h = Q_h K_hᵀ / √d_k``, plus the mask M (−∞ above the diagonal) where ``causal``;
- ``A_h = softmax(S_h)`` row by row, ``H_h = A_h V_h``; the heads side by side make H (T × d);
- ``O = H W_Oᵀ + b_O``, the layer's output.

Backward, from ∂𝓛/∂O: ``∂𝓛/∂W_O = ∂Oᵀ H``, ``∂H = ∂O W_O``; per head ``∂A = ∂H_h V_hᵀ``,
``∂V_h = A_hᵀ ∂H_h``, the softmax's Jacobian by rows ``∂S = A ⊙ (∂A − rowsum(∂A ⊙ A))``,
``∂Q_h = ∂S K_h / √d_k``, ``∂K_h = ∂Sᵀ Q_h / √d_k``; the heads joined, ``∂W_Q = ∂Qᵀ X`` (and K, V),
and ``∂X = ∂Q W_Q + ∂K W_K + ∂V W_V``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

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
    uniform_rows,
    vector,
)

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message

from backprop_cli.layers.token_rows import flat_output, hand_back, token_rows, upstream_rows

Matrix = tuple[tuple[float, ...], ...]
Vector = tuple[float, ...]
PARAMETERS = ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias")
PROJECTIONS = "QKV"


@dataclass(frozen=True)
class Attention(Kind):
    """Multi-head self-attention over sequences of ``steps`` tokens.

    Args:
        in_proj_weight: W_Q, W_K, W_V stacked (3d × d).
        in_proj_bias: b_Q, b_K, b_V stacked (3d), or None (``bias = false``).
        out_proj_weight: W_O (d × d).
        out_proj_bias: b_O (d), or None.
        steps: T, the sequence's length.
        num_heads: the heads d is split into (d_k = d / num_heads each).
        causal: whether each token attends only to itself and the tokens before it.
    """

    in_proj_weight: Matrix
    in_proj_bias: Vector | None
    out_proj_weight: Matrix
    out_proj_bias: Vector | None
    steps: int
    num_heads: int = 1
    causal: bool = False

    kind = "attention"
    keys = ("kind", "embed_dim", "num_heads", "bias", "causal", *PARAMETERS)
    parameter_names = PARAMETERS
    state_names = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
    glyphs = {"in_proj_weight": "W", "in_proj_bias": "b", "out_proj_weight": "W", "out_proj_bias": "b"}
    shapes = "shaped"
    compiles = False

    @property
    def embed_dim(self) -> int:
        return len(self.out_proj_weight)

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def summary(self) -> str:
        return self.summary_in("en")

    def summary_in(self, lang: str) -> str:
        from backprop_cli.locales import named

        return f"{named(self.kind, lang)} ×{self.num_heads}" + (f", {named('causal', lang)}" if self.causal else "")

    # --- shapes -----------------------------------------------------------------------------

    def in_features(self) -> int:
        return self.steps * self.embed_dim

    def out_features(self, in_features: int) -> int:
        return self.steps * self.embed_dim

    def input_shape(self) -> tuple[int, ...]:
        return (self.steps, self.embed_dim)

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.steps, self.embed_dim)

    def time_steps(self, before: int | None) -> int | None:
        return self.steps

    # --- .pt files ----------------------------------------------------------------------------

    @classmethod
    def recognizes_state(cls, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        if not {"in_proj_weight", "out_proj.weight"} <= set(shapes) or not set(shapes) <= set(cls.state_names):
            return False
        rows, columns = shapes["in_proj_weight"]
        return rows == 3 * columns and shapes["out_proj.weight"] == (columns, columns)

    @classmethod
    def state_table(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        table = {name.replace(".", "_"): value for name, value in values.items()}
        if "in_proj_bias" not in table:
            table["bias"] = False
        return table

    # --- files ------------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Attention:
        check_keys(document, cls.keys, where + ".")
        shape = context.in_shape
        if shape is None or len(shape) != 2:
            got = "" if shape is None else f"; the layer before gives {'×'.join(map(str, shape))}"
            raise SpecError(f"{where}: attention reads sequences; give input_shape = [T, embed_dim] at the top"
                            f" of the spec (or tokens through an embedding){got}")
        steps, d = shape
        if "embed_dim" in document and integer(document["embed_dim"], f"{where}.embed_dim") != d:
            raise SpecError(f"{where}.embed_dim: is {document['embed_dim']} but each token of the input has"
                            f" {d} feature(s)")
        heads = integer(document.get("num_heads", 1), f"{where}.num_heads")
        if d % heads:
            raise SpecError(f"{where}.num_heads: {heads} heads do not divide embed_dim {d}; choose a divisor of {d}")
        causal = flag(document.get("causal", False), f"{where}.causal")
        given = [name for name in PARAMETERS if name in document]
        if given:
            rows = cls.given(document, where, d)
        else:
            if 4 * d * (d + 1) > MAX_PARAMETERS:
                raise SpecError(f"{where}.embed_dim: the layer would have more than {MAX_PARAMETERS:,} parameters")
            rows = cls.random(d, random.Random(context.seed), flag(document.get("bias", True), f"{where}.bias"))
        return cls(**rows, steps=steps, num_heads=heads, causal=causal)

    @classmethod
    def given(cls, document: Mapping[str, Any], where: str, d: int) -> dict[str, Any]:
        for key in ("in_proj_weight", "out_proj_weight"):
            if key not in document:
                raise SpecError(f"{where}: needs in_proj_weight and out_proj_weight (and in_proj_bias,"
                                " out_proj_bias), or none of them for random weights")
        in_w = matrix(document["in_proj_weight"], f"{where}.in_proj_weight")
        out_w = matrix(document["out_proj_weight"], f"{where}.out_proj_weight")
        if len(in_w) != 3 * d or len(in_w[0]) != d:
            raise SpecError(f"{where}.in_proj_weight: is {len(in_w)}×{len(in_w[0])}; W_Q, W_K, W_V stacked need"
                            f" 3·embed_dim × embed_dim ({3 * d}×{d})")
        if len(out_w) != d or len(out_w[0]) != d:
            raise SpecError(f"{where}.out_proj_weight: is {len(out_w)}×{len(out_w[0])}; it needs embed_dim ×"
                            f" embed_dim ({d}×{d})")
        biases: list[Vector | None] = []
        for key, size in (("in_proj_bias", 3 * d), ("out_proj_bias", d)):
            raw = document.get(key)
            if raw is None:
                biases.append(None)
                continue
            value = vector(raw, f"{where}.{key}")
            if len(value) != size:
                raise SpecError(f"{where}.{key}: has {len(value)} values but the layer needs {size}")
            biases.append(value)
        if (biases[0] is None) != (biases[1] is None):
            raise SpecError(f"{where}: give both in_proj_bias and out_proj_bias, or neither (torch's bias = False)")
        if document.get("bias", True) is False and biases[0] is not None:
            raise SpecError(f"{where}.bias: is false but the table gives in_proj_bias; leave out one or the other")
        return {"in_proj_weight": in_w, "in_proj_bias": biases[0], "out_proj_weight": out_w,
                "out_proj_bias": biases[1]}

    @classmethod
    def random(cls, d: int, rng: random.Random, bias: bool) -> dict[str, Any]:
        """torch's initialisation, to 4 decimals: in_proj_weight Xavier-uniform over (3d, d), out_proj's
        weight U(−1/√d, 1/√d), the biases 0."""
        return {"in_proj_weight": uniform_rows(rng, 3 * d, d, math.sqrt(6.0 / (4 * d))),
                "out_proj_weight": uniform_rows(rng, d, d, 1.0 / math.sqrt(d)),
                "in_proj_bias": (0.0,) * (3 * d) if bias else None,
                "out_proj_bias": (0.0,) * d if bias else None}

    def to_spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": self.kind, "embed_dim": self.embed_dim, "num_heads": self.num_heads}
        if self.causal:
            entry["causal"] = True
        entry["in_proj_weight"] = [list(row) for row in self.in_proj_weight]
        entry["out_proj_weight"] = [list(row) for row in self.out_proj_weight]
        if self.in_proj_bias is None or self.out_proj_bias is None:
            entry["bias"] = False
        else:
            entry["in_proj_bias"], entry["out_proj_bias"] = list(self.in_proj_bias), list(self.out_proj_bias)
        return entry

    # --- numbers ----------------------------------------------------------------------------

    def run(self, X: Array, P: Mapping[str, Any]) -> dict[str, Any]:
        """The forward pass on flat rows X (N × T·d): every intermediate, heads as an axis (N, h, T, d_k)."""
        import numpy as np

        N, T, d, h, dk = X.shape[0], self.steps, self.embed_dim, self.num_heads, self.head_dim
        x = X.reshape(N, T, d)
        projected = x @ P["in_proj_weight"].T
        if P["in_proj_bias"] is not None:
            projected = projected + P["in_proj_bias"].reshape(-1)
        q, k, v = (projected[..., i * d:(i + 1) * d].reshape(N, T, h, dk).transpose(0, 2, 1, 3) for i in range(3))
        S = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dk)
        masked = S + mask(T) if self.causal else S
        top = masked.max(axis=-1, keepdims=True)
        e = np.exp(masked - top)
        A = e / e.sum(axis=-1, keepdims=True)
        heads = A @ v
        H = heads.transpose(0, 2, 1, 3).reshape(N, T, d)
        output = H @ P["out_proj_weight"].T
        if P["out_proj_bias"] is not None:
            output = output + P["out_proj_bias"].reshape(-1)
        return {"x": x, "projected": projected, "q": q, "k": k, "v": v, "S": S, "A": A, "heads": heads, "H": H,
                "O": output}

    def back(self, cache: Mapping[str, Any], P: Mapping[str, Any], G: Array) -> dict[str, Any]:
        """From ``G`` = ∂𝓛/∂O (N × T·d): every gradient, per head where the page shows it per head."""
        import numpy as np

        x, q, k, v, A, H = (cache[key] for key in ("x", "q", "k", "v", "A", "H"))
        N, T, d, h, dk = x.shape[0], self.steps, self.embed_dim, self.num_heads, self.head_dim
        dO = G.reshape(N, T, d)
        out: dict[str, Any] = {"out_proj_weight": np.einsum("nti,ntj->ij", dO, H)}
        if P["out_proj_bias"] is not None:
            out["out_proj_bias"] = dO.sum(axis=(0, 1))
        dH = dO @ P["out_proj_weight"]
        d_heads = dH.reshape(N, T, h, dk).transpose(0, 2, 1, 3)
        dA = d_heads @ v.transpose(0, 1, 3, 2)
        dv = A.transpose(0, 1, 3, 2) @ d_heads
        dS = A * (dA - (dA * A).sum(axis=-1, keepdims=True))
        scale = 1.0 / math.sqrt(dk)
        dq = dS @ k * scale
        dk_ = dS.transpose(0, 1, 3, 2) @ q * scale
        joined = [part.transpose(0, 2, 1, 3).reshape(N, T, d) for part in (dq, dk_, dv)]
        d_projected = np.concatenate(joined, axis=-1)
        out["in_proj_weight"] = np.einsum("nti,ntj->ij", d_projected, x)
        if P["in_proj_bias"] is not None:
            out["in_proj_bias"] = d_projected.sum(axis=(0, 1))
        out["x"] = (d_projected @ P["in_proj_weight"]).reshape(N, -1)
        out.update({"dO": dO, "dH": dH, "d_heads": d_heads, "dA": dA, "dS": dS, "dq": dq, "dk": dk_, "dv": dv,
                    "joined": joined})
        return out

    def arrays(self, run: NumpyRun, path: Path) -> dict[str, Any]:
        return {name: run.param(path, name) for name in PARAMETERS}

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        cache = self.run(X, self.arrays(run, path))
        run.cache[path] = cache
        return cache["O"].reshape(X.shape[0], -1)

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        P = self.arrays(run, path)
        out = self.back(run.cache[path], P, G)
        for name in PARAMETERS:
            if P[name] is not None:
                run.grads[(path, name)] = out[name]
        return out["x"]

    # --- PyTorch ----------------------------------------------------------------------------

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        d = self.embed_dim
        inner = torch.nn.MultiheadAttention(d, self.num_heads, bias=self.in_proj_bias is not None,
                                            batch_first=True, dtype=torch.float64)
        with torch.no_grad():
            for name, value in self.parameters().items():
                torch_tensor(inner, name).copy_(torch.tensor(value, dtype=torch.float64))
        layer = self
        base: Any = torch.nn.Module

        class SelfAttention(base):
            """The attention module on flat rows (N × T·d in and out)."""

            def __init__(self) -> None:
                super().__init__()
                self.attn = inner
                self.spec = layer  # read by the PyTorch script (render/pytorch.py)
                # built once, a buffer that follows the module's dtype and device (not in state_dict)
                self.register_buffer("causal", torch.nn.Transformer.generate_square_subsequent_mask(
                    layer.steps, dtype=torch.float64) if layer.causal else None, persistent=False)

            def forward(self, x: Any) -> Any:
                sequence = x.reshape(x.shape[0], layer.steps, d)
                out, _ = self.attn(sequence, sequence, sequence, attn_mask=self.causal, need_weights=False,
                                   is_causal=layer.causal)
                return out.flatten(1)

        return SelfAttention()

    def torch_parameters(self, module: Any) -> dict[str, Any]:
        return {name: torch_tensor(module.attn, name) for name in self.parameters()}

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import say

        return say("kind.attention.title" + ("_causal" if self.causal else ""), layer=number, steps=self.steps,
                   d=self.embed_dim, heads=self.num_heads, dk=self.head_dim)

    SCALAR_AUTO_TOKENS: ClassVar[int] = 4
    """The most token features (T·d) for ``--form auto`` to pick the scalar page (one head)."""
    SCALAR_TOKENS: ClassVar[int] = 3
    SCALAR_WIDTH: ClassVar[int] = 4
    """The largest T and d the scalar page writes element by element; past them, the matrix form."""

    def scalar_auto(self) -> bool:
        return self.num_heads == 1 and self.steps * self.embed_dim <= self.SCALAR_AUTO_TOKENS

    def scalar_symbols(self, name: str, number: int, value: Any) -> Any:
        """W_Q,jk⁽ˡ⁾, W_K,jk⁽ˡ⁾, W_V,jk⁽ˡ⁾ (in_proj_weight's rows), b_Q,j⁽ˡ⁾ …, W_O,jk⁽ˡ⁾ and b_O,j⁽ˡ⁾, as the
        matrix form names the blocks."""
        from backprop_cli.notation import Node

        d = self.embed_dim

        def letter(row: int) -> str:
            return "O" if name.startswith("out_proj") else PROJECTIONS[row // d]

        if name.endswith("weight"):
            return tuple(tuple(Node("W", f"{letter(r)},{r % d + 1}{k + 1}", layer=number) for k in range(len(row)))
                         for r, row in enumerate(value))
        return tuple(Node("b", f"{letter(r)},{r % d + 1}", layer=number) for r in range(len(value)))

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        """Every element on its own line: q, k, v of each token, the scores s_t,u, the weights a_t,u
        (softmax of row t, the masked ones 0), h_t,j = Σ_u a_t,u v_u,j and the output projection; the
        backward is the page's chain rule (the softmax's Jacobian as the output layer's)."""
        from backprop_cli import functions
        from backprop_cli.errors import BackpropError
        from backprop_cli.layers.activation import row_lines
        from backprop_cli.locales import say
        from backprop_cli.notation import Node, add, mul, power

        T, d, dk, heads = self.steps, self.embed_dim, self.head_dim, self.num_heads
        if T > self.SCALAR_TOKENS or d > self.SCALAR_WIDTH:
            raise BackpropError(f"form: the scalar form of attention writes every element for up to"
                                f" {self.SCALAR_TOKENS} tokens of d ≤ {self.SCALAR_WIDTH}; this layer has {T}"
                                f" tokens of d = {d}. Use --form matrix (or auto)")
        n = page.number(path)
        W_in, W_out = page.parameter(path, "in_proj_weight"), page.parameter(path, "out_proj_weight")
        b_in = page.parameter(path, "in_proj_bias") if self.in_proj_bias is not None else None
        b_out = page.parameter(path, "out_proj_bias") if self.out_proj_bias is not None else None
        root = Node("d", "k")
        page.values[root] = float(dk)
        scale = power(root, -sp_half())
        softmax = functions.activation("softmax")
        notes = {"q": say("kind.attention.query"), "k": say("kind.attention.key"), "v": say("kind.attention.value")}
        steps: list[Step] = []
        outputs = []
        for sample, row in enumerate(inputs):
            mark = page.mark(sample)
            first = sample == 0

            def node(base: str, *at: int, head: int | None = None, mark: int | None = mark) -> Node:
                index = ",".join(str(i + 1) for i in ((head,) if heads > 1 and head is not None else ()) + at)
                return Node(base, index, layer=n, sample=mark)

            x = [row[t * d:(t + 1) * d] for t in range(T)]
            projected: dict[str, list[list[Any]]] = {}
            for block, base in enumerate("qkv"):
                projected[base] = []
                for t in range(T):
                    line = []
                    for j in range(d):
                        target = node(base, t, j)
                        r = block * d + j
                        terms = [mul(x[t][k], W_in[r][k]) for k in range(d)]
                        expr = add(*terms, *([b_in[r]] if b_in is not None else []))
                        note = notes[base] if first and t == 0 and j == 0 else None
                        steps.append(page.define(path, target, expr, note=note))
                        line.append(target)
                    projected[base].append(line)
            q, k, v = projected["q"], projected["k"], projected["v"]
            h: list[list[Any]] = [[None] * d for _ in range(T)]
            for head in range(heads):
                columns = range(head * dk, (head + 1) * dk)
                weights: list[list[Any]] = []
                for t in range(T):
                    seen = range(t + 1) if self.causal else range(T)
                    scores = []
                    for u in seen:
                        target = node("s", t, u, head=head)
                        note = None
                        if first and head == 0 and t == 0 and u == 0:
                            note = say("kind.attention.scalar_scores", dk=dk) if heads == 1 else \
                                say("kind.attention.scalar_scores_heads", dk=dk, heads=heads)
                        steps.append(page.define(path, target, mul(add(*(mul(q[t][j], k[u][j]) for j in columns)),
                                                                   scale), note=note))
                        scores.append(target)
                    row_weights = [node("a", t, u, head=head) for u in seen]
                    opening = first and head == 0 and t == 0
                    steps += row_lines(page, path, softmax, scores, row_weights,
                                       say("kind.attention.softmax") if opening else None)
                    for u in range(len(seen), T):  # the mask: s_t,u = −∞, so a_t,u = 0 (not a node)
                        note = say("kind.attention.scalar_causal") if opening and u == len(seen) else None
                        steps.append(page.record(page.values, node("a", t, u, head=head), (), value=0.0,
                                                 substitute=False, note=note))
                    weights.append(row_weights)
                for t in range(T):
                    for j in columns:
                        target = node("h", t, j)
                        note = say("kind.attention.weighted") if first and head == 0 and t == 0 and j == 0 else None
                        steps.append(page.define(path, target, add(*(mul(a, v[u][j]) for u, a in
                                                                      enumerate(weights[t]))), note=note))
                        h[t][j] = target
            out = []
            for t in range(T):
                for i in range(d):
                    # o⁽ˡ⁾_t,i as the matrix form's O (a⁽ˡ⁾ would read as the attention weights); ŷ at the end
                    target = page.output(path, t * d + i, sample) if path == page.last else node("o", t, i)
                    terms = [mul(h[t][j], W_out[i][j]) for j in range(d)]
                    note = say("kind.attention.output") if first and t == 0 and i == 0 else None
                    steps.append(page.define(path, target, add(*terms, *([b_out[i]] if b_out is not None else [])),
                                             note=note))
                    out.append(target)
            outputs.append(out)
        page.outputs_of[path] = outputs
        return steps

    def page_parameters(self, page: MatrixPage, path: Path) -> list[tuple[str, sp.Basic]]:
        from backprop_cli.notation import Node

        n = page.number(path)
        letters = {"in_proj_weight": ("W", "in"), "in_proj_bias": ("b", "in"), "out_proj_weight": ("W", "O"),
                   "out_proj_bias": ("b", "O")}
        return [(name, Node(letters[name][0], letters[name][1], layer=n)) for name in self.parameters()]

    def symbol(self, page: MatrixPage, path: Path, base: str, head: int | None = None,
               sample: int | None = None) -> Any:
        """Q⁽ˡ⁾, or one head's and one sample's part of it (Q_h⁽ˡ⁾[n]; no index where there is one head
        or one sample)."""
        from backprop_cli.notation import Node

        # The attention weights always carry their head's number: A⁽ˡ⁾ alone is the layer's output.
        index = head + 1 if head is not None and (self.num_heads > 1 or base == "A") else None
        shown_sample = sample + 1 if sample is not None and page.samples > 1 else None
        return Node(base, index, layer=page.number(path), sample=shown_sample)

    def projection(self, page: MatrixPage, path: Path, letter: str, kind: str) -> Any:
        """W_Q⁽ˡ⁾, b_K⁽ˡ⁾ …: the rows of in_proj_weight (in_proj_bias) that make Q, K or V."""
        from backprop_cli.notation import Node

        return Node(kind, letter, layer=page.number(path))

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        import numpy as np

        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise, MatMul, Node, Transpose, add, mul, power

        n = page.number(path)
        values = page.arrays
        d, T, dk = self.embed_dim, self.steps, self.head_dim
        held = dict(self.page_parameters(page, path))
        P = self.page_arrays(page, path)
        flat = np.asarray(values[inputs], dtype=float)
        N = flat.shape[0]
        cache = self.run(flat, P)
        page_cache(page)[path] = cache
        first_line, X = token_rows(page, path, inputs, d, say("kind.attention.tokens", steps=T, d=d, samples=N))
        steps = [first_line]
        # W_Q, W_K, W_V (b_Q …): in_proj_weight's rows, shown where Q, K, V are worked out
        for i, letter in enumerate(PROJECTIONS):
            hold(page, self.projection(page, path, letter, "W"), P["in_proj_weight"][i * d:(i + 1) * d])
            if P["in_proj_bias"] is not None:
                hold(page, self.projection(page, path, letter, "b"), P["in_proj_bias"][i * d:(i + 1) * d])
        notes = {"Q": "kind.attention.query", "K": "kind.attention.key", "V": "kind.attention.value"}
        for letter in PROJECTIONS:
            product = MatMul(X, Transpose(self.projection(page, path, letter, "W")))
            expr = add(product, self.projection(page, path, letter, "b")) if P["in_proj_bias"] is not None else product
            steps.append(page.record(values, Node(letter, layer=n), (expr,), note=say(notes[letter])))
        scale = power(Node("d", "k"), -sp_half())
        values[Node("d", "k")] = float(dk)
        M = Node("M", layer=n)
        if self.causal:
            values[M] = mask(T)
        split = self.num_heads > 1 or N > 1
        for s in range(N):
            for h in range(self.num_heads):
                first = s == 0 and h == 0
                parts = {letter: self.symbol(page, path, letter, h, s) for letter in PROJECTIONS}
                for letter in PROJECTIONS:  # one sample's rows and one head's columns, shown where used
                    hold(page, parts[letter], cache[letter.lower()][s, h])
                S = self.symbol(page, path, "S", h, s)
                note = say("kind.attention.scores" + ("_heads" if split else ""), dk=dk, heads=self.num_heads,
                           steps=T) if first else None
                steps.append(page.record(values, S, (mul(MatMul(parts["Q"], Transpose(parts["K"])), scale),),
                                         value=cache["S"][s, h], note=note))
                A = self.symbol(page, path, "A", h, s)
                scores: sp.Basic = add(S, M) if self.causal else S
                note = None
                if first:
                    note = say("kind.attention.causal" if self.causal else "kind.attention.softmax")
                steps.append(page.record(values, A, (Elementwise("softmax", scores),), value=cache["A"][s, h],
                                         note=note, heat=True))
                steps.append(page.record(values, self.symbol(page, path, "H", h, s), (MatMul(A, parts["V"]),),
                                         note=say("kind.attention.weighted") if first else None))
        H = Node("H", layer=n)
        hold(page, H, cache["H"].reshape(N * T, d))  # the heads side by side, shown in the next line
        output = Node("O", layer=n)
        product = MatMul(H, Transpose(Node("W", "O", layer=n)))
        expr = add(product, held["out_proj_bias"]) if "out_proj_bias" in held else product
        note = say("kind.attention.output" + ("_heads" if split else ""), heads=self.num_heads)
        steps.append(page.record(values, output, (expr,), note=note))
        steps.append(flat_output(page, path, output, d, say("kind.attention.flat", steps=T, d=d)))
        return steps

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        import numpy as np

        from backprop_cli.locales import say
        from backprop_cli.notation import (
            LOSS,
            ColumnSum,
            Elementwise,
            Hadamard,
            MatMul,
            Node,
            Partial,
            Transpose,
            add,
            mul,
            neg,
            power,
        )

        n = page.number(path)
        values = page.arrays
        d, T = self.embed_dim, self.steps
        held = dict(self.page_parameters(page, path))
        X, H, output = Node("X", layer=n), Node("H", layer=n), Node("O", layer=n)
        steps, dO = upstream_rows(page, path, upstream, output, d, say("kind.attention.back_rows", steps=T, d=d))
        G = np.asarray(values[Partial(LOSS, page.A(n))], dtype=float)
        N = G.shape[0]
        P = self.page_arrays(page, path)
        cache = page_cache(page)[path]
        out = self.back(cache, P, G)
        dH = Partial(LOSS, H)
        steps.append(page.record(values, Partial(LOSS, held["out_proj_weight"]), (MatMul(Transpose(dO), H),),
                                 note=say("kind.attention.back_output")))
        if "out_proj_bias" in held:
            steps.append(page.record(values, Partial(LOSS, held["out_proj_bias"]), (ColumnSum(dO),)))
        steps.append(page.record(values, dH, (MatMul(dO, held["out_proj_weight"]),)))
        scale = power(Node("d", "k"), -sp_half())
        split = self.num_heads > 1 or N > 1
        for s in range(N):
            for h in range(self.num_heads):
                first = s == 0 and h == 0
                Q, K, V, A, S, Hh = (self.symbol(page, path, letter, h, s) for letter in ("Q", "K", "V", "A", "S", "H"))
                dHh = Partial(LOSS, Hh)
                hold(page, dHh, out["d_heads"][s, h])
                dA, dS = Partial(LOSS, A), Partial(LOSS, S)
                note = say("kind.attention.back_weights" + ("_heads" if split else "")) if first else None
                steps.append(page.record(values, dA, (MatMul(dHh, Transpose(V)),), note=note))
                steps.append(page.record(values, Partial(LOSS, V), (MatMul(Transpose(A), dHh),)))
                jacobian = Hadamard(A, add(dA, neg(Elementwise("rowsum", Hadamard(dA, A)))))
                steps.append(page.record(values, dS, (jacobian,), value=out["dS"][s, h],
                                         note=say("kind.attention.back_softmax") if first else None))
                steps.append(page.record(values, Partial(LOSS, Q), (mul(MatMul(dS, K), scale),),
                                         note=say("kind.attention.back_scores") if first else None))
                steps.append(page.record(values, Partial(LOSS, K), (mul(MatMul(Transpose(dS), Q), scale),)))
        whole = [Partial(LOSS, Node(letter, layer=n)) for letter in PROJECTIONS]
        for i, symbol in enumerate(whole):  # the heads joined side by side again, shown where used
            hold(page, symbol, out["joined"][i].reshape(N * T, d))
        for i, letter in enumerate(PROJECTIONS):
            note = say("kind.attention.back_projections" + ("_heads" if split else ""), heads=self.num_heads) \
                if i == 0 else None
            steps.append(page.record(values, Partial(LOSS, self.projection(page, path, letter, "W")),
                                     (MatMul(Transpose(whole[i]), X),), note=note))
        steps.append(page.record(values, Partial(LOSS, held["in_proj_weight"]), (), value=out["in_proj_weight"],
                                 substitute=False, note=say("kind.attention.back_stacked")))
        if "in_proj_bias" in held:
            for i, letter in enumerate(PROJECTIONS):
                steps.append(page.record(values, Partial(LOSS, self.projection(page, path, letter, "b")),
                                         (ColumnSum(whole[i]),)))
            steps.append(page.record(values, Partial(LOSS, held["in_proj_bias"]), (),
                                     value=out["in_proj_bias"].reshape(1, -1), substitute=False))
        if not page.wants_gradient(inputs):
            return steps, upstream
        dX = Partial(LOSS, X)
        steps.append(page.record(values, dX, (add(*(MatMul(whole[i], self.projection(page, path, letter, "W"))
                                                    for i, letter in enumerate(PROJECTIONS))),),
                                 note=say("kind.attention.back_input")))
        more, gradient = hand_back(page, inputs, dX, d, say("kind.attention.flat_back", steps=T, d=d))
        return steps + more, gradient


def hold(page: MatrixPage, symbol: Any, value: Any) -> None:
    """A matrix the page knows without a line of its own (a head's columns, in_proj's rows): it is
    shown with its numbers in the lines that use it."""
    import numpy as np

    page.arrays[symbol] = np.atleast_2d(np.asarray(value, dtype=float))


def sp_half() -> Any:
    import sympy as sp

    return sp.Rational(1, 2)


def mask(steps: int) -> Array:
    """The causal mask: 0 on and below the diagonal, −∞ above (nn.Transformer.generate_square_subsequent_mask)."""
    import numpy as np

    return np.triu(np.full((steps, steps), -np.inf), k=1)


def torch_tensor(module: Any, name: str) -> Any:
    """The tensor of nn.MultiheadAttention holding parameter ``name`` (out_proj_weight is out_proj.weight)."""
    if name.startswith("out_proj_"):
        return getattr(module.out_proj, name.removeprefix("out_proj_"))
    return getattr(module, name)


def page_cache(page: MatrixPage) -> dict[Path, Any]:
    """The forward pass's arrays of each attention layer of the page, for its backward lines."""
    cache: dict[Path, Any] = page.__dict__.setdefault("_attention_cache", {})
    return cache
