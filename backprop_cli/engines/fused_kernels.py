"""The fused engine's machine code: numba functions written once for every dense network.

A network is arrays here, not code: its parameters one flat array (each layer's weight, rows
first, then its bias), its widths and offsets integer arrays, its activations, loss and optimizer
small integer codes. The samples are columns (``XT``: inputs × samples), and a batch runs in
chunks of columns (the width of the buffers ``A`` and ``D``, a few hundred) so that a layer's
activations and δ stay in cache between the forward and the backward pass: the loops over a
chunk's columns are contiguous and compile to vector instructions. Nothing is allocated inside
the epoch loop. The arrays' dtype (float64 or float32) is the arithmetic's: numba compiles each
dtype once.

The functions are compiled with ``cache=True``: numba keeps the machine code in ``__pycache__``
beside this file (or its own user cache folder where that is not writable) and uses it only while
this file's modification time and size, numba's version and the CPU are the ones it was compiled
for; otherwise it compiles again. Only ``train_backward``'s gradient sums may be reordered
(``fastmath`` reassociation, so that they vectorise); nothing assumes finite numbers, and inf and
nan propagate as in numpy and PyTorch (``error_model="numpy"``).
"""

from __future__ import annotations

import math

import numba
import numpy as np

IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, SOFTMAX = range(6)
"""Activation codes."""
SQUARED, BCE, CROSS_ENTROPY = range(3)
"""Loss codes (a squared error's factor and the reduction are separate settings)."""
SUM, MEAN, SAMPLE_MEAN = range(3)
"""Reductions: the sum, the mean over every element, the mean over the samples."""
SGD, MOMENTUM, ADAM, ADAMW = range(4)
"""Optimizer codes."""
LR, BETA1, BETA2, EPS, DECAY, SQUARE_FACTOR, ZERO = range(7)
"""Positions in ``consts``, an array of the training's dtype: the learning rate, momentum or β₁, β₂,
ε, weight decay, the squared error's factor (1 or ½), and 0 (a zero of that dtype)."""

LEAKY_SLOPE = 0.01
LOG_FLOOR = -100.0
"""PyTorch's BCELoss clamps its logs at −100 …"""
BCE_EPSILON = 1e-12
"""… and divides its gradient by max(p(1 − p), 1e-12)."""

OPTIONS = {"cache": True, "error_model": "numpy", "nogil": True}
REORDERED = {**OPTIONS, "fastmath": {"reassoc", "contract"}}


@numba.njit(**OPTIONS)
def forward(params, sizes, acts, woff, boff, uoff, XT, lo, rows, A):  # pragma: no cover - machine code
    """Every layer on columns lo … lo + rows − 1: A holds the activations (the inputs first); the
    output layer's rows hold its pre-activation z."""
    layers = len(sizes) - 1
    for i in range(sizes[0]):
        for n in range(rows):
            A[i, n] = XT[i, lo + n]
    for layer in range(layers):
        fan_in, units = sizes[layer], sizes[layer + 1]
        below, here, code = uoff[layer], uoff[layer + 1], acts[layer]
        for j in range(units):
            out = A[here + j]
            if boff[layer] >= 0:
                bias = params[boff[layer] + j]
                for n in range(rows):
                    out[n] = bias
            else:
                out[:rows] = 0.0
            row = woff[layer] + j * fan_in
            for i in range(fan_in):
                w = params[row + i]
                a = A[below + i]
                for n in range(rows):
                    out[n] += w * a[n]
            if layer < layers - 1:
                activate(out, rows, code)
    return 0


@numba.njit(**OPTIONS)
def activate(out, rows, code):  # pragma: no cover - machine code
    if code == SIGMOID:
        for n in range(rows):
            out[n] = 1.0 / (1.0 + math.exp(-out[n]))
    elif code == TANH:
        for n in range(rows):
            out[n] = math.tanh(out[n])
    elif code == RELU:
        for n in range(rows):
            out[n] = 0.0 if out[n] <= 0 else out[n]
    elif code == LEAKY_RELU:
        for n in range(rows):
            out[n] = out[n] * LEAKY_SLOPE if out[n] <= 0 else out[n]
    return 0


@numba.njit(**OPTIONS)
def local(a, code):  # pragma: no cover - machine code
    """f′ from the activation's value a = f(z), as PyTorch's backward computes it."""
    if code == SIGMOID:
        return (1.0 - a) * a
    if code == TANH:
        return 1.0 - a * a
    if code == RELU:
        return 1.0 if a > 0 else 0.0
    if code == LEAKY_RELU:
        return 1.0 if a > 0 else LEAKY_SLOPE
    return 1.0


@numba.njit(**OPTIONS)
def predictions(A, P, here, units, code, rows):  # pragma: no cover - machine code
    """The output layer's activation: P (units × rows) from its pre-activation in A's rows; softmax
    with its maximum subtracted, as PyTorch computes it."""
    for n in range(rows):
        if code == SOFTMAX:
            top = A[here, n]
            for j in range(1, units):
                top = max(top, A[here + j, n])
            s = 0.0
            for j in range(units):
                s += math.exp(A[here + j, n] - top)
            for j in range(units):
                P[j, n] = math.exp(A[here + j, n] - top) / s
            continue
        for j in range(units):
            z = A[here + j, n]
            if code == SIGMOID:
                P[j, n] = 1.0 / (1.0 + math.exp(-z))
            elif code == TANH:
                P[j, n] = math.tanh(z)
            elif code == RELU:
                P[j, n] = 0.0 if z <= 0 else z
            elif code == LEAKY_RELU:
                P[j, n] = z * LEAKY_SLOPE if z <= 0 else z
            else:
                P[j, n] = z
    return 0


@numba.njit(**OPTIONS)
def output(A, D, P, here, units, code, loss, consts, YT, lo, rows, scale, backward):  # pragma: no cover
    """The output layer: predictions into P (units × rows), the loss's terms summed (returned), and,
    with ``backward``, δ = ∂𝓛/∂z into D's rows (``scale`` is 1 / the batch's divisor)."""
    predictions(A, P, here, units, code, rows)
    total = 0.0
    factor = consts[SQUARE_FACTOR]
    for n in range(rows):
        if loss == CROSS_ENTROPY:  # from the logits, as torch.nn.CrossEntropyLoss: log-softmax
            top = A[here, n]
            for j in range(1, units):
                top = max(top, A[here + j, n])
            s = 0.0
            for j in range(units):
                s += math.exp(A[here + j, n] - top)
            log_s = math.log(s)
            targets = 0.0
            for j in range(units):
                y = YT[j, lo + n]
                targets += y
                total -= y * (A[here + j, n] - top - log_s)
            if backward:
                for j in range(units):
                    D[here + j, n] = (P[j, n] * targets - YT[j, lo + n]) * scale
            continue
        for j in range(units):  # the loss's term and its derivative in ŷ
            p, y = P[j, n], YT[j, lo + n]
            if loss == BCE:
                total -= y * max(math.log(p), LOG_FLOOR) + (1.0 - y) * max(math.log(1.0 - p), LOG_FLOOR)
                D[here + j, n] = (p - y) / max((1.0 - p) * p, BCE_EPSILON) * scale
            else:
                total += factor * (p - y) * (p - y)
                D[here + j, n] = 2.0 * factor * (p - y) * scale
        if not backward:
            continue
        if code == SOFTMAX:  # δᵢ = pᵢ (gᵢ − Σₖ gₖ pₖ)
            s = 0.0
            for j in range(units):
                s += D[here + j, n] * P[j, n]
            for j in range(units):
                D[here + j, n] = P[j, n] * (D[here + j, n] - s)
        else:
            for j in range(units):
                D[here + j, n] = D[here + j, n] * local(P[j, n], code)
    return total


@numba.njit(**REORDERED)
def backward(params, G, sizes, acts, woff, boff, uoff, consts, rows, A, D):  # pragma: no cover - machine code
    """From the output's δ in D: every layer's ∂𝓛/∂W and ∂𝓛/∂b added into G, and each hidden
    layer's δ = (δ W) ⊙ f′ into D."""
    zero = consts[ZERO]
    for layer in range(len(sizes) - 2, -1, -1):
        fan_in, units = sizes[layer], sizes[layer + 1]
        below, here = uoff[layer], uoff[layer + 1]
        for j in range(units):
            d = D[here + j]
            if boff[layer] >= 0:
                s = zero
                for n in range(rows):
                    s += d[n]
                G[boff[layer] + j] += s
            row = woff[layer] + j * fan_in
            for i in range(fan_in):
                a = A[below + i]
                s = zero
                for n in range(rows):
                    s += d[n] * a[n]
                G[row + i] += s
        if layer == 0:
            break
        code = acts[layer - 1]
        for i in range(fan_in):
            out = D[below + i]
            for n in range(rows):
                out[n] = 0.0
            for j in range(units):
                w = params[woff[layer] + j * fan_in + i]
                d = D[here + j]
                for n in range(rows):
                    out[n] += w * d[n]
            a = A[below + i]
            if code == SIGMOID:
                for n in range(rows):
                    out[n] = out[n] * ((1.0 - a[n]) * a[n])
            elif code == TANH:
                for n in range(rows):
                    out[n] = out[n] * (1.0 - a[n] * a[n])
            elif code == RELU:
                for n in range(rows):
                    out[n] = out[n] if a[n] > 0 else 0.0
            elif code == LEAKY_RELU:
                for n in range(rows):
                    out[n] = out[n] if a[n] > 0 else out[n] * LEAKY_SLOPE
    return 0


@numba.njit(**OPTIONS)
def update(params, G, M, V, trainable, optimizer, consts, step):  # pragma: no cover - machine code
    """One optimizer step on every trainable parameter, in torch.optim's order."""
    lr, beta1, beta2, eps, decay = consts[LR], consts[BETA1], consts[BETA2], consts[EPS], consts[DECAY]
    if optimizer == ADAM or optimizer == ADAMW:
        correction1 = 1.0 - beta1 ** step
        correction2 = 1.0 - beta2 ** step
    else:
        correction1 = correction2 = 1.0
    for k in range(len(params)):
        if not trainable[k]:
            continue
        g = G[k]
        if optimizer == ADAMW:
            params[k] *= 1.0 - lr * decay
        elif decay != 0:
            g = g + decay * params[k]
        if optimizer == SGD:
            params[k] -= lr * g
        elif optimizer == MOMENTUM:
            M[k] = M[k] * beta1 + g
            params[k] -= lr * M[k]
        else:
            M[k] = M[k] * beta1 + (1.0 - beta1) * g
            V[k] = V[k] * beta2 + (1.0 - beta2) * g * g
            params[k] -= lr * ((M[k] / correction1) / (math.sqrt(V[k] / correction2) + eps))
    return 0


@numba.njit(**OPTIONS)
def loss_of(params, sizes, acts, woff, boff, uoff, code, loss, reduction, consts, XT, YT, A, D, P):  # pragma: no cover
    """The loss over every sample (and, in P, the predictions of the last chunk)."""
    samples, width = XT.shape[1], A.shape[1]
    layers = len(sizes) - 1
    units = sizes[layers]
    total = 0.0
    for lo in range(0, samples, width):
        rows = min(width, samples - lo)
        forward(params, sizes, acts, woff, boff, uoff, XT, lo, rows, A)
        total += output(A, D, P, uoff[layers], units, code, loss, consts, YT, lo, rows, 1.0, False)
    return total / divisor(samples, units, reduction)


@numba.njit(**OPTIONS)
def divisor(rows, units, reduction):  # pragma: no cover - machine code
    if reduction == MEAN:
        return rows * units
    if reduction == SAMPLE_MEAN:
        return rows
    return 1


@numba.njit(**OPTIONS)
def predict(params, sizes, acts, woff, boff, uoff, code, XT, A, P, out):  # pragma: no cover
    """The predictions of the first len(out) samples, one row each."""
    layers = len(sizes) - 1
    units, width = sizes[layers], A.shape[1]
    for lo in range(0, len(out), width):
        rows = min(width, len(out) - lo)
        forward(params, sizes, acts, woff, boff, uoff, XT, lo, rows, A)
        predictions(A, P, uoff[layers], units, code, rows)
        for n in range(rows):
            for j in range(units):
                out[lo + n, j] = P[j, n]
    return 0


@numba.njit(**OPTIONS)
def train(params, M, V, G, step, sizes, acts, woff, boff, uoff, code, loss, reduction, optimizer, consts,
          trainable, XT, YT, batch, count, logged, history, A, D, P):  # pragma: no cover - machine code
    """``count`` epochs of batches of ``batch`` samples in order; the loss over all the data before
    the epoch's updates into ``history`` at the epochs ``logged`` marks. Returns the steps done."""
    samples, width = XT.shape[1], A.shape[1]
    layers = len(sizes) - 1
    units = sizes[layers]
    whole = batch >= samples
    recorded = 0
    for k in range(count):
        if logged[k] and not whole:
            history[recorded] = loss_of(params, sizes, acts, woff, boff, uoff, code, loss, reduction, consts,
                                        XT, YT, A, D, P)
            recorded += 1
        for start in range(0, samples, batch):
            stop = min(start + batch, samples)
            share = divisor(stop - start, units, reduction)
            G[:] = 0.0
            total = 0.0
            for lo in range(start, stop, width):
                rows = min(width, stop - lo)
                forward(params, sizes, acts, woff, boff, uoff, XT, lo, rows, A)
                total += output(A, D, P, uoff[layers], units, code, loss, consts, YT, lo, rows, 1.0 / share, True)
                backward(params, G, sizes, acts, woff, boff, uoff, consts, rows, A, D)
            if whole and logged[k]:
                history[recorded] = total / share
                recorded += 1
            step += 1
            update(params, G, M, V, trainable, optimizer, consts, step)
    return step
