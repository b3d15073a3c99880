"""``half_sse``: half the sum of squared errors, ½ Σ (ŷ − y)², the classic textbook E
(0.5 · torch.nn.MSELoss(reduction="sum"))."""

from __future__ import annotations

from typing import Any

import sympy as sp

from backprop_cli.losses.base import Loss


def _criterion(torch: Any, beta: float) -> Any:
    sse = torch.nn.MSELoss(reduction="sum")
    return lambda output, logits, target: 0.5 * sse(output, target)


LOSS = Loss("half_sse", lambda yhat, y: sp.Rational(1, 2) * (yhat - y) ** 2, "sum", criterion=_criterion)
