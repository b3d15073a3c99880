"""``half_sse``: half the sum of squared errors, ½ Σ (ŷ − y)², the classic textbook E
(0.5 · torch.nn.MSELoss(reduction="sum"))."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop_cli.losses.base import Loss

if TYPE_CHECKING:
    import sympy as sp


def _criterion(torch: Any, beta: float) -> Any:
    sse = torch.nn.MSELoss(reduction="sum")
    return lambda output, logits, target: 0.5 * sse(output, target)


def _element(yhat: sp.Expr, y: sp.Expr) -> sp.Expr:
    import sympy as sp  # here, not above: verify's autograd reference reads the criterion without sympy

    return sp.Rational(1, 2) * (yhat - y) ** 2


LOSS = Loss("half_sse", _element, "sum", criterion=_criterion)
