"""Training engines behind one interface (``base.Engine``), imported by name only when asked for.

``compiled`` runs the derivation's own lines compiled into one straight-line Python function (plain
floats for small problems, numpy arrays over the samples otherwise); ``numba`` compiles the same
lines to machine code, the epoch loop included (optional: numba installed); ``numpy`` is a
vectorised matrix engine; ``torch`` runs PyTorch modules on ``cpu`` or ``cuda``. ``auto`` picks by
problem size, and numba where the epochs repay its compilation.
"""

from __future__ import annotations

import importlib
import importlib.util
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
    "numba": "backprop_cli.engines.numba_engine:NumbaEngine",
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


NUMBA_MAX_PARAMETERS = 64
"""The numba engine declines networks larger than this: it compiles the compiled engine's
straight-line step, and numba's compile time grows faster than the code (measured: 17 parameters
1.7 s, 121 parameters 6.1 s, 337 parameters 34 s)."""

# The cost model ``auto`` weighs the numba engine by (seconds; measured on the 2-core development
# machine, docs/benchmarks.md): an epoch costs about this much per sample × parameter …
COMPILED_EPOCH_PER_ELEMENT = 1e-7
"""… on the compiled engine over Python floats (seed 0.85 µs an epoch, XOR 2-4-1 6.5 µs),"""
NUMPY_EPOCH_PER_LAYER, NUMPY_EPOCH_PER_ELEMENT = 2e-5, 1e-9
"""… on numpy, plus a fixed cost a layer (its calls),"""
NUMBA_EPOCH_PER_ELEMENT = 6e-9
"""… on numba (seed 0.055 µs, XOR 2-4-1 0.3 µs);"""
NUMBA_COMPILE_SECONDS, NUMBA_COMPILE_PER_PARAMETER = 1.0, 0.04
"""and numba's import and compilation before the first epoch (a fresh compile: the disk cache
is not counted on)."""


def numba_installed() -> bool:
    """Whether numba can be imported (``pip install 'backprop-cli[fast]'``), without importing it."""
    return importlib.util.find_spec("numba") is not None


def check_size(name: str, network: Network) -> None:
    """Refuse an engine for a network beyond its size, naming the one to use instead."""
    if name == "numba" and network.parameter_count > NUMBA_MAX_PARAMETERS:
        raise BackpropError(
            f"backend: the numba engine compiles a line for every weight, and numba's compile time grows"
            f" fast; {network.parameter_count:,} parameters is more than its {NUMBA_MAX_PARAMETERS}."
            " Use --backend numpy (or auto)")
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
           scheduled: str | None = None, epochs: int | None = None) -> tuple[str, Message]:
    """The engine ``--backend auto`` runs, and why, in a few words (a Message, for any language).

    ``scheduled`` names an option the compiled engine does not run (``--schedule``, ``--clip-norm``).
    With ``epochs``, the numba engine is weighed too: picked where numba is installed and the
    epochs × the time it saves an epoch outweigh its compilation (the cost model above).
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
    if epochs is not None and network.parameter_count <= NUMBA_MAX_PARAMETERS and numba_installed():
        current = (COMPILED_EPOCH_PER_ELEMENT * size if compiled else
                   NUMPY_EPOCH_PER_LAYER * len(network.layers) + NUMPY_EPOCH_PER_ELEMENT * size)
        saving = current - NUMBA_EPOCH_PER_ELEMENT * size
        compile_seconds = NUMBA_COMPILE_SECONDS + NUMBA_COMPILE_PER_PARAMETER * network.parameter_count
        if epochs * saving > compile_seconds:
            return "numba", Message("engine.reason.numba", {
                "epochs": f"{epochs:,}", "saving": f"{saving * 1e6:.2g}", "compile": f"{compile_seconds:.1f}",
                "other": "compiled" if compiled else "numpy", "engine": "numba"})
    key = "engine.reason.compiled" if compiled else "engine.reason.numpy"
    return ("compiled" if compiled else "numpy"), Message(
        key, {"parameters": network.parameter_count, "samples": count})
