"""Training engines behind one interface (``base.Engine``), imported by name only when asked for.

``compiled`` runs the derivation's own lines compiled into one straight-line Python function (plain
floats for small problems, numpy arrays over the samples otherwise); ``numpy`` is a vectorised
matrix engine; ``torch`` runs PyTorch modules on ``cpu`` or ``cuda``. ``auto`` picks by problem size.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from backprop_cli.errors import BackpropError
from backprop_cli.locales import Message

if TYPE_CHECKING:
    from backprop_cli.engines.base import Engine
    from backprop_cli.model import Network

ENGINES = {
    "compiled": "backprop_cli.engines.compiled:CompiledEngine",
    "numpy": "backprop_cli.engines.numpy_engine:NumpyEngine",
    "torch": "backprop_cli.engines.torch_engine:TorchEngine",
}
BACKENDS = ("auto", *ENGINES)

COMPILED_LIMIT = 256
"""``auto`` picks ``compiled`` while samples × parameters stays at or below this (and no shuffling):
the whole epoch then fits in one straight-line function over Python floats, faster than numpy's
per-call overhead (measured: 2-2-1 × 4 samples 2.3 µs an epoch against 21 µs; at about 400 the
two meet, and past it the code to generate grows with no gain)."""


COMPILED_MAX_PARAMETERS = 1_000
"""The compiled engine declines networks larger than this: it generates a line of code for every
weight and unit, and generating and compiling that grows past seconds (1,801 parameters: 4.8 s
before the first epoch; 784-128-10: minutes), where numpy starts at once."""


def check_size(name: str, network: Network) -> None:
    """Refuse an engine for a network beyond its size, naming the one to use instead."""
    if name == "compiled" and network.parameter_count > COMPILED_MAX_PARAMETERS:
        raise BackpropError(
            f"backend: the compiled engine generates code for every weight; {network.parameter_count:,}"
            f" parameters is more than its {COMPILED_MAX_PARAMETERS:,}. Use --backend numpy (or auto)")


def load(name: str) -> type[Engine]:
    """The engine class called ``name``, importing only its module."""
    if name not in ENGINES:
        raise BackpropError(f"backend: unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    module_name, _, class_name = ENGINES[name].partition(":")
    engine: type[Engine] = getattr(importlib.import_module(module_name), class_name)
    return engine


def choose(network: Network, samples: int, shuffle: bool, device: str, dtype: str,
           scheduled: str | None = None) -> tuple[str, Message]:
    """The engine ``--backend auto`` runs, and why, in a few words (a Message, for any language).

    ``scheduled`` names an option the compiled engine does not run (``--schedule``, ``--clip-norm``).
    """
    size = samples * network.parameter_count
    if device != "cpu":
        return "torch", Message("engine.reason.option", {"option": f"--device {device}"})
    if dtype != "float64":
        return "numpy", Message("engine.reason.option", {"option": f"--dtype {dtype}"})
    if scheduled is not None:
        return "numpy", Message("engine.reason.option", {"option": scheduled})
    if shuffle:
        return "numpy", Message("engine.reason.shuffle")
    if not network.scalar_form:
        kinds = sorted({layer.kind for layer in network.layers if not layer.scalar_form})
        return "numpy", Message("engine.reason.kinds", {"kinds": ", ".join(kinds)})
    count = Message("samples.one") if samples == 1 else Message("samples", {"count": samples})
    compiled = size <= COMPILED_LIMIT and network.parameter_count <= COMPILED_MAX_PARAMETERS
    key = "engine.reason.compiled" if compiled else "engine.reason.numpy"
    return ("compiled" if compiled else "numpy"), Message(
        key, {"parameters": network.parameter_count, "samples": count})
