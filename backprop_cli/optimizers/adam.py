"""``adam``: torch.optim.Adam: m = β₁m + (1 − β₁)g, v = β₂v + (1 − β₂)g², m̂ = m/(1 − β₁ᵗ),
v̂ = v/(1 − β₂ᵗ), θ(t+1) = θ(t) − α m̂/(√v̂ + ε); g the gradient plus λθ with weight decay (no amsgrad)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop_cli.optimizers.base import Array, Optimizer, Rule, decay_words, decayed, decayed_array

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.derivation import Step
    from backprop_cli.locales import Message
    from backprop_cli.optimizers.lines import OptimizerState, Page


class Adam(Rule):
    name = "adam"
    settings = ("beta1", "beta2", "eps", "weight_decay")
    counts_steps = True
    decoupled = False
    """AdamW: the decay scales the weight before the step, instead of joining the gradient."""

    def slots(self, optimizer: Optimizer) -> dict[str, tuple[str, str]]:
        return {"m": ("t-1", "t"), "v": ("t-1", "t")}

    def torch_keys(self, optimizer: Optimizer) -> dict[str, str]:
        return {"m": "exp_avg", "v": "exp_avg_sq"}

    def lines(self, page: Page, values: dict[Any, float], steps: list[Step], symbol: Any, gradient: sp.Basic,
              state: OptimizerState, optimizer: Optimizer) -> sp.Basic:
        import sympy as sp

        from backprop_cli.notation import ALPHA, Node, State, add, at_time, mul, neg, power
        from backprop_cli.optimizers.lines import STEP

        current = at_time(symbol)
        values[current] = values[symbol]
        start: sp.Basic = current
        if self.decoupled and optimizer.weight_decay:
            decay = Node("lambda")
            values[decay] = optimizer.weight_decay
            shrunk = State("theta", symbol)
            steps.append(page.record(values, shrunk, (mul(current, add(sp.S.One, neg(mul(ALPHA, decay)))),)))
            start, g = shrunk, gradient
        else:
            g = decayed(page, values, steps, symbol, gradient, optimizer)
        beta1, beta2, eps, t = Node("beta", 1), Node("beta", 2), Node("epsilon"), STEP
        values.update({beta1: optimizer.beta1, beta2: optimizer.beta2, eps: optimizer.eps, t: float(state.step)})
        m0, m = State("m", symbol, "t-1"), State("m", symbol, "t")
        v0, v = State("v", symbol, "t-1"), State("v", symbol, "t")
        values[m0], values[v0] = state.get("m", symbol), state.get("v", symbol)
        mhat, vhat = State("mhat", symbol), State("vhat", symbol)

        def one_minus(term: sp.Basic) -> sp.Basic:
            return add(sp.S.One, neg(term))

        steps.append(page.record(values, m, (add(mul(beta1, m0), mul(one_minus(beta1), g)),)))
        steps.append(page.record(values, v, (add(mul(beta2, v0), mul(one_minus(beta2), power(g, 2))),)))
        steps.append(page.record(values, mhat, (mul(m, power(one_minus(power(beta1, t)), -1)),)))
        steps.append(page.record(values, vhat, (mul(v, power(one_minus(power(beta2, t)), -1)),)))
        return add(start, mul(-1, ALPHA, mul(mhat, power(add(power(vhat, sp.S.Half), eps), -1))))

    def numpy_update(self, optimizer: Optimizer, lr: float, param: Array, grad: Array,
                     slots: dict[str, Array], step: int) -> None:
        import numpy as np

        if not self.decoupled:
            grad = decayed_array(optimizer, param, grad)
        elif optimizer.weight_decay:
            param *= 1 - lr * optimizer.weight_decay
        m, v = slots["m"], slots["v"]
        m *= optimizer.beta1
        m += (1 - optimizer.beta1) * grad
        v *= optimizer.beta2
        v += (1 - optimizer.beta2) * grad * grad
        m_hat = m / (1 - optimizer.beta1 ** step)
        v_hat = v / (1 - optimizer.beta2 ** step)
        param -= lr * (m_hat / (np.sqrt(v_hat) + optimizer.eps))

    def torch_optimizer(self, torch: Any, params: list[Any], lr: float, optimizer: Optimizer) -> Any:
        return torch.optim.Adam(params, lr=lr, betas=(optimizer.beta1, optimizer.beta2), eps=optimizer.eps,
                                weight_decay=optimizer.weight_decay)

    def intro(self, optimizer: Optimizer, lr: str, step: int) -> Message:
        from backprop_cli.locales import say

        return say(f"intro.update.{self.name}", lr=lr, beta1=optimizer.beta1, beta2=optimizer.beta2,
                   eps=optimizer.eps, t=step, decay=decay_words(optimizer))

    def summary(self, optimizer: Optimizer, lr: str) -> Message:
        from backprop_cli.locales import say

        return say(f"train.optimizer.{self.name}", lr=lr, beta1=optimizer.beta1, beta2=optimizer.beta2,
                   eps=optimizer.eps, decay=decay_words(optimizer))

