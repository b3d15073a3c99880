"""The symbols a derivation is written in: W₅, z₃, σ₁, ŷ, 𝓛, δ₃, ∂𝓛/∂W₅ …

Each is a sympy object, so derivations are ordinary sympy expressions, and each carries the
glyph that every printer (text, LaTeX, MathML) draws it with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

# Base letters: the text form and the LaTeX form.
_BASES: dict[str, tuple[str, str]] = {
    "x": ("x", "x"),
    "y": ("y", "y"),
    "yhat": ("ŷ", r"\hat{y}"),
    "z": ("z", "z"),
    "a": ("a", "a"),
    "sigma": ("σ", r"\sigma"),
    "W": ("W", "W"),
    "b": ("b", "b"),
    "L": ("𝓛", r"\mathcal{L}"),
    "delta": ("δ", r"\delta"),
    "alpha": ("α", r"\alpha"),
    "X": ("X", "X"),
    "Y": ("Y", "Y"),
    "Yhat": ("Ŷ", r"\hat{Y}"),
    "Z": ("Z", "Z"),
    "A": ("A", "A"),
    "Delta": ("δ", r"\delta"),
    "v": ("v", "v"),
    "velocity": ("v", "v"),  # momentum's velocity in the textbook form v = μv − αg
    "m": ("m", "m"),
    "mhat": ("m̂", r"\hat{m}"),
    "vhat": ("v̂", r"\hat{v}"),
    "beta": ("β", r"\beta"),
    "mu": ("μ", r"\mu"),
    "epsilon": ("ε", r"\epsilon"),
    "g": ("g", "g"),
    "t": ("t", "t"),
    "ell": ("ℓ", r"\ell"),
    "gamma": ("γ", r"\gamma"),
    "var": ("σ²", r"{\sigma^2}"),  # braced: a layer's superscript follows (σ²⁽³⁾ is {\sigma^2}^{(3)})
    "Xhat": ("X̂", r"\hat{X}"),
    "xhat": ("x̂", r"\hat{x}"),
    "lambda": ("λ", r"\lambda"),
    "rho": ("ρ", r"\rho"),
    "gbar": ("ḡ", r"\bar{g}"),
    "B": ("B", "B"),
    "theta": ("θ̃", r"\tilde{\theta}"),
    "rmean": ("μ̄", r"\bar{\mu}"),
    "rvar": ("σ̄²", r"{\bar{\sigma}^2}"),
    "M": ("M", "M"),
    "q": ("q", "q"),  # attention's scalar page: q, k and s (the scores) of a token
    "k": ("k", "k"),
    "s": ("s", "s"),
    "p": ("p", "p"),
    "K": ("K", "K"),
    "U": ("U", "U"),
    "Ztilde": ("Z̃", r"\tilde{Z}"),
    "H": ("H", "H"),
    "C": ("C", "C"),
    "I": ("I", "I"),
    "F": ("F", "F"),
    "G": ("G", "G"),
    "O": ("O", "O"),
    "R": ("R", "R"),
    "N": ("N", "N"),
    "Q": ("Q", "Q"),
    "S": ("S", "S"),
    "V": ("V", "V"),
    "d": ("d", "d"),
    "E": ("E", "E"),
    "P": ("P", "P"),
    # A recurrent layer's units on the scalar page: h⁽ˡ⁾_t,j, c⁽ˡ⁾_t,j and the gates i, f, o, r, n.
    "h": ("h", "h"),
    "c": ("c", "c"),
    "i": ("i", "i"),
    "f": ("f", "f"),
    "o": ("o", "o"),
    "r": ("r", "r"),
    "n": ("n", "n"),
}


@dataclass(frozen=True)
class Glyph:
    """How a node is drawn: base letter, subscript, layer superscript and a suffix."""

    base: str
    index: str | None = None
    layer: str | None = None
    sample: str | None = None
    suffix: str = ""

    @property
    def base_text(self) -> str:
        return _BASES[self.base][0]

    @property
    def base_latex(self) -> str:
        return _BASES[self.base][1]


class Node(sp.Symbol):
    """A named quantity of the derivation (a sympy Symbol that knows its glyph)."""

    glyph: Glyph

    def __new__(
        cls, base: str, index: int | str | None = None, *, layer: int | None = None,
        sample: int | None = None, suffix: str = "",
    ) -> Node:
        if base not in _BASES:
            raise KeyError(base)
        glyph = Glyph(
            base,
            None if index is None else str(index),
            None if layer is None else str(layer),
            None if sample is None else str(sample),
            suffix,
        )
        name = base + (f"_{glyph.index}" if glyph.index else "")
        name += f"^({glyph.layer})" if glyph.layer else ""
        name += f"^[{glyph.sample}]" if glyph.sample else ""
        name += suffix
        obj: Node = super().__new__(cls, name, real=True)
        obj.glyph = glyph
        return obj

    def __getnewargs_ex__(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        glyph = self.glyph
        return (glyph.base, glyph.index), {
            "layer": None if glyph.layer is None else int(glyph.layer),
            "sample": None if glyph.sample is None else int(glyph.sample),
            "suffix": glyph.suffix,
        }


class Partial(sp.Expr):
    """The partial derivative ∂of/∂wrt, as one symbol: its value is a number of the derivation."""

    is_commutative = True
    is_real = True

    def __new__(cls, of: sp.Expr, wrt: sp.Expr) -> Partial:
        obj: Partial = sp.Expr.__new__(cls, of, wrt)
        return obj

    @property
    def of(self) -> sp.Expr:
        return self.args[0]

    @property
    def wrt(self) -> sp.Expr:
        return self.args[1]

    def _eval_derivative(self, s: sp.Symbol) -> sp.Expr:
        return sp.S.Zero


class State(sp.Expr):
    """An optimizer's per-parameter state: v[W₁](t), m[W₁](t+1), m̂[W₁] …"""

    is_commutative = True
    is_real = True

    def __new__(cls, kind: str, parameter: Node, time: str = "") -> State:
        obj: State = sp.Expr.__new__(cls, Node(kind), parameter, sp.Symbol(time or "_"))
        return obj

    @property
    def kind(self) -> Node:
        return self.args[0]

    @property
    def parameter(self) -> Node:
        return self.args[1]

    @property
    def time(self) -> str:
        name = self.args[2].name
        return "" if name == "_" else name

    def _eval_derivative(self, s: sp.Symbol) -> sp.Expr:
        return sp.S.Zero


class clamp_min(sp.Function):
    """``torch.clamp_min(x, floor)``: x where it is at least ``floor``, else ``floor``; nan stays nan.

    Written into an expression where PyTorch clamps (bce's logs, its derivative's denominator), so
    that the numeric form of a line says exactly what is computed.
    """

    nargs = 2

    @classmethod
    def eval(cls, x: sp.Expr, floor: sp.Expr) -> sp.Expr | None:
        if x.is_Number and floor.is_Number and x is not sp.nan:
            return x if x >= floor else floor
        return None


class MatrixOperation(sp.Expr):
    """A matrix operation of the notation, kept as written: sympy neither evaluates nor reorders it."""

    is_commutative = False


class MatMul(MatrixOperation):
    """A matrix product, kept in the order written: A⁽⁰⁾W⁽¹⁾ᵀ."""


class Transpose(MatrixOperation):
    """Xᵀ."""


class Hadamard(MatrixOperation):
    """The element-wise product a ⊙ b."""


class ColumnSum(MatrixOperation):
    """The sums of a matrix's columns, 1ᵀX: the bias gradient of a batch."""


class Correlate(MatrixOperation):
    """A ⋆ K: the cross-correlation of feature maps with kernels (what nn.Conv2d computes)."""


class Convolve(MatrixOperation):
    """δ ∗ K: the full convolution (δ padded by the kernel's size less one, the kernel flipped):
    what a convolution hands back to its input."""


class Elementwise(sp.Expr):
    """A function applied to every element: σ(Z⁽¹⁾), f′(Z⁽¹⁾), softmax(Z⁽²⁾) (row by row)."""

    is_commutative = False

    def __new__(cls, name: str, arg: sp.Basic, prime: bool = False) -> Elementwise:
        obj: Elementwise = sp.Expr.__new__(cls, sp.Symbol(name), arg, sp.true if prime else sp.false)
        return obj

    @property
    def name(self) -> str:
        return str(self.args[0].name)

    @property
    def arg(self) -> sp.Basic:
        return self.args[1]

    @property
    def prime(self) -> bool:
        return bool(self.args[2])


def activation_forms(applied: Elementwise, formula: sp.Basic) -> tuple[sp.Basic, ...]:
    """The right sides of ``A = f(Z) = formula``: the formula left out where it only repeats f(Z).

    tanh's formula is sympy's tanh(Z), which prints as the name applied: A = tanh(Z) = tanh(Z).
    """
    if isinstance(formula, sp.Function) and type(formula).__name__ == applied.name and formula.args == (applied.arg,):
        return (applied,)
    return (applied, hadamard_form(formula))


class FirstMax(sp.Expr):
    """``𝟙[x = m]``: 1 where ``x`` is the maximum ``m`` of its window and none of the window's
    ``earlier`` entries is (the first maximum on a tie, as torch's max pooling routes), else 0."""

    is_commutative = True
    is_real = True

    def __new__(cls, x: sp.Basic, maximum: sp.Basic, *earlier: sp.Basic) -> FirstMax:
        obj: FirstMax = sp.Expr.__new__(cls, x, maximum, *earlier)
        return obj

    def _eval_derivative(self, s: sp.Symbol) -> sp.Expr:
        return sp.S.Zero


class Elided(sp.Expr):
    """``⋯``: terms of a long sum left out of the printed line (the value counts every one)."""

    is_commutative = True

    def __new__(cls, count: int) -> Elided:
        obj: Elided = sp.Expr.__new__(cls, sp.Integer(count))
        return obj


class ElementSum(sp.Expr):
    """The sum over every element of a matrix: Σₙₖ (over samples n and outputs k)."""

    is_commutative = True

    def __new__(cls, arg: sp.Basic, over: str = "n,k") -> ElementSum:
        obj: ElementSum = sp.Expr.__new__(cls, arg, sp.Symbol(over))
        return obj

    @property
    def over(self) -> str:
        return str(self.args[1].name)


# Building expressions as written. sympy.evaluate(False) would do it too, but entering and leaving
# that context clears sympy's caches each time, which costs start-up time on every step.


def add(*terms: sp.Basic) -> sp.Basic:
    """``a + b + …`` as written (one term: the term itself)."""
    return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)


def mul(*factors: sp.Basic) -> sp.Basic:
    """``a·b·…`` as written."""
    return factors[0] if len(factors) == 1 else sp.Mul(*factors, evaluate=False)


def neg(term: sp.Basic) -> sp.Basic:
    """``-a`` as written."""
    return sp.Mul(sp.S.NegativeOne, term, evaluate=False)


def power(base: sp.Basic, exponent: sp.Basic | int) -> sp.Basic:
    """``base**exponent`` as written."""
    return sp.Pow(base, exponent, evaluate=False)


def replace(expr: sp.Basic, mapping: dict[sp.Basic, sp.Basic]) -> sp.Basic:
    """``expr.xreplace(mapping)`` keeping sums, products and powers as written."""
    found = mapping.get(expr)
    if found is not None:
        return found
    if not expr.args or isinstance(expr, (Node, Partial)):
        return expr
    args = tuple(replace(arg, mapping) for arg in expr.args)
    if args == expr.args:
        return expr
    return rebuild(expr, args)


def rebuild(expr: sp.Basic, args: Sequence[sp.Basic]) -> sp.Basic:
    """``expr`` with other arguments, as written: sympy does not simplify it on the way."""
    if isinstance(expr, (sp.Add, sp.Mul, sp.Pow, sp.Function, sp.Max, sp.Min, sp.Piecewise,
                         sp.core.relational.Relational)):
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


def hadamard_form(expr: sp.Basic) -> sp.Basic:
    """Write the products of an element-wise expression with ⊙: σ(1 − σ) → A ⊙ (1 − A)."""
    if isinstance(expr, sp.Mul):
        coefficient: list[sp.Basic] = []
        factors: list[sp.Basic] = []
        for arg in expr.args:
            (coefficient if arg.is_Number else factors).append(hadamard_form(arg))
        if len(factors) > 1 and not any(isinstance(f, sp.Pow) and f.exp.is_negative for f in factors):
            # Symbols before sums, as σ(1 − σ) is written: A ⊙ (1 − A); with a function among
            # them the order is the definition's: (1 − Y) ⊙ log(1 − Ŷ).
            if not any(isinstance(f, sp.Function) for f in factors):
                factors.sort(key=lambda f: 1 if isinstance(f.as_base_exp()[0], sp.Add) else 0)
            product: sp.Basic = Hadamard(*factors)
            return mul(*coefficient, product) if coefficient else product
    if expr.args and not isinstance(expr, (Node, Partial)):
        args = tuple(hadamard_form(a) for a in expr.args)
        if isinstance(expr, (sp.Add, sp.Mul, sp.Pow)):
            return expr.func(*args, evaluate=False)
        return expr.func(*args)
    return expr


LOSS = Node("L")
ALPHA = Node("alpha")


def at_time(symbol: Node, time: str = "t") -> Node:
    """The parameter at a step of training: W₅ → W₅(t)."""
    glyph = symbol.glyph
    layer = None if glyph.layer is None else int(glyph.layer)
    return Node(glyph.base, glyph.index, layer=layer, suffix=f"({time})")


def updated(symbol: Node) -> Node:
    """The parameter after the update: W₅ → W₅(t+1)."""
    return at_time(symbol, "t+1")
