"""What sympy derives, kept between runs: the derivatives of activations and losses.

Deriving σ(1 − σ) for sigmoid or (ŷ − y)/(ŷ(1 − ŷ)) for bce costs sympy tens of milliseconds in a
fresh process (``diff``, ``factor`` and the modules they load on first use), most of what
``backprop step`` spends beyond importing its libraries. The results are kept as plain JSON trees in
the user's cache folder, keyed by the definition they come from, sympy's version and this package's
source, and read back node by node through a whitelist of sympy classes: nothing in the file is
evaluated or run. An entry that is missing, unreadable or not understood is derived again, and a
folder that cannot be written just means nothing is kept. ``BACKPROP_CACHE_DIR`` sets the folder;
``BACKPROP_CACHE_DIR=off`` turns the cache off.

A cache must never change a number, so an entry is used only when it passes three checks: the
file is a regular file of bounded size (a FIFO or a device is never opened for reading), the
entry's SHA-256 matches its content (a damaged or hand-edited entry), and the derivative it holds
agrees, at a few points, with central differences of the function it is the derivative of
(computed by ``evalf`` at 40 digits from the definition, not from the cache). Anything else is
derived again, replaces the entry, and is said in one note (``backprop … --verbose``).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import sympy as sp

T = TypeVar("T")

_FUNCTIONS: dict[str, type] = {cls.__name__: cls for cls in (
    sp.exp, sp.log, sp.tanh, sp.sinh, sp.cosh, sp.sin, sp.cos, sp.atan, sp.erf, sp.Abs, sp.sign,
    sp.Heaviside, sp.DiracDelta)}
_RELATIONS: dict[str, type] = {cls.__name__: cls for cls in (
    sp.StrictGreaterThan, sp.GreaterThan, sp.StrictLessThan, sp.LessThan, sp.Equality, sp.Unequality)}
_OPERATIONS: dict[str, type] = {"Add": sp.Add, "Mul": sp.Mul, "Pow": sp.Pow, "Max": sp.Max, "Min": sp.Min}
_ASSUMPTIONS = ("real", "positive", "nonnegative", "negative", "integer")


class _Unknown(Exception):
    """An expression the cache does not store (it is derived afresh each time)."""


def _encode(expr: Any) -> Any:
    if expr is None:
        return None
    if isinstance(expr, tuple):
        return ["tuple", [_encode(e) for e in expr]]
    if isinstance(expr, sp.Dummy) or not isinstance(expr, sp.Basic):
        raise _Unknown(type(expr).__name__)
    if isinstance(expr, sp.Symbol):
        assumptions = {k: v for k, v in expr._assumptions_orig.items() if k in _ASSUMPTIONS}
        if len(assumptions) != len(expr._assumptions_orig) or type(expr) is not sp.Symbol:
            raise _Unknown(expr.name)
        return ["Symbol", expr.name, assumptions]
    if isinstance(expr, sp.Integer):
        return ["Integer", str(int(expr))]
    if isinstance(expr, sp.Rational):
        return ["Rational", str(int(expr.p)), str(int(expr.q))]
    if isinstance(expr, sp.Float):
        return ["Float", repr(float(expr))]
    if expr is sp.pi or expr is sp.E:
        return ["Constant", "pi" if expr is sp.pi else "E"]
    if expr is sp.true or expr is sp.false:
        return ["Boolean", expr is sp.true]
    name = type(expr).__name__
    if name in _FUNCTIONS or name in _RELATIONS or name in _OPERATIONS or name in ("Piecewise", "clamp_min"):
        return [name, [_encode(arg) for arg in expr.args]]
    if isinstance(expr, sp.functions.elementary.piecewise.ExprCondPair):
        return ["Pair", [_encode(arg) for arg in expr.args]]
    raise _Unknown(name)


def _decode(tree: Any) -> Any:
    if tree is None:
        return None
    kind = tree[0]
    if kind == "tuple":
        return tuple(_decode(e) for e in tree[1])
    if kind == "Symbol":
        name, assumptions = tree[1], tree[2]
        if not isinstance(name, str) or not all(k in _ASSUMPTIONS and isinstance(v, bool)
                                                for k, v in assumptions.items()):
            raise _Unknown("symbol")
        return sp.Symbol(name, **assumptions)
    if kind == "Integer":
        return sp.Integer(int(tree[1]))
    if kind == "Rational":
        return sp.Rational(int(tree[1]), int(tree[2]))
    if kind == "Float":
        return sp.Float(float(tree[1]))
    if kind == "Constant":
        return {"pi": sp.pi, "E": sp.E}[tree[1]]
    if kind == "Boolean":
        return sp.true if tree[1] is True else sp.false
    args = [_decode(arg) for arg in tree[1]]
    if kind == "Pair":
        return sp.functions.elementary.piecewise.ExprCondPair(*args)
    if kind == "Piecewise":
        return sp.Piecewise(*args, evaluate=False)
    if kind == "clamp_min":
        from backprop_cli.notation import clamp_min

        return clamp_min(*args, evaluate=False)
    cls = _OPERATIONS.get(kind) or _FUNCTIONS.get(kind) or _RELATIONS.get(kind)
    if cls is None:
        raise _Unknown(kind)
    return cls(*args, evaluate=False)


def _folder() -> Path | None:
    setting = os.environ.get("BACKPROP_CACHE_DIR")
    if setting == "off":
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "backprop-cli"


def _source_version() -> str:
    """A digest of the modules whose definitions the cached results come from."""
    here = Path(__file__).parent
    from backprop_cli import __version__

    digest = zlib.crc32(f"{sp.__version__}|{__version__}".encode())
    for name in ("functions.py", "formula.py", "derived.py", "notation.py"):
        try:
            digest = zlib.crc32((here / name).read_bytes(), digest)
        except OSError:
            digest = zlib.crc32(name.encode(), digest)
    return f"{digest:08x}"


MAX_CACHE_BYTES = 4_000_000
"""A cache file larger than this is not read (it is derived again and replaced)."""

_notes: list[str] = []
_note_sink: Callable[[str], None] | None = None


def set_note_sink(sink: Callable[[str], None] | None) -> None:
    """Where notes about ignored cache entries go (``--verbose``: stderr); None keeps them quiet."""
    global _note_sink
    _note_sink = sink


def _note(text: str) -> None:
    _notes.append(text)
    if _note_sink is not None:
        _note_sink(text)


def _read_regular(path: Path, limit: int) -> str | None:
    """The text of ``path`` if it is a regular file of at most ``limit`` bytes; else None (a note says why)."""
    try:
        # O_NONBLOCK: opening a FIFO for reading never waits for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as error:
        _note(f"cache: {path} cannot be opened ({error.strerror}); deriving again")
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            _note(f"cache: {path} is not a regular file; ignored")
            return None
        if info.st_size > limit:
            _note(f"cache: {path} is larger than {limit} bytes; ignored")
            return None
        data = os.read(fd, limit + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        _note(f"cache: {path} is not UTF-8; ignored")
        return None


def _digest(tree: Any) -> str:
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()


class _Store:
    def __init__(self) -> None:
        self.loaded = False
        self.entries: dict[str, Any] = {}
        self.path: Path | None = None
        self.writable = True

    def load(self) -> None:
        self.loaded = True
        folder = _folder()
        if folder is None:
            return
        self.path = folder / f"derived-{_source_version()}.json"
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
            _note(f"cache: {self.path} is not a regular file; nothing is read from it or written to it")
            self.writable = False
            return
        text = _read_regular(self.path, MAX_CACHE_BYTES)
        if text is None:
            return
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            _note(f"cache: {self.path} is not valid JSON; deriving again")
            return
        if isinstance(data, dict):
            self.entries = data

    def lookup(self, key: str) -> Any:
        entry = self.entries.get(key)
        if entry is None:
            return None
        if not (isinstance(entry, dict) and "tree" in entry and entry.get("sha256") == _digest(entry["tree"])):
            _note(f"cache: the entry for {key[:60]} fails its checksum; deriving again")
            return None
        return entry["tree"]

    def store(self, key: str, tree: Any) -> None:
        self.entries[key] = {"tree": tree, "sha256": _digest(tree)}

    def save(self) -> None:
        if self.path is None or not self.writable:
            return
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(self.entries))
            os.replace(temporary, self.path)
        except BaseException as error:  # OSError, or a signal unwinding: no temporary file is left
            try:
                temporary.unlink()
            except OSError:
                pass
            if not isinstance(error, OSError):
                raise


_STORE = _Store()

Check = Callable[[Any], bool]


def derived(kind: str, definition: str, compute: Callable[[], T], check: Check | None = None) -> T:
    """``compute()`` (a sympy expression, a tuple of them, or None), kept between runs.

    Args:
        kind: what is derived (``activation.derivative`` …).
        definition: a text that determines the result, e.g. ``sympy.srepr`` of the definition.
        compute: derives the result when it is not kept yet.
        check: whether a result is right (a numeric spot check, see :func:`derivatives_agree`).
            A kept result that fails it is derived again; a fresh one that fails it (a function
            the check cannot evaluate) is used but not kept.
    """
    if not _STORE.loaded:
        _STORE.load()
    key = f"{kind}|{definition}"
    tree = _STORE.lookup(key)
    if tree is not None:
        try:
            kept: T = _decode(tree)
        except (_Unknown, KeyError, IndexError, TypeError, ValueError, RecursionError):
            _note(f"cache: the entry for {key[:60]} cannot be read; deriving again")
        else:
            try:
                right = check is None or check(kept)
            except Exception:  # an entry that cannot even be evaluated is as wrong as a wrong one
                right = False
            if right:
                return kept
            _note(f"cache: the entry for {key[:60]} disagrees with its definition; deriving again")
    result = compute()
    try:
        encoded = _encode(result)
    except _Unknown:
        return result
    try:
        keep = check is None or check(result)
    except Exception:
        keep = False
    if keep:
        _STORE.store(key, encoded)
        _STORE.save()
    return result


SPOT_POINTS = (0.3719, -0.6143, 1.2871)
"""Where derivatives are spot-checked: away from 0 and ±1, where kinks and clamps sit."""
_STEP = 2.0**-17
"""The central difference's relative step, ≈ 7.6e-6: its truncation (≈ h²) and rounding (≈ ε/h) errors
are both near 3e-11 of the function's size, far below the tolerance (1e-8), which a wrong derivative
misses by a factor and a derivative off by one part in a million still misses."""
_TOLERANCE = 1e-8


def _number(expr: sp.Basic, at: Mapping[sp.Symbol, float]) -> float | None:
    """``expr`` at ``at`` in float64, by the evaluator the pages use (no sympy evaluation); None where
    it is not a finite real number."""
    import math

    from backprop_cli.evaluate import Evaluator

    try:
        value = Evaluator(dict(at))(expr)
    except (ArithmeticError, ValueError, TypeError, KeyError):
        return None
    return float(value) if isinstance(value, float | int) and math.isfinite(value) else None


def derivatives_agree(claims: Sequence[tuple[sp.Expr, sp.Expr, sp.Symbol]],
                      points: Sequence[Mapping[sp.Symbol, float]],
                      outputs: Mapping[sp.Symbol, sp.Expr] | None = None) -> bool:
    """Whether each claimed derivative equals the central difference of its function at ``points``.

    Args:
        claims: (claimed derivative, function, variable) triples.
        points: values of the functions' variables.
        outputs: symbols of the claims that stand for functions of the variables (``a = σ(x)``).

    Evaluated in float64 (the evaluator of the pages, a few microseconds a point): the difference
    quotient's error, about 3e-11, is far below the tolerance 1e-8·max(1, |f′|, |f|). A point where
    the function is not a finite real number is skipped; a claim that is not finite where the
    function is, is wrong. False if no point could be checked.
    """
    checked = 0
    for point in points:
        at = {s: float(v) for s, v in point.items()}
        if outputs:
            for symbol, expr in outputs.items():
                value = _number(expr, at)
                if value is None:
                    break
                at[symbol] = value
            if any(symbol not in at for symbol in outputs):
                continue
        for claimed, function, variable in claims:
            h = _STEP * max(1.0, abs(at[variable]))
            shifted = dict(at)
            shifted[variable] = at[variable] + h
            upper = _number(function, shifted)
            shifted[variable] = at[variable] - h
            lower = _number(function, shifted)
            middle = _number(function, at)
            if upper is None or lower is None or middle is None:
                continue
            slope = (upper - lower) / (2 * h)
            value = _number(claimed, at)
            if value is None or abs(value - slope) > _TOLERANCE * max(1.0, abs(slope), abs(middle)):
                return False
            checked += 1
    return checked > 0
