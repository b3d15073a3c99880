"""Derivations the renderer tests share: the seed, and cases that exercise every part of a page."""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Derivation, Group, Matrix, MatrixStep, Options, Section
from backprop_cli.locales import say
from backprop_cli.model import SEED, SEED_X, SEED_Y, Layer, Network, Optimizer
from backprop_cli.notation import LOSS, MatMul, Node, Partial, Transpose


def seed(**options: object) -> Derivation:
    return build_derivation(SEED, SEED_X, SEED_Y, Options(**options))  # type: ignore[arg-type]


def mazur() -> Derivation:
    """Mazur's 2-2-2 example: half_sse, frozen biases (the frozen mark and its note)."""
    network = Network(
        (Layer(((0.15, 0.20), (0.25, 0.30)), (0.35, 0.35), "sigmoid", freeze_bias=True),
         Layer(((0.40, 0.45), (0.50, 0.55)), (0.60, 0.60), "sigmoid", freeze_bias=True)),
        loss="half_sse", lr=0.5)
    return build_derivation(network, ((0.05, 0.10),), ((0.01, 0.99),), Options(form="scalar"))


def batch() -> Derivation:
    """Two samples worked in scalar form, rounded as on paper."""
    return build_derivation(SEED, ((1.0, 1.0), (0.0, 1.0)), ((0.0,), (1.0,)),
                            Options(form="scalar", rounding="carry"))


def adam_softmax() -> Derivation:
    """tanh then softmax with cross-entropy, Adam: fractions, square roots, optimizer states."""
    network = Network((Layer(((0.1, -0.2), (0.3, 0.4)), (0.0, 0.1), "tanh"),
                       Layer(((0.5, -0.5), (0.2, 0.1), (0.3, 0.3)), (0.0, 0.0, 0.1), "softmax")),
                      loss="cross_entropy", lr=0.1, optimizer=Optimizer("adam"))
    return build_derivation(network, ((1.0, 2.0),), ((0.0, 1.0, 0.0),), Options(precision=3))


def matmul(a: Matrix, b: Matrix) -> Matrix:
    return Matrix(tuple(tuple(sum(x * y for x, y in zip(row, col, strict=True)) for col in zip(*b.rows, strict=True))
                        for row in a.rows))


def transpose(a: Matrix) -> Matrix:
    return Matrix(tuple(zip(*a.rows, strict=True)))


def matrix_steps() -> tuple[MatrixStep, MatrixStep]:
    """Hand-built matrix-form steps (as build_matrix writes them) for the seed's first layer, and a
    10 × 12 gradient that must be elided in the middle."""
    layer = SEED.layers[0]
    x = Matrix((SEED_X[0],))
    w = Matrix(layer.weight)
    assert layer.bias is not None
    b = Matrix((layer.bias,))
    product = matmul(x, transpose(w))
    z = Matrix(tuple(tuple(p + q for p, q in zip(row, b.rows[0], strict=True)) for row in product.rows))
    with_symbols = (Node("A", layer=0), Node("W", layer=1), Node("b", layer=1))
    with sp.evaluate(False):
        form = sp.Add(MatMul(with_symbols[0], Transpose(with_symbols[1])), with_symbols[2])
    first = MatrixStep(Node("Z", layer=1), (form,), z, numbers=form,
                       operands=tuple(zip(with_symbols, (x, w, b), strict=True)), note=say("note.bce_sigmoid"))
    # ∂𝓛/∂W⁽¹⁾ = δ⁽¹⁾ᵀA⁽⁰⁾ for 3 samples of 12 inputs and 10 units: 10 × 12, elided in the middle.
    delta = Matrix(tuple(tuple(round(0.013 * ((3 * i + 7 * j) % 11 - 5), 4) for j in range(10)) for i in range(3)))
    inputs = Matrix(tuple(tuple(((5 * i + 3 * j) % 7 - 3) / 2 for j in range(12)) for i in range(3)))
    delta_symbol, input_symbol = Node("Delta", layer=1), Node("A", layer=0)
    product = MatMul(Transpose(delta_symbol), input_symbol)
    second = MatrixStep(Partial(LOSS, Node("W", layer=1)), (product,), matmul(transpose(delta), inputs),
                        numbers=product, operands=((delta_symbol, delta), (input_symbol, inputs)))
    return first, second


def with_matrix_steps() -> Derivation:
    """The seed's page with a matrix-form section in front (renderers draw MatrixStep generically)."""
    first, second = matrix_steps()
    section = Section("forward", (Group(say("form.matrix"), (first, second)),))
    d = seed()
    return replace(d, sections=(section, *d.sections))
