"""Every training engine against a plain PyTorch loop (float64, torch.optim) and against each other."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli import engines
from backprop_cli.engines.base import EngineSettings
from backprop_cli.engines.codegen import check_source
from backprop_cli.engines.compiled import CompiledEngine
from backprop_cli.errors import BackpropError
from backprop_cli.model import DATASETS, SEED, SEED_X, SEED_Y, Layer, Network, Optimizer, random_network
from backprop_cli.training import TrainSettings, train
from tests.reference import assert_close, torch_activation, torch_train

torch = pytest.importorskip("torch")

BACKENDS = ["compiled", "numpy", "torch"]
XOR = DATASETS["xor"]


def trained(network, xs, ys, epochs, **options):
    result = train(network, xs, ys, TrainSettings(epochs=epochs, log_every=1, **options))
    data = result.to_dict()
    return {"history": [row["loss"] for row in data["history"]], "final_loss": data["final_loss"],
            "layers": data["layers"]}, result


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_100_epochs_equal_a_pytorch_loop(backend):
    ours, result = trained(SEED, SEED_X, SEED_Y, 100, backend=backend)
    assert result.backend == backend and len(ours["history"]) == 100
    assert_close(ours, torch_train(SEED, SEED_X, SEED_Y, 100), tol=1e-10)


@pytest.fixture(scope="module")
def xor_reference():
    return torch_train(SEED, *XOR, 10_000)


@pytest.mark.parametrize("backend", BACKENDS)
def test_xor_10000_epochs_from_the_seed_weights_equal_a_pytorch_loop(backend, xor_reference):
    ours, _ = trained(SEED, *XOR, 10_000, backend=backend)
    assert_close(ours, xor_reference, tol=1e-10)
    assert ours["final_loss"] < 0.002  # it learns XOR


def _network(hidden, output, loss, optimizer="sgd", lr=0.5, widths=(2, 3, 1), bias=True, freeze=False):
    network = random_network(widths, activation=hidden, output_activation=output, loss=loss, lr=lr, seed=3,
                             init="uniform", bias=bias)
    layers = network.layers
    if freeze:
        layers = (replace(layers[0], freeze_bias=True), *layers[1:])
    return replace(network, layers=layers, optimizer=Optimizer(optimizer))


SOFTSIGN = "x/(1+abs(x))"


class Softsign(torch.nn.Module):
    def forward(self, z):
        return z / (1 + z.abs())


def reference_activation(name):
    return Softsign() if name == SOFTSIGN else torch_activation(name)


PROBABILITIES = ((1.0, 0.0), (0.0, 1.0), (0.0, 1.0), (0.3, 0.7))
# one-hot rows, which the torch engine gives CrossEntropyLoss as class indices (the reference keeps
# them as probabilities)
ONE_HOT = ((1.0, 0.0), (0.0, 1.0), (0.0, 1.0), (1.0, 0.0))
CASES = {
    "bce sgd": (_network("tanh", "sigmoid", "bce", lr=0.5), XOR[1]),
    "bce momentum": (_network("tanh", "sigmoid", "bce", "momentum", lr=0.1), XOR[1]),
    "bce adam": (_network("tanh", "sigmoid", "bce", "adam", lr=0.05), XOR[1]),
    "mse relu": (_network("relu", "identity", "mse", "momentum", lr=0.05), XOR[1]),
    "sse leaky_relu": (_network("leaky_relu", "identity", "sse", lr=0.05), XOR[1]),
    "half_sse formula": (_network(SOFTSIGN, SOFTSIGN, "half_sse", "adam", lr=0.05), XOR[1]),
    "cross_entropy softmax": (_network("tanh", "softmax", "cross_entropy", "adam", lr=0.05, widths=(2, 4, 2)),
                              PROBABILITIES),
    "cross_entropy one-hot": (_network("tanh", "softmax", "cross_entropy", lr=0.5, widths=(2, 4, 2)), ONE_HOT),
    "mse softmax": (_network("sigmoid", "softmax", "mse", lr=0.5, widths=(2, 4, 2)), PROBABILITIES),
    "frozen bias": (_network("sigmoid", "sigmoid", "bce", "adam", lr=0.05, freeze=True), XOR[1]),
    "no bias": (_network("sigmoid", "sigmoid", "bce", lr=0.5, bias=False), XOR[1]),
}
BATCHING = {"full batch": {}, "batches of 2": {"batch_size": 2},
            "batches of 3, shuffled": {"batch_size": 3, "shuffle": True, "seed": 7}}


@pytest.mark.parametrize("batching", BATCHING)
@pytest.mark.parametrize("case", CASES)
def test_losses_activations_optimizers_and_batches_equal_a_pytorch_loop(case, batching):
    network, ys = CASES[case]
    options = BATCHING[batching]
    reference = torch_train(network, XOR[0], ys, 60, batch_size=options.get("batch_size"),
                            shuffle_seed=options.get("seed") if options.get("shuffle") else None,
                            activation=reference_activation)
    for backend in BACKENDS:
        ours, _ = trained(network, XOR[0], ys, 60, backend=backend, **options)
        assert_close(ours, reference, tol=1e-10, path=backend)


def test_compiled_arrays_mode_equals_floats_mode():
    """The compiled engine over numpy arrays (big or shuffled data) and over unrolled floats agree."""
    network = _network("tanh", "sigmoid", "bce", "momentum", lr=0.3)
    floats = CompiledEngine(network, *XOR, EngineSettings(batch_size=4))
    arrays = CompiledEngine(network, *XOR, EngineSettings(batch_size=4, order=lambda epoch: [0, 1, 2, 3]))
    assert floats.floats and not arrays.floats
    for engine in (floats, arrays):
        engine.run(1, 50, {1, 50}, [False])
    assert_close(list(arrays.parameters()), list(floats.parameters()), tol=1e-12)
    assert_close(arrays.evaluate(4), floats.evaluate(4), tol=1e-12)


@pytest.mark.parametrize("scale", [800.0, -800.0])
def test_overflow_gives_pytorch_values_on_every_backend(scale):
    """exp overflows and log(0) is clamped at −100: Python floats raise there; the result must not."""
    network = Network((Layer(((scale, scale),), (0.0,), "sigmoid"), Layer(((abs(scale),),), (0.0,), "sigmoid")),
                      loss="bce", lr=0.01)
    reference = torch_train(network, *XOR, 5)
    assert any(loss > 10 for loss in reference["history"])  # saturated: the clamp matters
    for backend in BACKENDS:
        ours, _ = trained(network, *XOR, 5, backend=backend)
        assert_close(ours, reference, tol=1e-10, path=backend)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from(["sgd", "momentum", "adam"]),
       st.sampled_from(["sigmoid", "tanh", "relu"]), st.integers(1, 4))
def test_random_networks_agree_with_pytorch(seed, optimizer, hidden, batch):
    network = replace(random_network((2, 3, 2, 1), activation=hidden, output_activation="sigmoid", seed=seed,
                                     init="uniform", lr=0.2, decimals=None), optimizer=Optimizer(optimizer))
    reference = torch_train(network, *XOR, 25, batch_size=batch)
    # Float64 fixes 25 steps only as far as their conditioning allows: nudging one weight by one
    # part in 10^15 shows how far rounding alone moves torch's own trajectory (some relu networks
    # with momentum amplify it to 1e-9), and the engines are held to ten times that at most.
    first = network.layers[0]
    nudged = replace(network, layers=(replace(first, weight=((first.weight[0][0] * (1 + 1e-15),
                                                              *first.weight[0][1:]), *first.weight[1:])),
                                      *network.layers[1:]))
    tol = max(1e-10, 10 * spread(torch_train(nudged, *XOR, 25, batch_size=batch), reference))
    for backend in ("compiled", "numpy"):
        ours, _ = trained(network, *XOR, 25, backend=backend, batch_size=batch)
        assert_close(ours, reference, tol=tol, path=backend)


def spread(a, b):
    """The largest absolute difference between the numbers of two like-shaped results."""
    if isinstance(b, dict):
        return max((spread(a[key], value) for key, value in b.items() if not key.startswith("_")), default=0.0)
    if isinstance(b, (list, tuple)):
        return max((spread(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        return abs(a - b) if math.isfinite(a) and math.isfinite(b) else 0.0
    return 0.0


def test_float32_is_close_to_float64():
    exact, _ = trained(SEED, *XOR, 200, backend="numpy")
    for backend in ("numpy", "torch"):
        single, result = trained(SEED, *XOR, 200, backend=backend, dtype="float32")
        assert result.settings.dtype == "float32"
        assert_close(single, exact, tol=1e-4, path=backend)


def test_auto_picks_by_size_and_says_why():
    assert engines.choose(SEED, 4, False, "cpu", "float64")[0] == "compiled"
    big = random_network((2, 16, 16, 1))
    name, reason = engines.choose(big, 200_000, False, "cpu", "float64")
    assert name == "numpy" and reason.text() == "337 parameters × 200000 samples: matrix operations pay"
    assert reason.text("ko") == "매개변수 337개 × 샘플 200000개: 행렬 연산이 유리함"
    assert engines.choose(SEED, 4, True, "cpu", "float64")[0] == "numpy"
    assert engines.choose(SEED, 4, False, "cuda", "float64")[0] == "torch"
    result = train(SEED, *XOR, TrainSettings(epochs=3))
    assert result.backend == "compiled" and result.reason is not None
    assert result.reason.text() == "9 parameters × 4 samples: small enough to compile"
    assert result.reason.text("ko") == "매개변수 9개 × 샘플 4개: 컴파일하기에 충분히 작음"


def test_unknown_backend_is_an_error():
    with pytest.raises(BackpropError, match="unknown backend 'jax'"):
        engines.load("jax")


def test_generated_code_names_nothing_but_its_variables_and_functions():
    engine = CompiledEngine(SEED, SEED_X, SEED_Y, EngineSettings(batch_size=1))
    check_source(engine.source, {"exp", "log"})
    for bad in ("x = open('f')", "import os", "x = y.__class__", "x = eval('1')", "x = (lambda: 1)()"):
        with pytest.raises(RuntimeError):
            check_source(bad, {"exp"})


def test_a_formula_stays_data_in_generated_code():
    """A user formula reaches the generated code only as sympy's printed functions of x."""
    network = Network((Layer(((0.5, -0.5),), (0.1,), "max(x, 0) + exp(-abs(x))"), Layer(((1.0,),), None, "identity")),
                      loss="mse", lr=0.1)
    engine = CompiledEngine(network, *XOR, EngineSettings(batch_size=4))
    assert "max(" in engine.source and "import" not in engine.source
    engine.run(1, 3, {1}, [False])
    assert all(math.isfinite(v) for row in engine.parameters()[((0,), "weight")] for v in row)


NUMERIC_CASES = {
    "bce saturated": (Network((Layer(((40.0, 40.0),), (0.0,), "sigmoid"), Layer(((40.0,),), (0.0,), "sigmoid"))),
                      XOR[0], XOR[1]),
    "cross_entropy, targets summing to one": (
        Network((Layer(((0.5, -0.2), (0.1, 0.3), (-0.4, 0.2)), (0.0, 0.1, -0.1), "softmax"),), loss="cross_entropy"),
        ((1.0, 2.0),), ((0.2, 0.3, 0.5),)),
    "cross_entropy, other targets": (
        Network((Layer(((0.5, -0.2), (0.1, 0.3)), (0.0, 0.1), "softmax"),), loss="cross_entropy"),
        ((1.0, 2.0), (0.0, -1.0)), ((0.2, 0.3), (1.0, 0.0))),
    "softmax and mse": (Network((Layer(((900.0, -0.2), (0.1, 0.3)), (0.0, 0.1), "softmax"),), loss="mse"),
                        ((1.0, 2.0),), ((0.0, 1.0),)),
}


@pytest.mark.parametrize("case", NUMERIC_CASES)
def test_the_lines_the_compiled_engine_runs_compute_the_printed_values(case):
    """Where a line's number is not computed from its printed form (PyTorch's clamps, softmax with
    its maximum subtracted, cross-entropy from the logits), its ``numeric`` form gives that number."""
    from backprop_cli.build import build_derivation
    from backprop_cli.derivation import Options
    from backprop_cli.evaluate import evaluate

    network, xs, ys = NUMERIC_CASES[case]
    derivation = build_derivation(network, xs, ys, Options(form="scalar"))
    steps = [s for section in derivation.sections for g in section.groups for s in g.steps]
    checked = [s for s in steps if s.numeric is not None]
    assert checked
    for step in checked:
        assert evaluate(step.numeric, derivation.values) == pytest.approx(step.value, rel=1e-12, abs=1e-300), step


def test_one_hot_targets_reach_cross_entropy_as_class_indices_and_others_as_probabilities():
    from backprop_cli import losses
    from backprop_cli.engines.torch_engine import class_indices

    network = _network("tanh", "softmax", "cross_entropy", lr=0.5, widths=(2, 4, 2))
    loss = losses.of(network)
    one_hot = class_indices(torch, network, loss, torch.tensor(ONE_HOT, dtype=torch.float64))
    assert one_hot.dtype == torch.long and one_hot.reshape(-1).tolist() == [0, 1, 1, 0]
    soft = torch.tensor(PROBABILITIES, dtype=torch.float64)
    assert class_indices(torch, network, loss, soft) is soft
    mse = _network("sigmoid", "softmax", "mse", lr=0.5, widths=(2, 4, 2))
    targets = torch.tensor(ONE_HOT, dtype=torch.float64)
    assert class_indices(torch, mse, losses.of(mse), targets) is targets


def guarded(engine):
    """The torch engine with the bounds check it keeps on CUDA (``--device cuda``), here on the CPU."""
    import torch

    from backprop_cli.engines.torch_engine import inside_function

    engine.bounds = (torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64))
    engine.inside = inside_function(torch)
    return engine


def test_the_cuda_bounds_check_changes_no_number_and_says_a_prediction_outside_0_1():
    pytest.importorskip("torch")
    from backprop_cli.engines.torch_engine import TorchEngine

    xs, ys = DATASETS["xor"]
    network = random_network((2, 4, 1), seed=2, lr=0.5)
    plain = TorchEngine(network, xs, ys, EngineSettings(batch_size=4))
    checked = guarded(TorchEngine(network, xs, ys, EngineSettings(batch_size=4)))
    assert checked.run(1, 30, range(1, 31), [False]) == plain.run(1, 30, range(1, 31), [False])
    assert checked.parameters() == plain.parameters()
    assert checked.evaluate(4) == plain.evaluate(4)

    nan = guarded(TorchEngine(random_network((2, 2, 1), activation="sqrt(x)", output_activation="sigmoid"),
                              xs, ys, EngineSettings(batch_size=4)))
    with pytest.raises(BackpropError, match="output became nan"):
        nan.run(1, 3, range(1, 4), [False])
    outside = guarded(TorchEngine(random_network((2, 2, 1), activation="sigmoid", output_activation="identity",
                                                 seed=5), xs, ys, EngineSettings(batch_size=4)))
    with pytest.raises(BackpropError, match="bce: PyTorch refuses the predictions"):
        outside.evaluate(0)
