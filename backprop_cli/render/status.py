"""A line on stderr while a command works for more than a second (a spinner and what it does),
gone when the work ends. Only on a terminal: pipes and files see nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

DELAY = 1.0
"""Seconds of work before the line appears: instant commands never show it."""


@contextmanager
def working(message: str, enabled: bool, delay: float = DELAY,
            console: Any = None) -> Iterator[Callable[[], None]]:
    """Show ``message`` with a spinner once the body has run for ``delay`` seconds; the body gets a
    function that ends the spinner early (when a progress bar takes over)."""
    if not enabled:
        yield lambda: None
        return
    from rich.console import Console
    from rich.status import Status

    status = Status(message, console=console or Console(stderr=True))
    lock = threading.Lock()
    shown = [False]

    def show() -> None:
        with lock:
            if not shown[0]:
                shown[0] = True
                status.start()

    def end() -> None:
        timer.cancel()
        with lock:
            if shown[0]:
                status.stop()
            shown[0] = True

    timer = threading.Timer(delay, show)
    timer.daemon = True
    timer.start()
    try:
        yield end
    finally:
        end()
