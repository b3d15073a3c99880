"""The scalar form of a network with layer kinds beyond dense: a line per unit, and the chain rule
worked generically.

Each kind writes its forward lines unit by unit (``Kind.scalar_forward``): a node's defining
expression over the nodes before it (x̂⁽²⁾₁⁽³⁾ = (a⁽¹⁾₁⁽³⁾ − μ⁽²⁾₁)/√(σ²⁽²⁾₁ + ε⁽²⁾)). The backward
pass is then the same for every kind: ∂𝓛/∂v sums, over the nodes u that use v, ∂𝓛/∂u · ∂u/∂v, the
local derivative ∂u/∂v worked out by sympy from u's definition (or given by the kind where the
textbook writes it otherwise, σ(1 − σ) for the sigmoid). A parameter used by every sample (the
weights, γ and β) sums its uses in the same way, and the page shows the sum. Nodes are named
after the matrix form's: layer l's unit j is z⁽ˡ⁾ⱼ, a⁽ˡ⁾ⱼ, with the sample's number after it.

Networks of dense layers alone keep the page of ``build.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sympy as sp

from backprop_cli import functions, losses
from backprop_cli.derivation import (
    Derivation,
    Group,
    KindResult,
    LayerResult,
    Options,
    ParameterRow,
    Section,
    Step,
)
from backprop_cli.errors import BackpropError, after_update
from backprop_cli.evaluate import Evaluator
from backprop_cli.layers import leaves, numbered, shapes_of
from backprop_cli.layers.base import Kind, Path
from backprop_cli.locales import Message, say
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.notation import ALPHA, LOSS, Elided, Node, Partial, add, mul, replace, updated
from backprop_cli.optimizers.base import slot_names
from backprop_cli.printing import round_printed, to_text

Values = dict[sp.Basic, float]
Rows = list[list[sp.Basic]]
"""Symbols, samples × features."""

MAX_TERMS = 24
"""A sum of more terms than this (a kernel weight's gradient over positions and samples) is printed
with its first and last terms and the count."""
SHOWN_TERMS = 8
MAX_NODES = 600
"""The most lines of a forward pass the scalar form writes; past it, ``--form matrix``."""


class KindsScalarPage:
    """The scalar page of a network of any kinds; see the module's docstring."""

    def __init__(self, network: Network, xs: tuple[Vector, ...], ys: tuple[Vector, ...],
                 options: Options, state: OptimizerSlots | None = None) -> None:
        self.network = network
        self.xs, self.ys = xs, ys
        self.options = options
        self.carry = options.rounding == "carry"
        self.samples = len(xs)
        self.numbers = {path: number for number, path, _ in numbered(network.layers)}
        self.last = (len(network.layers) - 1,)
        self.input_shape = network.input_shape
        self.shapes: dict[Path, tuple[int, ...]] = {
            (index,): shape for index, shape in enumerate(shapes_of(network.layers, self.input_shape))}
        """The shape of a sample after each top-level layer: units are indexed by it (z⁽¹⁾₂,₁,₃)."""
        self.values: Values = {ALPHA: network.lr}
        self.definitions: dict[sp.Basic, sp.Basic] = {}
        self.locals: dict[tuple[sp.Basic, sp.Basic], sp.Basic] = {}
        self.numeric_locals: dict[tuple[sp.Basic, sp.Basic], sp.Basic] = {}
        """Where a local derivative is computed otherwise than printed (bce's floored denominator)."""
        self.users: dict[sp.Basic, list[sp.Basic]] = {}
        self.layer_of: dict[sp.Basic, Path] = {}
        self.order: list[sp.Basic] = []
        self.groups: list[Group] = []
        self.outputs_of: dict[Path, Rows] = {}
        self.backward_notes: dict[sp.Basic, Message] = {}
        """A remark a kind puts on the backward line of one of its nodes or parameters."""
        self.buffers: dict[Path, dict[str, Any]] = {}
        self.buffer_symbols: dict[tuple[Path, str], list[tuple[Any, Any]]] = {}
        self.symbols: dict[tuple[Path, str], Any] = {}
        for path, layer in leaves(network.layers):
            for name, value in layer.parameters().items():
                symbols = layer.scalar_symbols(name, self.numbers[path], value)
                if symbols is None:
                    symbols = _parameter_nodes(layer.glyphs[name], self.numbers[path], value)
                self.symbols[(path, name)] = symbols
                for symbol, number in zip(_flat(symbols), _flat(value), strict=True):
                    self.values[symbol] = number
                    self.layer_of[symbol] = path
        from backprop_cli.optimizers.lines import OptimizerState

        self.state = OptimizerState() if state is None else _state(state, self)

    # --- names ------------------------------------------------------------------------------

    def number(self, path: Path) -> int:
        return self.numbers[path]

    def mark(self, sample: int) -> int | None:
        return sample + 1 if self.samples > 1 else None

    def node(self, base: str, path: Path, unit: int | None, sample: int | None) -> Node:
        """The node ``base`` of layer ``path``'s unit (from 0) for a sample (from 0, or None); a unit
        of feature maps is written by its place, channel first (z⁽¹⁾₂,₁,₃)."""
        return Node(base, None if unit is None else place(unit, self.shapes.get(path, ())), layer=self.number(path),
                    sample=None if sample is None else self.mark(sample))

    def parameter(self, path: Path, name: str) -> Any:
        """The symbols of a parameter, shaped as its values."""
        return self.symbols[(path, name)]

    def constant(self, base: str, path: Path, value: float) -> Node:
        """A setting of the layer on the page (ε, p), with its value."""
        symbol = Node(base, layer=self.number(path))
        self.values[symbol] = value
        return symbol

    def output(self, path: Path, unit: int, sample: int) -> Node:
        """The node of a layer's output unit: a⁽ˡ⁾ⱼ, or ŷⱼ for the network's output."""
        if path != self.last:
            return self.node("a", path, unit, sample)
        return Node("yhat", unit + 1 if self.network.outputs > 1 else None, sample=self.mark(sample))

    # --- recording --------------------------------------------------------------------------

    def define(self, path: Path, target: sp.Basic, expr: sp.Basic, *, value: float | None = None,
               numeric: sp.Basic | None = None, lead: tuple[sp.Basic, ...] = (),
               local: dict[sp.Basic, sp.Basic] | None = None, note: Message | None = None,
               local_numeric: dict[sp.Basic, sp.Basic] | None = None) -> Step:
        """The line ``target = expr``, and ``target`` as a node of the graph the chain rule walks."""
        step = self.record(self.values, target, (expr,), value=value, numeric=numeric, lead=lead, note=note)
        self.definitions[target] = expr if numeric is None else numeric
        self.layer_of[target] = path
        self.order.append(target)
        if len(self.order) > MAX_NODES:
            raise BackpropError(f"form: the scalar form of this network has more than {MAX_NODES} lines;"
                                " use --form matrix (or auto)")
        for symbol in expr.free_symbols:
            if symbol in self.layer_of or isinstance(symbol, Node) and symbol.glyph.base == "x":
                self.users.setdefault(symbol, []).append(target)
        for node, derivative in (local or {}).items():
            self.locals[(target, node)] = derivative
        for node, derivative in (local_numeric or {}).items():
            self.numeric_locals[(target, node)] = derivative
        return step

    def record(self, values: Values, target: sp.Basic, forms: tuple[sp.Basic, ...], *,
               value: float | None = None, also: tuple[sp.Basic, ...] = (), lead: tuple[sp.Basic, ...] = (),
               substitute: bool = True, note: Message | None = None, numeric: sp.Basic | None = None,
               **evaluator: Any) -> Step:
        if value is None:
            value = Evaluator(values, **evaluator)(forms[-1] if numeric is None else numeric)
        if not math.isfinite(value):
            raise BackpropError(
                f"{to_text(target)} comes out as {value} ({to_text(forms[-1])}): the network's functions are"
                " not defined or overflow there; try smaller weights, inputs or learning rate, or another"
                " activation")
        if self.carry:
            value = round_printed(value, self.options.precision)
        for name in (target, *also, *lead):
            values[name] = value
        return Step(target, forms, value, lead, substitute, note, numeric)

    # --- forward ----------------------------------------------------------------------------

    def forward_stack(self, layers: Sequence[Kind], prefix: Path, inputs: Rows) -> Rows:
        """The forward lines of ``layers`` from ``inputs`` (a group per layer); the last outputs."""
        current = inputs
        for index, layer in enumerate(layers):
            path = (*prefix, index)
            width = len(current[0])
            steps = layer.scalar_forward(self, path, current)
            self.groups.append(Group(layer.title(self.number(path), width, path == self.last), tuple(steps)))
            current = self.outputs_of[path]
        return current

    def forward(self) -> list[Group]:
        inputs: Rows = []
        for n, x in enumerate(self.xs):
            row: list[sp.Basic] = []
            for k, value in enumerate(x):
                symbol = Node("x", place(k, self.input_shape) if self.network.inputs > 1 else None,
                              sample=self.mark(n))
                self.values[symbol] = value
                row.append(symbol)
            inputs.append(row)
        self.groups = []
        self.forward_stack(self.network.layers, (), inputs)
        return self.groups

    def loss_group(self) -> Group:
        loss = losses.of(self.network)
        outputs = self.network.outputs
        sample_divisor = loss.divisor(1, outputs)
        combine = loss.divisor(self.samples, outputs) // sample_divisor
        yhats = self.outputs_of[self.last]
        steps = []
        samples: list[sp.Basic] = []
        for n in range(self.samples):
            ys = [Node("y", k + 1 if outputs > 1 else None, sample=self.mark(n)) for k in range(outputs)]
            for k, y in enumerate(ys):
                self.values[y] = self.ys[n][k]
            target = LOSS if self.samples == 1 else Node("ell", sample=n + 1)
            expr = loss.total(list(zip(yhats[n], ys, strict=True)), sample_divisor)
            numeric = loss.clamped(expr)
            derivative = loss.derivative(sample_divisor)
            local = {yhat: replace(derivative, {functions.YHAT: yhat, functions.Y: y})
                     for yhat, y in zip(yhats[n], ys, strict=True)}
            floored = {yhat: loss.clamped(form) for yhat, form in local.items() if loss.clamped(form) != form}
            steps.append(self.define(self.last, target, expr, numeric=numeric if numeric != expr else None,
                                     local=local, local_numeric=floored))
            samples.append(target)
        if self.samples > 1:
            body = add(*samples)
            steps.append(self.define(self.last, LOSS, body if combine == 1 else mul(sp.Rational(1, combine), body)))
        return Group(None, tuple(steps))

    # --- backward ---------------------------------------------------------------------------

    def local(self, user: sp.Basic, node: sp.Basic) -> sp.Basic:
        """∂user/∂node: as the kind wrote it, else by sympy from user's definition."""
        given = self.locals.get((user, node))
        if given is not None:
            return given
        derivative = sp.diff(self.definitions[user], node)
        return functions.tidy(derivative) if derivative.is_Add or derivative.is_Mul else derivative

    def gradient_step(self, node: sp.Basic) -> Step:
        users = self.users.get(node, [])
        if not users:  # an input no window reads (a stride that steps over it): nothing reaches it
            return self.record(self.values, Partial(LOSS, node), (sp.S.Zero,), substitute=False,
                               note=say("kind.unused"))
        chain: list[sp.Basic] = []
        terms: list[sp.Basic] = []
        computed: list[sp.Basic] = []
        for u in users:
            derivative = self.local(u, node)
            numeric = self.numeric_locals.get((u, node), derivative)
            if u == LOSS:  # ∂𝓛/∂𝓛 = 1: the local derivative is the whole term
                chain.append(Partial(u, node))
                terms.append(derivative)
                computed.append(numeric)
                continue
            chain.append(mul(Partial(LOSS, u), Partial(u, node)))
            terms.append(Partial(LOSS, u) if derivative == 1 else mul(Partial(LOSS, u), derivative))
            computed.append(Partial(LOSS, u) if numeric == 1 else mul(Partial(LOSS, u), numeric))
        note = self.backward_notes.get(node)
        numeric_form = add(*computed)
        if len(terms) > MAX_TERMS:
            # A shared kernel weight over many positions and samples: the first terms and the last,
            # the count said; the value sums every term.
            left = len(terms) - SHOWN_TERMS
            head, tail = SHOWN_TERMS - 2, -2
            chain = [*chain[:head], Elided(left), *chain[tail:]]
            terms = [*terms[:head], Elided(left), *terms[tail:]]
            note = say("kind.elided", total=len(computed), shown=SHOWN_TERMS)
        forms: tuple[sp.Basic, ...] = (add(*chain), add(*terms))
        if forms[0] == Partial(LOSS, node):
            forms = (forms[1],)
        return self.record(self.values, Partial(LOSS, node), forms,
                           numeric=None if numeric_form == forms[-1] else numeric_form, note=note)

    def backward(self) -> list[Group]:
        self.values[Partial(LOSS, LOSS)] = 1.0
        by_layer: dict[Path, list[sp.Basic]] = {}
        for node in self.order:
            by_layer.setdefault(self.layer_of[node], []).append(node)
        groups = []
        for path in sorted(by_layer, key=self.number, reverse=True):
            steps = [self.gradient_step(node) for node in reversed(by_layer[path]) if node != LOSS]
            for name in at_layer_parameters(self, path):
                steps += [self.gradient_step(symbol) for symbol in _flat(self.symbols[(path, name)])]
            key = "group.output_delta" if path == self.last else "group.hidden_delta"
            groups.append(Group(say(key, layer=self.number(path)), tuple(steps)))
        return groups

    # --- update and assembly ----------------------------------------------------------------

    def parameters(self) -> list[tuple[int, Node, bool]]:
        from backprop_cli.layers import at

        out = []
        for (path, name), symbols in self.symbols.items():
            frozen = at(self.network.layers, path).frozen(name)
            out += [(self.number(path) - 1, symbol, frozen) for symbol in _flat(symbols)]
        return out

    def build(self) -> Derivation:
        from backprop_cli.build_matrix import MatrixPage, _update_intro
        from backprop_cli.optimizers.lines import update_steps

        forward = self.forward()
        loss_group = self.loss_group()
        backward = self.backward()
        update = update_steps(self, self.values, self.state)
        sections = [
            Section("forward", tuple(forward), say("intro.forward.kinds")),
            Section("loss", (loss_group,), say("intro.loss")),
            Section("backward", tuple(backward), say("intro.backward.kinds")),
            Section("update", tuple(update), _update_intro(self.network, self.options, self.state.step)),
        ]
        new_values: dict[tuple[Path, str], Any] = {}
        for (path, name), symbols in self.symbols.items():
            new_values[(path, name)] = _shaped(symbols, lambda s: self.values[updated(s)])
        for path, buffers in self.buffers.items():
            for name, value in buffers.items():
                new_values[(path, name)] = value
        new_network = self.network.with_values(new_values)
        again = MatrixPage(new_network, self.xs, self.ys, Options(form="matrix"))
        try:
            again.forward(again.arrays)
            loss_after = again.loss_steps(again.arrays)[1]
        except BackpropError as error:
            raise after_update(error, self.network.lr) from None
        output = tuple(tuple(self.values[s] for s in row) for row in self.outputs_of[self.last])
        rows = tuple(ParameterRow(symbol, self.values[symbol], self.values[Partial(LOSS, symbol)],
                                  self.values[updated(symbol)], frozen) for _, symbol, frozen in self.parameters())
        return Derivation(
            network=self.network, xs=self.xs, ys=self.ys, options=self.options, form="scalar",
            sections=tuple(sections), values=self.values, loss=self.values[LOSS], loss_after=loss_after,
            output=output, layers=tuple(self._result((i,), layer, new_network) for i, layer in
                                        enumerate(self.network.layers)),
            parameters=rows, extra={"network_after": new_network, "optimizer_state": self.state_after(),
                                    "parameter_symbols": dict(self.symbols),
                                    "buffer_symbols": dict(self.buffer_symbols)})

    def state_after(self) -> OptimizerSlots:
        """The optimizer's state this step leaves (per leaf layer: weight, bias), for the next step."""
        from backprop_cli.notation import State
        slots: dict[str, Any] = {}
        optimizer = self.network.optimizer
        for kind, times in optimizer.rule.slots(optimizer).items():
            layers = []
            for path, layer in leaves(self.network.layers):
                pair = tuple(None if (path, name) not in self.symbols else
                             _shaped(self.symbols[(path, name)],
                                     lambda s, kind=kind, at=times[1]: self.values.get(State(kind, s, at), 0.0))
                             for name in slot_names(layer))
                layers.append(pair)
            slots[kind] = tuple(layers)
        return OptimizerSlots(self.state.step, slots)

    def _result(self, path: Path, layer: Kind, new_network: Network) -> LayerResult | KindResult:
        from backprop_cli.layers import at

        outputs = tuple(tuple(self.values[s] for s in row) for row in self.outputs_of[path])
        new_layer = at(new_network.layers, path)
        gradient = {name: _shaped(self.symbols[(path, name)], lambda s: self.values[Partial(LOSS, s)])
                    for name in layer.parameters()}
        children = tuple(self._result((*path, i), child, new_network) for i, child in enumerate(layer.children()))
        width = len(outputs[0])
        z_nodes = [[self.node("z", path, j, n) for j in range(width)] for n in range(self.samples)]
        z = (tuple(tuple(self.values[node] for node in row) for row in z_nodes)
             if all(node in self.values for row in z_nodes for node in row) else None)
        return layer.result(outputs, gradient, new_layer, self.buffers.get(path, {}), children, z)


def place(unit: int, shape: tuple[int, ...]) -> int | str:
    """A unit's index on the page, from 1: its number, or in feature maps its place ``c,i,j``."""
    if len(shape) < 2:
        return unit + 1
    out = []
    for size in reversed(shape):
        unit, rest = divmod(unit, size)
        out.append(rest + 1)
    return ",".join(map(str, reversed(out)))


def at_layer_parameters(page: KindsScalarPage, path: Path) -> list[str]:
    return [name for (where, name) in page.symbols if where == path]


def _parameter_nodes(glyph: str, number: int, value: Any, at: tuple[int, ...] = ()) -> Any:
    if at or value and isinstance(value[0], (tuple, list)) and isinstance(value[0][0], (tuple, list)):
        # Kernels (out, in, kernel…): each index written out, K⁽¹⁾₁,₁,₂,₃.
        if not isinstance(value, (tuple, list)):
            return Node(glyph, ",".join(str(i + 1) for i in at), layer=number)
        return tuple(_parameter_nodes(glyph, number, item, (*at, i)) for i, item in enumerate(value))
    if value and isinstance(value[0], (tuple, list)):
        return tuple(tuple(Node(glyph, f"{j + 1}{k + 1}", layer=number) for k in range(len(row)))
                     for j, row in enumerate(value))
    return tuple(Node(glyph, j + 1, layer=number) for j in range(len(value)))


def _flat(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [item for part in value for item in _flat(part)]
    return [value]


def _shaped(symbols: Any, pick: Any) -> Any:
    if isinstance(symbols, (tuple, list)):
        return tuple(_shaped(item, pick) for item in symbols)
    return pick(symbols)


def _state(state: OptimizerSlots, page: KindsScalarPage) -> Any:
    """The optimizer's state of ``state`` (per leaf layer: weight, bias) by the page's symbols."""
    from backprop_cli.optimizers.lines import OptimizerState

    by_symbol: dict[str, dict[sp.Basic, float]] = {}
    for kind, layers in state.slots.items():
        table = by_symbol.setdefault(kind, {})
        for (path, layer), pair in zip(leaves(page.network.layers), layers, strict=True):
            for name, value in zip(slot_names(layer), pair, strict=True):
                if value is not None and (path, name) in page.symbols:
                    for symbol, number in zip(_flat(page.symbols[(path, name)]), _flat(value), strict=True):
                        table[symbol] = number
    return OptimizerState(state.steps + 1, by_symbol)
