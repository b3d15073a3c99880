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


def after_update(error: BackpropError, lr: float) -> BackpropError:
    """``error`` raised by the network after this step's update, said to be about that network: its
    values are on no line of the page."""
    return type(error)(
        f"the step is worked out, but the network after its update (learning rate {lr:g}) fails:"
        f" {error}; a smaller --lr keeps it where the loss is defined")
