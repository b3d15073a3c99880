"""Building the derivation of one training step (scalar form: one line per weight and unit).

(The module DESIGN.md calls derive.py: the name ``backprop_cli.derive`` is the Python API's function.)

The page follows the seed's order and notation: weighted sums z and activations layer by layer,
the loss, then from the output back δ = ∂𝓛/∂z, the gradient of every weight and bias by the chain
rule (a hidden unit's ∂𝓛/∂a summed over the paths through the layer above, reusing its δ), and
the update of every parameter. Every line is a sympy expression over node symbols; its value is
computed from that same expression, so the printed numbers and the value always agree. The cost
grows linearly with the number of parameters: no line expands the whole network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace as replace_step
from typing import Any

import sympy as sp

from backprop_cli import functions, losses
from backprop_cli.derivation import (
    Derivation,
    Group,
    LayerResult,
    Options,
    ParameterRow,
    Section,
    Step,
)
from backprop_cli.errors import BackpropError, DataError, after_update
from backprop_cli.evaluate import Evaluator
from backprop_cli.locales import Message, say
from backprop_cli.locales import name as function_name
from backprop_cli.model import Network, OptimizerSlots, Vector, check_samples
from backprop_cli.notation import ALPHA, LOSS, Node, Partial, add, mul, replace, updated
from backprop_cli.printing import format_given, format_number, round_printed

Values = dict[sp.Basic, float]

MATRIX_WIDTH = 8
"""``--form auto`` uses the matrix form when a layer has more units than this, or a batch."""


def build_derivation(
    network: Network,
    xs: Sequence[Vector],
    ys: Sequence[Vector],
    options: Options | None = None,
    state: OptimizerSlots | None = None,
) -> Derivation:
    """Work out one training step of ``network`` on the samples ``xs``, ``ys``.

    Args:
        network: the network, its loss and optimizer.
        xs: inputs, one tuple per sample.
        ys: targets, one tuple per sample.
        options: precision, rounding, form and language.
        state: the optimizer's state before this step (velocity, moments, updates done);
            None for a fresh optimizer, as ``backprop step`` starts.

    Raises:
        BackpropError: when the samples do not fit the network or the loss.
    """
    options = options or Options()
    check_samples(network, xs, ys)
    if options.rounding not in ("exact", "carry"):
        raise BackpropError(f"rounding: must be exact or carry, not {options.rounding!r}")
    if not 0 <= options.precision <= 15:
        raise BackpropError(f"precision: must be between 0 and 15, got {options.precision}")
    # Clipping and the transposed layout are written in the matrix form: for a network of other kinds
    # than dense layers, ``auto`` picks it then.
    matrix_only = options.clip is not None or options.layout == "transposed"
    auto = "matrix" if matrix_only and options.form == "auto" and not network.scalar_form else options.form
    form = choose_form(network, len(xs), auto)
    check_conventions(options, form, network)
    if options.clip is not None and form != "matrix":
        raise BackpropError("clip: the step shows gradient clipping in the matrix form; add --form matrix")
    if form == "scalar" and not network.scalar_form:
        from backprop_cli.build_kinds import KindsScalarPage

        return KindsScalarPage(network, tuple(xs), tuple(ys), options, state).build()
    if form == "matrix":
        from backprop_cli.build_matrix import build_matrix_derivation

        return build_matrix_derivation(network, tuple(xs), tuple(ys), options, state)
    return _ScalarBuilder(network, tuple(xs), tuple(ys), options, state).build()


LAYOUTS = ("torch", "transposed")
MOMENTUM_FORMS = ("torch", "textbook")


def check_conventions(options: Options, form: str, network: Network) -> None:
    """Refuse a layout or momentum form the page cannot write, naming the fix."""
    if options.layout not in LAYOUTS:
        raise BackpropError(f"layout: must be torch or transposed, not {options.layout!r}")
    if options.momentum_form not in MOMENTUM_FORMS:
        raise BackpropError(f"momentum-form: must be torch or textbook, not {options.momentum_form!r}")
    if options.layout == "transposed" and form == "scalar" and not network.scalar_form:
        raise BackpropError("layout: --layout transposed numbers the weights of dense layers (z = Wᵀx); the"
                            " scalar form of other kinds writes torch's; use --form matrix (Z = AW + b)")


def network_loss(
    network: Network,
    xs: Sequence[Vector],
    ys: Sequence[Vector],
    options: Options | None = None,
) -> float:
    """The loss of ``network`` on the samples: the forward pass and loss lines of the derivation.

    The same code that prints those lines computes this value (``backprop verify`` differentiates
    it numerically, the derivation uses it for the loss after the update).

    Raises:
        BackpropError: when a value is not finite.
    """
    if not network.scalar_form:
        from backprop_cli.build_matrix import MatrixPage

        page = MatrixPage(network, tuple(xs), tuple(ys), options or Options(form="matrix"))
        page.forward(page.arrays)
        return page.loss_steps(page.arrays)[1]
    builder = _ScalarBuilder(network, tuple(xs), tuple(ys), options or Options(form="scalar"))
    for n in range(builder.samples):
        builder.forward(builder.values, n)
    _, loss = builder.loss_value(builder.values)
    return loss


MAX_DERIVED_SAMPLES = 10_000
"""A derived step (``step``, ``verify``, the API's ``derive``) holds every sample's lines, about 6.5 KB
a sample; more samples than this are for ``train``."""
MAX_SCALAR_SIZE = 2_000
"""Parameters × samples above which ``--form scalar`` is refused (the page would run to thousands
of lines; 784-128-10 wrote 45 MB); ``auto`` picks the matrix form long before."""


def choose_form(network: Network, samples: int, form: str) -> str:
    """``scalar`` or ``matrix``: what ``--form auto`` picks, or the form asked for."""
    if form not in ("auto", "scalar", "matrix"):
        raise BackpropError(f"form: must be scalar, matrix or auto, not {form!r}")
    if samples > MAX_DERIVED_SAMPLES:
        raise BackpropError(f"data: {samples:,} samples is more than the {MAX_DERIVED_SAMPLES:,} one derived step"
                            " shows; use backprop train for many samples, or a smaller data file")
    if form == "scalar" and network.parameter_count * samples > MAX_SCALAR_SIZE:
        raise BackpropError(
            f"form: the scalar form writes a line for every weight and unit of every sample;"
            f" {network.parameter_count:,} parameters × {samples:,} sample(s) is more than its"
            f" {MAX_SCALAR_SIZE:,}. Use --form matrix")
    if not network.scalar_form and form == "auto":
        # A tiny recurrent network (one sample, a few units and steps) reads best unit by unit.
        small = samples == 1 and max(network.widths) <= MATRIX_WIDTH
        return "scalar" if small and all(layer.scalar_auto() for layer in network.layers) else "matrix"
    if form != "auto":
        return form
    if samples > 1 or max(network.widths) > MATRIX_WIDTH:
        return "matrix"
    return "scalar"


def _sum(terms: Sequence[sp.Basic]) -> sp.Basic:
    return add(*terms)


class _ScalarBuilder:
    def __init__(self, network: Network, xs: tuple[Vector, ...], ys: tuple[Vector, ...],
                 options: Options, state: OptimizerSlots | None = None) -> None:
        self.network = network
        self.xs, self.ys = xs, ys
        self.options = options
        self.carry = options.rounding == "carry"
        self.samples = len(xs)
        self.outputs = network.outputs
        self.layers = network.dense_layers
        self.activations = [functions.layer_activation(layer.activation, i) for i, layer in enumerate(self.layers)]
        self.loss = losses.of(network)
        self.fused = self.loss.fused
        # Per-sample loss ℓ = elements / sample_divisor; 𝓛 = Σ ℓ / combine.
        self.sample_divisor = self.loss.divisor(1, self.outputs)
        self.combine = self.loss.divisor(self.samples, self.outputs) // self.sample_divisor
        self.values: Values = {ALPHA: network.lr}
        self.weights: list[list[list[Node]]] = []
        self.biases: list[list[Node] | None] = []
        self.units: list[list[int]] = []
        self.transposed = options.layout == "transposed"
        w = b = u = 0
        for layer in self.layers:
            rows = []
            for j in range(layer.units):
                row = []
                for k in range(layer.inputs):
                    # z = Wx numbers torch's weight row by row; z = Wᵀx numbers Wᵀ row by row, input by input.
                    row.append(Node("W", w + 1 + (k * layer.units + j if self.transposed else j * layer.inputs + k)))
                    self.values[row[-1]] = layer.weight[j][k]
                rows.append(row)
            w += layer.units * layer.inputs
            self.weights.append(rows)
            if layer.bias is not None:
                nodes = []
                for j in range(layer.units):
                    b += 1
                    nodes.append(Node("b", b))
                    self.values[nodes[-1]] = layer.bias[j]
                self.biases.append(nodes)
            else:
                self.biases.append(None)
            self.units.append(list(range(u + 1, u + layer.units + 1)))
            u += layer.units
        from backprop_cli.optimizers.lines import state_by_symbol

        self.state = state_by_symbol(state, self.weights, self.biases)

    # --- names ------------------------------------------------------------------------------

    def _mark(self, n: int) -> int | None:
        return n + 1 if self.samples > 1 else None

    def x(self, k: int, n: int) -> Node:
        return Node("x", k + 1 if self.network.inputs > 1 else None, sample=self._mark(n))

    def y(self, k: int, n: int) -> Node:
        return Node("y", k + 1 if self.outputs > 1 else None, sample=self._mark(n))

    def yhat(self, k: int, n: int) -> Node:
        return Node("yhat", k + 1 if self.outputs > 1 else None, sample=self._mark(n))

    def z(self, layer: int, j: int, n: int) -> Node:
        return Node("z", self.units[layer][j], sample=self._mark(n))

    def a(self, layer: int, j: int, n: int) -> Node:
        if layer == len(self.layers) - 1:
            return self.yhat(j, n)
        return Node(self.activations[layer].glyph, self.units[layer][j], sample=self._mark(n))

    def unit_symbol(self, layer: int, j: int, n: int) -> Node:
        """σ₃ for an output unit: the name the forward pass gives it before calling it ŷ."""
        return Node(self.activations[layer].glyph, self.units[layer][j], sample=self._mark(n))

    def delta(self, layer: int, j: int, n: int) -> Node:
        return Node("delta", self.units[layer][j], sample=self._mark(n))

    def sample_loss(self, n: int) -> Node:
        return LOSS if self.samples == 1 else Node("ell", sample=n + 1)

    def inputs_of(self, layer: int, n: int) -> list[Node]:
        if layer == 0:
            return [self.x(k, n) for k in range(self.network.inputs)]
        return [self.a(layer - 1, k, n) for k in range(self.layers[layer - 1].units)]

    # --- recording --------------------------------------------------------------------------

    def record(self, values: Values, target: sp.Basic, forms: tuple[sp.Basic, ...], *,
               value: float | None = None, also: tuple[sp.Basic, ...] = (),
               lead: tuple[sp.Basic, ...] = (), substitute: bool = True,
               note: Message | None = None, numeric: sp.Basic | None = None, **evaluator: Any) -> Step:
        if value is None:
            value = Evaluator(values, **evaluator)(forms[-1])
        if not math.isfinite(value):
            raise BackpropError(
                f"{_text(target)} comes out as {value} ({_text(forms[-1])} with"
                f" {_text(forms[-1], values)}): the network's functions are not defined or"
                " overflow there; try smaller weights, inputs or learning rate, or another activation")
        if self.carry:
            value = round_printed(value, self.options.precision)
        for name in (target, *also, *lead):
            values[name] = value
        return Step(target, forms, value, lead, substitute, note, numeric)

    # --- forward ----------------------------------------------------------------------------

    def forward(self, values: Values, n: int) -> list[Group]:
        groups = []
        for k in range(self.network.inputs):
            values[self.x(k, n)] = self.xs[n][k]
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            steps = []
            inputs = self.inputs_of(index, n)
            zs = [self.z(index, j, n) for j in range(layer.units)]
            for j, z in enumerate(zs):
                terms: list[sp.Basic] = [mul(self.weights[index][j][k], inputs[k])
                                         for k in range(layer.inputs)]
                bias = self.biases[index]
                if bias is not None:
                    terms.append(bias[j])
                steps.append(self.record(values, z, (_sum(terms),)))
            activation = self.activations[index]
            softmax = (activation.values([values[z] for z in zs])
                       if isinstance(activation, functions.Softmax) else None)
            for j, z in enumerate(zs):
                numeric = None
                if isinstance(activation, functions.Softmax):
                    assert softmax is not None
                    expr, value, numeric = activation.apply(zs, j), softmax[j], activation.stable(zs, j)
                else:
                    expr, value = activation.apply(z), None
                if index == last:
                    unit = self.unit_symbol(index, j, n)
                    steps.append(self.record(values, unit, (expr,), value=value,
                                             lead=(self.yhat(j, n),), numeric=numeric))
                else:
                    steps.append(self.record(values, self.a(index, j, n), (expr,), value=value,
                                             numeric=numeric))
            title_key = "group.output_layer" if index == last else "group.layer"
            groups.append(Group(say(title_key, layer=index + 1, inputs=layer.inputs,
                                    units=layer.units, activation=function_name(activation.name)), tuple(steps)))
        return groups

    def check_predictions(self, values: Values, n: int) -> None:
        if not self.loss.needs_probabilities:
            return
        for k in range(self.outputs):
            value = values[self.yhat(k, n)]
            if not 0.0 <= value <= 1.0:
                raise DataError(
                    f"bce needs predictions in [0, 1] but ŷ = {format_number(value, 4)} comes out"
                    f" of {self.layers[-1].activation}; use sigmoid on the output layer"
                    " or another loss"
                )

    def sample_loss_step(self, values: Values, n: int) -> Step:
        pairs = [(self.yhat(k, n), self.y(k, n)) for k in range(self.outputs)]
        for k in range(self.outputs):
            values[self.y(k, n)] = self.ys[n][k]
        expr = self.loss.total(pairs, self.sample_divisor)
        value = None
        numeric = self.loss.clamped(expr)
        if self.fused:
            # PyTorch's cross_entropy works from the logits: log softmax, not log of softmax.
            last = len(self.layers) - 1
            zs = [self.z(last, j, n) for j in range(self.outputs)]
            numeric = functions.SOFTMAX.cross_entropy(zs, [y for _, y in pairs], self.sample_divisor)
            if not self.carry:
                logs = functions.ROW_WISE["log_softmax"].values([values[z] for z in zs])
                value = -sum(self.ys[n][k] * logs[k] for k in range(self.outputs)) / self.sample_divisor
        step = self.record(values, self.sample_loss(n), (expr,), value=value,
                           log_floor=self.loss.log_floor, numeric=numeric if numeric != expr else None)
        if self.loss.probabilities:
            step = replace_step(step, reduced=self.worked(expr, {y: values[y] for _, y in pairs}, values))
        return step

    def worked(self, expr: sp.Basic, targets: dict[Node, float], values: Values) -> sp.Basic | None:
        """The loss's numbers one line further, where a target of 0 or 1 removes a term: the seed's
        −(0 log(0.4154) + (1 − 0) log(1 − 0.4154)) = −log(0.5846); None where none drops out."""
        known = {y: sp.Integer(int(v)) if v == int(v) else sp.Float(v) for y, v in targets.items()}
        reduced = expr.xreplace(known)  # evaluated: 0 · log(ŷ) vanishes, (1 − 0) is 1
        if len(reduced.atoms(sp.log)) >= len(expr.atoms(sp.log)):
            return None
        arguments = {}
        for log in reduced.atoms(sp.log):
            if not isinstance(log.args[0], Node):
                # log(1 − ŷ) is written with the number 1 − ŷ is: log(0.5846).
                value = Evaluator(values)(log.args[0])
                number = sp.Dummy("worked")
                values[number] = round_printed(value, self.options.precision) if self.carry else value
                arguments[log] = sp.log(number, evaluate=False)
        return reduced.xreplace(arguments)

    def total_loss_step(self, values: Values) -> Step:
        body = add(*(self.sample_loss(n) for n in range(self.samples)))
        expr = body if self.combine == 1 else mul(sp.Rational(1, self.combine), body)
        return self.record(values, LOSS, (expr,))

    def loss_value(self, values: Values) -> tuple[list[Group], float]:
        """The loss section, and the loss."""
        steps = [self.sample_loss_step(values, n) for n in range(self.samples)]
        if self.samples > 1:
            steps.append(self.total_loss_step(values))
        return [Group(None, tuple(steps))], values[LOSS]

    # --- backward ---------------------------------------------------------------------------

    def output_deltas(self, values: Values, n: int) -> list[Step]:
        last = len(self.layers) - 1
        activation = self.activations[last]
        loss_n = self.sample_loss(n)
        ys = [self.y(k, n) for k in range(self.outputs)]
        yhats = [self.yhat(k, n) for k in range(self.outputs)]
        zs = [self.z(last, j, n) for j in range(self.outputs)]
        steps = []
        if self.fused:
            assert isinstance(activation, functions.Softmax)
            _, ps, placeholders = activation._symbols(self.outputs)
            deltas = general = activation.fused_delta(self.loss, self.outputs, self.sample_divisor)
            note = None
            if math.isclose(sum(self.ys[n]), 1.0, rel_tol=0, abs_tol=1e-12) and self.outputs > 1:
                total = sp.Add(*placeholders)
                deltas = tuple(d.xreplace({total: sp.S.One}) for d in deltas)
                note = say("note.sum_to_one", total=" + ".join(
                    _text(y) for y in ys))
            mapping = dict(zip(ps, yhats, strict=True)) | dict(zip(placeholders, ys, strict=True))
            for i in range(self.outputs):
                # The targets summing to one is a fact of this sample: what runs keeps the general form.
                numeric = None if note is None else replace(functions.tidy(general[i]), mapping)
                steps.append(self.record(
                    values, self.delta(last, i, n),
                    (Partial(loss_n, zs[i]), replace(functions.tidy(deltas[i]), mapping)),
                    also=(Partial(loss_n, zs[i]),), note=note if i == 0 else None, numeric=numeric))
            return steps
        derivative = self.loss.derivative(self.sample_divisor)
        for k in range(self.outputs):
            expr = replace(derivative, {functions.YHAT: yhats[k], functions.Y: ys[k]})
            numeric = self.loss.clamped(expr)
            steps.append(self.record(values, Partial(loss_n, yhats[k]), (expr,),
                                     denominator_floor=self.loss.denominator_floor,
                                     numeric=numeric if numeric != expr else None))
        if isinstance(activation, functions.Softmax):
            _, ps, _ = activation._symbols(self.outputs)
            jacobian = activation.jacobian(self.outputs)
            mapping = dict(zip(ps, yhats, strict=True))
            for i in range(self.outputs):
                for k in range(self.outputs):
                    steps.append(self.record(values, Partial(yhats[k], zs[i]),
                                             (replace(jacobian[k][i], mapping),)))
            for i in range(self.outputs):
                chain = _sum([mul(Partial(loss_n, yhats[k]), Partial(yhats[k], zs[i]))
                              for k in range(self.outputs)])
                steps.append(self.record(values, self.delta(last, i, n),
                                         (Partial(loss_n, zs[i]), chain),
                                         also=(Partial(loss_n, zs[i]),)))
            return steps
        for j in range(self.outputs):
            steps.append(self.record(values, Partial(yhats[j], zs[j]),
                                     (activation.local_derivative(zs[j], yhats[j]),)))
            chain = mul(Partial(loss_n, yhats[j]), Partial(yhats[j], zs[j]))
            steps.append(self.record(values, self.delta(last, j, n),
                                     (Partial(loss_n, zs[j]), chain),
                                     also=(Partial(loss_n, zs[j]),)))
        return steps

    def hidden_deltas(self, values: Values, index: int, n: int) -> list[Step]:
        loss_n = self.sample_loss(n)
        above = self.layers[index + 1]
        activation = self.activations[index]
        steps = []
        for k in range(self.layers[index].units):
            a = self.a(index, k, n)
            z = self.z(index, k, n)
            paths = [mul(Partial(loss_n, self.z(index + 1, j, n)), Partial(self.z(index + 1, j, n), a))
                     for j in range(above.units)]
            local = [mul(self.delta(index + 1, j, n), self.weights[index + 1][j][k])
                     for j in range(above.units)]
            steps.append(self.record(values, Partial(loss_n, a), (_sum(paths), _sum(local))))
            assert isinstance(activation, functions.Activation)
            steps.append(self.record(values, Partial(a, z), (activation.local_derivative(z, a),)))
            steps.append(self.record(values, self.delta(index, k, n),
                                     (Partial(loss_n, z), mul(Partial(loss_n, a), Partial(a, z))),
                                     also=(Partial(loss_n, z),)))
        return steps

    def gradients(self, values: Values, index: int, n: int) -> list[Step]:
        loss_n = self.sample_loss(n)
        inputs = self.inputs_of(index, n)
        steps = []
        layer = self.layers[index]
        for j in range(layer.units):
            z = self.z(index, j, n)
            delta = self.delta(index, j, n)
            for k in range(layer.inputs):
                weight = self.weights[index][j][k]
                steps.append(self.record(
                    values, Partial(loss_n, weight),
                    (mul(Partial(loss_n, z), Partial(z, weight)), mul(delta, inputs[k]))))
            bias = self.biases[index]
            if bias is not None:
                steps.append(self.record(
                    values, Partial(loss_n, bias[j]),
                    (mul(Partial(loss_n, z), Partial(z, bias[j])), delta), substitute=False))
        return steps

    def backward(self, values: Values, n: int) -> list[Group]:
        groups = []
        last = len(self.layers) - 1
        prefix = {"sample": n + 1} if self.samples > 1 else {}
        for index in range(last, -1, -1):
            steps = self.output_deltas(values, n) if index == last else self.hidden_deltas(values, index, n)
            steps += self.gradients(values, index, n)
            key = "group.output_delta" if index == last else "group.hidden_delta"
            title = say(key + (".sample" if prefix else ""), layer=index + 1, **prefix)
            groups.append(Group(title, tuple(steps)))
        return groups

    def parameters(self) -> list[tuple[int, Node, bool]]:
        """(layer, symbol, is a frozen bias) for every parameter, in update order."""
        out: list[tuple[int, Node, bool]] = []
        for index, layer in enumerate(self.layers):
            rows = self.weights[index]
            for row in (list(zip(*rows, strict=True)) if self.transposed else rows):
                out.extend((index, w, False) for w in row)
            bias = self.biases[index]
            if bias is not None:
                out.extend((index, b, layer.freeze_bias) for b in bias)
        return out

    def batch_gradients(self, values: Values) -> list[Group]:
        steps = []
        for _, symbol, _ in self.parameters():
            body = add(*(Partial(self.sample_loss(n), symbol) for n in range(self.samples)))
            expr = body if self.combine == 1 else mul(sp.Rational(1, self.combine), body)
            steps.append(self.record(values, Partial(LOSS, symbol), (expr,)))
        return [Group(None, tuple(steps))]

    # --- update -----------------------------------------------------------------------------

    def update(self, values: Values) -> list[Group]:
        from backprop_cli.optimizers.lines import update_steps

        return update_steps(self, values, self.state)

    # --- assembly ---------------------------------------------------------------------------

    def build(self) -> Derivation:
        values = self.values
        forward_groups: list[Group] = []
        for n in range(self.samples):
            groups = self.forward(values, n)
            self.check_predictions(values, n)
            if self.samples > 1:
                groups = [Group(say("group.sample", sample=n + 1, x=_vector(self.xs[n]),
                                    y=_vector(self.ys[n])), ())] + groups
            forward_groups += groups
        loss_groups, loss = self.loss_value(values)
        backward_groups: list[Group] = []
        for n in range(self.samples):
            backward_groups += self.backward(values, n)
        if not self.options.brief:
            from backprop_cli.why import annotate_backward

            backward_groups = annotate_backward(self, backward_groups, values)
        sections = [
            Section("forward", tuple(forward_groups), say("intro.forward.transposed" if self.transposed
                                                          else "intro.forward")),
            Section("loss", tuple(loss_groups), say("intro.loss")),
            Section("backward", tuple(backward_groups), say("intro.backward")),
        ]
        if self.samples > 1:
            sections.append(Section("batch", tuple(self.batch_gradients(values)), say("intro.batch")))
        update_groups = self.update(values)
        sections.append(Section("update", tuple(update_groups), self.update_intro()))
        new_network = self.updated_network(values)
        loss_after = self.loss_after(new_network)
        return Derivation(
            network=self.network, xs=self.xs, ys=self.ys, options=self.options, form="scalar",
            sections=tuple(sections), values=values, loss=loss, loss_after=loss_after,
            output=tuple(tuple(values[self.yhat(k, n)] for k in range(self.outputs))
                         for n in range(self.samples)),
            layers=self.layer_results(values, new_network),
            parameters=tuple(
                ParameterRow(symbol, values[symbol], values[Partial(LOSS, symbol)],
                             values[updated(symbol)], frozen)
                for _, symbol, frozen in self.parameters()),
            extra={"symbols": (tuple(tuple(map(tuple, rows)) for rows in self.weights),
                               tuple(None if b is None else tuple(b) for b in self.biases)),
                   "optimizer_state": self.state_after(values), "network_after": new_network,
                   "parameter_symbols": self.parameter_symbols()},
        )

    def parameter_symbols(self) -> dict[tuple[tuple[int, ...], str], Any]:
        """Each layer's weight and bias symbols, by (path, name), shaped as the values."""
        out: dict[tuple[tuple[int, ...], str], Any] = {}
        for index, (rows, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[((index,), "weight")] = tuple(tuple(row) for row in rows)
            if bias is not None:
                out[((index,), "bias")] = tuple(bias)
        return out

    def state_after(self, values: Values) -> OptimizerSlots:
        """The optimizer's state after this step, for the step after it."""
        from backprop_cli.optimizers.lines import slots_after

        return slots_after(self.network.optimizer, self.state.step, values, self.weights, self.biases)

    def update_intro(self) -> Message:
        optimizer = self.network.optimizer
        return optimizer.rule.page_intro(optimizer, format_given(self.network.lr), self.state.step, self.options)

    def updated_network(self, values: Values) -> Network:
        weights = [tuple(tuple(values[updated(w)] for w in row) for row in rows) for rows in self.weights]
        biases = [None if b is None else tuple(values[updated(node)] for node in b) for b in self.biases]
        return self.network.with_parameters(weights, biases)

    def loss_after(self, network: Network) -> float:
        try:
            return network_loss(network, self.xs, self.ys, self.options)
        except BackpropError as error:
            raise after_update(error, self.network.lr) from None

    def layer_results(self, values: Values, new_network: Network) -> tuple[LayerResult, ...]:
        results = []
        for index, layer in enumerate(self.layers):
            new_layer = new_network.dense_layers[index]
            bias = self.biases[index]
            results.append(LayerResult(
                weight=layer.weight,
                bias=layer.bias,
                z=tuple(tuple(values[self.z(index, j, n)] for j in range(layer.units))
                        for n in range(self.samples)),
                a=tuple(tuple(values[self.a(index, j, n)] for j in range(layer.units))
                        for n in range(self.samples)),
                grad_weight=tuple(tuple(values[Partial(LOSS, w)] for w in row)
                                  for row in self.weights[index]),
                grad_bias=None if bias is None else tuple(values[Partial(LOSS, b)] for b in bias),
                new_weight=new_layer.weight,
                new_bias=new_layer.bias,
            ))
        return tuple(results)


def _text(expr: sp.Basic, values: Values | None = None) -> str:
    from backprop_cli.printing import to_text

    return to_text(expr, values)


def _vector(values: Sequence[float]) -> str:
    return "(" + ", ".join(format_number(v, 4) for v in values) + ")"
