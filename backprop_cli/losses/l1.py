"""``l1``: mean absolute error, torch.nn.L1Loss: the mean of |ŷ − y|; its derivative sign(ŷ − y) is 0
where ŷ = y, as torch's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop_cli.losses.base import Loss

if TYPE_CHECKING:
    import sympy as sp


def _criterion(torch: Any, beta: float) -> Any:
    l1 = torch.nn.L1Loss()
    return lambda output, logits, target: l1(output, target)


def _element(yhat: sp.Expr, y: sp.Expr) -> sp.Expr:
    import sympy as sp  # here, not above: verify's autograd reference reads the criterion without sympy

    return sp.Abs(yhat - y)


LOSS = Loss("l1", _element, "mean", criterion=_criterion)
