"""Token input (tokens.py): --tokens, --token-ids, --vocab-text, the default network, --data corpus."""

from __future__ import annotations

import json

import pytest

from backprop_cli.cli import main
from backprop_cli.resolve import NetworkOptions, resolve
from backprop_cli.tokens import CORPUS, WINDOW, encode, samples, vocabulary
from tests.reference import assert_close


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_vocabulary_is_the_sorted_distinct_words_and_ids_index_it():
    vocab = vocabulary("you love i love")
    assert vocab == ("i", "love", "you")
    assert encode("i love you".split(), vocab) == [0, 1, 2]


def test_the_corpus_is_every_window_of_t_plus_one_words_shifted_by_one():
    xs, ys = samples()
    vocab = vocabulary(" ".join(CORPUS))
    first = encode(CORPUS[0].split(), vocab)
    assert xs[0] == tuple(map(float, first[:WINDOW])) and ys[0] == tuple(map(float, first[1:WINDOW + 1]))
    assert len(xs) == sum(len(s.split()) - WINDOW for s in CORPUS)
    assert all(x[1:] == y[:-1] for x, y in zip(xs, ys, strict=True))


def test_step_on_tokens_equals_pytorch(capsys):
    pytest.importorskip("torch")
    from tests.test_attention import compare

    code, out, err = run(["step", "--tokens", "i love you so", "--seed", "3", "--format", "json"], capsys)
    assert code == 0, err
    network, xs, _ = resolve(NetworkOptions(tokens="i love you so", seed=3))
    assert xs == ((0.0, 1.0, 3.0),)  # i, love, so, you: sorted
    document = {"loss": "cross_entropy", "lr": network.lr, "optimizer": network.optimizer.name,
                "input_shape": [3], "layers": [layer.to_spec() for layer in network.layers],
                "data": {"x": [[0, 1, 3]], "y": [[1, 3, 2]]}}
    result = json.loads(out)
    compare(document, result)


def test_token_ids_with_a_vocabulary_text_give_the_same_step_as_the_words(capsys):
    words = run(["step", "--tokens", "i love you", "--vocab-text", "you love i me", "--format", "json"], capsys)
    ids = run(["step", "--token-ids", "0", "1", "3", "--vocab-text", "you love i me", "--format", "json"], capsys)
    assert words[0] == ids[0] == 0
    assert json.loads(words[1]) == json.loads(ids[1])
    assert len(json.loads(words[1])["output"][0]) == 2 * 4  # 2 positions × 4 words


@pytest.mark.parametrize(("args", "message"), [
    (["--tokens", "i love you", "--vocab-text", "you me"], "tokens: 'i' is not in the vocabulary (2 words)"),
    (["--tokens", "hello"], "tokens: give at least 2 tokens"),
    (["--tokens", "i love", "--x", "1"], "tokens: give either --tokens or --x/--y/--data, not both"),
    (["--tokens", "i love", "--token-ids", "0", "1"], "give either --tokens (words) or --token-ids"),
    (["--vocab-text", "a b"], "vocab-text: goes with --tokens or --token-ids"),
    (["--token-ids", "0", "2.5"], "token-ids: 2.5 is not a token id"),
    (["--token-ids", "0", "4", "--vocab-text", "a b c"], "token-ids: 4 is not an id of the 3 words"),
    (["--tokens", "i love", "--layers", "2", "1"], "leave out --layers/--input-shape"),
    (["--tokens", "i love you", "--form", "scalar"], "use --form matrix"),
])
def test_bad_token_input_is_one_line_exit_2(args, message, capsys):
    code, out, err = run(["step", *args], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1 and out == ""


def test_train_on_the_corpus_learns_next_tokens_on_numpy_and_torch_alike(capsys):
    pytest.importorskip("torch")
    runs = {}
    for backend in ("numpy", "torch"):
        code, out, err = run(["train", "--data", "corpus", "--epochs", "200", "--backend", backend,
                              "--format", "json", "--log-every", "1"], capsys)
        assert code == 0, err
        runs[backend] = json.loads(out)
    history = [[entry["loss"] for entry in runs[b]["history"]] for b in ("numpy", "torch")]
    # numpy and torch add in other orders; Adam through the attention block amplifies those last-place
    # differences as training goes on (~1e-10 of the loss by epoch 50, ~1e-8 by epoch 100).
    assert_close(history[0][:50], history[1][:50], tol=1e-9)
    assert_close(history[0], history[1], tol=1e-6)
    assert runs["numpy"]["final_loss"] < 0.4 * history[0][0]
    code, out, err = run(["train", "--data", "corpus", "--epochs", "10", "--backend", "compiled"], capsys)
    assert code == 2 and "compiled engine" in err and "numpy or torch" in err



def test_the_predictions_of_a_softmax_at_every_position_are_its_classes():
    """ŷ and y as the class at each position (ŷ's largest probability), checked against the run's
    probabilities and one-hot targets, in the terminal and the Markdown report."""
    import backprop_cli
    from backprop_cli.render.terminal import plain_text
    from backprop_cli.render.train_terminal import training_renderable

    result = backprop_cli.train(data="corpus", epochs=20)
    rows = []
    for prediction, target in zip(result.predictions, result.targets, strict=False):
        width = len(prediction) // WINDOW
        runs = [(prediction[t * width:(t + 1) * width], list(target[t * width:(t + 1) * width]))
                for t in range(WINDOW)]
        rows.append(("[" + ", ".join(str(max(range(width), key=p.__getitem__)) for p, _ in runs) + "]",
                     "[" + ", ".join(str(y.index(1)) for _, y in runs) + "]"))
    page, markdown = plain_text(training_renderable(result)), result.to_markdown()
    for predicted, wanted in rows:
        assert f"{predicted}   {wanted}" in page
        assert f"{predicted} | {wanted}" in markdown
    assert "the class at each position" in page and "the class at each position" in markdown


def test_verify_checks_the_token_networks_gradients_against_autograd_and_differences(capsys):
    pytest.importorskip("torch")
    code, out, err = run(["verify", "--tokens", "the cat sat on the mat", "--format", "json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True
