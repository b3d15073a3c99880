"""``smooth_l1``: torch.nn.SmoothL1Loss with ``beta`` β (spec key ``beta``, 1 by default): the mean of
½(ŷ − y)²/β where |ŷ − y| < β, else |ŷ − y| − ½β. β = 0 is L1, as torch has it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop_cli.losses.base import Loss

if TYPE_CHECKING:
    import sympy as sp


def _criterion(torch: Any, beta: float) -> Any:
    smooth = torch.nn.SmoothL1Loss(beta=beta)
    return lambda output, logits, target: smooth(output, target)


def _element(yhat: sp.Expr, y: sp.Expr, beta: float) -> sp.Expr:
    import sympy as sp  # here, not above: verify's autograd reference reads the criterion without sympy

    d = yhat - y
    if beta == 0:
        return sp.Abs(d)
    b = sp.nsimplify(beta)
    return sp.Piecewise((sp.Rational(1, 2) * d**2 / b, sp.Abs(d) < b), (sp.Abs(d) - b / 2, True))


def loss(beta: float) -> Loss:
    """smooth_l1 with this β."""
    return Loss("smooth_l1", lambda yhat, y: _element(yhat, y, beta), "mean", criterion=_criterion, beta=beta)
