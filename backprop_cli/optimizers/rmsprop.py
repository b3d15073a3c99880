"""``rmsprop``: torch.optim.RMSprop: v = ρv + (1 − ρ)g² (ρ is torch's ``alpha``, 0.99), then
θ(t+1) = θ(t) − α g/(√v + ε); centered, ḡ = ρḡ + (1 − ρ)g and √(v − ḡ²) in place of √v; with
momentum μ, B = μB + g/(√v + ε) and θ(t+1) = θ(t) − αB. g is the gradient plus λθ with weight decay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop_cli.optimizers.base import Array, Optimizer, Rule, decay_words, decayed, decayed_array

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.derivation import Step
    from backprop_cli.locales import Message
    from backprop_cli.optimizers.lines import OptimizerState, Page


class RMSprop(Rule):
    name = "rmsprop"
    settings = ("alpha", "eps", "momentum", "centered", "weight_decay")
    defaults = {"momentum": 0.0}

    def slots(self, optimizer: Optimizer) -> dict[str, tuple[str, str]]:
        out = {"v": ("t", "t+1")}
        if optimizer.centered:
            out["gbar"] = ("t", "t+1")
        if optimizer.momentum:
            out["B"] = ("t", "t+1")
        return out

    def torch_keys(self, optimizer: Optimizer) -> dict[str, str]:
        return {"v": "square_avg", "gbar": "grad_avg", "B": "momentum_buffer"}

    def lines(self, page: Page, values: dict[Any, float], steps: list[Step], symbol: Any, gradient: sp.Basic,
              state: OptimizerState, optimizer: Optimizer) -> sp.Basic:
        import sympy as sp

        from backprop_cli.notation import ALPHA, Node, State, add, at_time, mul, neg, power

        g = decayed(page, values, steps, symbol, gradient, optimizer)
        rho, eps = Node("rho"), Node("epsilon")
        values.update({rho: optimizer.alpha, eps: optimizer.eps})
        one_minus = add(sp.S.One, neg(rho))
        v0, v = State("v", symbol, "t"), State("v", symbol, "t+1")
        values[v0] = state.get("v", symbol)
        steps.append(page.record(values, v, (add(mul(rho, v0), mul(one_minus, power(g, 2))),)))
        spread: sp.Basic = v
        if optimizer.centered:
            a0, a = State("gbar", symbol, "t"), State("gbar", symbol, "t+1")
            values[a0] = state.get("gbar", symbol)
            steps.append(page.record(values, a, (add(mul(rho, a0), mul(one_minus, g)),)))
            spread = add(v, neg(power(a, 2)))
        scaled = mul(g, power(add(power(spread, sp.S.Half), eps), -1))
        current = at_time(symbol)
        values[current] = values[symbol]
        if optimizer.momentum:
            mu = Node("mu")
            values[mu] = optimizer.momentum
            b0, b = State("B", symbol, "t"), State("B", symbol, "t+1")
            values[b0] = state.get("B", symbol)
            steps.append(page.record(values, b, (add(mul(mu, b0), scaled),)))
            return add(current, mul(-1, ALPHA, b))
        return add(current, mul(-1, ALPHA, scaled))

    def numpy_update(self, optimizer: Optimizer, lr: float, param: Array, grad: Array,
                     slots: dict[str, Array], step: int) -> None:
        import numpy as np

        grad = decayed_array(optimizer, param, grad)
        v = slots["v"]
        v *= optimizer.alpha
        v += (1 - optimizer.alpha) * grad * grad
        if optimizer.centered:
            a = slots["gbar"]
            a += (1 - optimizer.alpha) * (grad - a)
            avg = np.sqrt(v - a * a) + optimizer.eps
        else:
            avg = np.sqrt(v) + optimizer.eps
        if optimizer.momentum:
            b = slots["B"]
            b *= optimizer.momentum
            b += grad / avg
            param -= lr * b
        else:
            param -= lr * (grad / avg)

    def torch_optimizer(self, torch: Any, params: list[Any], lr: float, optimizer: Optimizer) -> Any:
        return torch.optim.RMSprop(params, lr=lr, alpha=optimizer.alpha, eps=optimizer.eps,
                                   weight_decay=optimizer.weight_decay, momentum=optimizer.momentum,
                                   centered=optimizer.centered)

    def intro(self, optimizer: Optimizer, lr: str, step: int) -> Message:
        from backprop_cli.locales import say

        key = "intro.update.rmsprop" + (".centered" if optimizer.centered else "")
        return say(key, lr=lr, alpha=optimizer.alpha, eps=optimizer.eps, momentum=optimizer.momentum,
                   decay=decay_words(optimizer))

    def summary(self, optimizer: Optimizer, lr: str) -> Message:
        from backprop_cli.locales import say

        decay = f"λ = {optimizer.weight_decay:g}, " if optimizer.weight_decay else ""
        return say("train.optimizer.rmsprop", lr=lr, alpha=optimizer.alpha, eps=optimizer.eps,
                   momentum=optimizer.momentum, decay=("centered, " if optimizer.centered else "") + decay)
