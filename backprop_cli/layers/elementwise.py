"""An activation over numpy arrays, compiled from its sympy definition (functions.py).

The function and its derivative are printed to numpy source by the compiled engine's printer
(``codegen.array_function``); softmax is computed row by row with its maximum subtracted, as
PyTorch does. The derivative is taken in terms of the output where sympy can write it so
(σ′ = σ(1 − σ) needs only A), else of the input.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from backprop_cli import functions
from backprop_cli.engines.codegen import array_function

Array = Any  # numpy.ndarray


@cache
def numpy_activation(name: str) -> NumpyActivation:
    """The compiled functions of the activation ``name`` (compiled once per run)."""
    return NumpyActivation(name)


class NumpyActivation:
    """One activation's function and derivative over arrays, from its sympy definition."""

    def __init__(self, name: str) -> None:
        activation = functions.activation(name)
        self.name = name
        self.row_wise = activation if isinstance(activation, functions.Softmax) else None
        self.softmax = self.row_wise is not None
        self.of_output = True
        self.of_negated = name == "sigmoid"
        """Whether ``negated_into`` computes it from −z (the numpy engine's chunked pass negates the
        weights instead of z)."""
        if isinstance(activation, functions.Activation):
            self.f = array_function(activation.expr, functions.X)
            in_output = activation.derivative_of_output
            self.of_output = in_output is not None
            if in_output is not None:
                self.df = array_function(in_output, functions.OUT)
            else:
                self.df = array_function(activation.derivative, functions.X)

    def forward(self, z: Array) -> Array:
        if self.row_wise is not None:
            return self.row_wise.array(z)
        return broadcast(self.f(z), z)

    def local(self, z: Array, a: Array) -> Array:
        """f′ at these units, element-wise (not for softmax, whose Jacobian is not diagonal)."""
        return self.df(a) if self.of_output else self.df(z)

    def forward_into(self, z: Array, out: Array) -> Array:
        """``forward(z)`` written into ``out`` (an array of z's shape): in place, one pass or a few
        over arrays the caller keeps, for the built-in functions (the numpy engine's chunked pass)."""
        if self.name == "sigmoid":  # 1/(1 + exp(−z)), as the compiled definition computes it
            np.negative(z, out=out)
            np.exp(out, out=out)
            out += 1
            np.divide(1, out, out=out)  # numpy's division runs in vector instructions, its reciprocal not
        elif self.name == "tanh":
            np.tanh(z, out=out)
        elif self.name == "relu":
            np.maximum(z, 0, out=out)
        else:
            out[...] = self.forward(z)
        return out

    def negated_into(self, a: Array) -> Array:
        """f(z) in place of −z in ``a``, for a function with ``of_negated``: the sigmoid's
        1/(1 + exp(−z)), three passes (numpy's division is vectorised, its reciprocal not)."""
        np.exp(a, out=a)
        a += 1
        np.divide(1, a, out=a)
        return a

    def backward_into(self, z: Array, a: Array, G: Array, scratch: Array) -> Array:
        """``G ⊙ f′`` into ``G``, ``scratch`` an array of G's shape the function may overwrite: the
        built-in functions' derivatives in place, from the output where torch takes them from it
        (σ′ = σ(1 − σ), tanh′ = 1 − tanh²)."""
        if self.name == "sigmoid":
            np.subtract(1, a, out=scratch)
            scratch *= a
            G *= scratch
        elif self.name == "tanh":
            np.multiply(a, a, out=scratch)
            np.subtract(1, scratch, out=scratch)
            G *= scratch
        elif self.name == "relu":
            np.greater(z, 0, out=scratch)
            G *= scratch
        else:
            G *= self.local(z, a)
        return G

    def backward(self, z: Array, a: Array, G: Array) -> Array:
        """∂𝓛/∂z from ∂𝓛/∂a = G: G ⊙ f′ (into G itself, which the caller hands over), or softmax's
        Jacobian row by row."""
        if self.row_wise is not None:
            return self.row_wise.array_backward(a, G)
        G *= self.local(z, a)
        return G


def broadcast(value: Any, like: Array) -> Array:
    """``value`` as an array of ``like``'s shape (a constant derivative comes back as a scalar)."""
    return value if np.shape(value) == like.shape else np.broadcast_to(value, like.shape).astype(like.dtype)
