"""Exercise sheets: a network with numbers a person can multiply by hand, the page's lines with
their values left blank, an answer key and an answer template that ``backprop check`` reads.

A variant keeps the architecture the options describe (widths, kinds, activations, loss,
optimizer) and draws every weight, bias and input anew as a number of one or two decimals,
seeded. A draw is kept only when every line of its page is workable on a calculator: finite,
at most ``LARGEST`` in size, and either zero or at least ``SMALLEST`` (a value that prints as
0.0000 at four decimals is not a fair question). Variants are all different; each one's key is
the page ``backprop step --form scalar`` prints for its network.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from backprop_cli.check import page_steps, step_names
from backprop_cli.derivation import Derivation, Options
from backprop_cli.errors import BackpropError
from backprop_cli.model import Network, Vector

SECTIONS = ("forward", "loss", "backward", "update")
"""What a sheet can ask, in page order (a batch's ``batch`` lines go with ``backward``)."""

ASKED_WITH = {"batch": "backward"}
"""Sections of the page asked together with another one."""

LARGEST = 100.0
"""The largest |value| a line of a sheet may have."""

SMALLEST = 1e-4
"""The smallest non-zero |value| a line of a sheet may have."""

TRIES = 500
"""Draws per variant before giving up."""

CLASS_LOSSES = ("cross_entropy", "nll")
BINARY_LOSSES = ("bce",)


@dataclass(frozen=True)
class Exercise:
    """One variant: its network and sample, and its page worked exactly (the key).

    Args:
        number: the variant's number, from 1.
        network: the network with the drawn weights.
        xs: the inputs, one row per sample.
        ys: the targets, one row per sample.
        derivation: the page of one step, scalar form.
        ask: the sections asked, in page order.
    """

    number: int
    network: Network
    xs: tuple[Vector, ...]
    ys: tuple[Vector, ...]
    derivation: Derivation
    ask: tuple[str, ...]

    def asked(self, section: str) -> bool:
        return ASKED_WITH.get(section, section) in self.ask

    def blanks(self) -> Iterator[tuple[str, Any]]:
        """(section, line) for every line the sheet leaves blank, in page order."""
        for section, step in page_steps(self.derivation):
            if self.asked(section):
                yield section, step

    def template(self, network_file: str = "network.toml", answers_file: str = "answers.txt") -> str:
        """The answer template: a ``name = ?`` line per blank, in the format ``backprop check`` reads."""
        header = (f"# backprop-cli exercise {self.number}: write each value in place of '?'.\n"
                  f"# Then: backprop check {answers_file} --network {network_file}\n")
        return header + "".join(f"{step_names(step)[0]} = ?\n" for _, step in self.blanks())


def parse_ask(text: str | None) -> tuple[str, ...]:
    """The sections of ``--ask forward,loss,…`` in page order (all when not given).

    Raises:
        BackpropError: for a section the page does not have.
    """
    if text is None:
        return SECTIONS
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if name not in SECTIONS:
            raise BackpropError(f"ask: unknown section {name!r}; choose from {', '.join(SECTIONS)}"
                                " (comma-separated, e.g. --ask forward,loss)")
    if not names:
        raise BackpropError(f"ask: give at least one section of {', '.join(SECTIONS)}")
    return tuple(s for s in SECTIONS if s in names)


def _nice(rng: random.Random, decimals: int, low: float = -1.0, high: float = 1.0,
          zero: bool = False) -> float:
    scale = 10 ** decimals
    while True:
        value = rng.randint(round(low * scale), round(high * scale)) / scale
        if zero or value != 0:
            return value


def _drawn(value: Any, draw: Any) -> Any:
    """``value`` (nested tuples of numbers) with every number drawn anew."""
    if isinstance(value, tuple):
        return tuple(_drawn(v, draw) for v in value)
    return draw()


def _targets(network: Network, ys: Sequence[Vector], rng: random.Random, decimals: int) -> tuple[Vector, ...]:
    width = len(ys[0])
    out: list[Vector] = []
    for _ in ys:
        if network.loss in CLASS_LOSSES:
            hot = rng.randrange(width)
            out.append(tuple(1.0 if k == hot else 0.0 for k in range(width)))
        elif network.loss in BINARY_LOSSES:
            out.append(tuple(float(rng.randint(0, 1)) for _ in range(width)))
        else:
            out.append(tuple(_nice(rng, decimals, 0.0, 1.0, zero=True) for _ in range(width)))
    return tuple(out)


def workable(derivation: Derivation) -> bool:
    """Whether every line of the page is a number a calculator gives and a sheet can ask."""
    for _, step in page_steps(derivation):
        value = step.value
        if not math.isfinite(value) or abs(value) > LARGEST or 0 < abs(value) < SMALLEST:
            return False
    return True


def draw(network: Network, xs: Sequence[Vector], ys: Sequence[Vector], rng: random.Random,
         decimals: int = 1, keep_samples: bool = False) -> tuple[Network, tuple[Vector, ...], tuple[Vector, ...]]:
    """The network with nice weights and biases, and nice inputs and targets of the same shapes
    (``keep_samples``: the given inputs and targets)."""
    values = {key: _drawn(value, lambda: _nice(rng, decimals)) for key, value in network.parameter_values().items()}
    drawn = network.with_values(values)
    if keep_samples:
        return drawn, tuple(map(tuple, xs)), tuple(map(tuple, ys))
    new_xs = tuple(tuple(_nice(rng, decimals) for _ in x) for x in xs)
    return drawn, new_xs, _targets(network, ys, rng, decimals)


def exercises(network: Network, xs: Sequence[Vector], ys: Sequence[Vector], *, variants: int = 1,
              seed: int = 0, decimals: int = 1, ask: tuple[str, ...] = SECTIONS,
              keep_samples: bool = False, lang: str = "en", precision: int = 4) -> list[Exercise]:
    """``variants`` different exercises on the architecture of ``network``, seeded.

    Raises:
        BackpropError: when the network is too large for a sheet, or no workable numbers are found.
    """
    if not 1 <= variants <= 500:
        raise BackpropError(f"variants: {variants} is out of range; give 1 to 500")
    if decimals not in (1, 2):
        raise BackpropError(f"decimals: {decimals}; weights are drawn with 1 or 2 decimals")
    if network.parameter_count * len(xs) > 200:
        raise BackpropError(f"exercise: {network.parameter_count} parameters × {len(xs)} samples"
                            " is more than a sheet worked by hand should ask (at most 200)")
    options = Options(precision=precision, rounding="exact", form="scalar", lang=lang)
    _scalar_page(network, xs, ys, options)  # a network without a scalar page is refused before any draw
    rng = random.Random(f"backprop-cli exercise {seed}")
    seen: set[Any] = set()
    out: list[Exercise] = []
    for number in range(1, variants + 1):
        for _ in range(TRIES):
            net, new_xs, new_ys = draw(network, xs, ys, rng, decimals, keep_samples)
            key = (tuple(sorted(net.parameter_values().items())), new_xs, new_ys)
            if key in seen:
                continue
            derivation = _scalar_page(net, new_xs, new_ys, options)
            if workable(derivation):
                seen.add(key)
                out.append(Exercise(number, net, new_xs, new_ys, derivation, ask))
                break
        else:
            raise BackpropError(f"exercise: no workable numbers found for variant {number} in {TRIES}"
                                " draws; try --decimals 2, fewer layers, or another --seed")
    return out


def _scalar_page(network: Network, xs: Sequence[Vector], ys: Sequence[Vector], options: Options) -> Derivation:
    """The scalar page of a draw; a network without one (an embedding, a sequence's positions) is
    refused in the exercise's words."""
    from backprop_cli.build import build_derivation

    try:
        return build_derivation(network, xs, ys, options)
    except BackpropError as error:
        text = str(error)
        if not text.startswith("form: "):
            raise
        reason = text.removeprefix("form: ").split("; use --form")[0]
        raise BackpropError(f"exercise: a sheet asks the scalar page, a line per unit, and {reason}; a sheet"
                            " takes dense, convolution, pooling, normalization, residual and recurrent"
                            " layers") from None


EXTENSIONS = {"markdown": "md", "latex": "tex", "html": "html"}


def variant_files(number: int, variants: int, fmt: str) -> dict[str, str]:
    """The file names of one variant's sheet, key, answer template and spec file."""
    tag = "" if variants == 1 else f"-{number:0{len(str(variants))}d}"
    ext = EXTENSIONS[fmt]
    return {"sheet": f"sheet{tag}.{ext}", "key": f"key{tag}.{ext}", "answers": f"answers{tag}.txt",
            "network": f"network{tag}.toml"}


def file_names(variants: int, fmt: str) -> list[str]:
    """Every file ``backprop exercise --output`` writes (with LaTeX and variants, the sheets and
    the keys also in one document each)."""
    names = [name for n in range(1, variants + 1) for name in variant_files(n, variants, fmt).values()]
    return names + (["sheets.tex", "keys.tex"] if fmt == "latex" and variants > 1 else [])


def spec(exercise: Exercise) -> str:
    """The variant's network and sample as a spec file (``backprop step --network``)."""
    from backprop_cli.io import spec_toml

    return spec_toml(exercise.network, exercise.xs, exercise.ys,
                     header=f"backprop-cli exercise {exercise.number}: the network and sample of its sheet")
