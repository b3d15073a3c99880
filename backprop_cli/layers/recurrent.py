"""``rnn``, ``lstm`` and ``gru``: ``nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` (one layer, ``batch_first``).

A sample is a sequence of T steps of F features, kept flat in the data (``T·F`` values, time major,
as ``reshape(N, T, F)`` reads them); ``input_shape = [T, F]`` at the top of the spec. The parameters
are torch's: ``weight_ih`` (G·H × F), ``weight_hh`` (G·H × H), ``bias_ih`` and ``bias_hh`` (G·H), the
gates stacked in torch's order (G = 1 for rnn; LSTM i, f, g, o; GRU r, z, n). Forward, for t = 1…T:

- rnn: ``h_t = f(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh)``, f tanh or relu;
- lstm: ``i, f, o = σ(…)``, ``g = tanh(…)`` of the gate's rows of the same sum, ``c_t = f ⊙ c_{t−1} + i ⊙ g``,
  ``h_t = o ⊙ tanh(c_t)``;
- gru: ``r, z = σ(x_t W_iᵀ + b_i + h_{t−1} W_hᵀ + b_h)`` of their rows, ``n = tanh(x_t W_inᵀ + b_in +
  r ⊙ (h_{t−1} W_hnᵀ + b_hn))``, ``h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}`` (torch's form).

Backward is backpropagation through time: from t = T down to 1, ∂𝓛/∂h_t is what comes from the
output at t plus what comes back from step t + 1 (δ_{t+1} W_hh, and for the LSTM ∂𝓛/∂c_{t+1} ⊙ f_{t+1}
through the cell); each weight is shared by every step, so its gradient is the sum over steps.
``output = "last"`` gives h_T (H values a sample), ``"all"`` every h_t ((T, H), time major).

Truncated BPTT (``bptt = K``) works as a PyTorch loop does it: the sequence is run in chunks of K
steps, the state carried from chunk to chunk but detached (``h = h.detach()``, and ``c`` for the
LSTM) before the next chunk reads it. The forward numbers are unchanged; backward, nothing comes back
into a chunk from the one after it, so ∂𝓛/∂h_t at a chunk's last step t (t = K, 2K, …) has only what
the output gives it. One update follows, as for the whole sequence.
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
    shown,
    uniform_rows,
    vector,
)
from backprop_cli.layers.dense import Layer

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message

Matrix = tuple[tuple[float, ...], ...]
OUTPUTS = ("last", "all")
PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def elementwise(name: str) -> Any:
    """The element-wise activation ``name`` (tanh, sigmoid, relu) of ``functions``, for the scalar page."""
    from backprop_cli import functions

    found = functions.activation(name)
    assert isinstance(found, functions.Activation)
    return found


def _sigmoid(z: Array) -> Array:
    import numpy as np

    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass(frozen=True)
class Recurrent(Kind):
    """One recurrent layer over sequences of ``steps`` steps.

    Args:
        weight_ih, weight_hh: the input-to-hidden and hidden-to-hidden weights, gates stacked.
        bias_ih, bias_hh: their biases, or None (``bias = false``).
        steps: T, the sequence's length.
        output: ``last`` (h_T) or ``all`` (every h_t).
        h0: the initial hidden state: one row per sample, one row for all, or None (zeros).
        c0: the LSTM's initial cell state, likewise.
        nonlinearity: rnn's f, tanh or relu.
        bptt: truncated backpropagation through time, K steps a chunk, or None (the whole sequence).
    """

    weight_ih: Matrix
    weight_hh: Matrix
    bias_ih: tuple[float, ...] | None
    bias_hh: tuple[float, ...] | None
    steps: int
    output: str = "last"
    h0: Matrix | None = None
    c0: Matrix | None = None
    nonlinearity: str = "tanh"
    bptt: int | None = None

    gates: ClassVar[int] = 1
    gate_names: ClassVar[tuple[str, ...]] = ("",)
    keys: ClassVar[tuple[str, ...]] = ("kind", "input_size", "hidden_size", "bias", "weight_ih", "weight_hh",
                                       "bias_ih", "bias_hh", "h0", "output", "bptt")
    parameter_names = PARAMETERS
    state_names = tuple(f"{name}_l0" for name in PARAMETERS)
    glyphs = {"weight_ih": "W", "weight_hh": "W", "bias_ih": "b", "bias_hh": "b"}
    shapes = "shaped"
    compiles = False

    @property
    def hidden(self) -> int:
        return len(self.weight_hh[0])

    @property
    def features(self) -> int:
        return len(self.weight_ih[0])

    @property
    def summary(self) -> str:
        return self.summary_in("en")

    def summary_in(self, lang: str) -> str:
        from backprop_cli.locales import named

        return f"{named(self.kind, lang)} {self.hidden}, {named(self.output, lang)}"

    def in_features(self) -> int:
        return self.steps * self.features

    def time_steps(self, before: int | None) -> int | None:
        return self.steps if self.output == "all" else None

    def input_shape(self) -> tuple[int, ...]:
        return (self.steps, self.features)

    def out_features(self, in_features: int) -> int:
        return self.hidden * (self.steps if self.output == "all" else 1)

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.steps, self.hidden) if self.output == "all" else (self.hidden,)

    @classmethod
    def recognizes_state(cls, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        names = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
        if not {"weight_ih_l0", "weight_hh_l0"} <= set(shapes) or not set(shapes) <= names:
            return False
        rows, hidden = shapes["weight_hh_l0"]
        return rows == cls.gates * hidden

    @classmethod
    def state_table(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        table = {name.removesuffix("_l0"): value for name, value in values.items()}
        if "bias_ih" not in table:
            table["bias"] = False
        return table

    def parameters(self) -> dict[str, Any]:
        return {name: value for name in PARAMETERS if (value := getattr(self, name)) is not None}

    # --- files ------------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> Recurrent:
        check_keys(document, cls.keys, where + ".")
        shape = context.in_shape
        if shape is None or len(shape) != 2:
            got = "" if shape is None else f"; the layer before gives {'×'.join(map(str, shape))}"
            raise SpecError(f"{where}: {cls.kind} reads sequences; give input_shape = [T, features] at the top"
                            f" of the spec{got}")
        steps, features = shape
        if "input_size" in document and integer(document["input_size"], f"{where}.input_size") != features:
            raise SpecError(f"{where}.input_size: is {document['input_size']} but each step of the input has"
                            f" {features} feature(s)")
        output = document.get("output", "last")
        if output not in OUTPUTS:
            raise SpecError(f"{where}.output: expected \"last\" or \"all\", got {shown(output)}")
        nonlinearity = document.get("nonlinearity", "tanh")
        if nonlinearity not in ("tanh", "relu"):
            raise SpecError(f"{where}.nonlinearity: expected \"tanh\" or \"relu\", got {shown(nonlinearity)}")
        rows: dict[str, Any]
        if "weight_ih" in document or "weight_hh" in document:
            for key in ("weight_ih", "weight_hh"):
                if key not in document:
                    raise SpecError(f"{where}: needs weight_ih and weight_hh (and bias_ih, bias_hh), or"
                                    " hidden_size for random weights")
            weight_ih = matrix(document["weight_ih"], f"{where}.weight_ih")
            weight_hh = matrix(document["weight_hh"], f"{where}.weight_hh")
            hidden = len(weight_hh[0])
            if len(weight_hh) != cls.gates * hidden:
                raise SpecError(f"{where}.weight_hh: has {len(weight_hh)} rows and {hidden} columns; {cls.kind}"
                                f" needs {cls.gates}·hidden_size rows by hidden_size columns"
                                f" ({cls.gates * hidden}×{hidden})")
            if len(weight_ih) != cls.gates * hidden:
                raise SpecError(f"{where}.weight_ih: has {len(weight_ih)} rows but weight_hh gives"
                                f" {cls.gates * hidden} ({cls.gates}·hidden_size)")
            if len(weight_ih[0]) != features:
                raise SpecError(f"{where}.weight_ih: has {len(weight_ih[0])} columns but each step of the input has"
                                f" {features} feature(s)")
            if "hidden_size" in document and integer(document["hidden_size"], f"{where}.hidden_size") != hidden:
                raise SpecError(f"{where}.hidden_size: is {document['hidden_size']} but weight_hh has {hidden}"
                                " column(s)")
            biases: list[tuple[float, ...] | None] = []
            for key in ("bias_ih", "bias_hh"):
                raw = document.get(key)
                if raw is None or raw is False:
                    biases.append(None)
                    continue
                value = vector(raw, f"{where}.{key}")
                if len(value) != cls.gates * hidden:
                    raise SpecError(f"{where}.{key}: has {len(value)} values but the layer needs"
                                    f" {cls.gates * hidden} ({cls.gates}·hidden_size)")
                biases.append(value)
            if (biases[0] is None) != (biases[1] is None):
                raise SpecError(f"{where}: give both bias_ih and bias_hh, or neither (torch's bias = False)")
            rows = {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": biases[0], "bias_hh": biases[1]}
        else:
            if "hidden_size" not in document:
                raise SpecError(f"{where}: needs weight_ih and weight_hh (and bias_ih, bias_hh), or hidden_size"
                                " for random weights")
            hidden = integer(document["hidden_size"], f"{where}.hidden_size")
            if cls.gates * hidden * (features + hidden + 2) > MAX_PARAMETERS:
                raise SpecError(f"{where}.hidden_size: the layer would have more than {MAX_PARAMETERS:,} parameters")
            bias = flag(document.get("bias", True), f"{where}.bias")
            rows = cls.random(features, hidden, random.Random(context.seed), bias)
        states: dict[str, Any] = {}
        for key in ("h0", "c0"):
            if key not in document:
                continue
            given = matrix(document[key], f"{where}.{key}")
            if len(given[0]) != hidden:
                raise SpecError(f"{where}.{key}: rows have {len(given[0])} values but hidden_size is {hidden}")
            if len(given) != 1 and context.samples is not None and len(given) != context.samples:
                raise SpecError(f"{where}.{key}: has {len(given)} rows; give one row for every sample"
                                f" ({context.samples}) or one for all")
            states[key] = given
        extra: dict[str, Any] = {"nonlinearity": nonlinearity} if cls.kind == "rnn" else {}
        if "bptt" in document:
            extra["bptt"] = integer(document["bptt"], f"{where}.bptt")
        return cls(**rows, steps=steps, output=output, **states, **extra)

    @classmethod
    def random(cls, features: int, hidden: int, rng: random.Random, bias: bool) -> dict[str, Any]:
        """torch's initialisation, every parameter U(−1/√H, 1/√H), to 4 decimals."""
        bound = 1.0 / math.sqrt(hidden)

        def draw(rows: int, columns: int) -> Matrix:
            return uniform_rows(rng, rows, columns, bound)

        rows = cls.gates * hidden
        out: dict[str, Any] = {"weight_ih": draw(rows, features), "weight_hh": draw(rows, hidden)}
        out["bias_ih"] = draw(1, rows)[0] if bias else None
        out["bias_hh"] = draw(1, rows)[0] if bias else None
        return out

    def to_spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": self.kind, "input_size": self.features, "hidden_size": self.hidden}
        if self.kind == "rnn" and self.nonlinearity != "tanh":
            entry["nonlinearity"] = self.nonlinearity
        if self.output != "last":
            entry["output"] = self.output
        entry["weight_ih"] = [list(row) for row in self.weight_ih]
        entry["weight_hh"] = [list(row) for row in self.weight_hh]
        if self.bias_ih is None or self.bias_hh is None:
            entry["bias"] = False
        else:
            entry["bias_ih"], entry["bias_hh"] = list(self.bias_ih), list(self.bias_hh)
        for key in ("h0", "c0"):
            value = getattr(self, key)
            if value is not None:
                entry[key] = [list(row) for row in value]
        if self.bptt is not None:
            entry["bptt"] = self.bptt
        return entry

    # --- numbers ----------------------------------------------------------------------------

    def truncates_gradients(self) -> bool:
        return self.bptt is not None and self.bptt < self.steps

    def detached(self, t: int) -> bool:
        """Whether h_t (step t from 1) is detached before step t + 1 reads it: the end of a chunk of
        ``bptt`` steps, short of the last step."""
        return self.bptt is not None and t % self.bptt == 0 and t < self.steps

    def initial(self, name: str, samples: int, rows: Array | None) -> Array:
        """h0 or c0 for ``samples`` samples (the rows ``rows`` of one given per sample)."""
        import numpy as np

        value = getattr(self, name)
        if value is None:
            return np.zeros((samples, self.hidden))
        array = np.array(value, dtype=float)
        if len(array) == 1:
            return np.repeat(array, samples, axis=0)
        return array[rows] if rows is not None and len(rows) == samples else array

    def run(self, X: Array, P: Mapping[str, Any], rows: Array | None = None) -> dict[str, Any]:
        """The forward pass over every step: what the backward pass and the page read."""
        raise NotImplementedError

    def back(self, cache: Mapping[str, Any], P: Mapping[str, Any], G: Array,
             wants_input: bool) -> dict[str, Any]:
        """BPTT from ``G`` = ∂𝓛/∂output: the parameters' gradients, ∂𝓛/∂h_t and each step's δ."""
        raise NotImplementedError

    def outputs(self, hs: Array) -> Array:
        """The layer's output from the hidden states (N, T, H)."""
        return hs[:, -1] if self.output == "last" else hs.reshape(hs.shape[0], -1)

    def upstream(self, G: Array, N: int) -> Array:
        """∂𝓛/∂output as (N, T, H): zero at every step but the last for ``output = "last"``."""
        import numpy as np

        if self.output == "all":
            return G.reshape(N, self.steps, self.hidden)
        out = np.zeros((N, self.steps, self.hidden))
        out[:, -1] = G
        return out

    def arrays(self, run: NumpyRun, path: Path) -> dict[str, Any]:
        return {name: run.param(path, name) for name in PARAMETERS}

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        P = self.arrays(run, path)
        cache = self.run(X, P, run.rows)
        run.cache[path] = cache
        return self.outputs(cache["h"][:, 1:])

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        P = self.arrays(run, path)
        out = self.back(run.cache[path], P, G, run.wants_input(path))
        for name in PARAMETERS:
            if P[name] is not None:
                run.grads[(path, name)] = out[name]
        return out["x"] if out["x"] is not None else G

    # --- PyTorch ----------------------------------------------------------------------------

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[self.kind]
        extra = {"nonlinearity": self.nonlinearity} if self.kind == "rnn" else {}
        inner = cls(self.features, self.hidden, batch_first=True, bias=self.bias_ih is not None,
                    dtype=torch.float64, **extra)
        with torch.no_grad():
            for name, value in self.parameters().items():
                getattr(inner, f"{name}_l0").copy_(torch.tensor(value, dtype=torch.float64))
        layer = self
        base: Any = torch.nn.Module

        class Sequence(base):
            """The recurrent module on flat rows (N × T·F in, N × H or N × T·H out)."""

            def __init__(self) -> None:
                super().__init__()
                self.rnn = inner
                self.spec = layer  # read by the PyTorch script (render/pytorch.py)

            def forward(self, x: Any) -> Any:
                N = x.shape[0]
                sequence = x.reshape(N, layer.steps, layer.features)
                states = []
                for key in ("h0", "c0") if layer.kind == "lstm" else ("h0",):
                    value = getattr(layer, key)
                    if value is None:
                        states.append(torch.zeros(1, N, layer.hidden, dtype=x.dtype))
                    else:
                        rows = torch.tensor(value, dtype=x.dtype)
                        states.append((rows if len(rows) > 1 else rows.expand(N, -1)).unsqueeze(0))
                state: Any = tuple(states) if layer.kind == "lstm" else states[0]
                size = layer.bptt or layer.steps
                outs = []
                for start in range(0, layer.steps, size):
                    if start:  # truncated BPTT: the state goes on, its gradient stops here
                        state = tuple(s.detach() for s in state) if layer.kind == "lstm" else state.detach()
                    out, state = self.rnn(sequence[:, start:start + size], state)
                    outs.append(out)
                out = torch.cat(outs, dim=1)
                return out[:, -1] if layer.output == "last" else out.reshape(N, -1)

        return Sequence()

    def torch_parameters(self, module: Any) -> dict[str, Any]:
        return {name: getattr(module.rnn, f"{name}_l0") for name in self.parameters()}

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import say

        return say(f"kind.{self.kind}.title", layer=number, kind=self.kind, steps=self.steps, features=self.features,
                   hidden=self.hidden, output=self.output, nonlinearity=self.nonlinearity)

    # --- the scalar page: a line per unit, gate and time step ----------------------------------

    SCALAR_AUTO_NODES: ClassVar[int] = 24
    """The most forward lines a sample (units × gates × steps) for ``--form auto`` to pick the scalar page."""
    node_lines: ClassVar[int] = 2
    """Forward lines per unit and step on the scalar page (rnn: z and h)."""

    def scalar_auto(self) -> bool:
        return self.features <= 3 and self.hidden * self.steps * self.node_lines <= self.SCALAR_AUTO_NODES

    def scalar_symbols(self, name: str, number: int, value: Any) -> Any:
        """W⁽ˡ⁾ with the gate's rows named as the matrix form names them: W_ii,jk … (W_ih,jk for rnn)."""
        from backprop_cli.notation import Node

        H = self.hidden
        side = name[-2]  # weight_ih → i, weight_hh → h

        def tag(row: int) -> str:  # ii, hf … of the gate's rows; rnn's one block: ih, hh
            return f"{side}{self.gate_names[row // H] or 'h'}"

        if name.startswith("weight"):
            return tuple(tuple(Node("W", f"{tag(r)},{r % H + 1}{k + 1}", layer=number) for k in range(len(row)))
                         for r, row in enumerate(value))
        return tuple(Node("b", f"{tag(r)},{r % H + 1}", layer=number) for r in range(len(value)))

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        from sympy import Integer

        from backprop_cli.locales import say
        from backprop_cli.notation import Node

        number = page.number(path)
        P = {name: page.parameter(path, name) if getattr(self, name) is not None else None for name in PARAMETERS}
        steps: list[Step] = []
        outputs = []
        for n, row in enumerate(inputs):
            mark = page.mark(n)
            states: dict[str, list[Any]] = {}
            for key, base in (("h0", "h"), ("c0", "c")) if self.kind == "lstm" else (("h0", "h"),):
                given = self.initial(key, len(inputs), None)[n]
                states[base] = []
                for j in range(self.hidden):
                    node = Node(base, f"0,{j + 1}", layer=number, sample=mark)
                    note = None
                    if n == 0 and j == 0 and base == "h":
                        note = say("kind.recurrent.h0" if self.h0 is not None else "kind.recurrent.zero")
                    steps.append(page.record(page.values, node, (), value=float(given[j]), substitute=False,
                                             note=note))
                    states[base].append(node)
            every = []
            for t in range(1, self.steps + 1):
                xs = row[(t - 1) * self.features:t * self.features]
                before, incoming = len(steps), {node for nodes in states.values() for node in nodes}
                states = self.scalar_step(page, path, P, t, mark, xs, states, steps)
                if self.detached(t - 1):  # truncated BPTT: step t read the states detached
                    for step in steps[before:]:
                        for node in incoming & page.definitions[step.target].free_symbols:
                            page.locals[(step.target, node)] = Integer(0)
                every += states["h"]
                if n == 0 and t == self.steps - 1:  # the first line backward that sums both parts
                    page.backward_notes[states["h"][-1]] = say("kind.recurrent.scalar_sum")
                if n == 0 and self.detached(t):
                    page.backward_notes[states["h"][-1]] = say("kind.recurrent.detached", state=f"h_{t}")
                if n == 0 and t == self.steps and self.truncates_gradients():
                    page.backward_notes[states["h"][-1]] = say("kind.recurrent.bptt", setting=f"bptt = {self.bptt}",
                                                               steps=self.bptt)
            outputs.append(states["h"] if self.output == "last" else every)
        page.backward_notes[page.parameter(path, "weight_ih")[0][0]] = say("kind.recurrent.scalar_shared",
                                                                           steps=self.steps)
        page.outputs_of[path] = outputs
        return steps

    def scalar_step(self, page: KindsScalarPage, path: Path, P: Mapping[str, Any], t: int, mark: int | None,
                    xs: list[Any], states: dict[str, list[Any]], steps: list[Step]) -> dict[str, list[Any]]:
        """Step t's lines of one sample (every unit), from the states of step t − 1; the new states."""
        raise NotImplementedError

    def scalar_node(self, page: KindsScalarPage, base: str, path: Path, t: int, j: int, mark: int | None) -> Any:
        """A node of unit j (from 0) at step t: h⁽ˡ⁾_t,j, i⁽ˡ⁾_t,j …"""
        from backprop_cli.notation import Node

        return Node(base, f"{t},{j + 1}", layer=page.number(path), sample=mark)

    def scalar_sum(self, P: Mapping[str, Any], gate: int, j: int, xs: list[Any],
                   hs: list[Any]) -> tuple[list[Any], list[Any], dict[Any, Any]]:
        """The terms of gate ``gate``'s sum for unit j, Σ W_i·,jk x_t,k + b_i·,j and Σ W_h·,jk h_t−1,k + b_h·,j
        (the input's part, the state's part), and each symbol's coefficient in it."""
        from backprop_cli.notation import mul

        r = gate * self.hidden + j
        parts: tuple[list[Any], list[Any]] = ([], [])
        coefficients: dict[Any, Any] = {}
        for side, (weight, bias, values) in enumerate((("weight_ih", "bias_ih", xs), ("weight_hh", "bias_hh", hs))):
            for w, v in zip(P[weight][r], values, strict=True):
                parts[side].append(mul(w, v))
                coefficients[w], coefficients[v] = v, w
            if P[bias] is not None:
                parts[side].append(P[bias][r])
                coefficients[P[bias][r]] = 1
        return parts[0], parts[1], coefficients

    def scalar_gate(self, page: KindsScalarPage, path: Path, P: Mapping[str, Any], gate: int, function: str,
                    node: Any, j: int, xs: list[Any], hs: list[Any], note: Message | None = None) -> Step:
        """The line ``node = f(sum)`` of one gate and unit j, with ∂node/∂v = f′ · (v's coefficient)."""
        from backprop_cli.notation import add, mul

        outer, inner, coefficients = self.scalar_sum(P, gate, j, xs, hs)
        total = add(*outer, *inner)
        activation = elementwise(function)
        slope = activation.local_derivative(total, node)
        local = {v: slope if c == 1 else mul(slope, c) for v, c in coefficients.items()}
        return page.define(path, node, activation.apply(total), local=local, note=note)

    def page_parameters(self, page: MatrixPage, path: Path) -> list[tuple[str, sp.Basic]]:
        from backprop_cli.notation import Node

        number = page.number(path)
        letters = {"weight_ih": ("W", "ih"), "weight_hh": ("W", "hh"), "bias_ih": ("b", "ih"), "bias_hh": ("b", "hh")}
        return [(name, Node(letters[name][0], letters[name][1], layer=number)) for name in self.parameters()]

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        import numpy as np

        from backprop_cli.locales import say
        from backprop_cli.notation import Node

        number = page.number(path)
        values = page.arrays
        P = self.page_arrays(page, path)
        X = np.asarray(values[inputs], dtype=float)
        N = X.shape[0]
        cache = self.run(X, P, None)
        page.buffers.setdefault(path, {})
        page_cache(page)[path] = cache
        steps: list[MatrixStep] = []
        steps += self.gate_parameters(page, path)
        xs = X.reshape(N, self.steps, self.features)
        for t in range(1, self.steps + 1):
            steps.append(page.record(values, Node("X", t, layer=number), (), value=xs[:, t - 1], substitute=False,
                                     note=say("kind.recurrent.inputs", steps=self.steps) if t == 1 else None))
        steps.append(page.record(values, self.symbol_at("H", number, 0), (), value=cache["h"][:, 0], substitute=False,
                                 note=say("kind.recurrent.h0" if self.h0 is not None else "kind.recurrent.zero")))
        if self.kind == "lstm":
            steps.append(page.record(values, self.symbol_at("C", number, 0), (), value=cache["c"][:, 0],
                                     substitute=False))
        for t in range(1, self.steps + 1):
            steps += self.forward_lines(page, path, t, cache)
        hs = cache["h"][:, 1:]
        if self.output == "last":
            expr: tuple[sp.Basic, ...] = (self.symbol_at("H", number, self.steps),)
            note = say("kind.recurrent.last", setting='output = "last"')
        else:
            expr = ()
            note = say("kind.recurrent.all", setting='output = "all"', steps=self.steps, hidden=self.hidden)
        steps.append(page.record(values, page.A(number), expr, value=self.outputs(hs), substitute=False,
                                 lead=page.output_lead(path), note=note))
        return steps

    def symbol_at(self, base: str, number: int, t: int) -> Any:
        from backprop_cli.notation import Node

        return Node(base, t, layer=number)

    def gate_parameters(self, page: MatrixPage, path: Path) -> list[MatrixStep]:
        """Lines naming each gate's rows of the stacked weights (W_ii … of W_ih), for the gated kinds."""
        return []

    def forward_lines(self, page: MatrixPage, path: Path, t: int, cache: Mapping[str, Any]) -> list[MatrixStep]:
        raise NotImplementedError

    def backward_lines(self, page: MatrixPage, path: Path, t: int, out: Mapping[str, Any],
                       dh: sp.Basic) -> list[MatrixStep]:
        raise NotImplementedError

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        import numpy as np
        from sympy import Integer

        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, MatMul, Node, Partial, Transpose, add

        number = page.number(path)
        values = page.arrays
        steps, gradient = page.materialize(Partial(LOSS, page.A(number)), upstream)
        G = np.asarray(values[gradient], dtype=float)
        P = self.page_arrays(page, path)
        cache = page_cache(page)[path]
        wants = page.wants_gradient(inputs)
        out = self.back(cache, P, G, wants)
        N = G.shape[0]
        from_output = self.upstream(G, N)
        W_hh = Node("W", "hh", layer=number)
        norms = []
        for t in range(self.steps, 0, -1):
            H_t = self.symbol_at("H", number, t)
            terms: list[sp.Basic] = []
            if self.output == "all" or t == self.steps:
                part = Partial(LOSS, Node("A", t, layer=number)) if self.output == "all" else gradient
                if self.output == "all":
                    values[part] = from_output[:, t - 1]
                terms.append(part)
            if t < self.steps and not self.detached(t):
                terms.append(self.recurrence(number, t + 1, W_hh))
            note = None
            if t == self.steps:
                note = say("kind.recurrent.backward_last")
                if self.truncates_gradients():
                    note = say("kind.recurrent.bptt", setting=f"bptt = {self.bptt}", steps=self.bptt)
            elif self.detached(t):
                note = say("kind.recurrent.detached", state=f"H_{t}")
            elif t == self.steps - 1:
                note = say("kind.recurrent.backward_sum")
            steps.append(page.record(values, Partial(LOSS, H_t), (add(*terms) if terms else Integer(0),),
                                     value=out["dh"][:, t - 1], note=note))
            norms.append(float(np.linalg.norm(out["dh"][:, t - 1])))
            steps += self.backward_lines(page, path, t, out, Partial(LOSS, H_t))
        steps.append(page.record(values, Node("g", "norm", layer=number), (), value=np.array([norms[::-1]]),
                                 substitute=False, note=say("kind.recurrent.vanishing",
                                                            ratios=", ".join(ratio_text(norms[::-1])))))
        X_t = [Node("X", t, layer=number) for t in range(1, self.steps + 1)]
        H_prev = [self.symbol_at("H", number, t - 1) for t in range(1, self.steps + 1)]
        deltas = [Node("delta", t, layer=number) for t in range(1, self.steps + 1)]
        for name, symbol in self.page_parameters(page, path):
            if name == "weight_ih":
                expr = add(*(MatMul(Transpose(d), x) for d, x in zip(deltas, X_t, strict=True)))
                note = say("kind.recurrent.shared", steps=self.steps)
            elif name == "weight_hh":
                expr = add(*(MatMul(Transpose(self.hidden_delta(number, t + 1)), h)
                             for t, h in enumerate(H_prev)))
                note = None
            else:
                from backprop_cli.notation import ColumnSum

                expr = add(*(ColumnSum(self.bias_delta(number, t + 1, name)) for t in range(self.steps)))
                note = None
            steps.append(page.record(values, Partial(LOSS, symbol), (expr,), value=np.atleast_2d(out[name]),
                                     note=note))
        if not wants or out["x"] is None:
            return steps, gradient
        target = Partial(LOSS, inputs)
        if page.records_gradient(inputs):
            steps.append(page.record(values, target, (), value=out["x"], substitute=False,
                                     note=say("kind.recurrent.input_gradient")))
            return steps, target
        values[target] = out["x"]
        return steps, target

    def recurrence(self, number: int, t: int, W_hh: sp.Basic) -> sp.Basic:
        """What step ``t`` hands back to h_{t−1} through W_hh."""
        from backprop_cli.notation import MatMul, Node

        return MatMul(Node("delta", t, layer=number), W_hh)

    def hidden_delta(self, number: int, t: int) -> sp.Basic:
        """The δ of step t that W_hh's gradient reads (the GRU's differs for its n gate)."""
        from backprop_cli.notation import Node

        return Node("delta", t, layer=number)

    def bias_delta(self, number: int, t: int, name: str) -> sp.Basic:
        return self.hidden_delta(number, t) if name == "bias_hh" else self.input_delta(number, t)

    def input_delta(self, number: int, t: int) -> sp.Basic:
        from backprop_cli.notation import Node

        return Node("delta", t, layer=number)


def page_cache(page: Any) -> dict[Path, Any]:
    """The recurrent layers' forward arrays, kept on the page for their backward lines."""
    cache: dict[Path, Any] | None = getattr(page, "_recurrent", None)
    if cache is None:
        cache = {}
        page._recurrent = cache
    return cache


def ratio_text(norms: list[float]) -> list[str]:
    """|∂𝓛/∂h_t| / |∂𝓛/∂h_{t+1}| for t = T − 1 … 1, as the page writes them."""
    out = []
    for t in range(len(norms) - 1, 0, -1):
        later = norms[t]
        out.append(f"t={t}: {norms[t - 1] / later:.3g}×" if later else f"t={t}: –")
    return out


@dataclass(frozen=True)
class RNN(Recurrent):
    kind = "rnn"
    keys = (*Recurrent.keys, "nonlinearity")

    def run(self, X: Array, P: Mapping[str, Any], rows: Array | None = None) -> dict[str, Any]:
        import numpy as np

        N = X.shape[0]
        xs = X.reshape(N, self.steps, self.features)
        h = np.zeros((N, self.steps + 1, self.hidden))
        z = np.zeros((N, self.steps, self.hidden))
        h[:, 0] = self.initial("h0", N, rows)
        bias = (P["bias_ih"] + P["bias_hh"]) if P["bias_ih"] is not None else 0.0
        for t in range(self.steps):
            z[:, t] = xs[:, t] @ P["weight_ih"].T + h[:, t] @ P["weight_hh"].T + bias
            h[:, t + 1] = np.tanh(z[:, t]) if self.nonlinearity == "tanh" else np.maximum(z[:, t], 0.0)
        return {"x": xs, "h": h, "z": z}

    def back(self, cache: Mapping[str, Any], P: Mapping[str, Any], G: Array,
             wants_input: bool) -> dict[str, Any]:
        import numpy as np

        xs, h, z = cache["x"], cache["h"], cache["z"]
        N = xs.shape[0]
        up = self.upstream(G, N)
        W_ih, W_hh = P["weight_ih"], P["weight_hh"]
        dh = np.zeros((N, self.steps, self.hidden))
        delta = np.zeros((N, self.steps, self.hidden))
        after = np.zeros((N, self.hidden))
        for t in range(self.steps - 1, -1, -1):
            if self.detached(t + 1):
                after = np.zeros((N, self.hidden))
            dh[:, t] = up[:, t] + after
            slope = 1.0 - h[:, t + 1] ** 2 if self.nonlinearity == "tanh" else (z[:, t] > 0).astype(float)
            delta[:, t] = dh[:, t] * slope
            after = delta[:, t] @ W_hh
        grad_ih = np.einsum("nth,ntf->hf", delta, xs)
        grad_hh = np.einsum("nth,ntk->hk", delta, h[:, :-1])
        grad_b = delta.sum(axis=(0, 1))
        dx = np.einsum("nth,hf->ntf", delta, W_ih).reshape(N, -1) if wants_input else None
        return {"weight_ih": grad_ih, "weight_hh": grad_hh, "bias_ih": grad_b, "bias_hh": grad_b.copy(),
                "x": dx, "dh": dh, "delta": delta}

    def forward_lines(self, page: MatrixPage, path: Path, t: int, cache: Mapping[str, Any]) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise, MatMul, Node, Transpose, add

        n = page.number(path)
        values = page.arrays
        Z = Node("Z", t, layer=n)
        terms: list[sp.Basic] = [MatMul(Node("X", t, layer=n), Transpose(Node("W", "ih", layer=n)))]
        if self.bias_ih is not None:
            terms.append(Node("b", "ih", layer=n))
        terms.append(MatMul(self.symbol_at("H", n, t - 1), Transpose(Node("W", "hh", layer=n))))
        if self.bias_hh is not None:
            terms.append(Node("b", "hh", layer=n))
        return [page.record(values, Z, (add(*terms),), value=cache["z"][:, t - 1],
                            note=say("kind.rnn.step") if t == 1 else None),
                page.record(values, self.symbol_at("H", n, t), (Elementwise(self.nonlinearity, Z),),
                            value=cache["h"][:, t])]

    def scalar_step(self, page: KindsScalarPage, path: Path, P: Mapping[str, Any], t: int, mark: int | None,
                    xs: list[Any], states: dict[str, list[Any]], steps: list[Step]) -> dict[str, list[Any]]:
        from backprop_cli.locales import say
        from backprop_cli.notation import add

        activation = elementwise(self.nonlinearity)
        hs = []
        for j in range(self.hidden):
            outer, inner, _ = self.scalar_sum(P, 0, j, xs, states["h"])
            z = self.scalar_node(page, "z", path, t, j, mark)
            note = say("kind.rnn.step") if t == 1 and j == 0 else None
            steps.append(page.define(path, z, add(*outer, *inner), note=note))
            h = self.scalar_node(page, "h", path, t, j, mark)
            steps.append(page.define(path, h, activation.apply(z), local={z: activation.local_derivative(z, h)}))
            hs.append(h)
        return {"h": hs}

    def backward_lines(self, page: MatrixPage, path: Path, t: int, out: Mapping[str, Any],
                       dh: sp.Basic) -> list[MatrixStep]:
        from backprop_cli.notation import Elementwise, Hadamard, Node

        n = page.number(path)
        prime = Elementwise(self.nonlinearity, Node("Z", t, layer=n), prime=True)
        return [page.record(page.arrays, Node("delta", t, layer=n), (Hadamard(dh, prime),),
                            value=out["delta"][:, t - 1], substitute=False)]


def _stack(parts: list[Array]) -> Array:
    import numpy as np

    return np.concatenate(parts, axis=1)


@dataclass(frozen=True)
class LSTM(Recurrent):
    kind = "lstm"
    gates = 4
    gate_names = ("i", "f", "g", "o")
    keys = (*Recurrent.keys, "c0")

    def run(self, X: Array, P: Mapping[str, Any], rows: Array | None = None) -> dict[str, Any]:
        import numpy as np

        N, H = X.shape[0], self.hidden
        xs = X.reshape(N, self.steps, self.features)
        h = np.zeros((N, self.steps + 1, H))
        c = np.zeros((N, self.steps + 1, H))
        gates = np.zeros((N, self.steps, 4 * H))
        h[:, 0] = self.initial("h0", N, rows)
        c[:, 0] = self.initial("c0", N, rows)
        bias = (P["bias_ih"] + P["bias_hh"]) if P["bias_ih"] is not None else 0.0
        for t in range(self.steps):
            s = xs[:, t] @ P["weight_ih"].T + h[:, t] @ P["weight_hh"].T + bias
            i, f, g, o = _sigmoid(s[:, :H]), _sigmoid(s[:, H:2 * H]), np.tanh(s[:, 2 * H:3 * H]), _sigmoid(s[:, 3 * H:])
            gates[:, t] = _stack([i, f, g, o])
            c[:, t + 1] = f * c[:, t] + i * g
            h[:, t + 1] = o * np.tanh(c[:, t + 1])
        return {"x": xs, "h": h, "c": c, "gates": gates}

    def back(self, cache: Mapping[str, Any], P: Mapping[str, Any], G: Array,
             wants_input: bool) -> dict[str, Any]:
        import numpy as np

        xs, h, c, gates = cache["x"], cache["h"], cache["c"], cache["gates"]
        N, H = xs.shape[0], self.hidden
        up = self.upstream(G, N)
        W_ih, W_hh = P["weight_ih"], P["weight_hh"]
        dh = np.zeros((N, self.steps, H))
        dc = np.zeros((N, self.steps, H))
        delta = np.zeros((N, self.steps, 4 * H))
        after_h = np.zeros((N, H))
        after_c = np.zeros((N, H))
        for t in range(self.steps - 1, -1, -1):
            i, f, g, o = (gates[:, t, k * H:(k + 1) * H] for k in range(4))
            if self.detached(t + 1):
                after_h, after_c = np.zeros((N, H)), np.zeros((N, H))
            dh[:, t] = up[:, t] + after_h
            tc = np.tanh(c[:, t + 1])
            dc[:, t] = dh[:, t] * o * (1.0 - tc ** 2) + after_c
            delta[:, t] = _stack([dc[:, t] * g * i * (1.0 - i), dc[:, t] * c[:, t] * f * (1.0 - f),
                                  dc[:, t] * i * (1.0 - g ** 2), dh[:, t] * tc * o * (1.0 - o)])
            after_h = delta[:, t] @ W_hh
            after_c = dc[:, t] * f
        grad_ih = np.einsum("nth,ntf->hf", delta, xs)
        grad_hh = np.einsum("nth,ntk->hk", delta, h[:, :-1])
        grad_b = delta.sum(axis=(0, 1))
        dx = np.einsum("nth,hf->ntf", delta, W_ih).reshape(N, -1) if wants_input else None
        return {"weight_ih": grad_ih, "weight_hh": grad_hh, "bias_ih": grad_b, "bias_hh": grad_b.copy(),
                "x": dx, "dh": dh, "dc": dc, "delta": delta}

    node_lines = 6

    def scalar_step(self, page: KindsScalarPage, path: Path, P: Mapping[str, Any], t: int, mark: int | None,
                    xs: list[Any], states: dict[str, list[Any]], steps: list[Step]) -> dict[str, list[Any]]:
        from backprop_cli.locales import say
        from backprop_cli.notation import add, mul

        tanh = elementwise("tanh")
        hs, cs = [], []
        for j in range(self.hidden):
            gates = {}
            for k, gate in enumerate(self.gate_names):
                node = self.scalar_node(page, gate, path, t, j, mark)
                note = say(f"kind.lstm.{gate}") if t == 1 and j == 0 else None
                steps.append(self.scalar_gate(page, path, P, k, "tanh" if gate == "g" else "sigmoid", node, j,
                                              xs, states["h"], note))
                gates[gate] = node
            c = self.scalar_node(page, "c", path, t, j, mark)
            steps.append(page.define(path, c, add(mul(gates["f"], states["c"][j]), mul(gates["i"], gates["g"])),
                                     note=say("kind.lstm.c") if t == 1 and j == 0 else None))
            h = self.scalar_node(page, "h", path, t, j, mark)
            shown = tanh.apply(c)
            steps.append(page.define(path, h, mul(gates["o"], shown),
                                     local={gates["o"]: shown, c: mul(gates["o"], tanh.local_derivative(c, shown))}))
            hs.append(h)
            cs.append(c)
        return {"h": hs, "c": cs}

    def gate_parameters(self, page: MatrixPage, path: Path) -> list[MatrixStep]:
        return gate_slices(self, page, path)

    def forward_lines(self, page: MatrixPage, path: Path, t: int, cache: Mapping[str, Any]) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise, Hadamard, add

        n = page.number(path)
        values = page.arrays
        H = self.hidden
        steps = []
        functions = {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"}
        for k, gate in enumerate(self.gate_names):
            steps.append(page.record(values, self.symbol_at(gate.upper(), n, t),
                                     (Elementwise(functions[gate], gate_sum(self, n, t, gate)),),
                                     value=cache["gates"][:, t - 1, k * H:(k + 1) * H],
                                     note=say(f"kind.lstm.{gate}") if t == 1 else None))
        C, I, F, G, O = (self.symbol_at(letter, n, t) for letter in "CIFGO")  # noqa: E741
        steps.append(page.record(values, C, (add(Hadamard(F, self.symbol_at("C", n, t - 1)), Hadamard(I, G)),),
                                 value=cache["c"][:, t], note=say("kind.lstm.c") if t == 1 else None))
        steps.append(page.record(values, self.symbol_at("H", n, t), (Hadamard(O, Elementwise("tanh", C)),),
                                 value=cache["h"][:, t]))
        return steps

    def backward_lines(self, page: MatrixPage, path: Path, t: int, out: Mapping[str, Any],
                       dh: sp.Basic) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, Elementwise, Hadamard, Node, Partial, add, neg

        n = page.number(path)
        values = page.arrays
        H = self.hidden
        C, I, F, G, O = (self.symbol_at(letter, n, t) for letter in "CIFGO")  # noqa: E741
        dC = Partial(LOSS, C)
        terms: list[sp.Basic] = [Hadamard(dh, Hadamard(O, Elementwise("tanh", C, prime=True)))]
        if t < self.steps and not self.detached(t):
            terms.append(Hadamard(Partial(LOSS, self.symbol_at("C", n, t + 1)), self.symbol_at("F", n, t + 1)))
        steps = [page.record(values, dC, (add(*terms),), value=out["dc"][:, t - 1],
                             note=say("kind.lstm.dc") if t == self.steps else None)]
        one = 1
        forms = {
            "i": Hadamard(dC, Hadamard(G, Hadamard(I, add(one, neg(I))))),
            "f": Hadamard(dC, Hadamard(self.symbol_at("C", n, t - 1), Hadamard(F, add(one, neg(F))))),
            "g": Hadamard(dC, Hadamard(I, add(one, neg(Hadamard(G, G))))),
            "o": Hadamard(dh, Hadamard(Elementwise("tanh", C), Hadamard(O, add(one, neg(O))))),
        }
        for k, gate in enumerate(self.gate_names):
            steps.append(page.record(values, Node("delta", f"{gate},{t}", layer=n), (forms[gate],),
                                     value=out["delta"][:, t - 1, k * H:(k + 1) * H], substitute=False))
        steps.append(page.record(values, Node("delta", t, layer=n), (), value=out["delta"][:, t - 1],
                                 substitute=False, note=say("kind.recurrent.stacked",
                                                            gates=", ".join(self.gate_names))))
        return steps

    def recurrence(self, number: int, t: int, W_hh: sp.Basic) -> sp.Basic:
        from backprop_cli.notation import MatMul, Node

        return MatMul(Node("delta", t, layer=number), W_hh)


@dataclass(frozen=True)
class GRU(Recurrent):
    kind = "gru"
    gates = 3
    gate_names = ("r", "z", "n")

    def run(self, X: Array, P: Mapping[str, Any], rows: Array | None = None) -> dict[str, Any]:
        import numpy as np

        N, H = X.shape[0], self.hidden
        xs = X.reshape(N, self.steps, self.features)
        h = np.zeros((N, self.steps + 1, H))
        gates = np.zeros((N, self.steps, 3 * H))
        hn = np.zeros((N, self.steps, H))
        h[:, 0] = self.initial("h0", N, rows)
        for t in range(self.steps):
            gi = xs[:, t] @ P["weight_ih"].T
            gh = h[:, t] @ P["weight_hh"].T
            if P["bias_ih"] is not None:
                gi = gi + P["bias_ih"]
                gh = gh + P["bias_hh"]
            r = _sigmoid(gi[:, :H] + gh[:, :H])
            z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
            hn[:, t] = gh[:, 2 * H:]
            new = np.tanh(gi[:, 2 * H:] + r * hn[:, t])
            gates[:, t] = _stack([r, z, new])
            h[:, t + 1] = (1.0 - z) * new + z * h[:, t]
        return {"x": xs, "h": h, "gates": gates, "hn": hn}

    def back(self, cache: Mapping[str, Any], P: Mapping[str, Any], G: Array,
             wants_input: bool) -> dict[str, Any]:
        import numpy as np

        xs, h, gates, hn = cache["x"], cache["h"], cache["gates"], cache["hn"]
        N, H = xs.shape[0], self.hidden
        up = self.upstream(G, N)
        W_ih, W_hh = P["weight_ih"], P["weight_hh"]
        dh = np.zeros((N, self.steps, H))
        di = np.zeros((N, self.steps, 3 * H))
        dhh = np.zeros((N, self.steps, 3 * H))
        after = np.zeros((N, H))
        for t in range(self.steps - 1, -1, -1):
            r, z, new = (gates[:, t, k * H:(k + 1) * H] for k in range(3))
            if self.detached(t + 1):
                after = np.zeros((N, H))
            dh[:, t] = up[:, t] + after
            d_new = dh[:, t] * (1.0 - z) * (1.0 - new ** 2)
            d_z = dh[:, t] * (h[:, t] - new) * z * (1.0 - z)
            d_r = d_new * hn[:, t] * r * (1.0 - r)
            di[:, t] = _stack([d_r, d_z, d_new])
            dhh[:, t] = _stack([d_r, d_z, d_new * r])
            after = dh[:, t] * z + dhh[:, t] @ W_hh
        grad_ih = np.einsum("nth,ntf->hf", di, xs)
        grad_hh = np.einsum("nth,ntk->hk", dhh, h[:, :-1])
        dx = np.einsum("nth,hf->ntf", di, W_ih).reshape(N, -1) if wants_input else None
        return {"weight_ih": grad_ih, "weight_hh": grad_hh, "bias_ih": di.sum(axis=(0, 1)),
                "bias_hh": dhh.sum(axis=(0, 1)), "x": dx, "dh": dh, "delta": di, "delta_h": dhh}

    node_lines = 4

    def scalar_step(self, page: KindsScalarPage, path: Path, P: Mapping[str, Any], t: int, mark: int | None,
                    xs: list[Any], states: dict[str, list[Any]], steps: list[Step]) -> dict[str, list[Any]]:
        from backprop_cli.locales import say
        from backprop_cli.notation import add, mul, neg

        tanh = elementwise("tanh")
        hs = []
        for j in range(self.hidden):
            first = t == 1 and j == 0
            r, z = (self.scalar_node(page, gate, path, t, j, mark) for gate in ("r", "z"))
            for k, (gate, node) in enumerate((("r", r), ("z", z))):
                steps.append(self.scalar_gate(page, path, P, k, "sigmoid", node, j, xs, states["h"],
                                              say(f"kind.gru.{gate}") if first else None))
            # n = tanh(Σ W_in x + b_in + r · (Σ W_hn h + b_hn)): r multiplies the state's part, bias and all.
            outer, inner, coefficients = self.scalar_sum(P, 2, j, xs, states["h"])
            hidden_part = add(*inner)
            n = self.scalar_node(page, "n", path, t, j, mark)
            slope = tanh.local_derivative(add(*outer, mul(r, hidden_part)), n)
            local: dict[Any, Any] = {r: mul(slope, hidden_part)}
            outer_symbols = set().union(*(term.free_symbols for term in outer)) if outer else set()
            for v, c in coefficients.items():
                factor = c if v in outer_symbols else (r if c == 1 else mul(r, c))
                local[v] = slope if factor == 1 else mul(slope, factor)
            steps.append(page.define(path, n, tanh.apply(add(*outer, mul(r, hidden_part))), local=local,
                                     note=say("kind.gru.n") if first else None))
            h = self.scalar_node(page, "h", path, t, j, mark)
            steps.append(page.define(path, h, add(mul(add(1, neg(z)), n), mul(z, states["h"][j])),
                                     note=say("kind.gru.h") if first else None))
            hs.append(h)
        return {"h": hs}

    def gate_parameters(self, page: MatrixPage, path: Path) -> list[MatrixStep]:
        return gate_slices(self, page, path)

    def forward_lines(self, page: MatrixPage, path: Path, t: int, cache: Mapping[str, Any]) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise, Hadamard, MatMul, Node, Transpose, add, neg

        n = page.number(path)
        values = page.arrays
        H = self.hidden
        steps = []
        R, Z, N_ = (self.symbol_at(letter, n, t) for letter in "RZN")
        for k, (gate, symbol) in enumerate(zip(self.gate_names[:2], (R, Z), strict=True)):
            steps.append(page.record(values, symbol, (Elementwise("sigmoid", gate_sum(self, n, t, gate)),),
                                     value=cache["gates"][:, t - 1, k * H:(k + 1) * H],
                                     note=say(f"kind.gru.{gate}") if t == 1 else None))
        inner: list[sp.Basic] = [MatMul(self.symbol_at("H", n, t - 1), Transpose(Node("W", "hn", layer=n)))]
        if self.bias_hh is not None:
            inner.append(Node("b", "hn", layer=n))
        outer: list[sp.Basic] = [MatMul(Node("X", t, layer=n), Transpose(Node("W", "in", layer=n)))]
        if self.bias_ih is not None:
            outer.append(Node("b", "in", layer=n))
        outer.append(Hadamard(R, add(*inner)))
        steps.append(page.record(values, N_, (Elementwise("tanh", add(*outer)),),
                                 value=cache["gates"][:, t - 1, 2 * H:], note=say("kind.gru.n") if t == 1 else None))
        steps.append(page.record(values, self.symbol_at("H", n, t),
                                 (add(Hadamard(add(1, neg(Z)), N_), Hadamard(Z, self.symbol_at("H", n, t - 1))),),
                                 value=cache["h"][:, t], note=say("kind.gru.h") if t == 1 else None))
        return steps

    def backward_lines(self, page: MatrixPage, path: Path, t: int, out: Mapping[str, Any],
                       dh: sp.Basic) -> list[MatrixStep]:
        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise, Hadamard, MatMul, Node, Transpose, add, neg

        n = page.number(path)
        values = page.arrays
        H = self.hidden
        R, Z, N_ = (self.symbol_at(letter, n, t) for letter in "RZN")
        H_prev = self.symbol_at("H", n, t - 1)
        d_n, d_z, d_r = (Node("delta", f"{gate},{t}", layer=n) for gate in ("n", "z", "r"))
        hn: list[sp.Basic] = [MatMul(H_prev, Transpose(Node("W", "hn", layer=n)))]
        if self.bias_hh is not None:
            hn.append(Node("b", "hn", layer=n))
        delta = out["delta"][:, t - 1]
        steps = [
            page.record(values, d_n, (Hadamard(dh, Hadamard(add(1, neg(Z)), Elementwise("tanh", N_, prime=True))),),
                        value=delta[:, 2 * H:], substitute=False,
                        note=say("kind.gru.backward") if t == self.steps else None),
            page.record(values, d_z,
                        (Hadamard(dh, Hadamard(add(H_prev, neg(N_)), Elementwise("sigmoid", Z, prime=True))),),
                        value=delta[:, H:2 * H], substitute=False),
            page.record(values, d_r, (Hadamard(d_n, Hadamard(add(*hn), Elementwise("sigmoid", R, prime=True))),),
                        value=delta[:, :H], substitute=False),
            page.record(values, Node("delta", t, layer=n), (), value=delta, substitute=False,
                        note=say("kind.recurrent.stacked", gates="r, z, n")),
            page.record(values, Node("delta", f"h,{t}", layer=n), (), value=out["delta_h"][:, t - 1],
                        substitute=False, note=say("kind.gru.delta_h") if t == self.steps else None),
        ]
        return steps

    def recurrence(self, number: int, t: int, W_hh: sp.Basic) -> sp.Basic:
        from backprop_cli.notation import Hadamard, MatMul, Node, add

        return add(Hadamard(Partial_of(number, t), self.symbol_at("Z", number, t)),
                   MatMul(Node("delta", f"h,{t}", layer=number), W_hh))

    def hidden_delta(self, number: int, t: int) -> sp.Basic:
        from backprop_cli.notation import Node

        return Node("delta", f"h,{t}", layer=number)


def Partial_of(number: int, t: int) -> Any:
    """∂𝓛/∂H_t of layer ``number``."""
    from backprop_cli.notation import LOSS, Node, Partial

    return Partial(LOSS, Node("H", t, layer=number))


def gate_sum(layer: Recurrent, n: int, t: int, gate: str) -> Any:
    """x_t W_i·ᵀ + b_i· + h_{t−1} W_h·ᵀ + b_h· for one gate's rows."""
    from backprop_cli.notation import MatMul, Node, Transpose, add

    terms: list[Any] = [MatMul(Node("X", t, layer=n), Transpose(Node("W", f"i{gate}", layer=n)))]
    if layer.bias_ih is not None:
        terms.append(Node("b", f"i{gate}", layer=n))
    terms.append(MatMul(layer.symbol_at("H", n, t - 1), Transpose(Node("W", f"h{gate}", layer=n))))
    if layer.bias_hh is not None:
        terms.append(Node("b", f"h{gate}", layer=n))
    return add(*terms)


def gate_slices(layer: Recurrent, page: MatrixPage, path: Path) -> list[MatrixStep]:
    """Each gate's rows of the stacked weights and biases, named as the lines use them (W_ii, W_hf …)."""
    import numpy as np

    from backprop_cli.locales import say
    from backprop_cli.notation import Node

    n = page.number(path)
    values = page.arrays
    H = layer.hidden
    steps: list[MatrixStep] = []
    for name, symbol in layer.page_parameters(page, path):
        array = np.atleast_2d(values[symbol])
        letter, side = ("W" if name.startswith("weight") else "b"), name[-2]
        for k, gate in enumerate(layer.gate_names):
            part = array[k * H:(k + 1) * H] if letter == "W" else array[:, k * H:(k + 1) * H]
            note = None if steps else say("kind.recurrent.gates", kind=layer.kind, gates=", ".join(layer.gate_names))
            steps.append(page.record(values, Node(letter, f"{side}{gate}", layer=n), (), value=part,
                                     substitute=False, note=note))
    return steps


@dataclass(frozen=True)
class StepDense(Layer):
    """A dense layer after a sequence ((T, H) a sample): the same weights at every time step, as
    ``nn.Linear`` on an (N, T, H) tensor; the output is (T, units), time major. Its spec table is a
    dense one: the sequence before it makes it work step by step."""

    steps: int = 1
    scalar_form = False
    compiles = False
    shapes = "shaped"

    def in_features(self) -> int:
        return self.steps * self.inputs

    def out_features(self, in_features: int) -> int:
        return self.steps * self.units

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.steps, self.units)

    def time_steps(self, before: int | None) -> int | None:
        return self.steps

    def check(self, where: str, in_features: int) -> None:
        if self.steps * self.inputs != in_features:
            raise SpecError(f"{where}.weight: has {self.inputs} columns but each step of the layer before has"
                            f" {in_features // self.steps} values")

    def affine(self, X: Array, W: Array, b: Array | None) -> Array:
        """Z for the flat rows ``X`` (N × T·inputs), step by step: N × T·units."""
        z = X.reshape(-1, self.inputs) @ W.T
        if b is not None:
            z = z + b.reshape(-1)
        return z.reshape(X.shape[0], -1)

    def step_gradients(self, X: Array, W: Array, delta: Array) -> tuple[Array, Array, Array]:
        """∂𝓛/∂W, ∂𝓛/∂b (summed over samples and steps) and ∂𝓛/∂X from δ (N × T·units)."""
        d = delta.reshape(-1, self.units)
        return d.T @ X.reshape(-1, self.inputs), d.sum(axis=0), (d @ W).reshape(X.shape[0], -1)

    def at_each_step(self, Z: Array) -> Array:
        """Z (N × T·units) as one row per sample and step ((N·T) × units): softmax works each step's row."""
        return Z.reshape(-1, self.units)

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        from backprop_cli.layers.elementwise import numpy_activation

        z = self.affine(X, run.params[(path, "weight")], run.param(path, "bias"))
        function = numpy_activation(self.activation)
        a = function.forward(self.at_each_step(z)).reshape(z.shape)
        run.cache[path] = {"x": X, "z": z, "a": a, "f": function}
        return a

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        cache = run.cache[path]
        delta = G if pre_activation else cache["f"].backward(
            self.at_each_step(cache["z"]), self.at_each_step(cache["a"]), self.at_each_step(G)).reshape(G.shape)
        grad_w, grad_b, grad_x = self.step_gradients(cache["x"], run.params[(path, "weight")], delta)
        run.grads[(path, "weight")] = grad_w
        if self.bias is not None:
            run.grads[(path, "bias")] = grad_b
        return grad_x

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        from backprop_cli.layers.torch_modules import activation_module

        linear = Layer.torch_module(self, torch, without_activation=True)
        parts = [torch.nn.Unflatten(1, (self.steps, self.inputs)), linear]
        if not without_activation:
            # On (N, T, units): softmax over each step's units (the last axis).
            row_wise = self.activation == "softmax"
            parts.append(torch.nn.Softmax(dim=-1) if row_wise else activation_module(torch, self.activation))
        parts.append(torch.nn.Flatten())
        return torch.nn.Sequential(*parts)

    def torch_parameters(self, module: Any) -> dict[str, Any]:
        return {name: getattr(module[1], name) for name in self.parameters()}

    def scalar_auto(self) -> bool:
        return self.steps * self.units <= 8 and self.activation != "softmax"

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        if self.activation == "softmax":
            from backprop_cli.errors import BackpropError

            raise BackpropError("form: a softmax at every position (with cross-entropy over every position) is"
                                " worked in the matrix form; use --form matrix (or auto)")
        return super().scalar_forward(page, path, inputs)

    @property
    def time_blocks(self) -> int:
        return self.steps

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import name, say

        return say("kind.recurrent.dense_title", layer=number, inputs=self.inputs, units=self.units,
                   steps=self.steps, activation=name(self.activation))

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        import numpy as np

        from backprop_cli.layers.dense import matrix_activation
        from backprop_cli.locales import say
        from backprop_cli.notation import MatMul, Transpose, add

        number = page.number(path)
        values = page.arrays
        W, b = page.W(number), page.b(number)
        z = self.affine(np.asarray(values[inputs]), values[W], values[b] if self.bias is not None else None)
        product = MatMul(inputs, Transpose(W))
        expr = add(product, b) if self.bias is not None else product
        steps = [page.record(values, page.Z(number), (expr,), value=z, substitute=False,
                             note=say("kind.recurrent.dense_steps", steps=self.steps, inputs=self.inputs))]
        if self.activation == "softmax":
            from backprop_cli import functions
            from backprop_cli.notation import Elementwise

            softmax = functions.activation("softmax")
            assert isinstance(softmax, functions.Softmax)
            value = softmax.array(self.at_each_step(z)).reshape(z.shape)
            return steps + [page.record(values, page.A(number), (Elementwise("softmax", page.Z(number)),), value=value,
                                        lead=page.output_lead(path),
                                        note=say("kind.recurrent.softmax_steps", steps=self.steps, units=self.units))]
        return steps + matrix_activation(page, path, self.activation)

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic,
                        upstream: sp.Basic, pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        import numpy as np

        from backprop_cli.layers.dense import matrix_delta
        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, ColumnSum, MatMul, Partial, Transpose

        number = page.number(path)
        values = page.arrays
        delta = page.delta(number)
        steps = [] if pre_activation else matrix_delta(page, path, self.activation, upstream)
        grad_w, grad_b, grad_x = self.step_gradients(np.asarray(values[inputs]), values[page.W(number)],
                                                     np.asarray(values[delta]))
        note = say("kind.recurrent.dense_shared", steps=self.steps)
        steps.append(page.record(values, Partial(LOSS, page.W(number)), (MatMul(Transpose(delta), inputs),),
                                 value=grad_w, substitute=False, note=note))
        if self.bias is not None:
            steps.append(page.record(values, Partial(LOSS, page.b(number)), (ColumnSum(delta),),
                                     value=grad_b.reshape(1, -1), substitute=False))
        if not page.wants_gradient(inputs):
            return steps, delta
        target = Partial(LOSS, inputs)
        steps.append(page.record(values, target, (MatMul(delta, page.W(number)),), value=grad_x, substitute=False))
        return steps, target


def per_step(layer: Kind, steps: int, where: str) -> StepDense:
    """The dense layer ``layer`` after a sequence of ``steps`` steps: applied at every step."""
    from dataclasses import fields

    assert isinstance(layer, Layer)
    if layer.activation == "log_softmax":
        raise SpecError(f"{where}.activation: log_softmax at every step of a sequence is not worked here; use"
                        " softmax with loss = \"cross_entropy\" (torch's CrossEntropyLoss over every position)")
    return StepDense(**{f.name: getattr(layer, f.name) for f in fields(layer)}, steps=steps)
