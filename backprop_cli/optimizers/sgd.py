"""``sgd``: gradient descent, torch.optim.SGD: θ(t+1) = θ(t) − α g, g the gradient (plus λθ with
weight decay)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop_cli.optimizers.base import Array, Optimizer, Rule, decay_words, decayed, decayed_array

if TYPE_CHECKING:
    import sympy as sp

    from backprop_cli.derivation import Step
    from backprop_cli.locales import Message
    from backprop_cli.optimizers.lines import OptimizerState, Page


class SGD(Rule):
    name = "sgd"

    def lines(self, page: Page, values: dict[Any, float], steps: list[Step], symbol: Any, gradient: sp.Basic,
              state: OptimizerState, optimizer: Optimizer) -> sp.Basic:
        from backprop_cli.notation import ALPHA, add, at_time, mul

        g = decayed(page, values, steps, symbol, gradient, optimizer)
        current = at_time(symbol)
        values[current] = values[symbol]
        return add(current, mul(-1, ALPHA, g))

    def numpy_update(self, optimizer: Optimizer, lr: float, param: Array, grad: Array,
                     slots: dict[str, Array], step: int) -> None:
        grad = decayed_array(optimizer, param, grad)
        param -= lr * grad

    def torch_optimizer(self, torch: Any, params: list[Any], lr: float, optimizer: Optimizer) -> Any:
        return torch.optim.SGD(params, lr=lr, weight_decay=optimizer.weight_decay)

    def intro(self, optimizer: Optimizer, lr: str, step: int) -> Message:
        from backprop_cli.locales import say

        if optimizer.weight_decay:
            return say("intro.update.decay", lr=lr, weight_decay=f"{optimizer.weight_decay:g}")
        return say("intro.update", lr=lr)

    def summary(self, optimizer: Optimizer, lr: str) -> Message:
        from backprop_cli.locales import say

        return say("train.optimizer.sgd", lr=lr, decay=decay_words(optimizer))
