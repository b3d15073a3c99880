"""The native fused engine: the compiled engine's lines, compiled to machine code by numba.

The step is the one the compiled engine derives (the scalar page of one sample, ``sympy.cse``,
printed as Python over floats); here it becomes the body of a loop over the samples of each batch,
inside a loop over the batches, inside the loop over the epochs, with the loss history written
into an array: one ``numba.njit`` function runs every epoch of a chunk without returning to
Python. Floats follow IEEE (``error_model="numpy"``: inf and nan, never an exception), as numpy and
PyTorch do.

Compiling takes about a second, so the machine code is kept on disk: the generated source is
written to ``<cache>/numba/<key>.py`` (``BACKPROP_CACHE_DIR``, as ``derived.py``), the key a
SHA-256 of the source and the Python, numpy and numba versions, and numba keeps the compiled code
beside it (``cache=True``, which numba checks against the file and its own version). A file found
there is used only if its text is exactly the source generated now (else it is written again);
the source itself is printed from sympy trees and checked by ``codegen.check_source`` before it is
written, never taken from user text. ``BACKPROP_CACHE_DIR=off`` compiles in memory every run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Container, Sequence
from pathlib import Path
from typing import Any

import sympy as sp

from backprop_cli import losses
from backprop_cli.derivation import Derivation
from backprop_cli.engines.base import EngineSettings, Logged, logged_mask
from backprop_cli.engines.codegen import SCALAR, ScalarPrinter, check_source, emit
from backprop_cli.engines.compiled import CompiledEngine, _data_nodes, _Lines
from backprop_cli.errors import BackpropError
from backprop_cli.model import Network, Vector
from backprop_cli.notation import LOSS, Partial

HEADER = (
    "import numba\n"
    f"from math import {', '.join(sorted(SCALAR))}\n"
    "\n"
    "JIT = numba.njit(cache={cache}, error_model='numpy', nogil=True)\n"
    "\n")
"""The generated module's first lines: its imports and the compiler's settings (fixed text)."""


def available() -> bool:
    """Whether numba can be imported (``pip install 'backprop-cli[fast]'``)."""
    return importlib.util.find_spec("numba") is not None


def versions() -> str:
    import numba
    import numpy as np

    return f"python {sys.version.split()[0]} numpy {np.__version__} numba {numba.__version__}"


class NumbaEngine(CompiledEngine):
    """The compiled engine's per-sample lines in epoch, batch and sample loops, compiled by numba."""

    name = "numba"
    unrolls = False

    def __init__(self, network: Network, xs: Sequence[Vector], ys: Sequence[Vector],
                 settings: EngineSettings) -> None:
        if not available():
            raise BackpropError("backend: numba is not installed; pip install 'backprop-cli[fast]',"
                                " or use --backend compiled")
        if not network.scalar_form:
            kinds = ", ".join(sorted({layer.kind for layer in network.layers if not layer.scalar_form}))
            raise BackpropError(f"backend: the numba engine compiles dense layers; {kinds} layers train on"
                                " --backend numpy or torch")
        if settings.order is not None:
            raise BackpropError("backend: the numba engine runs the samples in the order given; --shuffle"
                                " runs on --backend numpy or torch")
        self.cached: bool | None = None
        """Whether the machine code came from the disk cache (None: no cache folder)."""
        super().__init__(network, xs, ys, settings)

    # --- building -------------------------------------------------------------------------

    def _build_arrays(self, first: Derivation) -> None:
        import numpy as np

        x = np.asarray(self.xs, dtype=np.float64).reshape(self.samples, -1)
        y = np.asarray(self.ys, dtype=np.float64).reshape(self.samples, -1)
        self.columns = [np.ascontiguousarray(column) for column in (*x.T, *y.T)]
        data = {node: sp.Symbol(f"d{i}") for i, node in enumerate(_data_nodes(first))}
        assert len(data) == len(self.columns), "a column for every input and target"
        lines = _Lines(first, self.names, "v", data)
        printer = ScalarPrinter()
        mean = losses.of(self.network).reduction != "sum"
        # Per sample: forward, its loss, backward (its ∂𝓛/∂θ); the batch's gradient is their sum
        # divided as the loss divides (``inv``), and the update lines read it.
        accumulated, batch = [], {}
        for i, parameter in enumerate(self._parameters):
            per_sample = lines.get(Partial(LOSS, parameter))
            batch[per_sample] = sp.Symbol(f"g{i}")
            accumulated.append(per_sample)
        update = [(variable, expr.xreplace(batch)) for variable, expr in lines.sections["update"]]
        count = len(self.columns)
        read = [f"d{i} = D{i}[n]" for i in range(count)]
        forward = emit(lines.sections["forward"], printer, "f", "")
        loss = emit(lines.sections["loss"], printer, "l", "")
        backward = emit(lines.sections["backward"], printer, "b", "")
        sample_loss = lines.get(LOSS)
        inverse = "1.0 / (hi - lo)" if mean else "1.0"
        columns = ", ".join(f"D{i}" for i in range(count))
        state = [str(self.names[s]) for s in (*self._parameters, *self._slots)] + (["t"] if self._counter else [])
        unpack = [f"{name} = state[{i}]" for i, name in enumerate(state)]
        pack = [f"state[{i}] = {name}" for i, name in enumerate(state)]
        size = self.settings.batch_size

        def block(text: list[str], depth: int) -> list[str]:
            return ["    " * depth + line for line in text]

        whole = self.full_batch
        train = [f"def train(state, start, count, logged, history, {columns}):", *block(unpack, 1),
                 "    N = len(D0)", "    recorded = 0", "    for k in range(count):"]
        if not whole:
            # The history's loss is over all the data, before the epoch's first update.
            train += ["        if logged[k]:", *block(pack, 3),
                      f"            history[recorded] = loss_of(state, {columns})",
                      "            recorded += 1"]
        train += [f"        for lo in range(0, N, {size}):", f"            hi = min(lo + {size}, N)",
                  *block([f"a{i} = 0.0" for i in range(len(accumulated))], 3), "            total = 0.0",
                  "            for n in range(lo, hi):", *block(read + forward, 4)]
        if whole:
            train += ["                if logged[k]:", *block(loss, 5), f"                    total += {sample_loss}"]
        train += [*block(backward, 4), *block([f"a{i} += {v}" for i, v in enumerate(accumulated)], 4),
                  f"            inv = {inverse}",
                  *block([f"g{i} = a{i} * inv" for i in range(len(accumulated))], 3)]
        if whole:
            train += ["            if logged[k]:", "                history[recorded] = total * inv",
                      "                recorded += 1"]
        train += [*block(emit(update, printer, "u", ""), 3),
                  *block([line.strip() for line in self._commit(lines, "")], 3),
                  *block(pack, 1), "    return recorded"]
        loss_of = [f"def loss_of(state, {columns}):", *block(unpack, 1), "    N = len(D0)",
                   "    total = 0.0", "    for n in range(N):", *block(read + forward + loss, 2),
                   f"        total += {sample_loss}", f"    return total * ({'1.0 / N' if mean else '1.0'})"]
        outputs = [f"def outputs(state, out, {columns}):", *block(unpack, 1),
                   "    for n in range(len(out)):", *block(read + forward, 2),
                   *block([f"out[n, {j}] = {v}" for j, v in enumerate(lines.outputs)], 2), "    return 0"]
        source = "\n".join(["@JIT", *loss_of, "", "@JIT", *outputs, "", "@JIT", *train, ""])
        self.state_array = np.asarray([float(v) for v in self.state], dtype=np.float64)
        self._compile_native(source)
        if not self._agrees(first):
            # Machine code that does not reproduce the page's step is not used: compiled again.
            self._compile_native(source, keep=False)
            if not self._agrees(first):
                raise RuntimeError("numba engine: the compiled step differs from the derivation's")

    def _agrees(self, first: Derivation) -> bool:
        """One step on the first sample (which also compiles every function, or loads it, now
        rather than in the first epoch) against the derivation's numbers of that step."""
        import math

        import numpy as np

        state = self.state_array.copy()
        history = np.zeros(1)
        one = [column[:1] for column in self.columns]
        with np.errstate(all="ignore"):
            self._native["train"](state, 1, 1, np.ones(1, dtype=np.bool_), history, *one)
            loss = self._native["loss_of"](self.state_array, *one)
            self._native["outputs"](self.state_array, np.zeros((1, self.network.outputs)), *one)
        expected = [first.loss, first.loss, *(row.after for row in first.parameters)]
        found = [float(history[0]), float(loss), *(float(v) for v in state[:len(first.parameters)])]
        return all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
                   for a, b in zip(found, expected, strict=True))

    def _compile_native(self, body: str, keep: bool = True) -> None:
        check_source(body, {*SCALAR, "JIT", "min", "max"})
        self.source = body
        folder = _folder() if keep else None
        if folder is not None and not _private(folder):
            folder = None
        if folder is None:
            self.cached = None
            scope: dict[str, Any] = {}
            exec(compile(HEADER.format(cache=False) + body, "<backprop-cli numba>", "exec"), scope)  # noqa: S102
            self._native = scope
            return
        text = HEADER.format(cache=True) + body
        key = hashlib.sha256(f"{versions()}\n{text}".encode()).hexdigest()[:32]
        path = folder / f"fused_{key}.py"
        self.cached = _same_text(path, text) and any(folder.glob(f"__pycache__/fused_{key}*.nbi"))
        if not _same_text(path, text):
            from backprop_cli.io import write_atomic

            write_atomic(path, text, force=True)
        # A module of each file: numba's cache is kept beside the file the module was loaded from.
        name = f"backprop_cli_fused_{hashlib.sha256(str(path).encode()).hexdigest()[:32]}"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # numba's cache finds the module by name when it loads
            spec.loader.exec_module(module)
        self._native = vars(sys.modules[name])

    # --- running --------------------------------------------------------------------------

    def run(self, start: int, count: int, logged: Container[int], stop: list[bool]) -> tuple[int, Logged]:
        import numpy as np

        epochs, mask = logged_mask(start, count, logged)
        history = np.empty(len(epochs))
        with np.errstate(all="ignore"):
            recorded = self._native["train"](self.state_array, start, count, mask, history, *self.columns)
        self.state = tuple(float(v) for v in self.state_array)
        self.epochs_done += count
        return count, [(epoch, float(value)) for epoch, value in zip(epochs, history[:recorded], strict=True)]

    def evaluate(self, rows: int) -> tuple[float, tuple[Vector, ...]]:
        import numpy as np

        loss = float(self._native["loss_of"](self.state_array, *self.columns))
        out = np.empty((min(rows, self.samples), self.network.outputs))
        self._native["outputs"](self.state_array, out, *self.columns)
        return loss, tuple(tuple(float(v) for v in row) for row in out)


def _folder() -> Path | None:
    setting = os.environ.get("BACKPROP_CACHE_DIR")
    if setting == "off":
        return None
    base = Path(setting) if setting else Path(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")) / "backprop-cli"
    return base / "numba"


def _private(folder: Path) -> bool:
    """Create ``folder`` (owner only) if need be; whether it is the user's and no one else can write it,
    as a folder whose code is run must be. A folder that cannot be made means nothing is kept."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return False
    owner = not hasattr(os, "getuid") or info.st_uid == os.getuid()
    return owner and not folder.is_symlink() and info.st_mode & 0o022 == 0


def _same_text(path: Path, text: str) -> bool:
    try:
        return path.is_file() and not path.is_symlink() and path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False
