"""``momentum``: torch.optim.SGD with momentum μ: v(t+1) = μ v(t) + g, θ(t+1) = θ(t) − α v(t+1)
(dampening 0, no Nesterov; v is 0 before the first step, so the first v is g)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop_cli.optimizers.base import Array, Optimizer, Rule, decay_words, decayed, decayed_array

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.derivation import Step
    from backprop_cli.locales import Message
    from backprop_cli.optimizers.lines import OptimizerState, Page


class Momentum(Rule):
    name = "momentum"
    settings = ("momentum", "weight_decay")

    def slots(self, optimizer: Optimizer) -> dict[str, tuple[str, str]]:
        return {"v": ("t", "t+1")}

    def torch_keys(self, optimizer: Optimizer) -> dict[str, str]:
        return {"v": "momentum_buffer"}

    def lines(self, page: Page, values: dict[Any, float], steps: list[Step], symbol: Any, gradient: sp.Basic,
              state: OptimizerState, optimizer: Optimizer) -> sp.Basic:
        from backprop_cli.notation import ALPHA, Node, State, add, at_time, mul

        g = decayed(page, values, steps, symbol, gradient, optimizer)
        mu = Node("mu")
        values[mu] = optimizer.momentum
        current = at_time(symbol)
        values[current] = values[symbol]
        if page.options.momentum_form == "textbook":
            # v = μv − αg, θ = θ + v: torch's v times −α, so the same θ while α stays the same.
            lr = page.network.lr
            before, after = (State("velocity", symbol, time) for time in ("t", "t+1"))
            values[before] = -lr * state.get("v", symbol)
            steps.append(page.record(values, after, (add(mul(mu, before), mul(-1, ALPHA, g)),)))
            values[State("v", symbol, "t+1")] = values[after] / -lr  # the state torch carries on
            return add(current, after)
        before, after = (State("v", symbol, time) for time in ("t", "t+1"))
        values[before] = state.get("v", symbol)
        steps.append(page.record(values, after, (add(mul(mu, before), g),)))
        return add(current, mul(-1, ALPHA, after))

    def numpy_update(self, optimizer: Optimizer, lr: float, param: Array, grad: Array,
                     slots: dict[str, Array], step: int) -> None:
        grad = decayed_array(optimizer, param, grad)
        v = slots["v"]
        v *= optimizer.momentum
        v += grad
        param -= lr * v

    def torch_optimizer(self, torch: Any, params: list[Any], lr: float, optimizer: Optimizer) -> Any:
        return torch.optim.SGD(params, lr=lr, momentum=optimizer.momentum, weight_decay=optimizer.weight_decay)

    def intro(self, optimizer: Optimizer, lr: str, step: int) -> Message:
        from backprop_cli.locales import say

        return say("intro.update.momentum", lr=lr, momentum=optimizer.momentum,
                   decay=decay_words(optimizer))

    def page_intro(self, optimizer: Optimizer, lr: str, step: int, options: Any) -> Message:
        if options.momentum_form != "textbook":
            return self.intro(optimizer, lr, step)
        from backprop_cli.locales import say

        return say("intro.update.momentum.textbook", lr=lr, momentum=optimizer.momentum,
                   decay=decay_words(optimizer))

    def summary(self, optimizer: Optimizer, lr: str) -> Message:
        from backprop_cli.locales import say

        return say("train.optimizer.momentum", lr=lr, momentum=optimizer.momentum, decay=decay_words(optimizer))
