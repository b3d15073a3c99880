"""derive on live torch objects: the model, criterion and optimizer read as the page's network,
every number equal to the same objects run in float64 by PyTorch itself."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn, optim  # noqa: E402

import backprop_cli  # noqa: E402
from backprop_cli.errors import SpecError  # noqa: E402
from tests.reference import assert_close  # noqa: E402


# The seed page's own code (../shared/seed/), pasted as it stands, with the forward it implies.
class CustomModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(
            nn.Linear(2, 2),
            nn.Sigmoid()
        )
        self.layer2 = nn.Sequential(  # 두 개의 계층
            nn.Linear(2, 1),
            nn.Sigmoid()
        )

        self.layer1[0].weight.data = torch.nn.Parameter(
            torch.Tensor([[0.4352, 0.3545],
                          [0.1951, 0.4835]])
        )
        self.layer1[0].bias.data = torch.nn.Parameter(
            torch.Tensor([-0.1419, 0.0439])
        )
        self.layer2[0].weight.data = torch.nn.Parameter(
            torch.Tensor([[-0.1725, 0.1129]])
        )
        self.layer2[0].bias.data = torch.nn.Parameter(
            torch.Tensor([-0.3043])
        )

    def forward(self, x):
        x = self.layer1(x)
        x = self.layer2(x)
        return x


def torch_reference(model, criterion, optimizer, x, y):
    """The step as PyTorch runs it on a float64 copy of the objects: per Linear, its z and a, the
    gradients and the updated parameters; the loss before and after."""
    twin = copy.deepcopy(model).double()
    linears = [m for m in twin.modules() if isinstance(m, nn.Linear)]
    twin_optimizer = type(optimizer)(twin.parameters())
    twin_optimizer.load_state_dict(optimizer.state_dict())  # the same settings
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.long if isinstance(criterion, (nn.CrossEntropyLoss, nn.NLLLoss))
                        else torch.float64)
    output = twin(x)
    loss = criterion(output, y)
    twin_optimizer.zero_grad()
    loss.backward()
    grads = [(m.weight.grad.tolist(), None if m.bias is None else m.bias.grad.tolist()) for m in linears]
    twin_optimizer.step()
    with torch.no_grad():
        after = criterion(twin(x), y).item()
    layers = [{"grad_weight": gw, "grad_bias": gb, "new_weight": m.weight.tolist(),
               "new_bias": None if m.bias is None else m.bias.tolist()}
              for (gw, gb), m in zip(grads, linears, strict=True)]
    if isinstance(criterion, nn.CrossEntropyLoss):
        output = torch.softmax(output, dim=1)
    elif isinstance(criterion, nn.BCEWithLogitsLoss):
        output = torch.sigmoid(output)
    return {"loss": loss.item(), "loss_after": after, "output": output.tolist(), "layers": layers}


def test_the_seed_code_gives_the_page() -> None:
    model = CustomModel()
    criterion = nn.BCELoss()
    optimizer = optim.SGD(model.parameters(), lr=1)
    x, y = torch.FloatTensor([[1, 1]]), torch.FloatTensor([[0]])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    step = backprop_cli.derive(model, x, y, criterion=criterion, optimizer=optimizer)
    assert_close(step.to_dict(), torch_reference(model, criterion, optimizer, x, y), 1e-12)
    # The seed page's figures, to its four decimals (its weights are float32 in torch.Tensor).
    assert round(step.loss, 4) == 0.5369 and round(step.output[0][0], 4) == 0.4154
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # not changed
    assert all(p.grad is None for p in model.parameters())


def test_the_seed_network_round_trips() -> None:
    network = backprop_cli.from_torch(CustomModel(), nn.BCELoss(), None)
    module = backprop_cli.to_torch(network)
    x = torch.tensor([[1.0, 1.0], [0.5, -2.0]], dtype=torch.float64)
    assert torch.allclose(module(x), CustomModel().double()(x), rtol=0, atol=1e-15)
    assert backprop_cli.from_torch(module, nn.BCELoss()) == network


ACTIVATIONS = [nn.Sigmoid, nn.Tanh, nn.ReLU, nn.LeakyReLU, nn.Identity]


@st.composite
def live_cases(draw):
    widths = draw(st.lists(st.integers(1, 4), min_size=2, max_size=4))
    loss = draw(st.sampled_from(["bce", "bce_logits", "mse", "sse", "l1", "smooth_l1", "cross_entropy", "nll"]))
    if loss in ("cross_entropy", "nll"):
        widths[-1] = max(widths[-1], 2)
    torch.manual_seed(draw(st.integers(0, 2**31 - 1)))
    modules = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:], strict=False)):
        linear = nn.Linear(n_in, n_out, bias=draw(st.booleans()) or i == len(widths) - 2)
        last = i == len(widths) - 2
        if last:
            act = {"bce": nn.Sigmoid(), "nll": nn.LogSoftmax(dim=1)}.get(loss)
        else:
            act = draw(st.sampled_from(ACTIVATIONS))()
        block = [linear] + ([act] if act is not None else [])
        modules.append(nn.Sequential(*block) if draw(st.booleans()) else block)
    flat = []
    for m in modules:
        flat += [m] if isinstance(m, nn.Module) else m
    model = nn.Sequential(*flat)
    batch = draw(st.integers(1, 3))
    x = torch.randn(batch, widths[0])
    if loss in ("cross_entropy", "nll"):
        y = torch.randint(0, widths[-1], (batch,))
    elif loss in ("bce", "bce_logits"):
        y = torch.randint(0, 2, (batch, widths[-1])).float()
    else:
        y = torch.randn(batch, widths[-1])
    criterion = {"bce": nn.BCELoss(), "bce_logits": nn.BCEWithLogitsLoss(), "mse": nn.MSELoss(),
                 "sse": nn.MSELoss(reduction="sum"), "l1": nn.L1Loss(), "smooth_l1": nn.SmoothL1Loss(beta=0.5),
                 "cross_entropy": nn.CrossEntropyLoss(), "nll": nn.NLLLoss()}[loss]
    name = draw(st.sampled_from(["sgd", "momentum", "adam", "adamw", "rmsprop"]))
    decay = draw(st.sampled_from([0.0, 0.01]))
    optimizer = {
        "sgd": lambda p: optim.SGD(p, lr=0.5, weight_decay=decay),
        "momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=decay),
        "adam": lambda p: optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=decay),
        "adamw": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.05),
        "rmsprop": lambda p: optim.RMSprop(p, lr=0.01, alpha=0.9, weight_decay=decay,
                                           centered=draw(st.booleans())),
    }[name](model.parameters())
    return model, criterion, optimizer, x, y


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=live_cases())
def test_random_sequentials_equal_torch(case) -> None:
    model, criterion, optimizer, x, y = case
    step = backprop_cli.derive(model, x, y, criterion=criterion, optimizer=optimizer, form="matrix")
    expected = torch_reference(model, criterion, optimizer, x, y)
    actual = step.to_dict()
    actual["layers"] = [{k: layer[k] for k in ("grad_weight", "grad_bias", "new_weight", "new_bias")}
                        for layer in actual["layers"] if layer["kind"] == "dense"]
    assert_close(actual, expected, 1e-10, abs_tol=1e-12)


def test_normalization_and_dropout_in_eval() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5).eval(),
                          nn.Linear(4, 2), nn.LayerNorm(2), nn.Linear(2, 1))
    x, y = torch.randn(3, 3), torch.randn(3, 1)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    step = backprop_cli.derive(model, x, y, criterion=nn.MSELoss(), optimizer=optimizer)
    expected = torch_reference(model, nn.MSELoss(), optimizer, x, y)
    assert_close(step.to_dict()["loss"], expected["loss"], 1e-12)
    assert_close(step.to_dict()["loss_after"], expected["loss_after"], 1e-12)
    assert_close(step.to_dict()["output"], expected["output"], 1e-12)


class Reordered(nn.Module):
    def __init__(self):
        super().__init__()
        self.second = nn.Linear(2, 2)
        self.first = nn.Linear(2, 2)
        self.out = nn.Linear(2, 1)

    def forward(self, x):
        return torch.sigmoid(self.out(self.second(self.first(x))))


@pytest.mark.parametrize("model, criterion, optimizer, message", [
    (nn.Sequential(nn.Linear(2, 2), nn.GELU(), nn.Linear(2, 1)), nn.MSELoss(), None, "model: 1 is a GELU"),
    (nn.Sequential(nn.Conv1d(1, 1, 2)), nn.MSELoss(), None, "is a Conv1d"),
    (nn.Sequential(nn.Linear(2, 1), nn.LeakyReLU(0.2)), nn.MSELoss(), None, "negative_slope=0.2"),
    (nn.Sequential(nn.Linear(2, 1)), nn.HuberLoss(), None, "HuberLoss has no loss on the page"),
    (nn.Sequential(nn.Linear(2, 1)), nn.MSELoss(reduction="none"), None, "reduction='none'"),
    (nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()), nn.BCEWithLogitsLoss(), None, "takes logits"),
])
def test_unsupported_is_one_clear_error(model, criterion, optimizer, message) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        backprop_cli.derive(model, [[1.0, 0.5]], [[0.0]], criterion=criterion)


def test_optimizers_the_page_does_not_work() -> None:
    model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
    x, y = [[1.0, 0.5]], [[0.0]]
    cases = [
        (optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True), "nesterov=True"),
        (optim.Adam(model.parameters(), amsgrad=True), "amsgrad=True"),
        (optim.Adagrad(model.parameters()), "Adagrad is not on the page"),
        (optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1), "not the model's trainable parameters"),
    ]
    for optimizer, message in cases:
        with pytest.raises(SpecError, match=message):
            backprop_cli.derive(model, x, y, criterion=nn.BCELoss(), optimizer=optimizer)
    used = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.tensor(x)).sum().backward()
    used.step()
    with pytest.raises(SpecError, match="state from earlier steps"):
        backprop_cli.derive(model, x, y, criterion=nn.BCELoss(), optimizer=used)


def test_a_forward_that_is_not_the_registered_chain_is_refused() -> None:
    with pytest.raises(SpecError, match="does not compute the chain"):
        backprop_cli.derive(Reordered(), [[1.0, 0.5]], [[0.0]], criterion=nn.MSELoss())


def test_criterion_without_a_model_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="torch.nn.Module"):
        backprop_cli.derive(x=[1, 1], y=[0], criterion=nn.BCELoss())


def test_train_and_verify_take_the_live_objects() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 1), nn.Sigmoid())
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    run = backprop_cli.train(model, x, y, criterion=nn.BCELoss(), optimizer=optimizer, epochs=30, log_every=1)
    twin = copy.deepcopy(model).double()
    twin_optimizer = optim.Adam(twin.parameters(), lr=0.05)
    history = []
    for _ in range(30):
        twin_optimizer.zero_grad()
        loss = nn.BCELoss()(twin(x.double()), y.double())
        history.append(loss.item())
        loss.backward()
        twin_optimizer.step()
    assert_close([loss for _, loss in run.history], history, 1e-10)
    assert all(p.grad is None for p in model.parameters())  # the model itself untouched
    assert backprop_cli.verify(model, x, y, criterion=nn.BCELoss()).ok
