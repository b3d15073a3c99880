"""``cross_entropy``: torch.nn.CrossEntropyLoss: −Σₖ yₖ log ŷₖ per sample, the mean over samples, with
ŷ = softmax(z) worked out together with it from the logits z (log-sum-exp), as one function: δ = ŷ − y
per sample when the targets sum to 1. The output layer's activation is softmax."""

from __future__ import annotations

from typing import Any

import sympy as sp

from backprop_cli.losses.base import Loss


def _criterion(torch: Any, beta: float) -> Any:
    ce = torch.nn.CrossEntropyLoss()
    return lambda output, logits, target: ce(logits, target)


LOSS = Loss("cross_entropy", lambda yhat, y: -y * sp.log(yhat), "sample_mean", probabilities=True,
            output="softmax", fused=True, criterion=_criterion)
