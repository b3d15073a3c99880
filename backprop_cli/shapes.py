"""The ``shapes`` data set: small images of bars and crosses, and the convolutional network for them.

Each image is 1×6×6: a horizontal bar (class 0), a vertical bar (class 1) or a cross of both (class
2), three to six pixels long at a random place, on a faint random background; values to one decimal
so that a page prints them exactly. Generated from a seed, so every run (and every test) sees the
same images.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backprop_cli.model import Network

SIZE = 6
CLASSES = ("horizontal bar", "vertical bar", "cross")
SAMPLES = 300
"""The images of ``--data shapes``."""

Vector = tuple[float, ...]


def image(kind: int, rng: random.Random) -> Vector:
    """One image of class ``kind``, flat, row by row."""
    pixels = [[round(rng.uniform(0.0, 0.2), 1) for _ in range(SIZE)] for _ in range(SIZE)]
    length = rng.randint(3, SIZE)
    row, column = rng.randrange(SIZE), rng.randrange(SIZE)
    start_h, start_v = rng.randint(0, SIZE - length), rng.randint(0, SIZE - length)
    if kind in (0, 2):
        for j in range(start_h, start_h + length):
            pixels[row][j] = 1.0
    if kind in (1, 2):
        for i in range(start_v, start_v + length):
            pixels[i][column] = 1.0
    return tuple(v for line in pixels for v in line)


def shapes(count: int = SAMPLES, seed: int = 0) -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    """``count`` images, the classes in turn, and their one-hot targets."""
    rng = random.Random(seed)
    xs, ys = [], []
    for n in range(count):
        kind = n % len(CLASSES)
        xs.append(image(kind, rng))
        ys.append(tuple(1.0 if k == kind else 0.0 for k in range(len(CLASSES))))
    return tuple(xs), tuple(ys)


def samples() -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    """``--data shapes``: the images and their targets."""
    return shapes()


def network(seed: int = 0) -> Network:
    """The network ``--data shapes`` trains without ``--network``: a small random LeNet for 1×6×6 images
    over the three classes (``model.convolutional_network``)."""
    from backprop_cli.model import convolutional_network

    return convolutional_network((1, SIZE, SIZE), len(CLASSES), seed=seed)
