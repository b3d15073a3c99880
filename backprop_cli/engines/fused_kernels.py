"""The fused engine's machine code: numba functions written once for every dense network.

A network is arrays here, not code: its parameters one flat array (each layer's weight, rows
first, then its bias), its widths and offsets integer arrays, its activations, loss and optimizer
small integer codes. The samples are columns (``XT``: inputs × samples), and a batch runs in
chunks of columns (the width of the buffers ``A`` and ``D``, a few hundred) so that a layer's
activations and δ stay in cache between the forward and the backward pass: the loops over a
chunk's columns are contiguous and compile to vector instructions. Nothing is allocated inside
the epoch loop. The arrays' dtype (float64 or float32) is the arithmetic's: numba compiles each
dtype once.

``keep`` turns on numba's disk cache for them (as ``cache=True`` does): numba keeps the machine
code in ``__pycache__`` beside this file (or ``NUMBA_CACHE_DIR``, or its user cache folder where
that is not writable) and uses it only while this file's modification time and size, numba's
version and the CPU are the ones it was compiled for; otherwise it compiles again. What it loads
from there is pickled, so the folder is used only if it belongs to the user (or root) and no one
else can write it; ``BACKPROP_CACHE_DIR=off`` compiles in memory every run.

Only ``backward``'s gradient sums may be reordered (``fastmath`` reassociation, so that they
vectorise); nothing assumes finite numbers, and inf and nan propagate as in numpy and PyTorch
(``error_model="numpy"``). ``exp_row`` is exp over a row in vector instructions (``exp_row32`` in
float32 arithmetic, for float32 arrays: twice the values an instruction).
"""

# mypy: disable-error-code="no-untyped-def"
from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numba.extending import overload

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

OPTIONS: dict[str, Any] = {"error_model": "numpy", "nogil": True}
REORDERED: dict[str, Any] = {**OPTIONS, "fastmath": {"reassoc", "contract"}}

LOG2E = 1.4426950408889634
LN2_HI, LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
"""ln 2 in two parts (fdlibm's): k ln 2 is exact in the first for the k of a double's range."""
SHIFTER = 6755399441055744.0
"""1.5 × 2⁵²: x + SHIFTER rounds x to an integer k, held in the low bits of its representation."""
SHIFTER_BITS = 0x4338000000000000
FAST_LOW, FAST_HIGH = -707.0, 709.0
"""exp's range that the vector path computes (its result a normal number); math.exp outside it."""


TAYLOR = tuple(1.0 / math.factorial(power) for power in range(13, -1, -1))
"""1 / k! for k = 13 … 0: exp(r) by Horner's rule."""


@numba.njit(**OPTIONS)
def exp_row(S, e, rows):  # pragma: no cover - machine code
    """S[e, n] = exp(S[e, n]) for n < rows, S a float64 scratch array whose last two rows it uses:
    as fdlibm, x = k ln 2 + r with |r| ≤ ½ ln 2, exp(r) by its Taylor series to r¹³ (within an ulp
    or two of math.exp), times 2ᵏ added to the exponent's bits. Every step vectorises (math.exp is a
    call a value); values outside the fast range (overflow, subnormal results, nan) are computed
    again by math.exp."""
    return exp_in(S, e, rows, S.view(np.int64), 52, SHIFTER_BITS, (FAST_LOW, FAST_HIGH), (LOG2E, SHIFTER),
                  (LN2_HI, LN2_LO), TAYLOR)


F32 = np.float32
LOG2E_32, SHIFTER_32 = F32(LOG2E), F32(12582912.0)
"""float32's: log₂ e, and 1.5 × 2²³ (x + SHIFTER_32 rounds x to an integer in the low bits)."""
SHIFTER_BITS_32 = 0x4B400000
LN2_HI_32, LN2_LO_32 = F32(0.693359375), F32(-2.12194440e-4)
"""ln 2 in two parts (Cephes' expf): k ln 2 exact in the first for the k of a float's range."""
FAST_LOW_32, FAST_HIGH_32 = F32(-87.0), F32(88.0)
"""exp's range that the float32 vector path computes (its result a normal float32)."""
TAYLOR_32 = tuple(F32(1.0 / math.factorial(power)) for power in range(7, -1, -1))
"""1 / k! for k = 7 … 0, in float32."""


@numba.njit(**OPTIONS)
def exp_row32(S, e, rows):  # pragma: no cover - machine code
    """``exp_row`` in float32 arithmetic, for S a float32 array: Cephes' reduction and the Taylor
    series to r⁷ (within an ulp of exp rounded to float32), twice the values a vector instruction."""
    return exp_in(S, e, rows, S.view(np.int32), 23, SHIFTER_BITS_32, (FAST_LOW_32, FAST_HIGH_32),
                  (LOG2E_32, SHIFTER_32), (LN2_HI_32, LN2_LO_32), TAYLOR_32)


@numba.njit(**OPTIONS)
def exp_in(S, e, rows, bits, mantissa, shifter_bits, fast, shift, ln2, taylor):  # pragma: no cover
    """``exp_row`` in S's dtype: ``bits`` S viewed as integers of its width, ``mantissa`` its
    mantissa's bits, ``fast`` the range computed here, ``shift`` (log₂ e, 1.5 × 2^mantissa),
    ``ln2`` ln 2 in two parts, ``taylor`` the series' coefficients from the highest power."""
    E, K, X = S[e], S[len(S) - 2], S[len(S) - 1]
    low, high = fast
    outside = 0
    for n in range(rows):
        x = E[n]
        X[n] = x
        outside += 0 if low <= x <= high else 1
        c = low if x < low else (high if x > high else x)
        shifted = c * shift[0] + shift[1]
        k = shifted - shift[1]
        r = (c - k * ln2[0]) - k * ln2[1]
        p = taylor[0]
        for i in range(1, len(taylor)):
            p = p * r + taylor[i]
        K[n] = shifted
        E[n] = p
    power, scale = bits[e], bits[len(S) - 2]
    for n in range(rows):
        power[n] += (scale[n] - shifter_bits) << mantissa
    if outside:
        for n in range(rows):
            if not low <= X[n] <= high:
                E[n] = math.exp(X[n])
    return 0


def exp_rows(S: Any, e: int, rows: int) -> Any:  # pragma: no cover - replaced in machine code by _exp_rows
    """exp over S[e, :rows] in S's dtype: ``exp_row`` for float64, ``exp_row32`` for float32."""
    return (exp_row32 if S.dtype == np.float32 else exp_row)(S, e, rows)


@overload(exp_rows, jit_options={"error_model": "numpy", "nogil": True})
def _exp_rows(S, e, rows):
    if S.dtype == numba.types.float32:
        return lambda S, e, rows: exp_row32(S, e, rows)
    return lambda S, e, rows: exp_row(S, e, rows)


@numba.njit(**OPTIONS)
def forward(params, sizes, acts, woff, boff, uoff, XT, lo, rows, A, S):  # pragma: no cover - machine code
    """Every layer on columns lo … lo + rows − 1: A holds the activations (the inputs first); the
    output layer's rows hold its pre-activation z. S is scratch of A's dtype (``exp_rows``)."""
    layers = len(sizes) - 1
    for i in range(sizes[0]):
        for n in range(rows):
            A[i, n] = XT[i, lo + n]
    for layer in range(layers):
        fan_in, units = sizes[layer], sizes[layer + 1]
        below, here = uoff[layer], uoff[layer + 1]
        for j in range(units):
            out = A[here + j]
            if boff[layer] >= 0:
                bias = params[boff[layer] + j]
                for n in range(rows):
                    out[n] = bias
            else:
                out[:rows] = 0.0
            row = woff[layer] + j * fan_in
            i = 0
            while i + 8 <= fan_in:  # eight inputs a pass: one load and store of out[n] for eight products
                add_products(out, rows, params[row + i:row + i + 8], A, below + i)
                i += 8
            while i < fan_in:
                w, a = params[row + i], A[below + i]
                for n in range(rows):
                    out[n] += w * a[n]
                i += 1
            if layer < layers - 1:
                activate(out, rows, acts[layer], S)
    return 0


@numba.njit(**OPTIONS)
def add_products(out, rows, w, M, first):  # pragma: no cover - machine code
    """out[n] += Σₖ w[k] M[first + k, n] for eight k: one load and store of out[n] for eight products."""
    w0, w1, w2, w3, w4, w5, w6, w7 = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]
    m0, m1, m2, m3 = M[first], M[first + 1], M[first + 2], M[first + 3]
    m4, m5, m6, m7 = M[first + 4], M[first + 5], M[first + 6], M[first + 7]
    for n in range(rows):
        out[n] += ((w0 * m0[n] + w1 * m1[n]) + (w2 * m2[n] + w3 * m3[n])
                   + ((w4 * m4[n] + w5 * m5[n]) + (w6 * m6[n] + w7 * m7[n])))
    return 0


@numba.njit(**OPTIONS)
def activate(out, rows, code, S):  # pragma: no cover - machine code
    if code == SIGMOID:
        E = S[0]
        for n in range(rows):
            E[n] = -out[n]
        exp_rows(S, 0, rows)
        for n in range(rows):
            out[n] = 1.0 / (1.0 + E[n])
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
def predictions(A, P, S, here, units, code, rows):  # pragma: no cover - machine code
    """The output layer's activation: P (units × rows) from its pre-activation in A's rows. Softmax
    as PyTorch computes it, with the maximum subtracted; it leaves exp(z − max) in S's first rows,
    the maximum in S[units] and the log of the sum in S[units + 1]."""
    if code != SOFTMAX:
        for j in range(units):
            out = P[j]
            z = A[here + j]
            for n in range(rows):
                out[n] = z[n]
            if code != IDENTITY:
                activate(out, rows, code, S)
        return 0
    top, total = S[units], S[units + 1]
    for n in range(rows):
        top[n] = A[here, n]
    for j in range(1, units):
        z = A[here + j]
        for n in range(rows):
            top[n] = max(top[n], z[n])
    for j in range(units):
        E, z = S[j], A[here + j]
        for n in range(rows):
            E[n] = z[n] - top[n]
        exp_rows(S, j, rows)
    for n in range(rows):
        total[n] = 0.0
    for j in range(units):
        E = S[j]
        for n in range(rows):
            total[n] += E[n]
    for j in range(units):
        E, out = S[j], P[j]
        for n in range(rows):
            out[n] = E[n] / total[n]
    for n in range(rows):
        total[n] = math.log(total[n])
    return 0


@numba.njit(**OPTIONS)
def output(A, D, P, S, here, units, code, loss, consts, YT, lo, rows, scale, backward):  # pragma: no cover
    """The output layer: predictions into P (units × rows), the loss's terms summed (returned), and,
    with ``backward``, δ = ∂𝓛/∂z into D's rows (``scale`` is 1 / the batch's divisor)."""
    predictions(A, P, S, here, units, code, rows)
    total = 0.0
    factor = consts[SQUARE_FACTOR]
    if loss == CROSS_ENTROPY:  # from the logits, as torch.nn.CrossEntropyLoss: log-softmax
        top, log_sum, targets = S[units], S[units + 1], S[units + 2]
        for n in range(rows):
            targets[n] = 0.0
        for j in range(units):
            z = A[here + j]
            for n in range(rows):
                y = YT[j, lo + n]
                targets[n] += y
                total -= y * (z[n] - top[n] - log_sum[n])
        if backward:
            for j in range(units):
                d, p = D[here + j], P[j]
                for n in range(rows):
                    d[n] = (p[n] * targets[n] - YT[j, lo + n]) * scale
        return total
    for j in range(units):  # the loss's terms and their derivatives in ŷ
        d, out = D[here + j], P[j]
        for n in range(rows):
            p, y = out[n], YT[j, lo + n]
            if loss == BCE:
                total -= y * max(math.log(p), LOG_FLOOR) + (1.0 - y) * max(math.log(1.0 - p), LOG_FLOOR)
                d[n] = (p - y) / max((1.0 - p) * p, BCE_EPSILON) * scale
            else:
                total += factor * (p - y) * (p - y)
                d[n] = 2.0 * factor * (p - y) * scale
    if not backward:
        return total
    if code == SOFTMAX:  # δᵢ = pᵢ (gᵢ − Σₖ gₖ pₖ)
        s = S[units]
        for n in range(rows):
            s[n] = 0.0
        for j in range(units):
            d, p = D[here + j], P[j]
            for n in range(rows):
                s[n] += d[n] * p[n]
        for j in range(units):
            d, p = D[here + j], P[j]
            for n in range(rows):
                d[n] = p[n] * (d[n] - s[n])
    else:
        for j in range(units):
            d, p = D[here + j], P[j]
            for n in range(rows):
                d[n] = d[n] * local(p[n], code)
    return total


@numba.njit(**REORDERED)
def backward(params, G, sizes, acts, woff, boff, uoff, consts, rows, A, D):  # pragma: no cover - machine code
    """From the output's δ in D: every layer's ∂𝓛/∂W and ∂𝓛/∂b added into G, and each hidden
    layer's δ = (δ W) ⊙ f′ into D (several inputs or units a pass, sharing the loads of d[n] or
    out[n])."""
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
            i = 0
            while i + 4 <= fan_in:
                a0, a1, a2, a3 = A[below + i], A[below + i + 1], A[below + i + 2], A[below + i + 3]
                s0 = s1 = s2 = s3 = zero
                for n in range(rows):
                    s0 += d[n] * a0[n]
                    s1 += d[n] * a1[n]
                    s2 += d[n] * a2[n]
                    s3 += d[n] * a3[n]
                G[row + i] += s0
                G[row + i + 1] += s1
                G[row + i + 2] += s2
                G[row + i + 3] += s3
                i += 4
            while i < fan_in:
                a = A[below + i]
                s = zero
                for n in range(rows):
                    s += d[n] * a[n]
                G[row + i] += s
                i += 1
        if layer == 0:
            break
        code = acts[layer - 1]
        W = woff[layer]
        for i in range(fan_in):
            out = D[below + i]
            for n in range(rows):
                out[n] = 0.0
            j = 0
            while j + 8 <= units:
                add_products(out, rows, params[W + j * fan_in + i:W + (j + 8) * fan_in:fan_in], D, here + j)
                j += 8
            while j < units:
                w, d = params[W + j * fan_in + i], D[here + j]
                for n in range(rows):
                    out[n] += w * d[n]
                j += 1
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
def loss_of(params, sizes, acts, woff, boff, uoff, code, loss, reduction, consts, XT, YT, A, D, P, S):  # noqa: E501
    """The loss over every sample (and, in P, the predictions of the last chunk)."""
    samples, width = XT.shape[1], A.shape[1]
    layers = len(sizes) - 1
    units = sizes[layers]
    total = 0.0
    step = even(samples, width)
    for lo in range(0, samples, step):
        rows = min(step, samples - lo)
        forward(params, sizes, acts, woff, boff, uoff, XT, lo, rows, A, S)
        total += output(A, D, P, S, uoff[layers], units, code, loss, consts, YT, lo, rows, 1.0, False)
    return total / divisor(samples, units, reduction)


@numba.njit(**OPTIONS)
def even(rows, width):  # pragma: no cover - machine code
    """The chunk for ``rows`` samples in buffers ``width`` wide: as many chunks as needed, of sizes as
    equal as multiples of 8 allow (300 samples: 152 and 148, not 256 and 44)."""
    if rows <= 0:
        return width
    chunks = (rows + width - 1) // width
    step = (rows + chunks - 1) // chunks
    return min(width, (step + 7) // 8 * 8)


@numba.njit(**OPTIONS)
def divisor(rows, units, reduction):  # pragma: no cover - machine code
    if reduction == MEAN:
        return rows * units
    if reduction == SAMPLE_MEAN:
        return rows
    return 1


@numba.njit(**OPTIONS)
def predict(params, sizes, acts, woff, boff, uoff, code, XT, A, P, S, out):  # pragma: no cover
    """The predictions of the first len(out) samples, one row each."""
    layers = len(sizes) - 1
    units, width = sizes[layers], A.shape[1]
    step = even(len(out), width)
    for lo in range(0, len(out), step):
        rows = min(step, len(out) - lo)
        forward(params, sizes, acts, woff, boff, uoff, XT, lo, rows, A, S)
        predictions(A, P, S, uoff[layers], units, code, rows)
        for n in range(rows):
            for j in range(units):
                out[lo + n, j] = P[j, n]
    return 0


@numba.njit(**OPTIONS)
def gradients(params, G, sizes, acts, woff, boff, uoff, code, loss, consts, XT, YT, start, stop, chunk, share,
              A, D, P, S):  # pragma: no cover - machine code
    """G = the gradient of the samples start … stop − 1's loss terms ÷ ``share`` (the batch's divisor),
    in chunks of ``chunk`` columns from ``start``; returns those terms' sum. A thread's part of a batch
    when the batch is split (``FusedEngine``): each part its own G and buffers."""
    layers = len(sizes) - 1
    units = sizes[layers]
    G[:] = 0.0
    total = 0.0
    for lo in range(start, stop, chunk):
        rows = min(chunk, stop - lo)
        forward(params, sizes, acts, woff, boff, uoff, XT, lo, rows, A, S)
        total += output(A, D, P, S, uoff[layers], units, code, loss, consts, YT, lo, rows, 1.0 / share, True)
        backward(params, G, sizes, acts, woff, boff, uoff, consts, rows, A, D)
    return total


@numba.njit(**OPTIONS)
def train(params, M, V, G, step, sizes, acts, woff, boff, uoff, code, loss, reduction, optimizer, consts,
          trainable, XT, YT, batch, count, logged, history, A, D, P, S):  # pragma: no cover - machine code
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
                                        XT, YT, A, D, P, S)
            recorded += 1
        for start in range(0, samples, batch):
            stop = min(start + batch, samples)
            share = divisor(stop - start, units, reduction)
            total = gradients(params, G, sizes, acts, woff, boff, uoff, code, loss, consts, XT, YT, start, stop,
                              even(stop - start, width), share, A, D, P, S)
            if whole and logged[k]:
                history[recorded] = total / share
                recorded += 1
            step += 1
            update(params, G, M, V, trainable, optimizer, consts, step)
    return step


KERNELS = (exp_row, exp_row32, exp_in, forward, add_products, activate, local, predictions, output, backward, update,
           loss_of, even, divisor, predict, gradients, train)


def keep() -> str | None:
    """Turn on numba's disk cache for every function here where its folder is safe (see the
    module's docstring); the folder, or None where nothing is kept."""
    import os

    from numba.core.caching import NullCache

    if os.environ.get("BACKPROP_CACHE_DIR") == "off":
        return None
    folders = set()
    for kernel in KERNELS:
        if isinstance(kernel._cache, NullCache):
            kernel.enable_caching()
        folders.add(kernel._cache._cache_path)
    if all(_private(folder) for folder in folders):
        return ", ".join(sorted(folders))
    for kernel in KERNELS:
        kernel._cache = NullCache()
    return None


def _private(folder: str) -> bool:
    """Whether ``folder`` and every folder above it belong to the user or root, and no one else can
    write them (a shared folder with the sticky bit, such as /tmp, may be above it)."""
    import os
    import stat

    path = os.path.abspath(folder)
    if os.path.islink(path):
        return False
    first = True
    while True:
        try:
            info = os.stat(path)
        except OSError:
            return False
        if hasattr(os, "getuid") and info.st_uid not in (os.getuid(), 0):
            return False
        if info.st_mode & 0o022 and (first or not info.st_mode & stat.S_ISVTX):
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path, first = parent, False
