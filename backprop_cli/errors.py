"""User-facing errors.

Every mistake a user can make ends in a :class:`BackpropError` whose message is one line that
names the problem and, where there is one, the fix. ``cli.py`` prints it and exits with code 2.
"""

from __future__ import annotations


class BackpropError(Exception):
    """A problem with the user's input; the message is one line, shown as is."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class SpecError(BackpropError):
    """A network spec (file or command-line options) is malformed."""


class DataError(BackpropError):
    """Samples or a data file do not fit the network or cannot be read."""


class FormulaError(BackpropError):
    """A formula activation is not in the accepted language."""


class OutputError(BackpropError):
    """An output file cannot be written as asked."""
