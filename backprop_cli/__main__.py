"""The ``backprop`` command and ``python -m backprop_cli``: ``cli.run``, for ``backprop verify`` with
its autograd child started first, before typer and the rest load (``autograd.Autograd.ahead``)."""

from __future__ import annotations

import sys
from typing import Any


def run() -> None:
    """Console-script entry point."""
    ahead: Any = None
    if [arg for arg in sys.argv[1:] if arg != "--verbose"][:1] == ["verify"]:
        from backprop_cli.autograd import Autograd

        ahead = Autograd.ahead()
    from backprop_cli.cli import run as run_command

    run_command(ahead)


if __name__ == "__main__":
    run()
