"""``sse``: the sum of squared errors, torch.nn.MSELoss(reduction="sum"): Σ (ŷ − y)²."""

from __future__ import annotations

from typing import Any

from backprop_cli.losses.base import Loss


def _criterion(torch: Any, beta: float) -> Any:
    sse = torch.nn.MSELoss(reduction="sum")
    return lambda output, logits, target: sse(output, target)


LOSS = Loss("sse", lambda yhat, y: (yhat - y) ** 2, "sum", criterion=_criterion)
