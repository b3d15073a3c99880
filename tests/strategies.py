"""Hypothesis strategies shared by the tests: random networks with samples that fit them."""

from __future__ import annotations

from hypothesis import strategies as st

from backprop_cli.model import Layer, Network

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
LOSSES = ["bce", "mse", "sse", "half_sse", "cross_entropy"]


@st.composite
def networks(draw, max_samples=1, min_samples=1, max_depth=4, max_width=6, bound=2.0, input_bound=3.0,
             activations=tuple(ELEMENTWISE)):
    """(network, xs, ys): any depth and width up to the limits, every loss, frozen biases, no biases."""
    weights = st.floats(-bound, bound, allow_nan=False, allow_subnormal=False)
    inputs = st.floats(-input_bound, input_bound, allow_nan=False, allow_subnormal=False)
    depth = draw(st.integers(1, max_depth))
    widths = [draw(st.integers(1, max_width)) for _ in range(depth + 1)]
    loss = draw(st.sampled_from(LOSSES))
    if loss == "cross_entropy":
        output = "softmax"
    elif loss == "bce":
        output = draw(st.sampled_from(["sigmoid", "softmax"]))
    else:
        output = draw(st.sampled_from([*activations, "softmax"]))
    layers = []
    for i in range(depth):
        fan_in, units = widths[i], widths[i + 1]
        activation = output if i == depth - 1 else draw(st.sampled_from(list(activations)))
        weight = tuple(tuple(draw(weights) for _ in range(fan_in)) for _ in range(units))
        has_bias = draw(st.booleans())
        bias = tuple(draw(weights) for _ in range(units)) if has_bias else None
        freeze = has_bias and draw(st.integers(0, 3)) == 0
        layers.append(Layer(weight, bias, activation, freeze))
    lr = draw(st.sampled_from([1.0, 0.5, 0.1, 0.01]))
    network = Network(tuple(layers), loss=loss, lr=lr)
    samples = draw(st.integers(min_samples, max_samples))
    xs = tuple(tuple(draw(inputs) for _ in range(widths[0])) for _ in range(samples))
    targets = st.floats(0, 1) if loss in ("bce", "cross_entropy") else inputs
    ys = tuple(tuple(draw(targets) for _ in range(widths[-1])) for _ in range(samples))
    return network, xs, ys
