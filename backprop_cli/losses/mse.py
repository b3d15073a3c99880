"""``mse``: mean squared error, torch.nn.MSELoss: the mean of (ŷ − y)² over every output element."""

from __future__ import annotations

from typing import Any

from backprop_cli.losses.base import Loss


def _criterion(torch: Any, beta: float) -> Any:
    mse = torch.nn.MSELoss()
    return lambda output, logits, target: mse(output, target)


LOSS = Loss("mse", lambda yhat, y: (yhat - y) ** 2, "mean", criterion=_criterion)
