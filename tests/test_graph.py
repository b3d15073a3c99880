"""The computation graph: its numbers against PyTorch autograd, and the Mermaid, DOT and tree drawings."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest
from cases import batch, seed
from reference import build_modules, forward, torch_loss
from rich.console import Console
from rich.text import Text
from test_markdown_render import CHROMIUM, MERMAID_JS, mermaid_drawn

from backprop_cli.build import build_derivation
from backprop_cli.derivation import Options
from backprop_cli.graph import build_graph
from backprop_cli.model import SEED, SEED_X, SEED_Y, Layer, Network, random_network
from backprop_cli.render.graph import dot, mermaid
from backprop_cli.render.tree import tree


def networks():
    yield SEED, SEED_X, SEED_Y
    yield (random_network([3, 4, 2], activation="tanh", output_activation="sigmoid", loss="mse", lr=0.5, seed=2),
           ((0.5, -1.0, 2.0),), ((0.2, 0.9),))
    yield (Network((Layer(((0.1, -0.2), (0.3, 0.4), (-0.5, 0.2)), (0.0, 0.1, -0.1), "relu"),
                    Layer(((0.5, -0.5, 0.1), (0.2, 0.1, -0.3)), None, "softmax")), loss="cross_entropy", lr=0.1),
           ((1.0, 2.0),), ((0.0, 1.0),))


@pytest.mark.parametrize(("network", "xs", "ys"), list(networks()))
def test_values_and_gradients_equal_autograd(network, xs, ys, torch):
    graph = build_graph(build_derivation(network, xs, ys))
    linears, activations = build_modules(network)
    x = torch.tensor(xs, dtype=torch.float64)
    zs, as_ = forward(linears, activations, x)
    for a in as_:
        a.retain_grad()
    loss = torch_loss(network.loss, as_[-1], zs[-1], torch.tensor(ys, dtype=torch.float64))
    loss.backward()
    assert graph.node("loss").values == pytest.approx((loss.item(),), abs=1e-12)
    unit = 0
    checked = 0
    for index, linear in enumerate(linears):
        for j in range(linear.out_features):
            unit += 1
            z, a = graph.node(f"z{unit}"), graph.node(f"a{unit}")
            assert z.values == pytest.approx((zs[index][0, j].item(),), abs=1e-12)
            assert a.values == pytest.approx((as_[index][0, j].item(),), abs=1e-12)
            assert z.gradient == pytest.approx(zs[index].grad[0, j].item(), abs=1e-12)
            # softmax with cross-entropy is differentiated as one (no ∂𝓛/∂ŷ on the page).
            if a.gradient is not None:
                assert a.gradient == pytest.approx(as_[index].grad[0, j].item(), abs=1e-12)
                checked += 1
    assert checked >= network.widths[1]
    w = 0
    for linear in linears:
        for j in range(linear.out_features):
            for k in range(linear.in_features):
                w += 1
                node = graph.node(f"W{w}")
                assert node.values == (linear.weight[j, k].item(),)
                assert node.gradient == pytest.approx(linear.weight.grad[j, k].item(), abs=1e-12)


def test_edges_follow_the_network():
    graph = build_graph(seed())
    into = {key: [n.key for n in graph.inputs(key)] for key in ("z1", "a1", "z3", "loss")}
    assert into == {"z1": ["W1", "x1", "W2", "x2", "b1"], "a1": ["z1"], "z3": ["W5", "a1", "W6", "a2", "b3"],
                    "loss": ["a3", "y1"]}
    softmax = build_graph(build_derivation(*list(networks())[2]))
    assert [n.key for n in softmax.inputs("a4")] == ["z4", "z5"]  # every output of a softmax feeds on every z


def test_batch_graph_has_every_sample_and_the_batch_gradient():
    d = batch()
    graph = build_graph(d)
    assert graph.samples == 2
    assert graph.node("x1").values == (1.0, 0.0)
    assert graph.node("z1").gradient is None  # per-sample gradients are on the page, not one number
    assert graph.node("W1").gradient == d.layers[0].grad_weight[0][0]


def test_large_networks_are_drawn_without_parameter_nodes():
    network = random_network([4, 16, 16, 3], activation="tanh", output_activation="sigmoid", loss="bce", lr=1,
                             seed=0)
    d = build_derivation(network, ((0.1, 0.2, 0.3, 0.4),), ((0.0, 1.0, 0.0),), Options(form="scalar"))
    graph = build_graph(d)
    assert not [n for n in graph.nodes if n.kind in ("weight", "bias")]
    assert len(graph.nodes) == 4 + 2 * (16 + 16 + 3) + 3 + 1
    assert len(graph.edges) == 4 * 16 + 16 * 16 + 16 * 3 + (16 + 16 + 3) + 3 + 3
    assert len(build_graph(d, parameters=True).nodes) == len(graph.nodes) + network.parameter_count


def test_mermaid_declares_every_node_it_links():
    text = mermaid(build_graph(seed()))
    declared = set(re.findall(r"^    (n_\w+)\[", text, flags=re.M))
    linked = set(re.findall(r"(n_\w+) --> (n_\w+)", text))
    assert declared and all(a in declared and b in declared for a, b in linked)
    assert len(declared) == 19 and len(linked) == 20


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_reads_the_dot_file(tmp_path):
    source = tmp_path / "graph.dot"
    source.write_text(dot(build_graph(seed())), encoding="utf-8")
    result = subprocess.run(["dot", "-Tsvg", str(source)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('class="node"') == 19 and result.stdout.count('class="edge"') == 20
    assert "∂𝓛/∂W₅ = 0.2727" in result.stdout


@pytest.mark.skipif(not (MERMAID_JS and CHROMIUM), reason="set MERMAID_JS to mermaid.min.js; needs chromium")
def test_mermaid_draws_the_flowchart(tmp_path):
    drawn, dom = mermaid_drawn([mermaid(build_graph(d)) for d in (seed(), batch())], tmp_path)
    assert drawn == 2, dom


def draw(renderable, width=80) -> str:
    buffer = io.StringIO()
    Console(width=width, file=buffer, color_system=None).print(renderable)
    return buffer.getvalue()


def test_tree_expands_each_node_once():
    network = random_network([2, 3, 2], activation="tanh", output_activation="sigmoid", loss="bce", lr=1, seed=1)
    graph = build_graph(build_derivation(network, ((1.0, -1.0),), ((0.0, 1.0),)))
    text = draw(tree(graph))
    # Each hidden activation feeds both outputs: drawn in full under the first, marked under the second;
    # the inputs are leaves, drawn wherever they are used.
    assert text.count("── a₁ = ") == 2 and text.count("── z₁ = ") == 1 and text.count("── x₁ = ") == 3
    assert text.count("(expanded above)") == 3
    assert all(Text(line).cell_len == 80 for line in text.splitlines())
    ko = draw(tree(graph, lang="ko"))
    assert "(위에서 펼침)" in ko and all(Text(line).cell_len == 80 for line in ko.splitlines())
