"""--network model.pt: torch state_dicts read safely, sidecar specs, and refusals."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import pytest

from backprop_cli.cli import main
from backprop_cli.errors import SpecError
from backprop_cli.resolve import load_network_file
from backprop_cli.torch_io import load_state_dict_spec
from tests.reference import assert_close

torch = pytest.importorskip("torch")
nn = torch.nn


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def sequential(seed: int = 0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2), nn.Sigmoid())


class Named(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 1, bias=False)


def test_sequential_state_dict_becomes_the_network(tmp_path):
    model = sequential()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    spec = load_network_file(path)
    first, second = spec.network.layers
    assert first.weight == tuple(map(tuple, model[0].weight.double().tolist()))
    assert first.bias == tuple(model[0].bias.double().tolist())
    assert second.weight == tuple(map(tuple, model[2].weight.double().tolist()))
    assert (first.activation, second.activation, spec.network.loss) == ("sigmoid", "sigmoid", "bce")
    assert spec.xs is None


def test_named_submodules_and_a_layer_without_bias(tmp_path):
    path = tmp_path / "named.pth"
    torch.save(Named().state_dict(), path)
    layers = load_state_dict_spec(path).network.layers
    assert [(layer.inputs, layer.units) for layer in layers] == [(3, 4), (4, 1)]
    assert layers[1].bias is None


def test_a_single_linear_layer(tmp_path):
    path = tmp_path / "linear.pt"
    torch.save(nn.Linear(2, 1).state_dict(), path)
    assert list(nn.Linear(2, 1).state_dict()) == ["weight", "bias"]
    assert load_state_dict_spec(path).network.widths == (2, 1)


def test_step_on_a_pt_equals_the_torch_model_itself(tmp_path, capsys):
    """The gradients of `backprop step --network model.pt` are the model's own autograd gradients."""
    model = sequential(3).double()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    (tmp_path / "model.toml").write_text(
        'loss = "mse"\nlr = 0.1\n[[layers]]\nactivation = "tanh"\n[[layers]]\nactivation = "sigmoid"\n'
        "[data]\nx = [[0.5, -1.0]]\ny = [[0.2, 0.9]]\n")
    code, out, err = run(["step", "--network", str(path), "--format", "json"], capsys)
    assert code == 0, err
    ours = json.loads(out)
    x = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    y = torch.tensor([[0.2, 0.9]], dtype=torch.float64)
    loss = nn.MSELoss()(model(x), y)
    loss.backward()
    assert ours["loss"] == pytest.approx(loss.item(), rel=1e-12)
    for index, layer in zip((0, 1), (model[0], model[2]), strict=True):
        assert_close(ours["layers"][index]["grad_weight"], layer.weight.grad.tolist())
        assert_close(ours["layers"][index]["grad_bias"], layer.bias.grad.tolist())
    code, out, _ = run(["verify", "--network", str(path)], capsys)
    assert code == 0 and "gradients agree" in out


def test_command_line_overrides_the_sidecar(tmp_path, capsys):
    path = tmp_path / "model.pt"
    torch.save(sequential().state_dict(), path)
    (tmp_path / "model.json").write_text(json.dumps({"loss": "mse", "layers": [{"activation": "tanh"},
                                                                               {"activation": "sigmoid"}]}))
    code, out, err = run(["step", "--network", str(path), "--activation", "relu", "identity", "--x", "1", "2",
                          "--y", "0", "1", "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(out)["layers"][0]["a"][0] == [max(0.0, z) for z in json.loads(out)["layers"][0]["z"][0]]


@pytest.mark.parametrize(("sidecar", "expected"), [
    ("[[layers]]\nactivation = \"tanh\"\n",
     "has 1 [[layers]] tables for layers with parameters but model.pt has 2 (dense, dense)"),
    ("[[layers]]\nweight = [[1.0, 2.0]]\n[[layers]]\n", "layers[0].weight: the weights come from model.pt"),
    ("inputs = 2\n", "inputs: applies to random weights"),
    ("[[layers]]\nactivaton = \"tanh\"\n[[layers]]\n", "layers[0].activaton: unknown key; did you mean 'activation'?"),
    ("loss = \n", "is not valid TOML"),
])
def test_a_sidecar_that_does_not_fit_is_named(tmp_path, sidecar, expected):
    path = tmp_path / "model.pt"
    torch.save(sequential().state_dict(), path)
    (tmp_path / "model.toml").write_text(sidecar)
    with pytest.raises(SpecError, match="model.toml") as caught:
        load_state_dict_spec(path)
    assert expected in str(caught.value)


class Payload:
    """Unpickling this creates the marker file: what a malicious .pt would do instead."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class ShellPayload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _malicious_files(tmp_path, marker):
    files = {}
    files["torch_save_open"] = tmp_path / "open.pt"
    torch.save({"0.weight": Payload(marker)}, files["torch_save_open"])
    files["torch_save_shell"] = tmp_path / "shell.pt"
    torch.save({"0.weight": torch.zeros(1, 2), "0.bias": ShellPayload(marker)}, files["torch_save_shell"])
    files["raw_pickle"] = tmp_path / "raw.pt"
    files["raw_pickle"].write_bytes(pickle.dumps(ShellPayload(marker)))
    files["raw_pickle_protocol_2"] = tmp_path / "raw2.pth"
    files["raw_pickle_protocol_2"].write_bytes(pickle.dumps(Payload(marker), protocol=2))
    return files


def test_the_payloads_are_live_when_unpickled(tmp_path):
    """The control: an ordinary (unsafe) torch.load runs each payload (so the next tests can fail)."""
    for index, name in enumerate(_malicious_files(tmp_path, tmp_path / "unused")):
        folder = tmp_path / f"control{index}"
        folder.mkdir()
        marker = folder / "marker"
        with pytest.raises(Exception):  # noqa: B017 - what the payload returns is not a state_dict
            torch.load(_malicious_files(folder, marker)[name], weights_only=False)
            raise RuntimeError("loaded")
        assert marker.exists(), name


def test_a_malicious_pt_runs_nothing(tmp_path, capsys):
    marker = tmp_path / "marker"
    for name, path in _malicious_files(tmp_path, marker).items():
        code, out, err = run(["step", "--network", str(path), "--x", "1", "1", "--y", "0"], capsys)
        assert code == 2, (name, err)
        assert err.startswith(f"error: network: {path} carries a pickle payload"), (name, err)
        assert err.count("\n") == 1 and out == ""
    assert not marker.exists()


def test_a_malicious_pt_runs_nothing_in_a_fresh_process(tmp_path):
    marker = tmp_path / "marker"
    path = _malicious_files(tmp_path, marker)["torch_save_shell"]
    result = subprocess.run([sys.executable, "-m", "backprop_cli", "verify", "--network", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "carries a pickle payload (posix.system)" in result.stderr
    assert not marker.exists()


def test_a_whole_pickled_model_is_refused_with_the_fix(tmp_path, capsys):
    path = tmp_path / "whole.pt"
    torch.save(sequential(), path)
    code, _, err = run(["step", "--network", str(path)], capsys)
    assert code == 2
    assert "holds a whole pickled model (Sequential)" in err and "model.state_dict()" in err


def test_without_torch_a_clear_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "model.pt"
    torch.save(sequential().state_dict(), path)
    monkeypatch.setitem(sys.modules, "torch", None)
    code, out, err = run(["step", "--network", str(path)], capsys)
    assert code == 2 and out == ""
    assert err == ("error: network: reading model.pt needs PyTorch; install it (pip install torch) or give"
                   " the network as a .toml spec (backprop init writes one)\n")


def test_a_state_dict_with_normalization_layers_equals_the_model(tmp_path, capsys):
    """nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.LayerNorm, nn.Linear: read by kind, and the step's
    gradients are the model's own autograd gradients (training mode)."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 3), nn.LayerNorm(3),
                          nn.Linear(3, 1)).double()
    with torch.no_grad():
        model[1].running_mean.fill_(0.5)
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    (tmp_path / "model.toml").write_text(
        'loss = "mse"\nlr = 0.1\n[[layers]]\nactivation = "identity"\n[[layers]]\nkind = "batch_norm"\n'
        '[[layers]]\nkind = "activation"\nactivation = "relu"\n[[layers]]\nactivation = "identity"\n'
        '[[layers]]\nkind = "layer_norm"\n[[layers]]\nactivation = "identity"\n'
        "[data]\nx = [[0.5, -1.0], [1.0, 2.0], [-0.3, 0.1]]\ny = [[0.2], [0.9], [-0.4]]\n")
    code, out, err = run(["step", "--network", str(path), "--format", "json"], capsys)
    assert code == 0, err
    ours = json.loads(out)
    assert [layer["kind"] for layer in ours["layers"]] == [
        "dense", "batch_norm", "activation", "dense", "layer_norm", "dense"]
    x = torch.tensor([[0.5, -1.0], [1.0, 2.0], [-0.3, 0.1]], dtype=torch.float64)
    y = torch.tensor([[0.2], [0.9], [-0.4]], dtype=torch.float64)
    loss = nn.MSELoss()(model.train()(x), y)
    loss.backward()
    assert ours["loss"] == pytest.approx(loss.item(), rel=1e-12)
    for index in (0, 1, 3, 4, 5):
        assert_close(ours["layers"][index]["grad_weight"], model[index].weight.grad.tolist())
        assert_close(ours["layers"][index]["grad_bias"], model[index].bias.grad.tolist())
    assert_close(ours["layers"][1]["new_running_mean"], model[1].running_mean.tolist())
    assert_close(ours["layers"][1]["new_running_var"], model[1].running_var.tolist())


def test_a_sidecar_kind_that_does_not_match_the_file_is_named(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)).state_dict(), path)
    (tmp_path / "model.toml").write_text('[[layers]]\n[[layers]]\nkind = "batch_norm"\n')
    with pytest.raises(SpecError) as error:
        load_state_dict_spec(path)
    assert "layers[1].kind: is 'batch_norm' but model.pt's layer there is a layer_norm" in str(error.value)


def test_without_a_sidecar_the_kinds_come_from_the_tensors(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2, affine=False), nn.Linear(2, 1)).state_dict(), path)
    network = load_state_dict_spec(path).network
    assert [layer.kind for layer in network.layers] == ["dense", "batch_norm", "dense"]
    assert network.layers[1].weight is None
