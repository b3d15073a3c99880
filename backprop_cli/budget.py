"""Bounds on what sympy may spend simplifying: a size estimate before, a time budget during.

Simplifying is cosmetic (σ(1 − σ) reads better than σ − σ²); the unsimplified form has the same
value. So a form too large to simplify cheaply, or a simplification that runs past its budget,
falls back to the form as it is.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sympy as sp

T = TypeVar("T")

MAX_DEGREE = 24
"""A rational function of higher (estimated) degree is not factored: factor's cost grows steeply."""
MAX_OPS = 120
"""An expression with more operations than this is not simplified."""
SIMPLIFY_SECONDS = 1.0
"""The time budget of one simplification (where a timer can interrupt it: the main thread)."""


class _OverBudget(Exception):
    pass


def degree_bound(expr: sp.Basic) -> int:
    """An upper bound of the degree of ``expr`` as a polynomial in its symbols, from its tree alone."""
    if expr.is_Symbol:
        return 1
    if expr.is_Number or not expr.args:
        return 0
    if isinstance(expr, sp.Pow):
        exponent = expr.exp
        if exponent.is_Integer:
            return degree_bound(expr.base) * abs(int(exponent))
        return degree_bound(expr.base) + degree_bound(exponent) + 1
    if isinstance(expr, sp.Mul):
        return sum(degree_bound(arg) for arg in expr.args)
    return max(degree_bound(arg) for arg in expr.args)


def cheap_enough(expr: sp.Basic) -> bool:
    """Whether simplifying ``expr`` stays within the size limits above."""
    return degree_bound(expr) <= MAX_DEGREE and sp.count_ops(expr) <= MAX_OPS


@contextmanager
def _timer(seconds: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def over(signum: int, frame: Any) -> None:
        raise _OverBudget

    previous = signal.signal(signal.SIGALRM, over)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def simplified(simplify: Callable[[], T], fallback: T, seconds: float = SIMPLIFY_SECONDS) -> T:
    """``simplify()`` if it finishes within ``seconds`` and without running out of resources; else ``fallback``."""
    try:
        with _timer(seconds):
            return simplify()
    except (_OverBudget, MemoryError, RecursionError, SystemError):
        return fallback
