"""Training engines behind one interface (``base.Engine``), imported by name only when asked for.

``compiled`` runs the derivation's own lines compiled into one straight-line Python function (plain
floats for small problems, numpy arrays over the samples otherwise); ``numba`` compiles the same
lines to machine code, the epoch loop included (optional: numba installed), and for networks past
that engine's size (or in float32) runs the fused engine instead: the same few numba functions for
any dense network, compiled once per machine (``fused.py``); ``numpy`` is a vectorised matrix
engine; ``torch`` runs PyTorch modules on ``cpu`` or ``cuda``. ``auto`` picks by problem size, and
numba where the epochs repay its start (the cost model below).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from backprop_cli.errors import BackpropError
from backprop_cli.locales import Message

if TYPE_CHECKING:
    from backprop_cli.engines.base import Engine, EngineSettings
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
NUMPY_EPOCH_PER_LAYER, NUMPY_EPOCH_PER_ELEMENT = 2e-5, 3e-9
"""… on numpy, plus a fixed cost a layer (its calls; 200,000 × 2-16-16-1: 0.23 s an epoch),"""
NUMBA_EPOCH_PER_ELEMENT = 6e-9
"""… on numba (seed 0.055 µs, XOR 2-4-1 0.3 µs);"""
NUMBA_COMPILE_SECONDS, NUMBA_COMPILE_PER_PARAMETER = 1.0, 0.04
"""and numba's import and compilation before the first epoch (a fresh compile: the disk cache
is not counted on);"""
FUSED_EPOCH_PER_CHUNK, FUSED_EPOCH_PER_ELEMENT = 1e-6, 5e-10
"""on the fused numba engine, a fixed cost a chunk of samples and layer, plus a cost per sample ×
parameter (spiral 300 × 2-16-16-3: 36 µs an epoch; 200,000 × 2-16-16-1: 31 ms);"""
FUSED_START_SECONDS, FUSED_COMPILE_SECONDS, FUSED_LOADED_SECONDS = 0.4, 10.0, 0.01
"""and its start: importing numba and loading its machine code from numba's cache, or, before the
first run on a machine, compiling it (6 s on an idle core, 20 s on a busy one), or, for a batch
past ``LARGE_BATCH`` where this process has run it before (its machine code loaded), its arrays
and one warm-up epoch;"""
LARGE_BATCH = 6_144
"""Past this many samples a dense network's epoch is weighed by ``LARGE_EPOCH`` instead: the numpy
engine runs such a batch in chunks (at most ``CHUNK_ROWS`` samples), BLAS on one
thread, and the fused engine splits it over threads (``fused_threads``)."""
LARGE_EPOCH = {
    ("numpy", "float64"): (1.0e-10, 4.0e-9), ("numpy", "float32"): (6.7e-11, 1.6e-9),
    ("numba", "float64"): (3.4e-10, 1.8e-9), ("numba", "float32"): (1.2e-10, 1.4e-9),
}
"""(engine, dtype) → seconds an epoch per sample × parameter, and per sample × unit (the layers'
widths), on one thread: fitted to 2-16-16-1, 2-64-64-1 and 10-32-1 at 50,000 to 500,000 samples
(docs/benchmarks.md, "Large batches on every core"). numpy's matrix products gain on wide layers
(2-64-64-1: 0.6× the fused engine's time on one thread), the fused engine on the elementwise work a
unit (its exp in vector instructions, nothing stored twice)."""
FORK_SECONDS = 0.01
"""What a helper's fork, its first touches of shared memory and its end cost, counted against the
time the run's epochs save (measured: 1.6 ms a fork of a process with numpy loaded)."""
PROCESS_EFFICIENCY = 0.85
"""The numpy engine on n processes: its one-process time ÷ (n × this) (measured on 2 cores: two
processes 0.52–0.83× one's time over eight shapes, 0.58 the median, ``benchmarks/threads.py``)."""
FUSED_THREAD_EFFICIENCY = 0.85
"""The fused engine on n threads: its one-thread time ÷ (n × this), the threads' wait for the
slowest part and the partial gradients' sum."""


# What the fused numba engine (fused.py) trains, by fused_kernels' codes.
ACTIVATIONS = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4, "softmax": 5}
"""Activation → ``fused_kernels``'s code."""
LOSSES = {"mse": (0, 1.0), "sse": (0, 1.0), "half_sse": (0, 0.5), "bce": (1, 1.0), "cross_entropy": (2, 1.0)}
"""Loss → (its code, a squared error's factor)."""
REDUCTIONS = {"sum": 0, "mean": 1, "sample_mean": 2}
OPTIMIZERS = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 3}

CHUNK = 512
"""Samples a chunk at most: the columns of the activation and δ buffers (a 16-unit layer's chunk is
64 KB in float64, so a few layers' stay in the core's cache between the forward and the backward
pass; measured: 512 a little faster than 256 on spiral, the same on 200,000 samples)."""

CHUNKS_A_THREAD = 8
"""The fused engine splits a batch over threads only where each thread gets at least this many
chunks (4,096 samples): below it, handing the parts out and adding the gradients up costs more
than the threads save."""
FUSED_MAX_THREADS = 8
"""The most threads the fused engine splits a batch over."""


CHUNK_VALUES = 3 * 2**14
"""The most values an array of a chunk holds (samples × a layer's units): 3,072 samples of a 16-unit
layer, 384 KiB in float64. Measured on 2-16-16-1 (docs/benchmarks.md), chunks of 3,072 to 3,584
samples were fastest in float64 and float32 alike; a power of two rows long (2,048, 4,096) was slower
than its neighbours, its rows falling in the same cache sets."""
CHUNK_ROWS = 6144
"""The most samples a chunk takes, however narrow the layers."""
CHUNK_PRODUCTS = 2**18
"""Where threadpoolctl is missing, chunks are also kept to at most this many multiply-adds in a
layer's product (samples × (inputs + 1) × units), under which OpenBLAS multiplies on one thread: its
threads cost more than they save on products this small, many times more on a busy machine. With
threadpoolctl the chunked pass holds BLAS to one thread instead (``one_blas_thread``)."""
MIN_CHUNK_ROWS = 256
CHUNKS_A_PROCESS = 4
"""The numpy engine splits a full batch's chunked pass over processes only where each gets at least
this many chunks (``numpy_processes.py``)."""


def chunk_rows(widths: Sequence[int], one_thread: bool = True) -> int:
    """The samples of a chunk for a network of these widths (inputs, then each layer's units);
    ``one_thread``: whether BLAS is held to one thread while the chunks run."""
    rows = CHUNK_VALUES // max(widths[1:])
    if not one_thread:
        rows = min(rows, CHUNK_PRODUCTS // max((a + 1) * b for a, b in zip(widths, widths[1:], strict=False)))
    return max(MIN_CHUNK_ROWS, min(CHUNK_ROWS, rows))


def can_fork() -> bool:
    """Whether the numpy engine forks helper processes here: on Linux, where a fork copies the engine
    as it is (macOS's system libraries are not safe to use after a fork, and Windows has none)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def processes_for(chunks: int) -> int:
    """The processes the numpy engine splits a pass of ``chunks`` chunks over: one for every
    ``CHUNKS_A_PROCESS`` chunks, at most the CPUs this process may use and ``FUSED_MAX_THREADS``."""
    return max(1, min(cpus(), FUSED_MAX_THREADS, chunks // CHUNKS_A_PROCESS))


def cpus() -> int:
    """The CPUs this process may run on (its affinity where the system says, else every CPU)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def fused_threads(rows: int) -> int:
    """The threads the fused engine splits a batch of ``rows`` samples over: one for every
    ``CHUNKS_A_THREAD`` chunks, at most the CPUs this process may use and ``FUSED_MAX_THREADS``."""
    return max(1, min(cpus(), FUSED_MAX_THREADS, rows // (CHUNKS_A_THREAD * CHUNK)))


def unsupported(network: Network, settings: EngineSettings | None = None) -> str | None:
    """Why the fused numba engine (``fused.py``) cannot train this network with these settings, or None if it can."""
    kinds = sorted({layer.kind for layer in network.layers if layer.kind != "dense"})
    if kinds:
        return f"{', '.join(kinds)} layers train on --backend numpy or torch"
    for index, layer in enumerate(network.layers):
        if layer.activation not in ACTIVATIONS:
            return f"activation {layer.activation!r} trains on --backend numpy, compiled or torch"
        if layer.activation == "softmax" and index != len(network.layers) - 1:
            return "softmax on a hidden layer trains on --backend numpy or torch"
    if network.loss not in LOSSES:
        return f"loss {network.loss!r} trains on --backend numpy, compiled or torch"
    if network.optimizer.name not in OPTIMIZERS:
        return f"optimizer {network.optimizer.name!r} trains on --backend numpy, compiled or torch"
    if settings is not None:
        if settings.order is not None:
            return "--shuffle trains on --backend numpy or torch (it runs the samples in the order given)"
        if settings.schedule is not None or settings.clip is not None:
            return "--schedule and --clip-* train on --backend numpy or torch"
    return None


def numba_installed() -> bool:
    """Whether numba can be imported (``pip install 'backprop-cli[fast]'``), without importing it."""
    return importlib.util.find_spec("numba") is not None


def runs_fused(network: Network, dtype: str = "float64") -> bool:
    """Whether ``--backend numba`` runs the fused engine: past the scalar engine's size, or in float32."""
    return network.parameter_count > NUMBA_MAX_PARAMETERS or dtype != "float64"


def fused_cached() -> bool:
    """Whether numba's cache seems to hold the fused engine's machine code (its index file is where
    numba keeps it: ``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the module or, where that is
    not writable, numba's user cache folder); numba itself checks it before use. Numba not imported."""
    here = Path(__file__).resolve().parent
    tail = here.relative_to(here.anchor)
    setting = os.environ.get("NUMBA_CACHE_DIR")
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numba"
    places = [Path(setting) / tail] if setting else [here / "__pycache__", user / tail]
    return any(any(place.glob("fused_kernels.train-*.nbi")) for place in places)


def fused_loaded() -> bool:
    """Whether this process has loaded the fused engine's machine code already (it has run it)."""
    return "backprop_cli.engines.fused_kernels" in sys.modules


def check_size(name: str, network: Network, dtype: str = "float64") -> None:
    """Refuse an engine for a network beyond its size, naming the one to use instead."""
    if name == "numba" and runs_fused(network, dtype):
        reason = unsupported(network)
        if reason is not None:
            why = (f"{network.parameter_count:,} parameters is more than the numba engine's"
                   f" {NUMBA_MAX_PARAMETERS} per-weight lines" if dtype == "float64" else f"in {dtype}")
            raise BackpropError(f"backend: {why}, so it runs its fused form, which trains dense networks of"
                                f" its activations, losses and optimizers; {reason}")
    if name == "compiled" and network.parameter_count > COMPILED_MAX_PARAMETERS:
        raise BackpropError(
            f"backend: the compiled engine generates code for every weight; {network.parameter_count:,}"
            f" parameters is more than its {COMPILED_MAX_PARAMETERS:,}. Use --backend numpy (or auto)")


def load(name: str, network: Network | None = None, dtype: str = "float64") -> type[Engine]:
    """The engine class called ``name``, importing only its module (``numba``'s fused form for a
    ``network`` past the scalar engine's size, or in float32)."""
    if name not in ENGINES:
        raise BackpropError(f"backend: unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    where = ENGINES[name]
    if name == "numba" and network is not None and runs_fused(network, dtype):
        where = "backprop_cli.engines.fused:FusedEngine"
    module_name, _, class_name = where.partition(":")
    engine: type[Engine] = getattr(importlib.import_module(module_name), class_name)
    return engine


def choose(network: Network, samples: int, shuffle: bool, device: str, dtype: str,
           scheduled: str | None = None, epochs: int | None = None, batch_size: int | None = None
           ) -> tuple[str, Message]:
    """The engine ``--backend auto`` runs, and why, in a few words (a Message, for any language).

    ``scheduled`` names an option the compiled engine does not run (``--schedule``, ``--clip-norm``).
    With ``epochs``, the numba engine is weighed too: picked where numba is installed and the
    epochs × the time it saves an epoch outweigh its start (the cost model above: the scalar
    engine's compilation for its network, or the fused engine's start, cached once per machine).
    """
    size = samples * network.parameter_count
    full_batch = not shuffle and (batch_size is None or batch_size >= samples)  # what the numpy engine splits
    if device != "cpu":
        return "torch", Message("engine.reason.option", {"option": f"--device {device}"})
    if dtype != "float64" and scheduled is None and not shuffle:
        current, processes = numpy_epoch(network, samples, dtype, full_batch, epochs)
        picked = _fused_pays(network, samples, epochs, current, "numpy", dtype, processes)
        if picked is not None:
            return picked
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
    current, processes = ((COMPILED_EPOCH_PER_ELEMENT * size, 1) if compiled else
                          numpy_epoch(network, samples, full_batch=full_batch, epochs=epochs))
    other = "compiled" if compiled else "numpy"
    if epochs is not None and network.parameter_count <= NUMBA_MAX_PARAMETERS and numba_installed():
        saving = current - NUMBA_EPOCH_PER_ELEMENT * size
        compile_seconds = NUMBA_COMPILE_SECONDS + NUMBA_COMPILE_PER_PARAMETER * network.parameter_count
        if epochs * saving > compile_seconds:
            return "numba", Message("engine.reason.numba", {
                "epochs": f"{epochs:,}", "saving": f"{saving * 1e6:.2g}", "compile": f"{compile_seconds:.1f}",
                "other": other, "engine": "numba"})
    elif (picked := _fused_pays(network, samples, epochs, current, other, processes=processes)) is not None:
        return picked
    key = "engine.reason.compiled" if compiled else "engine.reason.numpy"
    return ("compiled" if compiled else "numpy"), Message(
        key, {"parameters": network.parameter_count, "samples": count})


def _large(network: Network, samples: int, engine: str, dtype: str) -> float | None:
    """``LARGE_EPOCH``'s time of an epoch for a dense network past ``LARGE_BATCH`` samples, else None."""
    if samples <= LARGE_BATCH or unsupported(network) is not None:
        return None
    per_parameter, per_unit = LARGE_EPOCH[engine, "float32" if dtype == "float32" else "float64"]
    units = sum(len(layer.weight) for layer in network.dense_layers)
    return samples * (per_parameter * network.parameter_count + per_unit * units)


def numpy_epoch(network: Network, samples: int, dtype: str = "float64", full_batch: bool = True,
                epochs: int | None = None) -> tuple[float, int]:
    """The cost model's time of an epoch on the numpy engine, and the processes it runs on: a large
    full batch on the helpers it would fork for ``epochs`` epochs (any number where None) besides
    itself (``helpers_for``; the forks themselves not counted), else one."""
    large = _large(network, samples, "numpy", dtype)
    if large is None:
        per_element = NUMPY_EPOCH_PER_ELEMENT * samples * network.parameter_count
        return NUMPY_EPOCH_PER_LAYER * len(network.layers) + per_element, 1
    if not full_batch:
        return large, 1
    chunks = -(-samples // chunk_rows(network.widths, importlib.util.find_spec("threadpoolctl") is not None))
    processes = 1 + helpers_for(chunks, epochs, large)
    return (large if processes == 1 else large / (processes * PROCESS_EFFICIENCY)), processes


def numpy_epoch_seconds(network: Network, samples: int, dtype: str = "float64", one_process: bool = False) -> float:
    """``numpy_epoch``'s time: on the processes of a full batch, or on one with ``one_process``."""
    return numpy_epoch(network, samples, dtype, full_batch=not one_process)[0]


def helpers_for(chunks: int, epochs: int | None, epoch_seconds: float) -> int:
    """The helper processes the numpy engine forks for ``epochs`` epochs (any number where None) of
    ``epoch_seconds`` each on one process over ``chunks`` chunks: one per process past its own
    (``processes_for``), none where the forks would cost more than the epochs save, or where this
    system cannot fork safely."""
    processes = processes_for(chunks)
    if processes == 1 or not can_fork():
        return 0
    if epochs is None:
        return processes - 1
    saving = epochs * epoch_seconds * (1 - 1 / (processes * PROCESS_EFFICIENCY))
    return processes - 1 if saving > FORK_SECONDS * (processes - 1) else 0


def fused_epoch_seconds(network: Network, samples: int, dtype: str = "float64") -> float:
    """The cost model's time of an epoch on the fused numba engine (on ``fused_threads`` threads)."""
    large = _large(network, samples, "numba", dtype)
    if large is not None:
        threads = fused_threads(samples)
        return large if threads == 1 else large / (threads * FUSED_THREAD_EFFICIENCY)
    chunks = -(-samples // CHUNK)
    return (FUSED_EPOCH_PER_CHUNK * chunks * len(network.layers)
            + FUSED_EPOCH_PER_ELEMENT * samples * network.parameter_count)


def _fused_pays(network: Network, samples: int, epochs: int | None, current: float,
                other: str, dtype: str = "float64", processes: int = 1) -> tuple[str, Message] | None:
    """The fused numba engine and why, where the epochs × what it saves an epoch over ``other``
    (``current`` seconds an epoch, on ``processes`` processes for numpy) outweigh its start; else
    None, or, for a large batch that numpy runs faster, numpy and why."""
    if epochs is None or not numba_installed():
        return None
    if unsupported(network) is not None:
        return None
    fused = fused_epoch_seconds(network, samples, dtype)
    saving = current - fused
    if saving <= 0 and other == "numpy" and samples > LARGE_BATCH:
        return "numpy", Message("engine.reason.numpy.large", {
            "numpy": f"{current * 1e3:.3g}", "processes": processes,
            "fused": f"{fused * 1e3:.3g}", "threads": fused_threads(samples),
            "engine": "numba"})
    cached = fused_cached()
    start = FUSED_START_SECONDS if cached else FUSED_COMPILE_SECONDS
    if samples > LARGE_BATCH and fused_loaded():
        cached, start = True, FUSED_LOADED_SECONDS
    if epochs * saving <= start:
        return None
    return "numba", Message("engine.reason.fused.cached" if cached else "engine.reason.fused.compile", {
        "epochs": f"{epochs:,}", "saving": f"{saving * 1e6:.2g}", "start": f"{start:.2g}", "other": other,
        "engine": "numba"})
