"""What sympy derives, kept between runs: the derivatives of activations and losses.

Deriving σ(1 − σ) for sigmoid or (ŷ − y)/(ŷ(1 − ŷ)) for bce costs sympy tens of milliseconds in a
fresh process (``diff``, ``factor`` and the modules they load on first use), most of what
``backprop step`` spends beyond importing its libraries. The results are kept as plain JSON trees in
the user's cache folder, keyed by the definition they come from, sympy's version and this package's
source, and read back node by node through a whitelist of sympy classes: nothing in the file is
evaluated or run. An entry that is missing, unreadable or not understood is derived again, and a
folder that cannot be written just means nothing is kept. ``BACKPROP_CACHE_DIR`` sets the folder;
``BACKPROP_CACHE_DIR=off`` turns the cache off.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable
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
    digest = zlib.crc32(sp.__version__.encode())
    for name in ("functions.py", "derived.py", "notation.py"):
        try:
            digest = zlib.crc32((here / name).read_bytes(), digest)
        except OSError:
            digest = zlib.crc32(name.encode(), digest)
    return f"{digest:08x}"


class _Store:
    def __init__(self) -> None:
        self.loaded = False
        self.entries: dict[str, Any] = {}
        self.path: Path | None = None

    def load(self) -> None:
        self.loaded = True
        folder = _folder()
        if folder is None:
            return
        self.path = folder / f"derived-{_source_version()}.json"
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict):
            self.entries = data

    def save(self) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(self.entries), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:
            return


_STORE = _Store()


def derived(kind: str, definition: str, compute: Callable[[], T]) -> T:
    """``compute()`` (a sympy expression, a tuple of them, or None), kept between runs.

    Args:
        kind: what is derived (``activation.derivative`` …).
        definition: a text that determines the result, e.g. ``sympy.srepr`` of the definition.
        compute: derives the result when it is not kept yet.
    """
    if not _STORE.loaded:
        _STORE.load()
    key = f"{kind}|{definition}"
    tree = _STORE.entries.get(key)
    if tree is not None:
        try:
            result: T = _decode(tree)
            return result
        except (_Unknown, KeyError, IndexError, TypeError, ValueError):
            pass
    result = compute()
    try:
        _STORE.entries[key] = _encode(result)
    except _Unknown:
        return result
    _STORE.save()
    return result
