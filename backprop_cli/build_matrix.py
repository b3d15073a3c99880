"""The matrix form of a training step: batches and wide layers, every matrix with its numbers.

Z⁽ˡ⁾ = A⁽ˡ⁻¹⁾W⁽ˡ⁾ᵀ + b⁽ˡ⁾ (the bias row added to every sample), A⁽ˡ⁾ = f(Z⁽ˡ⁾), the loss with its
reduction over the batch, δ at the output, ∂𝓛/∂W⁽ˡ⁾ = δ⁽ˡ⁾ᵀA⁽ˡ⁻¹⁾, ∂𝓛/∂b⁽ˡ⁾ = 1ᵀδ⁽ˡ⁾,
δ⁽ˡ⁻¹⁾ = (δ⁽ˡ⁾W⁽ˡ⁾) ⊙ f′(Z⁽ˡ⁻¹⁾), and the updates. The expressions come from the same sympy
definitions as the scalar form (functions.py); their values are computed from the expressions by
the array evaluator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy as sp

from backprop_cli import functions, losses
from backprop_cli.derivation import (
    Derivation,
    Group,
    KindResult,
    LayerResult,
    Matrix,
    MatrixStep,
    Options,
    Section,
)
from backprop_cli.errors import BackpropError, DataError, after_update
from backprop_cli.evaluate_array import ArrayEvaluator
from backprop_cli.layers import at, leaves, walk
from backprop_cli.layers.base import Kind, Path
from backprop_cli.locales import Message, say
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.notation import (
    ALPHA,
    LOSS,
    ElementSum,
    Elementwise,
    Hadamard,
    Node,
    Partial,
    State,
    add,
    hadamard_form,
    mul,
    neg,
    replace,
    updated,
)
from backprop_cli.optimizers.base import slot_names
from backprop_cli.optimizers.lines import OptimizerState, update_steps
from backprop_cli.printing import format_given, round_printed, to_text

Values = dict[sp.Basic, Any]


def build_matrix_derivation(network: Network, xs: tuple[Vector, ...], ys: tuple[Vector, ...],
                            options: Options, state: OptimizerSlots | None = None) -> Derivation:
    """Work out one training step in matrix form (see ``derive.build_derivation``)."""
    return MatrixPage(network, xs, ys, options, state).build()


class MatrixPage:
    """The matrix form of one step, worked over the network's layers: each layer kind writes its own
    lines (``Kind.matrix_forward``, ``Kind.matrix_backward``); the page keeps the values, numbers
    the layers, and works the loss and the update.

    Layers are numbered in the order the forward pass computes them (a residual block's layers
    before its sum); the input is A⁽⁰⁾.
    """

    def __init__(self, network: Network, xs: tuple[Vector, ...], ys: tuple[Vector, ...],
                 options: Options, state: OptimizerSlots | None = None) -> None:
        self.network = network
        self.slots = state
        self.xs, self.ys = xs, ys
        self.options = options
        self.carry = options.rounding == "carry"
        self.samples = len(xs)
        self.outputs = network.outputs
        self.loss = losses.of(network)
        self.fused = self.loss.fused
        self.divisor = self.loss.divisor(self.samples, self.outputs)
        self.numbers = {path: n for n, (path, _) in enumerate(walk(network.layers), start=1)}
        self.last = (len(network.layers) - 1,)
        for index, layer in enumerate(network.layers):
            if layer.activation is not None:
                functions.layer_activation(layer.activation, index)
        self.arrays: Values = {ALPHA: network.lr}
        self.X, self.Y, self.Yhat = Node("X"), Node("Y"), Node("Yhat")
        for path, layer in leaves(network.layers):
            present = layer.parameters()
            for name, symbol in layer.page_parameters(self, path):
                self.arrays[symbol] = self.on_page(layer, name, present[name])
        self.arrays[self.X] = np.array(xs, dtype=float)
        self.arrays[self.A(0)] = self.arrays[self.X]
        self.arrays[self.Y] = np.array(ys, dtype=float)
        self.element_functions: dict[str, Any] = {
            "rowsum": lambda a: np.sum(a, axis=1, keepdims=True)}
        self.groups: list[Group] = []
        self.inputs: dict[Path, sp.Basic] = {}
        self.block_inputs: set[sp.Basic] = set()
        self.buffers: dict[Path, dict[str, Any]] = {}

    # --- names (A⁽⁰⁾ is the input) -----------------------------------------------------------

    def number(self, path: Path) -> int:
        return self.numbers[path]

    def W(self, number: int) -> Node:
        return Node("W", layer=number)

    def b(self, number: int) -> Node:
        return Node("b", layer=number)

    def Z(self, number: int) -> Node:
        return Node("Z", layer=number)

    def A(self, number: int) -> Node:
        return Node("A", layer=number)

    def delta(self, number: int) -> Node:
        return Node("delta", layer=number)

    def output_lead(self, path: Path) -> tuple[sp.Basic, ...]:
        """Ŷ for the output layer's output."""
        return (self.Yhat,) if path == self.last else ()

    def optimizer_state(self) -> OptimizerState:
        """The optimizer's state before this step, keyed by the parameters' matrix symbols."""
        if self.slots is None:
            return OptimizerState()
        by_symbol: dict[str, dict[sp.Basic, Any]] = {}
        for kind, layers in self.slots.slots.items():
            table = by_symbol.setdefault(kind, {})
            for (path, layer), pair in zip(leaves(self.network.layers), layers, strict=True):
                symbols = dict(layer.page_parameters(self, path))
                for name, value in zip(slot_names(layer), pair, strict=True):
                    if name in symbols and value is not None:
                        table[symbols[name]] = self.on_page(layer, name, value)
        return OptimizerState(self.slots.steps + 1, by_symbol)

    def state_after(self, values: Values, state: OptimizerState) -> OptimizerSlots:
        """The optimizer's state this step leaves, for the step after it."""
        slots = {}
        optimizer = self.network.optimizer
        for kind, times in optimizer.rule.slots(optimizer).items():
            layers = []
            for path, layer in leaves(self.network.layers):
                symbols = dict(layer.page_parameters(self, path))
                present = layer.parameters()
                pair: list[Any] = []
                for name in slot_names(layer):
                    if name not in symbols:
                        pair.append(None)
                        continue
                    array = values.get(State(kind, symbols[name], times[1]), np.zeros(np.shape(present[name])))
                    pair.append(self.as_torch(layer, name, present[name], array))
                layers.append(tuple(pair))
            slots[kind] = tuple(layers)
        return OptimizerSlots(state.step, slots)

    @property
    def transposed(self) -> bool:
        """``--layout transposed``: a dense layer's W is written inputs × units, Z = AW + b."""
        return self.options.layout == "transposed"

    def on_page(self, layer: Kind, name: str, value: Any) -> Any:
        """A parameter (or its optimizer state) as the page writes it."""
        array = page_array(value)
        return array.T if self.transposed and name == "weight" and layer.transposable else array

    def as_torch(self, layer: Kind, name: str, template: Any, array: Any) -> Any:
        """A page's matrix of a parameter back in torch's layout, shaped like ``template``."""
        array = np.asarray(array, dtype=float)
        if self.transposed and name == "weight" and layer.transposable and array.ndim == 2:
            array = array.T
        return _like(template, array)

    def parameters(self) -> list[tuple[int, Node, bool]]:
        """(layer number − 1, symbol, frozen) of every parameter, in update order."""
        out: list[tuple[int, Node, bool]] = []
        for path, layer in leaves(self.network.layers):
            for name, symbol in layer.page_parameters(self, path):
                out.append((self.number(path) - 1, symbol, layer.frozen(name)))
        return out

    # --- recording --------------------------------------------------------------------------

    def record(self, values: Values, target: sp.Basic, forms: tuple[sp.Basic, ...], *,
               value: Any = None, numbers: sp.Basic | None = None, substitute: bool = True,
               also: tuple[sp.Basic, ...] = (), lead: tuple[sp.Basic, ...] = (),
               note: Message | None = None, **evaluator: Any) -> MatrixStep:
        if numbers is None and substitute and forms:
            numbers = forms[-1]
        if value is None:
            value = ArrayEvaluator(values, functions=self.element_functions, **evaluator)(forms[-1])
        array = np.atleast_2d(np.asarray(value, dtype=float))
        if not np.isfinite(array).all():
            raise BackpropError(
                f"{to_text(target)} has values that are not finite ({to_text(forms[-1])}): the"
                " network's functions are not defined or overflow there; try smaller weights,"
                " inputs or learning rate, or another activation")
        if self.carry:
            array = np.vectorize(lambda v: round_printed(v, self.options.precision), otypes=[float])(array)
        for name in (target, *also, *lead):
            values[name] = array
        operands = []
        if numbers is not None:
            for node in _nodes_in_order(numbers, values):
                if node != target:
                    operands.append((node, _matrix(values[node])))
        return MatrixStep(target, forms, _matrix(array), numbers, tuple(operands), lead, note)

    def materialize(self, target: sp.Basic, expr: sp.Basic) -> tuple[list[MatrixStep], sp.Basic]:
        """``expr`` (a gradient handed down) as a line of its own named ``target``, unless it is
        that symbol already."""
        if expr == target:
            return [], target
        return [self.record(self.arrays, target, (expr,))], target

    def wants_gradient(self, inputs: sp.Basic) -> bool:
        """Whether a layer's backward should work out ∂𝓛/∂(its input): not for the data."""
        return inputs != self.A(0)

    def records_gradient(self, inputs: sp.Basic) -> bool:
        """False at a residual block's input, where the residual writes ∂𝓛/∂(input) as the sum of both paths."""
        return inputs not in self.block_inputs

    def gradient(self, inputs: sp.Basic, expr: sp.Basic,
                 note: Message | None = None) -> tuple[list[MatrixStep], sp.Basic]:
        """∂𝓛/∂inputs = ``expr`` as a line, and its symbol; inside a residual block, at the block's
        input, the expression alone (the residual writes the sum of both paths)."""
        if not self.records_gradient(inputs):
            return [], expr
        target = Partial(LOSS, inputs)
        return [self.record(self.arrays, target, (expr,), note=note)], target

    def emit(self, path: Path, steps: list[MatrixStep]) -> None:
        """Lines of the layer at ``path`` that must come before those of the layers it holds."""
        if steps:
            self.groups.append(Group(self._backward_title(path), tuple(steps)))

    # --- forward ----------------------------------------------------------------------------

    def forward_stack(self, layers: Sequence[Kind], prefix: Path, inputs: sp.Basic) -> sp.Basic:
        """The forward lines of ``layers`` (a group each) from ``inputs``; the last output's symbol."""
        current = inputs
        for index, layer in enumerate(layers):
            path = (*prefix, index)
            self.inputs[path] = current
            width = int(np.shape(self.arrays[current])[1])
            steps = layer.matrix_forward(self, path, current)
            self.groups.append(Group(layer.title(self.number(path), width, path == self.last), tuple(steps)))
            current = self.A(self.number(path))
        return current

    def forward(self, values: Values) -> list[Group]:
        self.groups = []
        self.forward_stack(self.network.layers, (), self.A(0))
        return self.groups

    def loss_steps(self, values: Values) -> tuple[list[MatrixStep], float]:
        ell = Node("ell")
        element = self.loss.display_at(self.Yhat, self.Y)
        if self.loss.needs_probabilities:
            yhat = values[self.Yhat]
            if (yhat < 0).any() or (yhat > 1).any():
                raise DataError(
                    f"bce needs predictions in [0, 1] but some come out of"
                    f" {self.network.layers[-1].activation or self.network.layers[-1].kind};"
                    " use sigmoid on the output layer or another loss")
        if self.fused and not self.carry:
            last = self.network.layers[-1]
            z = values[last.pre_activation(self, self.last, self.inputs[self.last])]
            top = z.max(axis=1, keepdims=True)
            log_softmax = z - top - np.log(np.exp(z - top).sum(axis=1, keepdims=True))
            elements = -values[self.Y] * log_softmax
            first = self.record(values, ell, (hadamard_form(element),), value=elements,
                                numbers=None, note=say("matrix.elementwise"))
        else:
            first = self.record(values, ell, (hadamard_form(element),),
                                log_floor=self.loss.log_floor, note=say("matrix.elementwise"))
        over = "n" if self.loss.reduction == "sample_mean" else "n,k"
        total = ElementSum(ell, over)
        expr = total if self.divisor == 1 else mul(sp.Rational(1, self.divisor), total)
        second = self.record(values, LOSS, (expr,),
                             value=np.sum(values[ell]) / self.divisor)
        return [first, second], float(values[LOSS][0, 0])

    # --- backward ---------------------------------------------------------------------------

    def output_delta(self, values: Values, Z: sp.Basic, delta: sp.Basic) -> list[MatrixStep]:
        """δ = ∂𝓛/∂Z where the output layer ends with an activation: the loss and the activation
        worked together (softmax with cross-entropy, sigmoid with bce simplify)."""
        activation = functions.activation(self.network.layers[-1].activation or "identity")
        steps = []
        if self.fused:
            sums = values[self.Y].sum(axis=1)
            N = self.samples
            note: Message | None
            if np.allclose(sums, 1.0, rtol=0, atol=1e-12):
                difference = add(self.Yhat, neg(self.Y))
                note = say("matrix.delta_softmax_ce", n=N)
            else:
                difference = add(Hadamard(self.Yhat, Elementwise("rowsum", self.Y)), neg(self.Y))
                note = say("matrix.delta_softmax_ce_general", n=N)
            formula = difference if N == 1 else mul(sp.Rational(1, N), difference)
            steps.append(self.record(values, delta, (Partial(LOSS, Z), formula), also=(Partial(LOSS, Z),),
                                     note=note))
            return steps
        gradient = self.loss_gradient(values, steps)
        if isinstance(activation, functions.Softmax):
            formula = activation.matrix_delta(gradient, self.Yhat)
            steps.append(self.record(values, delta, (Partial(LOSS, Z), formula), also=(Partial(LOSS, Z),),
                                     note=say(activation.delta_note)))
            return steps
        assert isinstance(activation, functions.Activation)
        prime = Elementwise(_name(activation), Z, prime=True)
        local = activation.local_derivative(Z, self.Yhat)
        steps.append(self.record(values, prime, (hadamard_form(local),),
                                 note=say("matrix.elementwise")))
        forms: tuple[sp.Basic, ...] = (Partial(LOSS, Z), Hadamard(gradient, prime))
        note = None
        if self.loss.simplifies_with == activation.name:
            simplified = add(self.Yhat, neg(self.Y))
            if self.divisor > 1:
                simplified = mul(sp.Rational(1, self.divisor), simplified)
            note = say("matrix.delta_sigmoid_bce", simplified=to_text(simplified))
        steps.append(self.record(values, delta, forms, also=(Partial(LOSS, Z),), note=note))
        return steps

    def loss_gradient(self, values: Values, steps: list[MatrixStep]) -> sp.Basic:
        """The line ∂𝓛/∂Ŷ, element by element; its symbol."""
        gradient = Partial(LOSS, self.Yhat)
        derivative = self.loss.derivative(self.divisor)
        expr = replace(derivative, {functions.YHAT: self.Yhat, functions.Y: self.Y})
        steps.append(self.record(values, gradient, (hadamard_form(expr),),
                                 denominator_floor=self.loss.denominator_floor,
                                 note=say("matrix.elementwise")))
        return gradient

    def clip_steps(self, values: Values) -> list[MatrixStep]:
        """``torch.nn.utils.clip_grad_norm_`` or ``clip_grad_value_`` on every gradient, before the
        update: the 2-norm of all of them together before and after, and each gradient clipped (as
        torch leaves ``.grad``; the JSON's gradients and the update are the clipped ones)."""
        clip = self.options.clip
        gradients = [Partial(LOSS, symbol) for _, symbol, frozen in self.parameters() if not frozen]

        def norm() -> float:
            return float(np.sqrt(sum(float(np.sum(np.square(values[g]))) for g in gradients)))

        before = norm()
        steps = [self.record(values, Node("g", "total"), (), value=before, substitute=False,
                             note=say("clip.norm", count=len(gradients)))]
        if clip.kind == "norm":
            scale = min(1.0, clip.limit / (before + 1e-6))
            factor = Node("g", "scale")
            steps.append(self.record(values, factor, (), value=scale, substitute=False,
                                     note=say("clip.scale", limit=f"{clip.limit:g}")))
            for g in gradients:
                clipped = np.asarray(values[g]) * scale
                steps.append(self.record(values, g, (mul(factor, g),), value=clipped, substitute=False))
        else:
            for index, g in enumerate(gradients):
                clipped = np.clip(np.asarray(values[g]), -clip.limit, clip.limit)
                note = say("clip.value", limit=f"{clip.limit:g}") if index == 0 else None
                steps.append(self.record(values, g, (), value=clipped, substitute=False, note=note))
        steps.append(self.record(values, Node("g", "clipped"), (), value=norm(), substitute=False,
                                 note=say("clip.after")))
        return steps

    def _backward_title(self, path: Path) -> Message:
        key = "group.output_delta" if path == self.last else "group.hidden_delta"
        return say(key, layer=self.number(path))

    def backward_stack(self, layers: Sequence[Kind], prefix: Path, inputs: sp.Basic,
                       upstream: sp.Basic) -> sp.Basic:
        """The backward lines of ``layers`` (a residual's block) from ``upstream`` = ∂𝓛/∂(their
        output); the expression of ∂𝓛/∂``inputs`` along this path."""
        self.block_inputs.add(inputs)
        for index in range(len(layers) - 1, -1, -1):
            path = (*prefix, index)
            steps, upstream = layers[index].matrix_backward(self, path, self.inputs[path], upstream)
            if steps:
                self.groups.append(Group(self._backward_title(path), tuple(steps)))
        self.block_inputs.discard(inputs)
        return upstream

    def backward(self, values: Values) -> list[Group]:
        self.groups = []
        layers = self.network.layers
        path = self.last
        layer = layers[-1]
        n = self.number(path)
        steps: list[MatrixStep] = []
        if layer.activation is not None:
            Z = layer.pre_activation(self, path, self.inputs[path])
            steps = self.output_delta(values, Z, self.delta(n))
            more, upstream = layer.matrix_backward(self, path, self.inputs[path], self.delta(n),
                                                   pre_activation=True)
        else:
            gradient = self.loss_gradient(values, steps)
            self.groups.append(Group(self._backward_title(path), tuple(steps)))
            steps = []
            more, upstream = layer.matrix_backward(self, path, self.inputs[path], gradient)
        if steps or more:
            self.groups.append(Group(self._backward_title(path), tuple(steps + more)))
        for index in range(len(layers) - 2, -1, -1):
            path = (index,)
            more, upstream = layers[index].matrix_backward(self, path, self.inputs[path], upstream)
            if more:
                self.groups.append(Group(self._backward_title(path), tuple(more)))
        return self.groups

    # --- assembly ---------------------------------------------------------------------------

    def build(self) -> Derivation:
        values = self.arrays
        forward = self.forward(values)
        loss_steps, loss = self.loss_steps(values)
        backward = self.backward(values)
        if not self.options.brief:
            from backprop_cli.why import annotate_matrix

            backward = annotate_matrix(self, backward, values)
        if self.options.clip is not None:
            backward.append(Group(say("group.clip", how=self.options.clip.describe()), tuple(self.clip_steps(values))))
        state = self.optimizer_state()
        update = update_steps(self, values, state)
        sections = [
            Section("forward", tuple(forward), self.forward_intro()),
            Section("loss", (Group(None, tuple(loss_steps)),), say("intro.loss")),
            Section("backward", tuple(backward), say("intro.backward.matrix"
                                                     + ("_transposed" if self.transposed else ""))),
            Section("update", tuple(update), _update_intro(self.network, self.options, state.step)),
        ]
        new_values: dict[tuple[Path, str], Any] = {}
        for path, layer in leaves(self.network.layers):
            present = layer.parameters()
            for name, symbol in layer.page_parameters(self, path):
                new_values[(path, name)] = self.as_torch(layer, name, present[name], values[updated(symbol)])
            for name, buffer in self.buffers.get(path, {}).items():
                new_values[(path, name)] = buffer
        new_network = self.network.with_values(new_values)
        again = MatrixPage(new_network, self.xs, self.ys, self.options)
        try:
            again.forward(again.arrays)
            _, loss_after = again.loss_steps(again.arrays)
        except BackpropError as error:
            raise after_update(error, self.network.lr) from None
        printable = {k: (_matrix(v) if isinstance(v, np.ndarray) else v) for k, v in values.items()}
        return Derivation(
            network=self.network, xs=self.xs, ys=self.ys, options=self.options, form="matrix",
            sections=tuple(sections), values=printable, loss=loss, loss_after=loss_after,
            output=tuple(map(tuple, values[self.Yhat].tolist())),
            layers=self.layer_results(values, new_network), parameters=(),
            extra={"optimizer_state": self.state_after(values, state), "network_after": new_network},
        )

    def forward_intro(self) -> Message:
        """What the forward section says first: how the batch sits in the matrices, and the weights' layout."""
        samples = say("samples.one") if self.samples == 1 else say("samples", count=self.samples)
        from backprop_cli.layers.windows import Windowed

        if any(isinstance(layer, Windowed) for _, layer in walk(self.network.layers)):
            return say("intro.forward.maps", samples=samples)
        return say("intro.forward.matrix" + ("_transposed" if self.transposed else ""), samples=samples)

    def layer_results(self, values: Values, new_network: Network) -> tuple[LayerResult | KindResult, ...]:
        return tuple(self._result(values, new_network, (index,), layer)
                     for index, layer in enumerate(self.network.layers))

    def _result(self, values: Values, new_network: Network, path: Path, layer: Kind) -> LayerResult | KindResult:
        def rows(node: sp.Basic) -> tuple[tuple[float, ...], ...]:
            return tuple(map(tuple, values[node].tolist()))

        n = self.number(path)
        present = layer.parameters()
        gradients = {name: self.as_torch(layer, name, present[name], values[Partial(LOSS, symbol)])
                     for name, symbol in layer.page_parameters(self, path)}
        children = tuple(self._result(values, new_network, (*path, i), child)
                         for i, child in enumerate(layer.children()))
        z = rows(self.Z(n)) if self.Z(n) in values else None
        return layer.result(rows(self.A(n)), gradients, at(new_network.layers, path), self.buffers.get(path, {}),
                            children, z)
def _update_intro(network: Network, options: Options, step: int) -> Message:
    optimizer = network.optimizer
    return optimizer.rule.page_intro(optimizer, format_given(network.lr), step, options)


def _name(activation: functions.Activation) -> str:
    return activation.name if activation.name in functions.NAMES else "f"


def _matrix(array: Any) -> Matrix:
    return Matrix(tuple(tuple(float(v) for v in row) for row in np.atleast_2d(array).tolist()))


def _nodes_in_order(expr: sp.Basic, values: Values) -> list[sp.Basic]:
    """The matrices ``expr`` combines (subexpressions with an array value), in reading order, once.

    A node with a value is a leaf: its arguments (the parameter of v[W](t)) are not operands.
    """
    seen: list[sp.Basic] = []

    def walk(node: sp.Basic) -> None:
        value = values.get(node)
        if isinstance(node, State) and value is not None and not isinstance(value, np.ndarray):
            # An optimizer's state still at its start is one number (0); as an operand it is that
            # number in the parameter's shape, never the parameter it is indexed by.
            values[node] = value = np.full(np.atleast_2d(values[node.parameter]).shape, float(value))
        if isinstance(value, np.ndarray):
            if node not in seen:
                seen.append(node)
            return
        for arg in node.args:
            walk(arg)

    walk(expr)
    return seen


def page_array(value: Any) -> Any:
    """A parameter as the matrix form writes it: a vector as one row, kernels (out, in, kernel…) as
    one row per output channel."""
    array = np.atleast_2d(np.array(value, dtype=float))
    return array.reshape(array.shape[0], -1) if array.ndim > 2 else array


def _like(template: Any, array: Any) -> Any:
    """``array`` as nested tuples shaped like ``template`` (a vector parameter is a one-row matrix here,
    kernels a row per output channel)."""
    array = np.asarray(array, dtype=float)
    if array.size == 1 and np.size(template) > 1:  # an optimizer's state still at its start: 0
        array = np.broadcast_to(array.reshape(()), np.shape(template))
    return _tuples(array.reshape(np.shape(template)).tolist())


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else float(value)

