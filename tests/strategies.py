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


@st.composite
def kind_networks(draw, min_samples=2, max_samples=4, max_blocks=4, max_width=4, bound=2.0, input_bound=3.0):
    """(network, xs, ys): dense layers mixed with the other kinds of layers/ (activation, dropout,
    batch_norm, layer_norm, residual), every loss, SGD with and without momentum, a batch of samples."""
    from backprop_cli.layers.activation import Activation
    from backprop_cli.layers.batch_norm import BatchNorm
    from backprop_cli.layers.dropout import Dropout
    from backprop_cli.layers.layer_norm import LayerNorm
    from backprop_cli.layers.residual import Residual
    from backprop_cli.model import Optimizer

    weights = st.floats(-bound, bound, allow_nan=False, allow_subnormal=False)
    inputs = st.floats(-input_bound, input_bound, allow_nan=False, allow_subnormal=False)
    samples = draw(st.integers(min_samples, max_samples))

    def dense(fan_in, units, activation):
        weight = tuple(tuple(draw(weights) for _ in range(fan_in)) for _ in range(units))
        bias = tuple(draw(weights) for _ in range(units)) if draw(st.booleans()) else None
        return Layer(weight, bias, activation, bias is not None and draw(st.integers(0, 4)) == 0)

    def affine(width):
        if not draw(st.booleans()):
            return None, None
        return (tuple(draw(st.floats(0.1, 2.0)) for _ in range(width)),
                tuple(draw(weights) for _ in range(width)))

    def norm(width, batch):
        gamma, beta = affine(width)
        eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
        if batch:
            return BatchNorm(gamma, beta, tuple(draw(weights) for _ in range(width)),
                             tuple(draw(st.floats(0.1, 2.0)) for _ in range(width)), eps,
                             draw(st.sampled_from([0.1, 0.5, 1.0, 0.0])))
        return LayerNorm(gamma, beta, width, eps)

    def block(width, allow_residual=True):
        choice = draw(st.sampled_from(["dense", "activation", "dropout", "batch_norm", "layer_norm"]
                                      + (["residual"] if allow_residual else [])))
        if choice == "dense":
            units = draw(st.integers(1, max_width))
            return dense(width, units, draw(st.sampled_from(ELEMENTWISE))), units
        if choice == "activation":
            return Activation(draw(st.sampled_from(ELEMENTWISE))), width
        if choice == "dropout":
            p = draw(st.sampled_from([0.0, 0.25, 0.5, 0.8]))
            mask = tuple(tuple(float(draw(st.booleans())) for _ in range(width)) for _ in range(samples))
            return Dropout(p, mask), width
        if choice in ("batch_norm", "layer_norm"):
            return norm(width, choice == "batch_norm"), width
        inner = [dense(width, width, draw(st.sampled_from(ELEMENTWISE)))]
        if draw(st.booleans()):
            inner.append(norm(width, draw(st.booleans())))
        return Residual(tuple(inner)), width

    width = draw(st.integers(1, 3))
    layers = []
    if draw(st.booleans()):
        layers.append(dense(width, width, "identity"))
    current = width
    for _ in range(draw(st.integers(1, max_blocks))):
        layer, current = block(current)
        layers.append(layer)
    loss = draw(st.sampled_from(LOSSES))
    outputs = draw(st.integers(1, 3))
    output = {"cross_entropy": "softmax", "bce": "sigmoid"}.get(loss) or draw(st.sampled_from(ELEMENTWISE))
    layers.append(dense(current, outputs, output))
    # Adam's step g/(|g| + ε) amplifies the last-digit differences of two correct gradients near g = 0
    # by up to 1/ε, so exact agreement is asked of the optimizers linear in g; test_optimizers.py
    # checks Adam on the kinds' parameters.
    name = draw(st.sampled_from(["sgd", "momentum"]))
    network = Network(tuple(layers), loss=loss, lr=draw(st.sampled_from([1.0, 0.5, 0.1])), optimizer=Optimizer(name))
    xs = tuple(tuple(draw(inputs) for _ in range(width)) for _ in range(samples))
    targets = st.floats(0, 1) if loss in ("bce", "cross_entropy") else inputs
    ys = tuple(tuple(draw(targets) for _ in range(outputs)) for _ in range(samples))
    return network, xs, ys
