"""``batch_norm``: ``nn.BatchNorm1d`` in training mode, over the samples of the batch.

Forward (per feature, over the N samples): ``μ = (1/N) 1ᵀA``, ``σ² = (1/N) 1ᵀ((A − μ) ⊙ (A − μ))``
(the biased variance), ``X̂ = (A − μ) ⊙ (σ² + ε)^(−1/2)``, ``Y = γ ⊙ X̂ + β``. Backward through μ and
σ², as textbooks derive it: ``∂𝓛/∂X̂ = ∂𝓛/∂Y ⊙ γ``,
``∂𝓛/∂σ² = 1ᵀ(∂𝓛/∂X̂ ⊙ (A − μ)) ⊙ (−½)(σ² + ε)^(−3/2)``,
``∂𝓛/∂μ = −1ᵀ∂𝓛/∂X̂ ⊙ (σ² + ε)^(−1/2) + ∂𝓛/∂σ² ⊙ (−2/N) 1ᵀ(A − μ)``,
``∂𝓛/∂A = ∂𝓛/∂X̂ ⊙ (σ² + ε)^(−1/2) + ∂𝓛/∂σ² ⊙ (2/N)(A − μ) + (1/N) ∂𝓛/∂μ``, then its compact form
``(1/N)(σ² + ε)^(−1/2) ⊙ (N ∂𝓛/∂X̂ − 1ᵀ∂𝓛/∂X̂ − X̂ ⊙ 1ᵀ(∂𝓛/∂X̂ ⊙ X̂))``. The running statistics
after the step are torch's: ``(1 − m) running_mean + m μ`` and ``(1 − m) running_var + m σ² N/(N − 1)``
(the unbiased variance).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import DataError, SpecError
from backprop_cli.layers.base import (
    Array,
    Kind,
    NumpyRun,
    Path,
    SpecContext,
    check_keys,
    flag,
    integer,
    number,
    vector,
)

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.build_kinds import KindsScalarPage
    from backprop_cli.build_matrix import MatrixPage
    from backprop_cli.derivation import MatrixStep, Step
    from backprop_cli.locales import Message

Vector = tuple[float, ...]


@dataclass(frozen=True)
class BatchNorm(Kind):
    """Batch normalisation of ``num_features`` features.

    Args:
        weight: γ, one per feature (None without ``affine``).
        bias: β, one per feature (None without ``affine``).
        running_mean: the running mean before the step.
        running_var: the running variance before the step.
        eps: added to the variance.
        momentum: the running statistics' update factor.
    """

    weight: Vector | None
    bias: Vector | None
    running_mean: Vector
    running_var: Vector
    eps: float = 1e-5
    momentum: float = 0.1

    kind = "batch_norm"
    keys = ("kind", "num_features", "eps", "momentum", "affine", "weight", "bias", "running_mean",
            "running_var", "track_running_stats")
    parameter_names = ("weight", "bias")
    glyphs = {"weight": "gamma", "bias": "beta"}
    buffer_names = ("running_mean", "running_var")
    state_names = ("weight", "bias", "running_mean", "running_var")

    @classmethod
    def state_table(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        return dict(values) if "weight" in values else {**values, "affine": False}

    @classmethod
    def recognizes_state(cls, shapes: Mapping[str, tuple[int, ...]]) -> bool:
        return "running_mean" in shapes and len(shapes.get("weight", (0,))) == 1

    @property
    def features(self) -> int:
        return len(self.running_mean)

    def in_features(self) -> int:
        return self.features

    @classmethod
    def from_spec(cls, document: Mapping[str, Any], where: str, context: SpecContext) -> BatchNorm:
        settings, _ = normalization_settings(cls, document, where, context, "num_features", "affine")
        return cls(**settings)

    def to_spec(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"kind": self.kind, "num_features": self.features, "eps": self.eps,
                                 "momentum": self.momentum}
        if self.weight is None:
            entry["affine"] = False
        else:
            entry["weight"] = list(self.weight)
            entry["bias"] = list(self.bias or ())
        entry["running_mean"] = list(self.running_mean)
        entry["running_var"] = list(self.running_var)
        return entry

    def running_after(self, mean: Array, variance: Array, samples: int) -> tuple[Vector, Vector]:
        """torch's running statistics after a training step with this batch mean and (biased) variance."""
        m = self.momentum
        unbiased = [float(v) * samples / (samples - 1) for v in variance]
        new_mean = tuple((1 - m) * r + m * float(v) for r, v in zip(self.running_mean, mean, strict=True))
        new_var = tuple((1 - m) * r + m * float(v) for r, v in zip(self.running_var, unbiased, strict=True))
        return new_mean, new_var

    # --- numbers ----------------------------------------------------------------------------

    def np_forward(self, run: NumpyRun, path: Path, X: Array) -> Array:
        import numpy as np

        N = X.shape[0]
        if N < 2:
            raise DataError("batch_norm: needs more than 1 sample per batch in training mode (as"
                            " torch.nn.BatchNorm1d); give more samples or a larger --batch-size")
        mu = X.mean(axis=0)
        centered = X - mu
        var = (centered * centered).mean(axis=0)
        inv = 1.0 / np.sqrt(var + self.eps)
        xhat = centered * inv
        gamma, beta = run.param(path, "weight"), run.param(path, "bias")
        out = xhat if gamma is None else xhat * gamma + beta
        run.cache[path] = {"xhat": xhat, "inv": inv, "mean": mu, "var": var, "N": N}
        return out

    def np_backward(self, run: NumpyRun, path: Path, G: Array, pre_activation: bool = False) -> Array:
        cache = run.cache[path]
        xhat, inv, N = cache["xhat"], cache["inv"], cache["N"]
        gamma = run.param(path, "weight")
        if gamma is not None:
            run.grads[(path, "weight")] = (G * xhat).sum(axis=0)
            run.grads[(path, "bias")] = G.sum(axis=0)
            G = G * gamma
        return inv / N * (N * G - G.sum(axis=0) - xhat * (G * xhat).sum(axis=0))

    def buffers_after(self, cache: Mapping[str, Any]) -> dict[str, Any]:
        mean, var = self.running_after(cache["mean"], cache["var"], cache["N"])
        return {"running_mean": mean, "running_var": var}

    def torch_module(self, torch: Any, without_activation: bool = False) -> Any:
        module = torch.nn.BatchNorm1d(self.features, eps=self.eps, momentum=self.momentum,
                                      affine=self.weight is not None, dtype=torch.float64)
        with torch.no_grad():
            module.running_mean.copy_(torch.tensor(self.running_mean, dtype=torch.float64))
            module.running_var.copy_(torch.tensor(self.running_var, dtype=torch.float64))
            if self.weight is not None:
                module.weight.copy_(torch.tensor(self.weight, dtype=torch.float64))
                module.bias.copy_(torch.tensor(self.bias, dtype=torch.float64))
        return module

    def torch_buffers(self, module: Any) -> dict[str, Any]:
        return {"running_mean": module.running_mean, "running_var": module.running_var}

    # --- the page ---------------------------------------------------------------------------

    def title(self, number: int, in_features: int, last: bool) -> Message:
        from backprop_cli.locales import say

        return say("kind.batch_norm.title", layer=number, units=in_features, eps=f"{self.eps:g}")

    def scalar_forward(self, page: KindsScalarPage, path: Path, inputs: list[list[Any]]) -> list[Step]:
        import sympy as sp

        from backprop_cli.locales import say
        from backprop_cli.notation import add, mul, neg, power

        N = len(inputs)
        if N < 2:
            raise DataError("batch_norm: needs more than 1 sample in training mode (as torch.nn.BatchNorm1d);"
                            " give a batch (--x … --y … repeated, or --data)")
        eps = page.constant("epsilon", path, self.eps)
        gamma = page.parameter(path, "weight") if self.weight is not None else None
        beta = page.parameter(path, "bias") if self.bias is not None else None
        steps = []
        outputs: list[list[Any]] = [[] for _ in inputs]
        means, variances = [], []
        for j in range(len(inputs[0])):
            column = [row[j] for row in inputs]
            mu, var = page.node("mu", path, j, None), page.node("var", path, j, None)
            steps.append(page.define(path, mu, mul(sp.Rational(1, N), add(*column)),
                                     note=say("kind.batch_norm.mean", samples=N) if j == 0 else None))
            steps.append(page.define(path, var, mul(sp.Rational(1, N), add(*(power(add(x, neg(mu)), 2)
                                                                            for x in column))),
                                     note=say("kind.batch_norm.variance") if j == 0 else None))
            means.append(page.values[mu])
            variances.append(page.values[var])
            for n, x in enumerate(column):
                xhat = page.node("xhat", path, j, n)
                steps.append(page.define(path, xhat, mul(add(x, neg(mu)), power(add(var, eps), sp.Rational(-1, 2)))))
                a = page.output(path, j, n)
                expr = xhat if gamma is None or beta is None else add(mul(gamma[j], xhat), beta[j])
                steps.append(page.define(path, a, expr))
                outputs[n].append(a)
        steps += self._running_lines(page, path, N)
        page.outputs_of[path] = outputs
        return steps

    def _running_lines(self, page: KindsScalarPage, path: Path, N: int) -> list[Step]:
        """The running statistics after the step, as torch updates them, a line each (the compiled
        engine carries them from step to step as it carries the parameters)."""
        import sympy as sp

        from backprop_cli.locales import say
        from backprop_cli.notation import Node, add, mul, updated

        m = sp.Float(self.momentum)
        keep = sp.Float(1 - self.momentum)
        steps = []
        pairs: dict[str, list[tuple[Any, Any]]] = {"running_mean": [], "running_var": []}
        for j in range(self.features):
            n = page.number(path)
            for name, base, start, stat, factor in (
                    ("running_mean", "rmean", self.running_mean[j], "mu", None),
                    ("running_var", "rvar", self.running_var[j], "var", sp.Rational(N, N - 1))):
                before = Node(base, j + 1, layer=n)
                page.values[before] = start
                statistic: sp.Basic = page.node(stat, path, j, None)
                if factor is not None:
                    statistic = mul(factor, statistic)
                note = (say("kind.batch_norm.running_lines", momentum=f"{self.momentum:g}")
                        if j == 0 and name == "running_mean" else None)
                steps.append(page.record(page.values, updated(before), (add(mul(keep, before), mul(m, statistic)),),
                                         note=note))
                pairs[name].append((before, updated(before)))
        page.buffers[path] = {name: tuple(page.values[after] for _, after in pair) for name, pair in pairs.items()}
        page.buffer_symbols.update({(path, name): pair for name, pair in pairs.items()})
        return steps

    def matrix_forward(self, page: MatrixPage, path: Path, inputs: sp.Basic) -> list[MatrixStep]:
        import sympy as sp

        from backprop_cli.locales import say
        from backprop_cli.notation import ColumnSum, Hadamard, Node, add, mul, neg, power

        n = page.number(path)
        values = page.arrays
        N = page.samples
        if N < 2:
            raise DataError("batch_norm: needs more than 1 sample in training mode (as torch.nn.BatchNorm1d);"
                            " give a batch (--x … --y … repeated, or --data)")
        mu, var, eps, xhat = Node("mu", layer=n), Node("var", layer=n), Node("epsilon", layer=n), Node("Xhat", layer=n)
        values[eps] = self.eps
        centered = add(inputs, neg(mu))
        steps = [
            page.record(values, mu, (mul(sp.Rational(1, N), ColumnSum(inputs)),),
                        note=say("kind.batch_norm.mean", samples=N)),
            page.record(values, var, (mul(sp.Rational(1, N), ColumnSum(Hadamard(centered, centered))),),
                        note=say("kind.batch_norm.variance")),
            page.record(values, xhat, (Hadamard(centered, power(add(var, eps), sp.Rational(-1, 2))),)),
        ]
        if self.weight is None:
            steps.append(page.record(values, page.A(n), (xhat,), lead=page.output_lead(path)))
        else:
            gamma, beta = Node("gamma", layer=n), Node("beta", layer=n)
            steps.append(page.record(values, page.A(n), (add(Hadamard(gamma, xhat), beta),),
                                     lead=page.output_lead(path)))
        mean, variance = self.running_after(values[mu][0], values[var][0], N)
        page.buffers[path] = {"running_mean": mean, "running_var": variance}
        steps[-1] = _with_note(steps[-1], say("kind.batch_norm.running", momentum=f"{self.momentum:g}",
                                              mean=_row(mean), var=_row(variance)))
        return steps

    def matrix_backward(self, page: MatrixPage, path: Path, inputs: sp.Basic, upstream: sp.Basic,
                        pre_activation: bool = False) -> tuple[list[MatrixStep], sp.Basic]:
        import sympy as sp

        from backprop_cli.locales import say
        from backprop_cli.notation import LOSS, ColumnSum, Hadamard, Node, Partial, add, mul, neg, power

        n = page.number(path)
        values = page.arrays
        N = page.samples
        mu, var, eps, xhat = Node("mu", layer=n), Node("var", layer=n), Node("epsilon", layer=n), Node("Xhat", layer=n)
        steps, gradient = page.materialize(Partial(LOSS, page.A(n)), upstream)
        d_xhat = gradient
        if self.weight is not None:
            gamma, beta = Node("gamma", layer=n), Node("beta", layer=n)
            steps.append(page.record(values, Partial(LOSS, gamma), (ColumnSum(Hadamard(gradient, xhat)),)))
            steps.append(page.record(values, Partial(LOSS, beta), (ColumnSum(gradient),)))
            d_xhat = Partial(LOSS, xhat)
            steps.append(page.record(values, d_xhat, (Hadamard(gradient, gamma),)))
        if not page.wants_gradient(inputs):
            return steps, upstream
        centered = add(inputs, neg(mu))
        shifted = add(var, eps)
        d_var, d_mu, d_in = Partial(LOSS, var), Partial(LOSS, mu), Partial(LOSS, inputs)
        slope = mul(sp.Rational(-1, 2), power(shifted, sp.Rational(-3, 2)))
        steps.append(page.record(values, d_var, (Hadamard(ColumnSum(Hadamard(d_xhat, centered)), slope),),
                                 note=say("kind.batch_norm.through_variance")))
        steps.append(page.record(values, d_mu, (add(
            neg(Hadamard(ColumnSum(d_xhat), power(shifted, sp.Rational(-1, 2)))),
            Hadamard(d_var, mul(sp.Rational(-2, N), ColumnSum(centered)))),),
            note=say("kind.batch_norm.through_mean")))
        three_paths = add(Hadamard(d_xhat, power(shifted, sp.Rational(-1, 2))),
                          Hadamard(d_var, mul(sp.Rational(2, N), centered)), mul(sp.Rational(1, N), d_mu))
        if not page.records_gradient(inputs):
            return steps, three_paths
        steps.append(page.record(values, d_in, (three_paths,), note=say("kind.batch_norm.three_paths")))
        compact = mul(sp.Rational(1, N), Hadamard(power(shifted, sp.Rational(-1, 2)), add(
            mul(N, d_xhat), neg(ColumnSum(d_xhat)), neg(Hadamard(xhat, ColumnSum(Hadamard(d_xhat, xhat)))))))
        steps.append(page.record(values, d_in, (compact,), note=say("kind.batch_norm.compact")))
        return steps, d_in


def _row(values: Vector) -> str:
    from backprop_cli.printing import format_number

    return "(" + ", ".join(format_number(v, 4) for v in values) + ")"


def _with_note(step: Any, note: Message) -> Any:
    from dataclasses import replace

    return replace(step, note=note)


def normalization_settings(cls: type, document: Mapping[str, Any], where: str, context: SpecContext,
                           size_key: str, affine_key: str) -> tuple[dict[str, Any], int]:
    """The settings shared by batch_norm and layer_norm (eps, affine weight and bias, batch_norm's
    running statistics and momentum), and the number of features."""
    check_keys(document, cls.keys, where + ".")  # type: ignore[attr-defined]
    eps = number(document.get("eps", 1e-5), f"{where}.eps")
    if eps < 0:
        raise SpecError(f"{where}.eps: must be 0 or more, got {eps:g}")
    affine = flag(document.get(affine_key, True), f"{where}.{affine_key}")
    size = None
    if size_key in document:
        raw = document[size_key]
        raw = raw[0] if isinstance(raw, list) and len(raw) == 1 else raw
        size = integer(raw, f"{where}.{size_key}")
    weight = vector(document["weight"], f"{where}.weight") if "weight" in document else None
    bias = vector(document["bias"], f"{where}.bias") if "bias" in document else None
    if not affine and (weight is not None or bias is not None):
        raise SpecError(f"{where}.{affine_key}: is false, so the layer has no weight or bias; leave them out")
    for name, values in (("weight", weight), ("bias", bias)):
        if values is not None:
            if size is not None and len(values) != size:
                raise SpecError(f"{where}.{name}: has {len(values)} values but {size_key} is {size}")
            size = len(values)
    if size is None:
        size = context.in_features
    if size is None:
        raise SpecError(f"{where}.{size_key}: give the number of features (or weight), or put a layer before")
    if affine:
        weight = weight if weight is not None else (1.0,) * size
        bias = bias if bias is not None else (0.0,) * size
    settings: dict[str, Any] = {"weight": weight, "bias": bias, "eps": eps}
    if "running_mean" in cls.keys:  # type: ignore[attr-defined]
        momentum = number(document.get("momentum", 0.1), f"{where}.momentum")
        if not 0.0 <= momentum <= 1.0:
            raise SpecError(f"{where}.momentum: must be in [0, 1], got {momentum:g}")
        if "track_running_stats" in document and not flag(document["track_running_stats"],
                                                           f"{where}.track_running_stats"):
            raise SpecError(f"{where}.track_running_stats: only true is supported (the running statistics are"
                            " reported after the step)")
        stats = {}
        for name, default in (("running_mean", 0.0), ("running_var", 1.0)):
            values = vector(document[name], f"{where}.{name}") if name in document else (default,) * size
            if len(values) != size:
                raise SpecError(f"{where}.{name}: has {len(values)} values but the layer has {size} features")
            stats[name] = values
        if any(v < 0 for v in stats["running_var"]):
            raise SpecError(f"{where}.running_var: a variance cannot be negative")
        settings.update(stats, momentum=momentum)
    return settings, size
