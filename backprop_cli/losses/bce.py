"""``bce``: binary cross-entropy, torch.nn.BCELoss: the mean of −(y log ŷ + (1 − y) log(1 − ŷ)), the logs
clamped at −100 and the derivative's denominator ŷ(1 − ŷ) floored at 1e-12 (a float32, as torch's
backward has it). Predictions and targets are probabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop_cli.losses.base import BCE_FLOOR, Loss

if TYPE_CHECKING:
    import sympy as sp


def _criterion(torch: Any, beta: float) -> Any:
    bce = torch.nn.BCELoss()
    return lambda output, logits, target: bce(output, target)


def _element(yhat: sp.Expr, y: sp.Expr) -> sp.Expr:
    import sympy as sp  # here, not above: verify's autograd reference reads the criterion without sympy

    return -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat))


LOSS = Loss("bce", _element, "mean", log_floor=-100.0,
            denominator_floor=BCE_FLOOR, probabilities=True, needs_probabilities=True, simplifies_with="sigmoid",
            criterion=_criterion)
