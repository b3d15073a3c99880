"""``layer_norm``: ``nn.LayerNorm`` over each sample's features.

Per sample (a row), over its F features: ``μ = (1/F) rowsum(A)``, ``σ² = (1/F) rowsum((A − μ) ⊙ (A − μ))``,
``X̂ = (A − μ) ⊙ (σ² + ε)^(−1/2)``, ``Y = X̂ ⊙ γ + β``; backward
``∂𝓛/∂A = (1/F)(σ² + ε)^(−1/2) ⊙ (F ∂𝓛/∂X̂ − rowsum(∂𝓛/∂X̂) − X̂ ⊙ rowsum(∂𝓛/∂X̂ ⊙ X̂))``, the compact
form of the chain rule through μ and σ² (batch_norm's page works it out step by step, over columns).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import SpecError
from backprop_cli.layers.base import Array, Kind, NumpyRun, Path, SpecContext
from backprop_cli.layers.batch_norm import normalization_settings
from backprop_cli.layers.token_rows import flat_output, hand_back, token_rows, upstream_rows

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message

Vector = tuple[float, ...]


@dataclass(frozen=True)
class LayerNorm(Kind):
    """Layer normalisation over ``normalized_shape`` features.

    Args:
        weight: γ, one per feature (None without ``elementwise_affine``).
        bias: β, one per feature (None without ``elementwise_affine``).
        features: the number of features normalised.
        eps: added to the variance.
        steps: for a sequence ((T, features) a sample), T: each token is normalised on its own, as
            nn.LayerNorm(features) does on (N, T, features); None for one vector a sample.
    """

    weight: Vector | None
    bias: Vector | None
    features: int
    eps: float = 1e-5
    steps: int | None = None

    kind = "layer_norm"
    tokenwise = True
    keys = ("kind", "normalized_shape", "eps", "elementwise_affine", "weight", "bias")
    parameter_names = ("weight", "bias")
    glyphs = {"weight": "gamma", "bias": "beta"}
    state_names = ("weight", "bias")

    @classmethod
    def state_table(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        return dict(values) if "weight" in values else {**values, "elementwise_affine": False}

    @classmethod
    def recognizes_state(cls, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        return len(shapes.get("weight", ())) == 1 and set(shapes) <= {"weight", "bias"}

    def in_features(self) -> int:
        return self.features * (self.steps or 1)

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self.steps, self.features) if self.steps else (self.features,)

    def input_shape(self) -> tuple[int, ...] | None:
        return (self.steps, self.features) if self.steps else None

    def time_steps(self, before: int | None) -> int | None:
        return self.steps

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> LayerNorm:
        shape = context.in_shape if context.steps else None
        if shape is not None:
            context = replace(context, in_features=shape[1])
        settings, size = normalization_settings(cls, document, where, context, "normalized_shape",
                                                "elementwise_affine")
        if shape is not None and size != shape[1]:
            raise SpecError(f"{where}: normalizes {size} features but each token of the input has {shape[1]}")
        return cls(features=size, steps=shape[0] if shape is not None else None, **settings)

    def to_spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": self.kind, "normalized_shape": self.features, "eps": self.eps}
        if self.weight is None:
            entry["elementwise_affine"] = False
        else:
            entry["weight"] = list(self.weight)
            entry["bias"] = list(self.bias or ())
        return entry

    # --- numbers ----------------------------------------------------------------------------

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        import numpy as np

        samples = X.shape[0]
        X = X.reshape(-1, self.features)  # a row per token of a sequence
        mu = X.mean(axis=1, keepdims=True)
        centered = X - mu
        var = (centered * centered).mean(axis=1, keepdims=True)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = centered * inv
        gamma, beta = run.param(path, "weight"), run.param(path, "bias")
        run.cache[path] = {"xhat": xhat, "inv": inv}
        return (xhat if gamma is None else xhat * gamma + beta).reshape(samples, -1)

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        cache = run.cache[path]
        xhat, inv = cache["xhat"], cache["inv"]
        gamma = run.param(path, "weight")
        samples = G.shape[0]
        G = G.reshape(-1, self.features)
        if gamma is not None:
            run.grads[(path, "weight")] = (G * xhat).sum(axis=0)
            run.grads[(path, "bias")] = G.sum(axis=0)
            G = G * gamma
        F = xhat.shape[1]
        back = inv / F * (F * G - G.sum(axis=1, keepdims=True) - xhat * (G * xhat).sum(axis=1, keepdims=True))
        return back.reshape(samples, -1)

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        module = torch.nn.LayerNorm(self.features, eps=self.eps, elementwise_affine=self.weight is not None,
                                    dtype=torch.float64)
        if self.weight is not None:
            with torch.no_grad():
                module.weight.copy_(torch.tensor(self.weight, dtype=torch.float64))
                module.bias.copy_(torch.tensor(self.bias, dtype=torch.float64))
        if self.steps:
            return torch.nn.Sequential(torch.nn.Unflatten(1, (self.steps, self.features)), module, torch.nn.Flatten())
        return module

    def torch_parameters(self, module: Any) -> dict[str, Any]:
        inner = module[1] if self.steps else module
        return {name: getattr(inner, name) for name in self.parameters()}

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import say

        if self.steps:
            return say("kind.layer_norm.title_tokens", layer=number, units=self.features, steps=self.steps,
                       eps=f"{self.eps:g}")
        return say("kind.layer_norm.title", layer=number, units=in_features, eps=f"{self.eps:g}")

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        import sympy as sp

        from backprop_cli.locales import say
        from backprop_cli.notation import add, mul, neg, power

        if self.steps:
            from backprop_cli.errors import BackpropError

            raise BackpropError("form: layer norm at every token of a sequence is worked in the matrix form"
                                " (a row per token); use --form matrix (or auto)")
        F = self.features
        eps = page.constant("epsilon", path, self.eps)
        gamma = page.parameter(path, "weight") if self.weight is not None else None
        beta = page.parameter(path, "bias") if self.bias is not None else None
        steps, outputs = [], []
        for n, row in enumerate(inputs):
            mu, var = page.node("mu", path, None, n), page.node("var", path, None, n)
            steps.append(page.define(path, mu, mul(sp.Rational(1, F), add(*row)),
                                     note=say("kind.layer_norm.mean", features=F) if n == 0 else None))
            steps.append(page.define(path, var, mul(sp.Rational(1, F), add(*(power(add(x, neg(mu)), 2)
                                                                            for x in row)))))
            out = []
            for j, x in enumerate(row):
                xhat = page.node("xhat", path, j, n)
                steps.append(page.define(path, xhat, mul(add(x, neg(mu)), power(add(var, eps), sp.Rational(-1, 2)))))
                a = page.output(path, j, n)
                expr = xhat if gamma is None or beta is None else add(mul(xhat, gamma[j]), beta[j])
                steps.append(page.define(path, a, expr))
                out.append(a)
            outputs.append(out)
        page.outputs_of[path] = outputs
        return steps

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        import sympy as sp

        from backprop_cli.locales import say
        from backprop_cli.notation import Elementwise, Hadamard, Node, add, mul, neg, power

        n = page.number(path)
        values = page.arrays
        F = self.features
        mu, var, eps, xhat = Node("mu", layer=n), Node("var", layer=n), Node("epsilon", layer=n), Node("Xhat", layer=n)
        values[eps] = self.eps
        tokens: list[MatrixStep] = []
        if self.steps:
            line, inputs = token_rows(page, path, inputs, F, say("kind.layer_norm.tokens", steps=self.steps))
            tokens.append(line)
        output = Node("O", layer=n) if self.steps else page.A(n)
        lead = () if self.steps else page.output_lead(path)
        centered = add(inputs, neg(mu))
        steps = tokens + [
            page.record(values, mu, (mul(sp.Rational(1, F), Elementwise("rowsum", inputs)),),
                        note=say("kind.layer_norm.mean" + ("_tokens" if self.steps else ""), features=F)),
            page.record(values, var, (mul(sp.Rational(1, F), Elementwise("rowsum", Hadamard(centered, centered))),),
                        note=say("kind.batch_norm.variance")),
            page.record(values, xhat, (Hadamard(centered, power(add(var, eps), sp.Rational(-1, 2))),)),
        ]
        if self.weight is None:
            steps.append(page.record(values, output, (xhat,), lead=lead))
        else:
            gamma, beta = Node("gamma", layer=n), Node("beta", layer=n)
            steps.append(page.record(values, output, (add(Hadamard(xhat, gamma), beta),), lead=lead))
        if self.steps:
            steps.append(flat_output(page, path, output, F, say("kind.layer_norm.flat", steps=self.steps)))
        return steps

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        import sympy as sp

        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, ColumnSum, Elementwise, Hadamard, Node, Partial, add, mul, neg, power

        n = page.number(path)
        values = page.arrays
        F = self.features
        var, eps, xhat = Node("var", layer=n), Node("epsilon", layer=n), Node("Xhat", layer=n)
        flat_inputs = inputs
        if self.steps:
            steps, gradient = upstream_rows(page, path, upstream, Node("O", layer=n), F)
            inputs = Node("X", layer=n)
        else:
            steps, gradient = page.materialize(Partial(LOSS, page.A(n)), upstream)
        d_xhat = gradient
        if self.weight is not None:
            gamma, beta = Node("gamma", layer=n), Node("beta", layer=n)
            steps.append(page.record(values, Partial(LOSS, gamma), (ColumnSum(Hadamard(gradient, xhat)),)))
            steps.append(page.record(values, Partial(LOSS, beta), (ColumnSum(gradient),)))
            d_xhat = Partial(LOSS, xhat)
            steps.append(page.record(values, d_xhat, (Hadamard(gradient, gamma),)))
        if not page.wants_gradient(flat_inputs):
            return steps, upstream
        compact = mul(sp.Rational(1, F), Hadamard(power(add(var, eps), sp.Rational(-1, 2)), add(
            mul(F, d_xhat), neg(Elementwise("rowsum", d_xhat)),
            neg(Hadamard(xhat, Elementwise("rowsum", Hadamard(d_xhat, xhat)))))))
        if self.steps:
            steps.append(page.record(values, Partial(LOSS, inputs), (compact,),
                                     note=say("kind.layer_norm.backward_tokens", features=F)))
            more, gradient = hand_back(page, flat_inputs, Partial(LOSS, inputs), F)
            return steps + more, gradient
        more, gradient = page.gradient(inputs, compact, note=say("kind.layer_norm.backward", features=F))
        return steps + more, gradient
