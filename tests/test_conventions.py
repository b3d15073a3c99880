"""Other textbooks' conventions (--layout transposed, --momentum-form textbook, --history after): the
page is written another way and its numbers stay PyTorch's."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import networks

from backprop_cli.build import build_derivation
from backprop_cli.cli import main
from backprop_cli.derivation import Options
from backprop_cli.model import SEED, SEED_X, SEED_Y, Network, Optimizer
from backprop_cli.notation import Node, State
from backprop_cli.printing import to_text
from backprop_cli.render import render

torch = pytest.importorskip("torch")

from reference import build_modules, forward, make_optimizer, torch_loss, trainable  # noqa: E402

SLOW = settings(suppress_health_check=[HealthCheck.too_slow], deadline=None, max_examples=25)


def flat(rows):
    return [v for row in rows for v in row]


def transposed(rows):
    return [list(column) for column in zip(*rows, strict=True)]


def test_the_seed_in_the_transposed_layout():
    # z = Wᵀx with W (inputs × units) numbered row by row: W₁ = 0.4352 (x₁ → z₁), W₂ = 0.1951 (x₁ → z₂).
    derivation = build_derivation(SEED, SEED_X, SEED_Y, Options(layout="transposed"))
    page = render(derivation, "rich", width=120)
    assert "z₁ = W₁x₁ + W₃x₂ + b₁ = 0.4352 × 1 + 0.3545 × 1 - 0.1419 = 0.6478" in page
    assert "z₂ = W₂x₁ + W₄x₂ + b₂ = 0.1951 × 1 + 0.4835 × 1 + 0.0439 = 0.7225" in page
    assert "W₂(t+1) = W₂(t) - α ∂𝓛/∂W₂ = 0.1951 - 1 × 0.0103 = 0.1848" in page
    assert "z = Wᵀx" in page
    # The numbers are the seed's: the JSON (torch's layout) is the same either way.
    assert derivation.to_dict() == build_derivation(SEED, SEED_X, SEED_Y).to_dict()


@SLOW
@given(networks(max_depth=3, max_width=4))
def test_the_transposed_pages_W_is_torchs_weight_transposed(case):
    network, xs, ys = case
    derivation = build_derivation(network, xs, ys, Options(form="scalar", layout="transposed"))
    linears, _ = build_modules(network)
    rows = iter(derivation.parameters)
    # The page's numbers are the torch-layout page's, which the step tests hold against autograd.
    for linear, layer in zip(linears, build_derivation(network, xs, ys, Options(form="scalar")).to_dict()["layers"],
                             strict=True):
        weights = [next(rows) for _ in flat(layer["weight"])]
        numbers = [int(to_text(row.symbol)[1:].translate(str.maketrans("₀₁₂₃₄₅₆₇₈₉", "0123456789")))
                   for row in weights]
        assert numbers == sorted(numbers)  # W₁, W₂, … in the page's order
        assert [row.before for row in weights] == linear.weight.detach().T.flatten().tolist()
        for column, key in (("gradient", "grad_weight"), ("after", "new_weight")):
            assert [getattr(row, column) for row in weights] == flat(transposed(layer[key]))
        if layer["bias"] is not None:
            assert [next(rows).before for _ in layer["bias"]] == layer["bias"]


def test_the_transposed_layout_refuses_a_scalar_page_of_other_kinds_and_unknown_layouts(capsys, tmp_path):
    spec = tmp_path / "norm.toml"
    spec.write_text('loss = "mse"\n[[layers]]\nweight = [[0.5, -0.3], [0.2, 0.8]]\nbias = [0.1, 0.0]\n'
                    'activation = "identity"\n[[layers]]\nkind = "layer_norm"\n[data]\nx = [[1.0, 2.0]]\n'
                    'y = [[0.0, 1.0]]\n')
    assert main(["step", "--network", str(spec), "--layout", "transposed", "--form", "scalar"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: layout: --layout transposed numbers the weights of dense layers") and \
        "--form matrix" in err and err.count("\n") == 1
    assert main(["step", "--layout", "sideways"]) == 2
    assert capsys.readouterr().err == "error: layout: must be torch or transposed, not 'sideways'\n"
    assert main(["step", "--momentum-form", "nesterov"]) == 2
    assert "momentum-form: must be torch or textbook" in capsys.readouterr().err


def torch_two_steps(network: Network, xs, ys):
    """Two SGD-with-momentum steps of ``network`` in float64: the parameters and momentum buffers after each."""
    linears, activations = build_modules(network)
    params = trainable(linears, network)
    optimizer = make_optimizer(network, params)
    x, y = torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)
    out = []
    for _ in range(2):
        optimizer.zero_grad()
        zs, outputs = forward(linears, activations, x)
        torch_loss(network.loss, outputs[-1], zs[-1], y).backward()
        optimizer.step()
        out.append([(p.detach().clone().flatten().tolist(),
                     optimizer.state[p]["momentum_buffer"].flatten().tolist()) for p in params])
    return out


@SLOW
@given(networks(max_depth=3, max_width=4, max_samples=3), st.sampled_from(["sgd", "momentum", "adam"]))
def test_the_transposed_matrix_page_writes_W_transposed_and_changes_no_number(case, optimizer):
    network, xs, ys = case
    network = Network(network.layers, loss=network.loss, lr=network.lr, optimizer=Optimizer(optimizer))
    torch_page = build_derivation(network, xs, ys, Options(form="matrix"))
    page = build_derivation(network, xs, ys, Options(form="matrix", layout="transposed"))
    assert page.to_json() == torch_page.to_json()
    for number, layer in enumerate(network.layers, start=1):
        written = page.values[Node("W", layer=number)]
        assert [list(row) for row in written.rows] == [list(column) for column in zip(*layer.weight, strict=True)]
    # A second step from the first's optimizer state: the state goes through the page's layout and back.
    second = [build_derivation(d.extra["network_after"], xs, ys, d.options, state=d.extra["optimizer_state"])
              for d in (torch_page, page)]
    assert second[1].to_json() == second[0].to_json()


@SLOW
@given(networks(max_depth=2, max_width=3, max_samples=2), st.sampled_from([0.9, 0.5]),
       st.sampled_from(["scalar", "matrix"]))
def test_the_textbook_momentum_form_gives_torchs_numbers_over_two_steps(case, momentum, form):
    network, xs, ys = case
    if form == "scalar" and len(xs) > 1:
        form = "matrix"
    network = Network(network.layers, loss=network.loss, lr=network.lr, optimizer=Optimizer("momentum", momentum))
    options = Options(form=form, momentum_form="textbook")
    first = build_derivation(network, xs, ys, options)
    second = build_derivation(first.extra["network_after"], xs, ys, options, state=first.extra["optimizer_state"])
    reference = torch_two_steps(network, xs, ys)
    for derivation, torch_after in zip((first, second), reference, strict=True):
        trained = []  # in torch's parameter order: each weight, each bias that is not frozen
        for layer, spec in zip(derivation.to_dict()["layers"], network.layers, strict=True):
            trained.append(flat(layer["new_weight"]))
            if layer["new_bias"] is not None and not spec.freeze_bias:
                trained.append(layer["new_bias"])
        assert len(trained) == len(torch_after)
        for page, (ref, _) in zip(trained, torch_after, strict=True):
            assert page == pytest.approx(ref, abs=1e-10, rel=1e-10)
    # The page's velocity is torch's momentum buffer times −α.
    if form == "scalar":
        for row in second.parameters:
            velocity = second.values.get(State("velocity", row.symbol, "t+1"))
            if velocity is not None:
                buffer = second.values[State("v", row.symbol, "t+1")]
                assert velocity == pytest.approx(-network.lr * buffer, abs=1e-12)


def test_the_textbook_momentum_page_says_how_it_relates_to_torch():
    network = Network(SEED.layers, loss="bce", lr=0.5, optimizer=Optimizer("momentum", 0.9))
    textbook = build_derivation(network, SEED_X, SEED_Y, Options(momentum_form="textbook"))
    page = render(textbook, "rich", width=120)
    assert "v[W₅](t+1) = μv[W₅](t) - α ∂𝓛/∂W₅ = 0.9000 × 0 - 0.5000 × 0.2727 = -0.1364" in page
    assert "W₅(t+1) = W₅(t) + v[W₅](t+1) = -0.1725 - 0.1364 = -0.3089" in page
    assert "its v = μv + g is this v divided by −α, the same method while α stays the same" in render(textbook,
                                                                                                     "markdown")
    assert textbook.to_dict() == build_derivation(network, SEED_X, SEED_Y).to_dict()
    korean = render(build_derivation(network, SEED_X, SEED_Y, Options(momentum_form="textbook", lang="ko")),
                    "markdown")
    assert "α가 바뀌지 않는 한 같은 방법입니다" in korean


def history_of(capsys, *args: str) -> list[tuple[str, str]]:
    assert main(["train", "--format", "markdown", *args]) == 0
    page = capsys.readouterr().out
    section = page.split("## Loss")[1].split("##")[0]
    return [tuple(cell.strip() for cell in line.strip("|").split("|")) for line in section.splitlines()
            if line.startswith("|") and "---" not in line]


def test_the_history_after_iteration_i(capsys):
    before = history_of(capsys, "--epochs", "4")
    after = history_of(capsys, "--epochs", "4", "--history", "after")
    assert before[0] == ("epoch", "loss") and after[0] == ("after iteration", "loss")
    # Iteration i's loss is epoch i+1's loss before its update; the last is the final loss.
    assert [row[1] for row in after[1:-1]] == [row[1] for row in before[1:]]
    assert [row[0] for row in after[1:]] == ["0", "1", "2", "3", "4"]
    step = build_derivation(SEED, SEED_X, SEED_Y)
    assert after[1][1] == f"{step.loss:.4f}" and after[2][1] == f"{step.loss_after:.4f}"


def test_the_history_after_iteration_counts_the_updates_of_each_epoch(capsys):
    after = history_of(capsys, "--data", "xor", "--epochs", "3", "--batch-size", "2", "--history", "after")
    assert [row[0] for row in after[1:]] == ["0", "2", "4", "6"]
    assert main(["train", "--history", "between"]) == 2
    assert capsys.readouterr().err == "error: history: must be before or after, not 'between'\n"
    assert math.isfinite(float(after[-1][1]))


def test_train_shows_its_steps_in_the_conventions_asked(capsys):
    common = ["train", "--optimizer", "momentum", "--lr", "0.5", "--epochs", "3", "--show-steps", "2"]
    assert main([*common, "--momentum-form", "textbook", "--layout", "transposed"]) == 0
    page = capsys.readouterr().out
    assert "v[W₅](t+1) = μv[W₅](t) - α ∂𝓛/∂W₅" in page and "z₁ = W₁x₁ + W₃x₂ + b₁" in page
    assert main(common) == 0
    torch_page = capsys.readouterr().out
    # The trained parameters (and every loss) are the same whichever way the step is written.
    assert page.split("Trained parameters")[1] == torch_page.split("Trained parameters")[1]
