"""``cross_entropy``: torch.nn.CrossEntropyLoss: −Σₖ yₖ log ŷₖ per sample, the mean over samples, with
ŷ = softmax(z) worked out together with it from the logits z (log-sum-exp), as one function: δ = ŷ − y
per sample when the targets sum to 1. The output layer's activation is softmax."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backprop_cli.losses.base import Loss

if TYPE_CHECKING:
    import sympy as sp


def _criterion(torch: Any, beta: float) -> Any:
    ce = torch.nn.CrossEntropyLoss()
    return lambda output, logits, target: ce(logits, target)


def _element(yhat: sp.Expr, y: sp.Expr) -> sp.Expr:
    import sympy as sp  # here, not above: verify's autograd reference reads the criterion without sympy

    return -y * sp.log(yhat)


LOSS = Loss("cross_entropy", _element, "sample_mean", probabilities=True,
            output="softmax", fused=True, criterion=_criterion)
