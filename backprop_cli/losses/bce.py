"""``bce``: binary cross-entropy, torch.nn.BCELoss: the mean of −(y log ŷ + (1 − y) log(1 − ŷ)), the logs
clamped at −100 and the derivative's denominator ŷ(1 − ŷ) floored at 1e-12 (a float32, as torch's
backward has it). Predictions and targets are probabilities."""

from __future__ import annotations

from typing import Any

import sympy as sp

from backprop_cli.losses.base import BCE_FLOOR, Loss


def _criterion(torch: Any, beta: float) -> Any:
    bce = torch.nn.BCELoss()
    return lambda output, logits, target: bce(output, target)


LOSS = Loss("bce", lambda yhat, y: -(y * sp.log(yhat) + (1 - y) * sp.log(1 - yhat)), "mean", log_floor=-100.0,
            denominator_floor=BCE_FLOOR, probabilities=True, needs_probabilities=True, simplifies_with="sigmoid",
            criterion=_criterion)
