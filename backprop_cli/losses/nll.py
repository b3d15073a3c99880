"""``nll``: negative log-likelihood, torch.nn.NLLLoss: −Σₖ yₖ ŷₖ per sample, the mean over samples, ŷ the
log-probabilities of a ``log_softmax`` output and y one-hot (or a class index per sample)."""

from __future__ import annotations

from typing import Any

from backprop_cli.losses.base import Loss


def _criterion(torch: Any, beta: float) -> Any:
    nll = torch.nn.NLLLoss()
    return lambda output, logits, target: nll(output, target.argmax(dim=1))


LOSS = Loss("nll", lambda yhat, y: -y * yhat, "sample_mean", output="log_softmax", one_hot=True, criterion=_criterion)
