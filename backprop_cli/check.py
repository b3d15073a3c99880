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
                  build: Callable[[int], Derivation] | None = None) -> list[Result]:
    """Check the student's values line by line, in page order, and diagnose the wrong ones.

    Args:
        derivation: the page, worked exactly (``--rounding exact``).
        answers: the student's values by canonical name.
        build: the same page carried at a given number of digits (``--rounding carry``); used for
            the tolerance of carried rounding and to diagnose ``rounding``.

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
                explanation = "no known mistake gives this value"
            else:
                mistake, implied = found
                explanation = (f"{MISTAKES[mistake]}: that gives {format_number(implied, answer.decimals + 1)}")
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
            for digits in range(min(answer.decimals, 15) - 1, -1, -1):
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


def read_answers(path: str) -> dict[str, Answer]:
    """The answers file at ``path`` (``name = value`` lines; ``-`` reads standard input).

    Raises:
        BackpropError: when the file cannot be read or is not ``name = value`` lines.
    """
    if path == "-":
        return parse_answers(sys.stdin.read(1_000_000), "stdin")
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(1_000_000)
    except FileNotFoundError:
        raise BackpropError(f"answers: {path} does not exist; give the file of 'name = value' lines") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BackpropError(f"answers: cannot read {path} ({error.__class__.__name__});"
                            " give a UTF-8 text file of 'name = value' lines") from None
    return parse_answers(text, path)


def check_work(network: Any, xs: Any, ys: Any, answers: Mapping[str, Answer]) -> list[Result]:
    """Check ``answers`` against the scalar page of one step of ``network`` on ``xs``, ``ys``."""
    from backprop_cli.build import build_derivation
    from backprop_cli.derivation import Options

    exact = build_derivation(network, xs, ys, Options(form="scalar"))

    def build(digits: int) -> Derivation:
        return build_derivation(network, xs, ys, Options(min(digits, 15), "carry", "scalar"))

    return check_answers(exact, answers, build)


def report_text(results: list[Result]) -> str:
    """The checked lines, ✓ or ✗, the first wrong one marked, with the mistake found."""
    width = max(len(r.name) for r in results)
    lines = []
    for r in results:
        mark = "✓" if r.ok else "✗"
        line = f"{mark} {r.name:<{width}} = {r.written or format_number(r.given, 6)}"
        if not r.ok:
            line += f"   expected {format_number(r.expected, 6)}"
            if r.first_wrong:
                line += "   ← first wrong line"
            line += f"\n  {'':<{width}}   {r.mistake or 'unknown'}: {r.explanation}"
        lines.append(line)
    wrong = sum(not r.ok for r in results)
    lines.append(f"{len(results) - wrong} of {len(results)} right" if wrong else f"all {len(results)} right")
    return "\n".join(lines) + "\n"
