"""The ``hello`` data set: next-character prediction on the word "hello", and the recurrent network for it.

The characters h, e, l, o are one-hot vectors of 4; the input is "hell" (4 steps of 4 features), the
target at each step the character that follows ("ello"): a sample is 16 values in, 16 out, time
major. The network reads every step (``output = "all"``) and a dense layer with a sigmoid at every
step scores the four characters; bce covers every step and character, as ``nn.BCELoss`` does on
(N, T, 4). The "l" after "l" and the "l" after "e" need the state: the input alone ("l") is followed
once by "l" and once by "o".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backprop_cli.model import Network

Vector = tuple[float, ...]

WORD = "hello"
ALPHABET = "helo"
"""The characters, in the order of the one-hot vectors."""


def one_hot(text: str) -> Vector:
    """``text`` as one-hot vectors side by side, time major."""
    return tuple(1.0 if c == k else 0.0 for c in text for k in ALPHABET)


def hello() -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    """The one sample: "hell" in, "ello" out."""
    return (one_hot(WORD[:-1]),), (one_hot(WORD[1:]),)


def hello_network(seed: int = 0, kind: str = "rnn", hidden: int = 8) -> Network:
    """A ``kind`` layer of ``hidden`` units over the 4 steps, then a sigmoid dense layer at every step;
    bce, SGD with learning rate 1. Weights as torch initialises them, to 4 decimals."""
    from backprop_cli.io import parse_spec

    steps = len(WORD) - 1
    document = {
        "loss": "bce", "lr": 1.0, "seed": seed, "init": "uniform", "input_shape": [steps, len(ALPHABET)],
        "layers": [{"kind": kind, "hidden_size": hidden, "output": "all"},
                   {"units": len(ALPHABET), "activation": "sigmoid"}],
    }
    return parse_spec(document).network


def samples() -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    """``--data hello``: its one sample."""
    return hello()


def network(seed: int = 0) -> Network:
    """The network ``--data hello`` trains without ``--network``."""
    return hello_network(seed=seed)
