"""``adamw``: torch.optim.AdamW: Adam with decoupled weight decay, θ ← θ(1 − αλ) before Adam's
step (λ = 0.01 by default, as torch's)."""

from __future__ import annotations

from typing import Any

from backprop_cli.optimizers.adam import Adam
from backprop_cli.optimizers.base import Optimizer


class AdamW(Adam):
    name = "adamw"
    defaults = {"weight_decay": 0.01}
    decoupled = True

    def torch_optimizer(self, torch: Any, params: list[Any], lr: float, optimizer: Optimizer) -> Any:
        return torch.optim.AdamW(params, lr=lr, betas=(optimizer.beta1, optimizer.beta2), eps=optimizer.eps,
                                 weight_decay=optimizer.weight_decay)
