"""The compiled engine: the derivation's own lines, compiled into one straight-line function.

``backprop step`` prints a training step as lines ``target = expression`` (forward pass, loss,
δ by the chain rule, gradients, the optimizer's update). This engine takes those very lines (their
``Step.definition``: the printed form, or the numerically safe form PyTorch computes), renames
their symbols to Python variables, shares common subexpressions (``sympy.cse``) and prints them as
one Python function that runs the whole epoch loop.

Two modes:

- **floats**, for small problems without shuffling: every sample of every batch is unrolled, the
  data are constants in the code, parameters are local variables. Python floats raise on overflow
  where IEEE arithmetic (and PyTorch) gives inf; an epoch that raises is run again from its start
  over numpy float64 scalars, which give the IEEE results, and the fast loop goes on.
- **arrays**: one sample's lines over numpy arrays of the batch's samples (columns), the batch
  gradient ``Σₙ δₙ xₙ`` as a dot product.
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from typing import Any

import sympy as sp

from backprop_cli import losses
from backprop_cli.build import build_derivation
from backprop_cli.derivation import Derivation, Options, Step
from backprop_cli.engines import COMPILED_LIMIT
from backprop_cli.engines.base import Engine, EngineSettings, Logged, batch_bounds
from backprop_cli.engines.codegen import (
    SCALAR,
    ArrayPrinter,
    ScalarPrinter,
    array_functions,
    compile_source,
    dot,
    emit,
    scalar_ieee,
    total,
)
from backprop_cli.errors import BackpropError
from backprop_cli.model import Network, OptimizerSlots, Vector
from backprop_cli.notation import LOSS, Node, Partial, State, at_time, updated
from backprop_cli.optimizers.lines import STEP

INDENT = "        "


class _Lines:
    """A derivation's lines as assignments to code variables, by section."""

    def __init__(self, derivation: Derivation, names: dict[sp.Basic, sp.Basic], block: str,
                 data: dict[sp.Basic, sp.Basic] | None = None) -> None:
        self.derivation = derivation
        self.names = dict(names)
        if data:
            self.names.update(data)
        self.block = block
        self.count = 0
        self.sections: dict[str, list[tuple[sp.Symbol, sp.Basic]]] = {}
        self.outputs: list[sp.Basic] = []
        self.owner: dict[sp.Basic, sp.Basic] = {}
        """The target of the line that created each variable (aliases create none)."""
        for section in derivation.sections:
            out = self.sections.setdefault(section.key, [])
            for group in section.groups:
                for step in group.steps:
                    assert isinstance(step, Step), "the compiled engine works from the scalar form"
                    self.add(step, out)

    def variable(self) -> sp.Symbol:
        self.count += 1
        return sp.Symbol(f"{self.block}{self.count}")

    def code(self, expr: sp.Basic) -> sp.Basic:
        """``expr`` in code variables; a value the derivation was given becomes a constant."""
        mapping: dict[sp.Basic, sp.Basic] = {}
        for atom in _atoms(expr):
            if atom in self.names:
                mapping[atom] = self.names[atom]
            elif atom in self.derivation.values:
                mapping[atom] = _constant(self.derivation.values[atom])
            else:
                raise RuntimeError(f"compiled engine: no value for {atom}")
        return expr.xreplace(mapping)

    def add(self, step: Step, out: list[tuple[sp.Symbol, sp.Basic]]) -> None:
        expr = self.code(step.definition)
        aliases = [step.target, *step.lead, *(f for f in step.forms[:-1] if isinstance(f, (Node, Partial, State)))]
        if isinstance(expr, sp.Symbol):
            variable = expr
        else:
            variable = self.variable()
            out.append((variable, expr))
            self.owner[variable] = step.target
        for alias in aliases:
            self.names[alias] = variable
        if any(isinstance(name, Node) and name.glyph.base == "yhat" for name in (step.target, *step.lead)):
            self.outputs.append(variable)

    def get(self, symbol: sp.Basic) -> sp.Basic:
        return self.names[symbol]


def _atoms(expr: sp.Basic) -> set[sp.Basic]:
    """The derivation's named quantities in ``expr`` (nodes, partials, optimizer states)."""
    found: set[sp.Basic] = set()

    def walk(node: sp.Basic) -> None:
        if isinstance(node, (Node, Partial, State)):
            found.add(node)
        elif isinstance(node, sp.Symbol):
            raise RuntimeError(f"compiled engine: unexpected symbol {node}")
        else:
            for arg in node.args:
                walk(arg)

    walk(expr)
    return found


def _constant(value: float) -> sp.Number:
    """A given value as a constant of the code: whole numbers exact (x·1 folds to x), others the
    same float64 (sympy's 53-bit Float, so constant folding rounds as IEEE does)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 2**53:
        return sp.Integer(int(value))
    return sp.Float(value)


class CompiledEngine(Engine):
    """The derivation's lines compiled into one function; see the module's docstring."""

    name = "compiled"
    dtypes = ("float64",)
    unrolls = True
    """Small problems get every sample of every batch unrolled over Python floats (``floats``)."""

    def __init__(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
                 settings: EngineSettings) -> None:
        super().__init__(network, xs, ys, settings)
        if settings.schedule is not None or settings.clip is not None:
            raise BackpropError(f"backend: the {self.name} engine compiles the learning rate and the update into"
                                " its code; --schedule and --clip-norm/--clip-value run on --backend numpy"
                                " or torch (auto picks numpy)")
        declined = sorted({layer.kind for layer in network.layers if not layer.compiles})
        if declined:
            raise BackpropError(f"backend: the compiled engine does not compile {', '.join(declined)} layers (their"
                                " lines grow with every time step); use --backend numpy or torch (auto picks numpy)")
        self.xs, self.ys = tuple(xs), tuple(ys)
        self.floats = (self.unrolls and settings.order is None
                       and len(xs) * network.parameter_count <= COMPILED_LIMIT)
        if not network.scalar_form:
            # Kinds beyond dense: their scalar page works the whole batch at once (batch norm's
            # statistics, dropout's mask rows), compiled straight.
            if not self.full_batch or settings.order is not None:
                raise BackpropError("backend: the compiled engine trains layers beyond dense on the whole batch at"
                                    " once; for batches use --backend numpy or torch")
            self.floats = True
        self.optimizer = network.optimizer
        slots = network.optimizer.rule.slots(network.optimizer)
        self.bounds = batch_bounds(self.samples, settings.batch_size)
        lo, hi = self.bounds[0] if self.floats else (0, 1)
        try:
            first = self._derivation(lo, hi)
        except BackpropError as error:
            if not str(error).startswith("form:"):
                raise
            raise BackpropError("backend: the compiled engine compiles the network's scalar page, and this"
                                " network's is too long for it; use --backend numpy or torch (auto picks"
                                " numpy)") from None
        self.parameter_symbols: dict[tuple[tuple[int, ...], str], Any] = first.extra["parameter_symbols"]
        self.buffer_symbols: dict[tuple[tuple[int, ...], str], list[tuple[Any, Any]]] = first.extra.get(
            "buffer_symbols", {})
        self._buffers = [pair for pairs in self.buffer_symbols.values() for pair in pairs]
        self._parameters = [row.symbol for row in first.parameters]
        frozen = {row.symbol for row in first.parameters if row.frozen}
        self._slots = [State(kind, p, times[0]) for kind, times in slots.items()
                       for p in self._parameters if p not in frozen]
        self._counter = network.optimizer.rule.counts_steps
        self.names: dict[sp.Basic, sp.Basic] = {}
        for i, parameter in enumerate(self._parameters):
            self.names[parameter] = self.names[at_time(parameter)] = sp.Symbol(f"p{i}")
        for i, slot in enumerate(self._slots):
            self.names[slot] = sp.Symbol(f"s{i}")
        for i, (before, _) in enumerate(self._buffers):
            self.names[before] = sp.Symbol(f"r{i}")
        if self._counter:
            self.names[STEP] = sp.Symbol("t")
        self.state_names = ", ".join(str(self.names[s]) for s in (
            *self._parameters, *self._slots, *(before for before, _ in self._buffers),
            *((STEP,) if self._counter else ())))
        self.state: tuple[Any, ...] = (
            *(first.values[p] for p in self._parameters), *(0.0 for _ in self._slots),
            *(first.values[before] for before, _ in self._buffers), *((1,) if self._counter else ()))
        self._ieee_functions: dict[str, Any] | None = None
        self.epochs_done = 0
        if self.floats:
            self._build_floats(first)
        else:
            self._build_arrays(first)

    # --- building -------------------------------------------------------------------------

    def _derivation(self, lo: int, hi: int) -> Derivation:
        return build_derivation(self.network, self.xs[lo:hi], self.ys[lo:hi], Options(form="scalar"))

    def _commit(self, lines: _Lines, indent: str = INDENT) -> list[str]:
        """Assignments that carry the step's results into the state variables."""
        out = []
        for parameter in self._parameters:
            new = lines.get(updated(parameter))
            if new != self.names[parameter]:
                out.append(f"{indent}{self.names[parameter]} = {new}")
        for slot in self._slots:
            kind = slot.kind.glyph.base
            after = State(kind, slot.parameter, self.optimizer.rule.slots(self.optimizer)[kind][1])
            out.append(f"{indent}{self.names[slot]} = {lines.get(after)}")
        for before, after in self._buffers:
            out.append(f"{indent}{self.names[before]} = {lines.get(after)}")
        if self._counter:
            out.append(f"{indent}t = t + 1")
        return out

    def _source(self, body: list[str], evaluate: list[str], data: str = "") -> str:
        """``train`` (the epoch loop around ``body``) and ``evaluate`` (loss and outputs)."""
        state = f"({self.state_names},)"
        order = ", order" if data else ""
        return "\n".join([
            f"def train(state, start, count, logged, stop{order}{data}):",
            f"    {self.state_names}, = state",
            "    losses = []",
            "    for epoch in range(start, start + count):",
            *body,
            "        if stop[0]:",
            f"            return {state}, losses, epoch - start + 1, False",
            f"    return {state}, losses, count, False",
            "",
            f"def evaluate(state{data}):",
            f"    {self.state_names}, = state",
            *evaluate,
            ""])

    def _build_floats(self, first: Derivation) -> None:
        printer = ScalarPrinter()
        body: list[str] = []
        inner = INDENT + "    "
        if len(self.bounds) == 1:
            every = lines = _Lines(first, self.names, "v")
            body += emit(lines.sections["forward"], printer, "f", inner)
            body += [f"{inner}if epoch in logged:"]
            body += emit(lines.sections["loss"], printer, "l", inner + "    ")
            body += [f"{inner}    losses.append((epoch, {lines.get(LOSS)}))"]
            body += emit(_after_loss(lines), printer, "b", inner)
            body += self._commit(lines, inner)
            resume = f"({self.state_names},)"
        else:
            # The history's loss is over all the data, before the epoch's first update.
            every = _Lines(self._derivation(0, self.samples), self.names, "e")
            body += [f"{inner}saved = ({self.state_names},)", f"{inner}if epoch in logged:"]
            body += emit(every.sections["forward"] + every.sections["loss"], printer, "l", inner + "    ")
            body += [f"{inner}    losses.append((epoch, {every.get(LOSS)}))"]
            for index, (lo, hi) in enumerate(self.bounds):
                derivation = first if index == 0 else self._derivation(lo, hi)
                lines = _Lines(derivation, self.names, f"v{index}_")
                body += emit(lines.sections["forward"] + _after_loss(lines), printer, f"b{index}_", inner)
                body += self._commit(lines, inner)
            resume = "saved"
        guarded = [f"{INDENT}try:", *body,
                   f"{INDENT}except (ArithmeticError, ValueError):",
                   f"{INDENT}    if losses and losses[-1][0] == epoch:",
                   f"{INDENT}        losses.pop()",
                   f"{INDENT}    return {resume}, losses, epoch - start, True"]
        evaluate = emit(every.sections["forward"] + every.sections["loss"], printer, "f", "    ")
        evaluate += [f"    return {every.get(LOSS)}, ({', '.join(map(str, every.outputs))},)"]
        self._compile(self._source(guarded, evaluate), dict(SCALAR))

    def _build_arrays(self, first: Derivation) -> None:
        import numpy as np

        printer = ArrayPrinter()
        x = np.asarray(self.xs, dtype=np.float64).reshape(self.samples, -1)
        y = np.asarray(self.ys, dtype=np.float64).reshape(self.samples, -1)
        self.columns = [np.ascontiguousarray(column) for column in (*x.T, *y.T)]
        data = {node: sp.Symbol(f"d{i}") for i, node in enumerate(_data_nodes(first))}
        assert len(data) == len(self.columns), "a column for every input and target"
        lines = _Lines(first, self.names, "v", data)
        inverse = sp.Symbol("inv")
        # In one sample's lines ∂𝓛/∂θ is that sample's gradient; the update uses the batch's sum.
        backward = lines.sections["backward"]
        definitions = dict(backward)
        batch: dict[sp.Basic, sp.Basic] = {}
        gradients, dropped = [], set()
        for i, parameter in enumerate(self._parameters):
            target = Partial(LOSS, parameter)
            per_sample = lines.get(target)
            batch[per_sample] = sp.Symbol(f"g{i}")
            if lines.owner.get(per_sample) == target:
                # A line of its own (δ × input): only its batch sum is needed, as a dot product.
                gradients.append((batch[per_sample], _reduce(definitions[per_sample], inverse)))
                dropped.add(per_sample)
            else:
                # Another line's variable (∂𝓛/∂b = δ): its batch sum.
                gradients.append((batch[per_sample], _reduce(per_sample, inverse)))
        step = [line for line in backward if line[0] not in dropped] + gradients + [
            (variable, expr.xreplace(batch)) for variable, expr in lines.sections["update"]]
        loss = lines.sections["loss"] + [(sp.Symbol("L"), total(lines.get(LOSS)) * inverse)]
        mean = losses.of(self.network).reduction != "sum"
        inverse_line = "inv = 1.0 / len(d0)" if mean else "inv = 1.0"
        names = ", ".join(f"d{i}" for i in range(len(self.columns)))
        columns = ", ".join(f"D{i}" for i in range(len(self.columns)))
        body: list[str]
        if self.full_batch and self.settings.order is None:
            body = [f"{INDENT}{names}, = {columns},", f"{INDENT}{inverse_line}"]
            body += emit(lines.sections["forward"], printer, "f", INDENT)
            body += [f"{INDENT}if epoch in logged:"]
            body += emit(loss, printer, "l", INDENT + "    ")
            body += [f"{INDENT}    losses.append((epoch, float(L)))"]
            body += emit(step, printer, "b", INDENT) + self._commit(lines)
        else:
            size, inner = self.settings.batch_size, INDENT + "    "
            body = [f"{INDENT}if epoch in logged:",
                    f"{INDENT}    losses.append((epoch, evaluate(({self.state_names},), {columns})[0]))",
                    f"{INDENT}perm = order(epoch) if order is not None else None",
                    f"{INDENT}for lo in range(0, {self.samples}, {size}):",
                    f"{inner}index = perm[lo:lo + {size}] if perm is not None else slice(lo, lo + {size})",
                    f"{inner}{names}, = " + ", ".join(f"D{i}[index]" for i in range(len(self.columns))) + ",",
                    f"{inner}{inverse_line}",
                    *emit(lines.sections["forward"], printer, "f", inner),
                    *emit(step, printer, "b", inner), *self._commit(lines, inner)]
        evaluate = [f"    {names}, = {columns},", f"    {inverse_line}"]
        evaluate += emit(lines.sections["forward"] + loss, printer, "f", "    ")
        evaluate += [f"    return float(L), ({', '.join(map(str, lines.outputs))},)"]
        self._compile(self._source(body, evaluate, ", " + columns), array_functions())

    def _compile(self, source: str, namespace: dict[str, Any]) -> None:
        self.source = source
        self._functions = compile_source(source, namespace)

    # --- running --------------------------------------------------------------------------

    def run(self, start: int, count: int, logged: Container[int], stop: list[bool]) -> tuple[int, Logged]:
        train = self._functions["train"]
        if not self.floats:
            import numpy as np

            with np.errstate(all="ignore"):
                self.state, losses, done, _ = train(self.state, start, count, logged, stop,
                                                    self.settings.order, *self.columns)
            self.epochs_done += done
            return done, [(epoch, float(value)) for epoch, value in losses]
        recorded: Logged = []
        done = 0
        while done < count:
            self.state, losses, ran, failed = train(self.state, start + done, count - done, logged, stop)
            recorded += losses
            done += ran
            if not failed:
                break
            # Python floats raised (overflow, log of 0): this epoch again, with IEEE results.
            losses, ran = self._ieee_epoch(start + done, logged)
            recorded += losses
            done += ran
            if stop[0]:
                break
        self.epochs_done += done
        return done, recorded

    def _ieee(self) -> dict[str, Any]:
        """The same source over numpy float64 scalars: inf and nan where Python floats raise."""
        if self._ieee_functions is None:
            self._ieee_functions = compile_source(self.source, scalar_ieee())
        return self._ieee_functions

    def _ieee_epoch(self, epoch: int, logged: Container[int]) -> tuple[Logged, int]:
        import numpy as np

        state = tuple(np.float64(value) if isinstance(value, float) else value for value in self.state)
        with np.errstate(all="ignore"):
            state, losses, ran, _ = self._ieee()["train"](state, epoch, 1, logged, [False])
        self.state = tuple(float(value) if isinstance(value, np.floating) else value for value in state)
        return [(e, float(value)) for e, value in losses], ran

    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        import numpy as np

        if not self.floats:
            with np.errstate(all="ignore"):
                loss, outputs = self._functions["evaluate"](self.state, *self.columns)
            table = np.stack([np.broadcast_to(np.asarray(o, dtype=np.float64), (self.samples,))
                              for o in outputs], axis=1)[:rows]
            return float(loss), tuple(tuple(float(v) for v in row) for row in table)
        try:
            loss, outputs = self._functions["evaluate"](self.state)
        except (ArithmeticError, ValueError):
            with np.errstate(all="ignore"):
                loss, outputs = self._ieee()["evaluate"](tuple(np.float64(v) for v in self.state))
        values = [float(v) for v in outputs]
        width = self.network.outputs
        return float(loss), tuple(tuple(values[i:i + width]) for i in range(0, width * rows, width)
                                  if i < len(values))

    def _values(self) -> dict[sp.Basic, float]:
        names = [*self._parameters, *self._slots, *(before for before, _ in self._buffers)]
        return {name: float(value) for name, value in zip(names, self.state, strict=False)}

    def parameters(self) -> dict[tuple[tuple[int, ...], str], Any]:
        values = self._values()
        out = {key: _shaped(symbols, values.__getitem__) for key, symbols in self.parameter_symbols.items()}
        for key, pairs in self.buffer_symbols.items():
            out[key] = tuple(values[before] for before, _ in pairs)
        return out

    def optimizer_state(self) -> OptimizerSlots:
        """Per layer that holds parameters, its weight's and bias's slots (zero where untouched)."""
        from backprop_cli.layers import leaves
        from backprop_cli.optimizers.base import slot_names

        steps = self.epochs_done * len(self.bounds)
        values = self._values()
        slots: dict[str, Any] = {}
        for kind, times in self.optimizer.rule.slots(self.optimizer).items():
            def read(symbol: Any, kind: str = kind, at: str = times[0]) -> float:
                return values.get(State(kind, symbol, at), 0.0)

            slots[kind] = tuple(
                tuple(None if (path, name) not in self.parameter_symbols
                      else _shaped(self.parameter_symbols[(path, name)], read) for name in slot_names(layer))
                for path, layer in leaves(self.network.layers))
        return OptimizerSlots(steps, slots)


def _shaped(symbols: Any, pick: Any) -> Any:
    if isinstance(symbols, (tuple, list)):
        return tuple(_shaped(item, pick) for item in symbols)
    return pick(symbols)


def _after_loss(lines: _Lines) -> list[tuple[sp.Symbol, sp.Basic]]:
    return [line for key in ("backward", "batch", "update") for line in lines.sections.get(key, [])]


def _data_nodes(derivation: Derivation) -> list[Node]:
    """A one-sample derivation's inputs x₁ … then targets y₁ …, in order."""
    nodes = [n for n in derivation.values if isinstance(n, Node) and n.glyph.base in ("x", "y")]
    return sorted(nodes, key=lambda n: (n.glyph.base != "x", int(n.glyph.index or 0)))


def _reduce(expr: sp.Basic, inverse: sp.Symbol) -> sp.Basic:
    """The batch's sum of a per-sample expression, divided as the loss divides it."""
    factors = expr.args if isinstance(expr, sp.Mul) else (expr,)
    numbers = [f for f in factors if f.is_Number]
    rest = [f for f in factors if not f.is_Number]
    if len(rest) == 2 and all(isinstance(f, sp.Symbol) for f in rest):
        return sp.Mul(*numbers, dot(*rest), inverse)
    return sp.Mul(total(expr), inverse)

