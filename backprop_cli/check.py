"""Checking a student's worked step: each given value against the page's line, and the mistake.

The student's values come as ``name = value`` lines with the page's names in ASCII (``z1``,
``a1`` or ``sigma1``, ``yhat``, ``L``, ``delta3``, ``dL/dW5``, ``W5(t+1)``; a sample's names end
in ``[n]`` in a batch). Each value is checked in page order with the tolerance of the digits
written: half a unit of the last digit, plus what carrying every line at those digits (as
``--rounding carry`` does) moves the line by. A wrong value is diagnosed by recomputing its line
under each known mistake, with the student's own earlier values where given, and naming the
mistake that reproduces it; the diagnosis is computed, never guessed.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import sympy as sp

from backprop_cli.derivation import Derivation, Step
from backprop_cli.errors import BackpropError
from backprop_cli.evaluate import Evaluator
from backprop_cli.locales import say
from backprop_cli.notation import ALPHA, LOSS, Node, Partial, updated
from backprop_cli.printing import format_number

MISTAKES: dict[str, str] = {
    "missing_activation_derivative": "the activation's derivative left out of the chain rule",
    "updated_weight_used": "the backward pass used weights already updated",
    "update_sign": "the update added the gradient: θ + α·∂𝓛/∂θ",
    "missing_learning_rate": "the update left out the learning rate: θ − ∂𝓛/∂θ",
    "sign": "a sign slip: the line's value with the opposite sign",
    "mse_factor": "the 2 of (ŷ − y)² dropped, or kept where the loss halves it",
    "mean_vs_sum": "the sum where the mean belongs (batch or loss reduction), or the reverse",
    "swapped_index": "the weight or input of another unit in place of this one",
    "z_for_a": "the weighted sum z where the activation belongs, or the reverse",
    "rounding": "too few digits carried from earlier lines",
}
"""The known mistakes, in the order a diagnosis tries them."""

_LINE = re.compile(r"^\s*([^=#]+?)\s*[=:]\s*(\S+)\s*(?:#.*)?$")
_NUMBER = re.compile(r"^[+-]?(\d+)?(?:\.(\d*))?(?:[eE]([+-]?\d+))?$")


@dataclass(frozen=True)
class Answer:
    """A value the student wrote, and the digits after the point it was written with."""

    name: str
    text: str
    value: float
    decimals: int

    @property
    def half_unit(self) -> float:
        """Half a unit of the last digit written."""
        return 0.5 * 10.0 ** -self.decimals


@dataclass(frozen=True)
class Result:
    """One checked line: what the student gave, what the page has, and the mistake found."""

    name: str
    given: float
    expected: float
    ok: bool
    mistake: str | None = None
    explanation: str | None = None
    implied: float | None = None
    first_wrong: bool = False
    written: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "given": self.given, "expected": self.expected, "ok": self.ok,
                "mistake": self.mistake, "explanation": self.explanation}


def parse_number(text: str, where: str) -> tuple[float, int]:
    """The value of ``text`` and its decimals (``0.648`` → 3, ``6.48e-1`` → 3)."""
    match = _NUMBER.match(text)
    if match is None or (match.group(1) is None and not match.group(2)):
        raise BackpropError(f"{where}: {text!r} is not a number; write it as 0.6478 or -1.2e-3")
    value = float(text)
    if not math.isfinite(value):
        raise BackpropError(f"{where}: {text!r} is not a finite number")
    decimals = len(match.group(2) or "") - int(match.group(3) or 0)
    return value, max(decimals, 0)


def parse_answers(text: str, source: str = "answers") -> dict[str, Answer]:
    """The student's ``name = value`` lines (blank lines and ``#`` comments skipped).

    Raises:
        BackpropError: for a line that is not ``name = value``, or a name given twice.
    """
    answers: dict[str, Answer] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0].strip()
        if not stripped:
            continue
        match = _LINE.match(stripped)
        if match is None:
            raise BackpropError(f"{source}:{number}: expected 'name = value' (e.g. z1 = 0.6478),"
                                f" got {stripped!r}")
        name = canonical(match.group(1))
        if not match.group(2).strip() or match.group(2).strip() == "?":
            continue
        value, decimals = parse_number(match.group(2), f"{source}:{number}")
        if name in answers:
            raise BackpropError(f"{source}:{number}: {match.group(1).strip()} is given twice;"
                                " keep one value per name")
        answers[name] = Answer(name, match.group(2), value, decimals)
    if not answers:
        raise BackpropError(f"{source}: no 'name = value' lines found; write one per line,"
                            " e.g. z1 = 0.6478 (see docs/check.md for the names)")
    return answers


def canonical(name: str) -> str:
    """A name as the page writes it in ASCII: spaces dropped, ``a1`` and ``sigma1`` the same."""
    text = re.sub(r"\s+", "", name)
    text = text.replace("∂", "d").replace("𝓛", "L").replace("ŷ", "yhat").replace("σ", "sigma")
    text = text.replace("δ", "delta").replace("y_hat", "yhat")
    text = re.sub(r"_(?=\d)", "", text)
    return re.sub(r"(?<![A-Za-z])sigma(?=\d)", "a", text)


def ascii_name(symbol: sp.Basic) -> str:
    """The page's ASCII name of ``symbol``: z1, a1 (σ₁), yhat, L, delta3, dL/dW5, W5(t+1)."""
    if isinstance(symbol, Partial):
        return f"d{ascii_name(symbol.of)}/d{ascii_name(symbol.wrt)}"
    if isinstance(symbol, Node):
        glyph = symbol.glyph
        base = "a" if glyph.base == "sigma" else glyph.base
        text = base + (glyph.index or "")
        if glyph.layer:
            text += f"^({glyph.layer})"
        if glyph.sample:
            text += f"[{glyph.sample}]"
        return text + glyph.suffix
    return str(symbol)


def page_steps(derivation: Derivation) -> Iterator[tuple[str, Step]]:
    """The scalar lines of the page in order, with their section's key."""
    for section in derivation.sections:
        for group in section.groups:
            for step in group.steps:
                if isinstance(step, Step):
                    yield section.key, step


def step_names(step: Step) -> list[str]:
    """Every ASCII name a line answers to (``yhat`` and ``a3`` for ``ŷ = σ₃``)."""
    return [ascii_name(s) for s in (step.target, *step.lead)]


def check_answers(derivation: Derivation, answers: Mapping[str, Answer],
                  build: Callable[[int], Derivation] | None = None, lang: str = "en") -> list[Result]:
    """Check the student's values line by line, in page order, and diagnose the wrong ones.

    Args:
        derivation: the page, worked exactly (``--rounding exact``).
        answers: the student's values by canonical name.
        build: the same page carried at a given number of digits (``--rounding carry``); used for
            the tolerance of carried rounding and to diagnose ``rounding``.
        lang: the language of the explanations.

    Raises:
        BackpropError: when a name is not a line of the page (with the names it has).
    """
    if derivation.form != "scalar":
        raise BackpropError("check: the answers are checked against the scalar page;"
                            " use --form scalar")
    steps = list(page_steps(derivation))
    known = {name for _, step in steps for name in step_names(step)}
    unknown = [name for name in answers if name not in known]
    if unknown:
        listed = ", ".join(sorted(known, key=len)[:12])
        raise BackpropError(f"answers: {unknown[0]} is not a line of this page; its names are"
                            f" {listed} …")
    carried: dict[int, Derivation] = {}

    def carry(digits: int) -> dict[str, float]:
        if build is None:
            return {}
        if digits not in carried:
            carried[digits] = build(digits)
        return {name: step.value for _, step in page_steps(carried[digits]) for name in step_names(step)}

    student: dict[sp.Basic, float] = {}
    results: list[Result] = []
    first = True
    for section, step in steps:
        names = [n for n in step_names(step) if n in answers]
        if not names:
            continue
        answer = answers[names[0]]
        expected = step.value
        carried_value = carry(min(answer.decimals, 15)).get(names[0], expected)
        slack = answer.half_unit * (1 + 1e-9) + 1e-12 * abs(expected)
        tolerance = slack + abs(carried_value - expected)
        ok = abs(answer.value - expected) <= tolerance
        mistake = explanation = None
        implied = None
        if not ok:
            found = diagnose(derivation, section, step, answer, student, carry, tolerance)
            if found is None:
                explanation = say("check.unknown").text(lang)
            else:
                mistake, implied = found
                explanation = say("check.implies", mistake=say(f"mistake.{mistake}"),
                                  value=format_number(implied, answer.decimals + 1)).text(lang)
        results.append(Result(names[0], answer.value, expected, ok, mistake, explanation, implied,
                              first_wrong=not ok and first, written=answer.text))
        if not ok:
            first = False
        for symbol in (step.target, *step.lead):
            student[symbol] = answer.value
    return results


def _others(values: Mapping[sp.Basic, Any], symbol: Node) -> list[Node]:
    """Symbols written with the same letter and sample as ``symbol``: W₂ for W₃, x₂ for x₁."""
    glyph = symbol.glyph
    return [s for s in values if isinstance(s, Node) and s != symbol and s.glyph.base == glyph.base
            and s.glyph.sample == glyph.sample and s.glyph.suffix == glyph.suffix]


def _activation_of(symbol: Node, values: Mapping[sp.Basic, Any]) -> Node | None:
    """σ₁ for z₁, z₁ for σ₁ (and ŷ's z for ŷ), when the page has it."""
    glyph = symbol.glyph
    layer = None if glyph.layer is None else int(glyph.layer)
    sample = None if glyph.sample is None else int(glyph.sample)
    if glyph.base == "z":
        for base in ("sigma", "a"):
            other = Node(base, glyph.index, layer=layer, sample=sample)
            if other in values:
                return other
        return None
    if glyph.base in ("sigma", "a"):
        other = Node("z", glyph.index, layer=layer, sample=sample)
        return other if other in values else None
    return None


def candidates(derivation: Derivation, section: str, step: Step,
               values: Mapping[sp.Basic, Any]) -> Iterator[tuple[str, float]]:
    """The line's value under each known mistake, from ``values`` (page's or student's)."""
    definition = step.definition

    def value(mapping: Mapping[sp.Basic, Any]) -> float:
        try:
            return float(Evaluator(mapping)(definition))
        except (TypeError, ValueError, ZeroDivisionError, KeyError, OverflowError):
            return math.nan

    right = value(values)
    yield "sign", -right
    if section == "update" and ALPHA in definition.free_symbols:
        yield "update_sign", value({**values, ALPHA: -values[ALPHA]})
        yield "missing_learning_rate", value({**values, ALPHA: 1.0})
    partials = [p for p in definition.atoms(Partial) if p.of != LOSS and not _is_loss(p.of)]
    if partials:
        yield "missing_activation_derivative", value({**values, **dict.fromkeys(partials, 1.0)})
    if isinstance(step.target, Node) and step.target.glyph.base == "delta" and not partials:
        # The output delta written fused (ŷ − y): leaving out f'(z) divides by it.
        glyph = step.target.glyph
        sample = None if glyph.sample is None else int(glyph.sample)
        z = Node("z", glyph.index, sample=sample)
        act = _activation_of(z, values) if z in values else None
        yhat = [s for s in values if isinstance(s, Node) and s.glyph.base == "yhat"
                and s.glyph.sample == glyph.sample]
        out = act if act is not None else (yhat[0] if len(yhat) == 1 else None)
        if out is not None:
            y_val = float(values[out])
            derivative = y_val * (1 - y_val)
            if derivative:
                yield "missing_activation_derivative", right / derivative
    if section == "backward":
        weights = {s: values[updated(s)] for s in definition.free_symbols
                   if isinstance(s, Node) and s.glyph.base in ("W", "b") and updated(s) in values}
        if weights:
            yield "updated_weight_used", value({**values, **weights})
    for divisor in sorted({len(derivation.xs), len(derivation.ys[0])} - {1}):
        yield "mean_vs_sum", right * divisor
        yield "mean_vs_sum", right / divisor
    if derivation.network.loss in ("mse", "sse", "half_sse") and (step.target == LOSS or (
            isinstance(step.target, Partial) and isinstance(step.target.wrt, Node)
            and step.target.wrt.glyph.base == "yhat")):
        yield "mse_factor", right * 2
        yield "mse_factor", right / 2
    for symbol in sorted(definition.free_symbols, key=str):
        if isinstance(symbol, Node) and symbol.glyph.base in ("W", "x", "sigma", "a", "z", "delta"):
            for other in _others(values, symbol):
                yield "swapped_index", value({**values, symbol: values[other]})
    target = step.target
    if isinstance(target, Node):
        pair = _activation_of(target, values)
        if pair is not None:
            yield "z_for_a", float(values[pair])
    for symbol in sorted(definition.free_symbols, key=str):
        if isinstance(symbol, Node):
            pair = _activation_of(symbol, values)
            if pair is not None:
                yield "z_for_a", value({**values, symbol: values[pair]})


def _is_loss(symbol: sp.Basic) -> bool:
    return isinstance(symbol, Node) and symbol.glyph.base in ("L", "ell")


def diagnose(derivation: Derivation, section: str, step: Step, answer: Answer,
             student: Mapping[sp.Basic, float], carry: Callable[[int], dict[str, float]],
             tolerance: float) -> tuple[str, float] | None:
    """The first known mistake that reproduces the student's value, and the value it gives."""
    bases: list[Mapping[sp.Basic, Any]] = [derivation.values]
    if student:
        bases.insert(0, {**derivation.values, **student})
    for mistake in MISTAKES:
        if mistake == "rounding":
            name = step_names(step)[0]
            for digits in range(min(answer.decimals, 15) - 1, 0, -1):
                implied = carry(digits).get(name)
                near = answer.half_unit * (1 + 1e-9) + 0.5 * 10.0 ** -digits
                if implied is not None and abs(implied - step.value) > tolerance \
                        and abs(answer.value - implied) <= near:
                    return mistake, implied
            continue
        for values in bases:
            for name, implied in candidates(derivation, section, step, values):
                if name != mistake or not math.isfinite(implied):
                    continue
                if abs(implied - step.value) > tolerance and abs(answer.value - implied) <= tolerance:
                    return mistake, implied
    return None


def with_slip(answers: Mapping[str, Answer], name: str, value: float) -> dict[str, Answer]:
    """``answers`` with ``name`` replaced by ``value`` at the same digits (for examples and tests)."""
    old = answers[name]
    text = f"{value:.{old.decimals}f}"
    return {**answers, name: replace(old, text=text, value=float(text))}


def page_answers(derivation: Derivation, decimals: int = 4) -> dict[str, Answer]:
    """Every line of the page as a student would write it, at ``decimals`` digits."""
    answers = {}
    for _, step in page_steps(derivation):
        name = step_names(step)[0]
        text = f"{step.value:.{decimals}f}"
        answers[name] = Answer(name, text, float(text), decimals)
    return answers


def answer_text(answers: Mapping[str, Answer]) -> str:
    """The answers as a ``name = value`` file."""
    return "".join(f"{a.name} = {a.text}\n" for a in answers.values())


def parse_json_answers(text: str, network: Any, source: str = "answers") -> dict[str, Answer]:
    """The student's values from a JSON document in the layout of ``backprop step --format json``
    (any subset: a key left out or null is not checked). Each number keeps the digits written.

    A dense layer's ``z`` and ``a`` (samples × units) are the units' lines (``z3``, ``a3``, in a
    batch ``z3[2]``), ``grad_weight`` and ``grad_bias`` the gradients (``dL/dW5``), ``new_weight``
    and ``new_bias`` the updated parameters (``W5(t+1)``); ``loss`` is ``L`` and ``output`` ``ŷ``.

    Raises:
        BackpropError: when the text is not such a document.
    """
    import json

    def texts(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise BackpropError(f"{source}: a key is given twice; keep one value per key")
        return dict(pairs)

    try:
        document = json.loads(text, parse_float=_Written, parse_int=_Written, object_pairs_hook=texts,
                              parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, RecursionError) as error:
        raise BackpropError(f"{source}: not valid JSON ({str(error).splitlines()[0][:80]});"
                            " give the layout of backprop step --format json") from None
    if not isinstance(document, dict):
        raise BackpropError(f"{source}: expected a JSON object like backprop step --format json writes")
    answers: dict[str, Answer] = {}

    def add(name: str, value: Any, where: str) -> None:
        if value is None:
            return
        if not isinstance(value, _Written):
            raise BackpropError(f"{source}: {where} should be a number, got {type(value).__name__}")
        number, decimals = parse_number(str(value), f"{source}: {where}")
        answers[name] = Answer(name, str(value), number, decimals)

    for where, name, value in json_names(document, network, source):
        add(name, value, where)
    if not answers:
        raise BackpropError(f"{source}: no values found; give the layout of backprop step --format json"
                            " (loss, layers[i].z, .a, .grad_weight, …)")
    return answers


def json_names(document: Mapping[str, Any], network: Any, source: str) -> Iterator[tuple[str, str, Any]]:
    """(where in the document, the page's ASCII name, the value) for every number of a step's JSON."""
    allowed = ("loss", "loss_after", "output", "layers")
    for key in document:
        if key not in allowed:
            raise BackpropError(f"{source}: unknown key {key!r}; the keys are {', '.join(allowed)}")
    if "loss" in document:
        yield "loss", "L", document["loss"]
    layers = document.get("layers") or []
    if not isinstance(layers, list):
        raise BackpropError(f"{source}: layers should be a list, one entry per layer")
    if network is not None and not network.scalar_form:
        raise BackpropError(f"{source}: a step's JSON is read for networks of dense layers; for this network"
                            " write 'name = value' lines (the answer template of backprop exercise)")
    dense = network.dense_layers if network is not None else ()
    if len(layers) > len(dense):
        raise BackpropError(f"{source}: {len(layers)} layers given, the network has {len(dense)}")
    samples = 1
    for entry in layers:
        if isinstance(entry, dict) and isinstance(entry.get("z"), list):
            samples = max(samples, len(entry["z"]))
    unit = weight = bias = 0
    for index, (entry, layer) in enumerate(zip(layers, dense, strict=False)):
        where = f"layers[{index}]"
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise BackpropError(f"{source}: {where} should be an object (weight, z, a, grad_weight …)")
        known = ("kind", "weight", "bias", "z", "a", "output", "grad_weight", "grad_bias", "new_weight",
                 "new_bias")
        for key in entry:
            if key not in known:
                raise BackpropError(f"{source}: {where}.{key}: unknown key; the keys are {', '.join(known)}")

        def tag(n: int) -> str:
            return f"[{n + 1}]" if samples > 1 else ""

        for key in ("z", "a"):
            for n, j, cell in _cells(entry, key, samples, layer.units, f"{source}: {where}"):
                yield f"{where}.{key}[{n}][{j}]", f"{key}{unit + j + 1}{tag(n)}", cell
        for key, name in (("grad_weight", "dL/dW{}"), ("new_weight", "W{}(t+1)")):
            for j, k, cell in _cells(entry, key, layer.units, layer.inputs, f"{source}: {where}"):
                yield f"{where}.{key}[{j}][{k}]", name.format(weight + j * layer.inputs + k + 1), cell
        for key, name in (("grad_bias", "dL/db{}"), ("new_bias", "b{}(t+1)")):
            for j, cell in _flat(entry, key, layer.units, f"{source}: {where}"):
                yield f"{where}.{key}[{j}]", name.format(bias + j + 1), cell
        unit += layer.units
        weight += layer.units * layer.inputs
        bias += layer.units if layer.bias is not None else 0
    output = document.get("output")
    if output is not None and dense:
        if not isinstance(output, list):
            raise BackpropError(f"{source}: output should be rows of numbers, one per sample")
        first = sum(layer.units for layer in dense[:-1])
        width = dense[-1].units
        for n, row in enumerate(output):
            if not isinstance(row, list) or len(row) > width:
                raise BackpropError(f"{source}: output[{n}] should be a list of {width} numbers")
            for j, cell in enumerate(row):
                suffix = f"[{n + 1}]" if len(output) > 1 or samples > 1 else ""
                yield f"output[{n}][{j}]", f"a{first + j + 1}{suffix}", cell


def _cells(entry: Mapping[str, Any], key: str, rows: int, cols: int, where: str) -> Iterator[tuple[int, int, Any]]:
    """(row, column, value) of a matrix entry, at most ``rows`` × ``cols``; nothing where absent."""
    value = entry.get(key)
    if value is None:
        return
    if not isinstance(value, list) or len(value) > rows or any(
            not isinstance(r, list) or len(r) > cols for r in value if r is not None):
        raise BackpropError(f"{where}.{key} should be {rows} × {cols} (rows of numbers)")
    for i, row in enumerate(value):
        for j, cell in enumerate(row or []):
            yield i, j, cell


def _flat(entry: Mapping[str, Any], key: str, size: int, where: str) -> Iterator[tuple[int, Any]]:
    """(index, value) of a vector entry of at most ``size`` numbers; nothing where absent."""
    value = entry.get(key)
    if value is None:
        return
    if not isinstance(value, list) or len(value) > size:
        raise BackpropError(f"{where}.{key} should be a list of {size} numbers")
    yield from enumerate(value)


class _Written(str):
    """A JSON number as written (its digits are the tolerance)."""


def read_answers(path: str, network: Any = None) -> dict[str, Answer]:
    """The answers file at ``path``: ``name = value`` lines, or a JSON document in the layout of
    ``backprop step --format json`` (``-`` reads standard input).

    Raises:
        BackpropError: when the file cannot be read or is neither.
    """
    if path == "-":
        return _answers(sys.stdin.read(1_000_000), "stdin", network)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(1_000_000)
    except FileNotFoundError:
        raise BackpropError(f"answers: {path} does not exist; give the file of 'name = value' lines") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BackpropError(f"answers: cannot read {path} ({error.__class__.__name__});"
                            " give a UTF-8 text file of 'name = value' lines") from None
    return _answers(text, path, network)


def _answers(text: str, source: str, network: Any) -> dict[str, Answer]:
    if text.lstrip().startswith("{"):
        return parse_json_answers(text, network, source)
    return parse_answers(text, source)


def check_work(network: Any, xs: Any, ys: Any, answers: Mapping[str, Answer], lang: str = "en",
               precision: int = 4) -> tuple[Derivation, list[Result]]:
    """Check ``answers`` against the scalar page of one step of ``network`` on ``xs``, ``ys``:
    the page (worked exactly, printed at ``precision``) and the checked lines."""
    from backprop_cli.build import build_derivation
    from backprop_cli.derivation import Options

    exact = build_derivation(network, xs, ys, Options(precision, form="scalar", lang=lang))

    def build(digits: int) -> Derivation:
        return build_derivation(network, xs, ys, Options(min(digits, 15), "carry", "scalar"))

    return exact, check_answers(exact, answers, build, lang)


def marked(derivation: Derivation, results: list[Result]) -> Derivation:
    """The page with a mark under each line the student gave: ✓, or ✗ with the value the line
    has and the mistake found, the first wrong line said to be the first."""
    from dataclasses import replace as replaced

    from backprop_cli.derivation import Group, Section

    by_name = {r.name: r for r in results}

    def mark(step: Any) -> Any:
        if not isinstance(step, Step):
            return step
        result = next((by_name[n] for n in step_names(step) if n in by_name), None)
        if result is None:
            return step
        given = result.written or format_number(result.given, 6)
        if result.ok:
            note = say("check.right", given=given)
        else:
            key = "check.wrong.first" if result.first_wrong else "check.wrong"
            digits = parse_number(given, result.name)[1] + 1
            note = say(key, given=given, expected=format_number(result.expected, digits),
                       why=result.explanation or "")
        if step.note is not None:
            note = say("check.joined", first=step.note, second=note)
        return replaced(step, note=note)

    sections = tuple(
        Section(section.key, tuple(Group(g.title, tuple(mark(s) for s in g.steps), g.intro)
                                   for g in section.groups), section.intro)
        for section in derivation.sections)
    return replaced(derivation, sections=sections)


def report_text(results: list[Result], lang: str = "en") -> str:
    """The checked lines, ✓ or ✗, the first wrong one marked, with the mistake found."""
    width = max(len(r.name) for r in results)
    lines = []
    for r in results:
        mark = "✓" if r.ok else "✗"
        line = f"{mark} {r.name:<{width}} = {r.written or format_number(r.given, 6)}"
        if not r.ok:
            line += "   " + say("check.expected", value=format_number(r.expected, 6)).text(lang)
            if r.first_wrong:
                line += "   " + say("check.first").text(lang)
            line += f"\n  {'':<{width}}   {r.explanation}"
        lines.append(line)
    wrong = sum(not r.ok for r in results)
    total = say("check.some", right=len(results) - wrong, count=len(results)) if wrong else \
        say("check.all", count=len(results))
    lines.append(total.text(lang))
    return "\n".join(lines) + "\n"
