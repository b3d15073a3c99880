"""``l1``: mean absolute error, torch.nn.L1Loss: the mean of |ŷ − y|; its derivative sign(ŷ − y) is 0
where ŷ = y, as torch's."""

from __future__ import annotations

from typing import Any

import sympy as sp

from backprop_cli.losses.base import Loss


def _criterion(torch: Any, beta: float) -> Any:
    l1 = torch.nn.L1Loss()
    return lambda output, logits, target: l1(output, target)


LOSS = Loss("l1", lambda yhat, y: sp.Abs(yhat - y), "mean", criterion=_criterion)
