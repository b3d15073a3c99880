"""The matrix form of a training step: batches and wide layers, every matrix with its numbers.

Z⁽ˡ⁾ = A⁽ˡ⁻¹⁾W⁽ˡ⁾ᵀ + b⁽ˡ⁾ (the bias row added to every sample), A⁽ˡ⁾ = f(Z⁽ˡ⁾), the loss with its
reduction over the batch, δ at the output, ∂𝓛/∂W⁽ˡ⁾ = δ⁽ˡ⁾ᵀA⁽ˡ⁻¹⁾, ∂𝓛/∂b⁽ˡ⁾ = 1ᵀδ⁽ˡ⁾,
δ⁽ˡ⁻¹⁾ = (δ⁽ˡ⁾W⁽ˡ⁾) ⊙ f′(Z⁽ˡ⁻¹⁾), and the updates. The expressions come from the same sympy
definitions as the scalar form (functions.py); their values are computed from the expressions by
the array evaluator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from backprop_cli import functions
from backprop_cli.derivation import (
    Derivation,
    Group,
    LayerResult,
    Matrix,
    MatrixStep,
    Options,
    Section,
)
from backprop_cli.errors import BackpropError, DataError
from backprop_cli.evaluate_array import ArrayEvaluator
from backprop_cli.locales import Message, say
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.notation import (
    ALPHA,
    LOSS,
    ColumnSum,
    ElementSum,
    Elementwise,
    Hadamard,
    MatMul,
    Node,
    Partial,
    State,
    Transpose,
    add,
    mul,
    neg,
    replace,
    updated,
)
from backprop_cli.optimizers import SLOTS, OptimizerState, update_steps
from backprop_cli.printing import format_number, round_printed, to_text

Values = dict[sp.Basic, Any]


def build_matrix_derivation(network: Network, xs: tuple[Vector, ...], ys: tuple[Vector, ...],
                            options: Options, state: OptimizerSlots | None = None) -> Derivation:
    """Work out one training step in matrix form (see ``derive.build_derivation``)."""
    return _MatrixBuilder(network, xs, ys, options, state).build()


def hadamard_form(expr: sp.Basic) -> sp.Basic:
    """Write the products of an element-wise expression with ⊙: σ(1 − σ) → A ⊙ (1 − A)."""
    if isinstance(expr, sp.Mul):
        coefficient: list[sp.Basic] = []
        factors: list[sp.Basic] = []
        for arg in expr.args:
            (coefficient if arg.is_Number else factors).append(hadamard_form(arg))
        if len(factors) > 1 and not any(isinstance(f, sp.Pow) and f.exp.is_negative for f in factors):
            # Symbols before sums, as σ(1 − σ) is written: A ⊙ (1 − A); with a function among
            # them the order is the definition's: (1 − Y) ⊙ log(1 − Ŷ).
            if not any(isinstance(f, sp.Function) for f in factors):
                factors.sort(key=lambda f: 1 if isinstance(f.as_base_exp()[0], sp.Add) else 0)
            product: sp.Basic = Hadamard(*factors)
            return mul(*coefficient, product) if coefficient else product
    if expr.args and not isinstance(expr, (Node, Partial)):
        args = tuple(hadamard_form(a) for a in expr.args)
        if isinstance(expr, (sp.Add, sp.Mul, sp.Pow)):
            return expr.func(*args, evaluate=False)
        return expr.func(*args)
    return expr


class _MatrixBuilder:
    def __init__(self, network: Network, xs: tuple[Vector, ...], ys: tuple[Vector, ...],
                 options: Options, state: OptimizerSlots | None = None) -> None:
        self.network = network
        self.slots = state
        self.xs, self.ys = xs, ys
        self.options = options
        self.carry = options.rounding == "carry"
        self.samples = len(xs)
        self.outputs = network.outputs
        self.depth = len(network.layers)
        self.activations = [_activation(layer.activation, i) for i, layer in enumerate(network.layers)]
        self.loss = functions.loss(network.loss)
        self.fused = network.loss == "cross_entropy"
        self.divisor = self.loss.divisor(self.samples, self.outputs)
        self.arrays: Values = {ALPHA: network.lr}
        self.X, self.Y, self.Yhat = Node("X"), Node("Y"), Node("Yhat")
        for index, layer in enumerate(network.layers):
            self.arrays[self.W(index)] = np.array(layer.weight, dtype=float)
            if layer.bias is not None:
                self.arrays[self.b(index)] = np.array([layer.bias], dtype=float)
        self.arrays[self.X] = np.array(xs, dtype=float)
        self.arrays[self.A(-1)] = self.arrays[self.X]
        self.arrays[self.Y] = np.array(ys, dtype=float)
        self.element_functions: dict[str, Any] = {
            "rowsum": lambda a: np.sum(a, axis=1, keepdims=True)}

    # --- names (layer l is 0-based here, printed 1-based; A⁽⁰⁾ is the input) ------------------

    def W(self, index: int) -> Node:
        return Node("W", layer=index + 1)

    def b(self, index: int) -> Node:
        return Node("b", layer=index + 1)

    def Z(self, index: int) -> Node:
        return Node("Z", layer=index + 1)

    def A(self, index: int) -> Node:
        return Node("A", layer=index + 1)

    def delta(self, index: int) -> Node:
        return Node("delta", layer=index + 1)

    def optimizer_state(self) -> OptimizerState:
        """The optimizer's state before this step, keyed by the matrix symbols W⁽ˡ⁾, b⁽ˡ⁾."""
        if self.slots is None:
            return OptimizerState()
        by_symbol: dict[str, dict[sp.Basic, Any]] = {}
        for kind, layers in self.slots.slots.items():
            table = by_symbol.setdefault(kind, {})
            for index, (weight, bias) in enumerate(layers):
                table[self.W(index)] = np.array(weight, dtype=float)
                if bias is not None and self.network.layers[index].bias is not None:
                    table[self.b(index)] = np.array([bias], dtype=float)
        return OptimizerState(self.slots.steps + 1, by_symbol)

    def state_after(self, values: Values, state: OptimizerState) -> OptimizerSlots:
        """The optimizer's state this step leaves, for the step after it."""
        slots = {}
        for kind, times in SLOTS[self.network.optimizer.name].items():
            layers = []
            for index, layer in enumerate(self.network.layers):
                weight = values.get(State(kind, self.W(index), times[1]), np.zeros((layer.units, layer.inputs)))
                bias = None
                if layer.bias is not None:
                    row = values.get(State(kind, self.b(index), times[1]), np.zeros((1, layer.units)))
                    bias = tuple(float(v) for v in np.atleast_2d(row)[0])
                layers.append((tuple(map(tuple, np.atleast_2d(weight).tolist())), bias))
            slots[kind] = tuple(layers)
        return OptimizerSlots(state.step, slots)

    def parameters(self) -> list[tuple[int, Node, bool]]:
        out: list[tuple[int, Node, bool]] = []
        for index, layer in enumerate(self.network.layers):
            out.append((index, self.W(index), False))
            if layer.bias is not None:
                out.append((index, self.b(index), layer.freeze_bias))
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

    # --- forward ----------------------------------------------------------------------------

    def forward(self, values: Values) -> list[Group]:
        groups = []
        last = self.depth - 1
        for index, layer in enumerate(self.network.layers):
            steps = []
            product = MatMul(self.A(index - 1), Transpose(self.W(index)))
            note = None
            if layer.bias is not None:
                weighted = add(product, self.b(index))
                if self.samples > 1:
                    note = say("matrix.broadcast", bias=to_text(self.b(index)), samples=self.samples)
            else:
                weighted = product
            steps.append(self.record(values, self.Z(index), (weighted,), note=note))
            activation = self.activations[index]
            applied = Elementwise(activation.name if activation.name in functions.NAMES else "f", self.Z(index))
            lead = (self.Yhat,) if index == last else ()
            if isinstance(activation, functions.Softmax):
                z = values[self.Z(index)]
                shifted = np.exp(z - z.max(axis=1, keepdims=True))
                value = shifted / shifted.sum(axis=1, keepdims=True)
                steps.append(self.record(values, self.A(index), (applied,), value=value, lead=lead,
                                         note=say("matrix.softmax")))
            else:
                formula = activation.apply(self.Z(index))
                value = ArrayEvaluator(values)(formula)
                steps.append(self.record(values, self.A(index), (applied, hadamard_form(formula)),
                                         value=value, numbers=applied, lead=lead,
                                         note=say("matrix.elementwise")))
            key = "group.output_layer" if index == last else "group.layer"
            groups.append(Group(say(key, layer=index + 1, inputs=layer.inputs, units=layer.units,
                                    activation=activation.name), tuple(steps)))
        return groups

    def loss_steps(self, values: Values) -> tuple[list[MatrixStep], float]:
        ell = Node("ell")
        element = self.loss.display_at(self.Yhat, self.Y)
        if self.network.loss == "bce":
            yhat = values[self.Yhat]
            if (yhat < 0).any() or (yhat > 1).any():
                raise DataError(
                    f"bce needs predictions in [0, 1] but some come out of"
                    f" {self.network.layers[-1].activation}; use sigmoid on the output layer or another loss")
        if self.fused and not self.carry:
            z = values[self.Z(self.depth - 1)]
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

    def output_delta(self, values: Values) -> list[MatrixStep]:
        last = self.depth - 1
        activation = self.activations[last]
        Z, delta = self.Z(last), self.delta(last)
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
        gradient = Partial(LOSS, self.Yhat)
        derivative = self.loss.derivative(self.divisor)
        expr = replace(derivative, {functions.YHAT: self.Yhat, functions.Y: self.Y})
        steps.append(self.record(values, gradient, (hadamard_form(expr),),
                                 denominator_floor=self.loss.denominator_floor,
                                 note=say("matrix.elementwise")))
        if isinstance(activation, functions.Softmax):
            inner = add(gradient, neg(Elementwise("rowsum", Hadamard(gradient, self.Yhat))))
            formula = Hadamard(self.Yhat, inner)
            steps.append(self.record(values, delta, (Partial(LOSS, Z), formula), also=(Partial(LOSS, Z),),
                                     note=say("matrix.delta_softmax")))
            return steps
        assert isinstance(activation, functions.Activation)
        prime = Elementwise(_name(activation), Z, prime=True)
        local = activation.local_derivative(Z, self.Yhat)
        steps.append(self.record(values, prime, (hadamard_form(local),),
                                 note=say("matrix.elementwise")))
        forms: tuple[sp.Basic, ...] = (Partial(LOSS, Z), Hadamard(gradient, prime))
        note = None
        if self.network.loss == "bce" and activation.name == "sigmoid":
            simplified = add(self.Yhat, neg(self.Y))
            if self.divisor > 1:
                simplified = mul(sp.Rational(1, self.divisor), simplified)
            note = say("matrix.delta_sigmoid_bce", simplified=to_text(simplified))
        steps.append(self.record(values, delta, forms, also=(Partial(LOSS, Z),), note=note))
        return steps

    def hidden_delta(self, values: Values, index: int) -> list[MatrixStep]:
        activation = self.activations[index]
        assert isinstance(activation, functions.Activation)
        Z = self.Z(index)
        prime = Elementwise(_name(activation), Z, prime=True)
        local = activation.local_derivative(Z, self.A(index))
        steps = [self.record(values, prime, (hadamard_form(local),),
                             note=say("matrix.elementwise"))]
        back = MatMul(self.delta(index + 1), self.W(index + 1))
        steps.append(self.record(values, self.delta(index), (Partial(LOSS, Z), Hadamard(back, prime)),
                                 also=(Partial(LOSS, Z),)))
        return steps

    def gradients(self, values: Values, index: int) -> list[MatrixStep]:
        delta = self.delta(index)
        steps = [self.record(values, Partial(LOSS, self.W(index)),
                             (MatMul(Transpose(delta), self.A(index - 1)),))]
        if self.network.layers[index].bias is not None:
            note = say("matrix.column_sums", samples=self.samples) if self.samples > 1 else None
            steps.append(self.record(values, Partial(LOSS, self.b(index)), (ColumnSum(delta),), note=note))
        return steps

    def backward(self, values: Values) -> list[Group]:
        groups = []
        last = self.depth - 1
        for index in range(last, -1, -1):
            steps = self.output_delta(values) if index == last else self.hidden_delta(values, index)
            steps += self.gradients(values, index)
            key = "group.output_delta" if index == last else "group.hidden_delta"
            groups.append(Group(say(key, layer=index + 1), tuple(steps)))
        return groups

    # --- assembly ---------------------------------------------------------------------------

    def build(self) -> Derivation:
        values = self.arrays
        forward = self.forward(values)
        loss_steps, loss = self.loss_steps(values)
        backward = self.backward(values)
        state = self.optimizer_state()
        update = update_steps(self, values, state)  # type: ignore[arg-type]
        sections = [
            Section("forward", tuple(forward), say("intro.forward.matrix", samples=self.samples)),
            Section("loss", (Group(None, tuple(loss_steps)),), say("intro.loss")),
            Section("backward", tuple(backward), say("intro.backward.matrix")),
            Section("update", tuple(update), _update_intro(self.network, self.options, state.step)),
        ]
        new_network = self.network.with_parameters(
            [tuple(map(tuple, values[updated(self.W(i))].tolist()))
             for i in range(self.depth)],
            [None if layer.bias is None else tuple(values[updated(self.b(i))][0].tolist())
             for i, layer in enumerate(self.network.layers)])
        again = _MatrixBuilder(new_network, self.xs, self.ys, self.options)
        try:
            again.forward(again.arrays)
            _, loss_after = again.loss_steps(again.arrays)
        except BackpropError as error:
            from backprop_cli.build import after_update

            raise after_update(error, self.network.lr) from None
        printable = {k: (_matrix(v) if isinstance(v, np.ndarray) else v) for k, v in values.items()}
        return Derivation(
            network=self.network, xs=self.xs, ys=self.ys, options=self.options, form="matrix",
            sections=tuple(sections), values=printable, loss=loss, loss_after=loss_after,
            output=tuple(map(tuple, values[self.Yhat].tolist())),
            layers=self.layer_results(values, new_network), parameters=(),
            extra={"optimizer_state": self.state_after(values, state)},
        )

    def layer_results(self, values: Values, new_network: Network) -> tuple[LayerResult, ...]:
        results = []
        for index, layer in enumerate(self.network.layers):
            def rows(node: sp.Basic) -> tuple[tuple[float, ...], ...]:
                return tuple(map(tuple, values[node].tolist()))
            has_bias = layer.bias is not None
            results.append(LayerResult(
                weight=layer.weight, bias=layer.bias,
                z=rows(self.Z(index)), a=rows(self.A(index)),
                grad_weight=rows(Partial(LOSS, self.W(index))),
                grad_bias=tuple(values[Partial(LOSS, self.b(index))][0].tolist()) if has_bias else None,
                new_weight=new_network.layers[index].weight, new_bias=new_network.layers[index].bias))
        return tuple(results)


def _update_intro(network: Network, options: Options, step: int) -> Message:
    optimizer = network.optimizer
    lr = format_number(network.lr, options.precision)
    if optimizer.name == "momentum":
        return say("intro.update.momentum", lr=lr, momentum=optimizer.momentum)
    if optimizer.name == "adam":
        return say("intro.update.adam", lr=lr, beta1=optimizer.beta1, beta2=optimizer.beta2,
                   eps=optimizer.eps, t=step)
    return say("intro.update", lr=lr)


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


def _activation(name: str, index: int) -> functions.Activation | functions.Softmax:
    from backprop_cli.build import _activation as resolve_activation

    return resolve_activation(name, index)
