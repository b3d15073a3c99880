"""Token input: words to ids over a vocabulary, next-token samples, the default token network, and the
``corpus`` data set (a few short sentences, every window of T + 1 words a sample).

The vocabulary is the text's distinct words (split on whitespace, as written: ``I`` and ``i`` differ),
sorted, so that the ids do not depend on the order the words first appear in: ``"i love you"`` gives
``i`` = 0, ``love`` = 1, ``you`` = 2. A sequence of T + 1 tokens is one sample: the first T are the
input, the last T the targets (each position's target is the token after it), as a language model
is trained on next tokens with ``nn.CrossEntropyLoss`` over every position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backprop_cli.errors import DataError

if TYPE_CHECKING:
    from backprop_cli.model import Network

Vector = tuple[float, ...]
MAX_TOKENS = 10_000
"""The most words a vocabulary or a token sequence may have."""

CORPUS = (
    "the cat sat on the mat",
    "the dog sat on the log",
    "a cat saw a dog",
    "the dog saw the cat",
    "a dog sat on a mat",
)
"""``--data corpus``: short sentences over a vocabulary of a dozen words."""
WINDOW = 4
"""T: the corpus's samples are every window of WINDOW + 1 consecutive words of a sentence."""


def words(text: str, option: str) -> list[str]:
    """The words of ``text`` (split on whitespace); a DataError when there are none or too many."""
    found = text.split()
    if not found:
        raise DataError(f"{option}: the text has no words; give words separated by spaces, e.g."
                        f" --{option} \"i love you\"")
    if len(found) > MAX_TOKENS:
        raise DataError(f"{option}: {len(found):,} words are more than the {MAX_TOKENS:,} this tool reads")
    return found


def vocabulary(text: str, option: str = "vocab-text") -> tuple[str, ...]:
    """The distinct words of ``text``, sorted: word k has id k."""
    return tuple(sorted(set(words(text, option))))


def encode(tokens: Sequence[str], vocab: Sequence[str], option: str = "tokens") -> list[int]:
    """The ids of ``tokens`` in ``vocab``; a one-line DataError naming a word it lacks."""
    index = {word: k for k, word in enumerate(vocab)}
    for word in tokens:
        if word not in index:
            shown = word if len(word) <= 30 else word[:29] + "…"
            raise DataError(f"{option}: {shown!r} is not in the vocabulary ({len(vocab)} words); add it to"
                            " --vocab-text, or leave --vocab-text out to build the vocabulary from the tokens")
    return [index[word] for word in tokens]


def next_token_sample(ids: Sequence[int], option: str = "tokens") -> tuple[Vector, Vector]:
    """A sequence of T + 1 ids as one sample: input ids[:-1], targets ids[1:] (class indices)."""
    if len(ids) < 2:
        raise DataError(f"{option}: give at least 2 tokens (the input is every token but the last, the target"
                        " every token but the first)")
    return tuple(float(v) for v in ids[:-1]), tuple(float(v) for v in ids[1:])


def token_tables(vocabulary: int, steps: int, dim: int = 4) -> list[dict[str, Any]]:
    """The default token network's ``[[layers]]`` tables: embedding, sinusoidal positions, one pre-norm
    transformer block (x + attention(LN(x)) with 2 causal heads, then x + FFN(LN(x)), the FFN
    dim → 2·dim → dim), and a dense layer with softmax over the vocabulary at every position."""
    return [{"kind": "embedding", "num_embeddings": vocabulary, "embedding_dim": dim},
            {"kind": "positional"},
            {"kind": "residual", "layers": [{"kind": "layer_norm"},
                                            {"kind": "attention", "num_heads": 2, "causal": True}]},
            {"kind": "residual", "layers": [{"kind": "layer_norm"}, {"units": 2 * dim, "activation": "relu"},
                                            {"units": dim, "activation": "identity"}]},
            {"units": vocabulary, "activation": "softmax"}]


def token_network(vocabulary: int, steps: int, *, seed: int = 0, dim: int = 4, lr: float = 0.1,
                  optimizer: str = "adam") -> Network:
    """A small random network over sequences of ``steps`` ids of a ``vocabulary``-word vocabulary
    (``token_tables``), cross_entropy over every position; weights as torch initialises them, to 4
    decimals (the dense layer's as nn.Linear's, U(−1/√d, 1/√d))."""
    from backprop_cli.io import parse_spec

    if vocabulary < 2:
        raise DataError("tokens: the vocabulary has 1 word; a next-token model needs at least 2 (give more"
                        " words, or --vocab-text)")
    document = {"loss": "cross_entropy", "lr": lr, "optimizer": optimizer, "seed": seed, "init": "uniform",
                "input_shape": [steps], "layers": token_tables(vocabulary, steps, dim)}
    return parse_spec(document).network


def from_options(tokens: str | None, token_ids: Sequence[float] | None,
                 vocab_text: str | None) -> tuple[int, tuple[Vector, ...], tuple[Vector, ...]]:
    """The vocabulary's size (with ids and no --vocab-text: the largest id + 1) and the one sample of
    ``--tokens`` (words) or ``--token-ids``."""
    if tokens is not None and token_ids is not None:
        raise DataError("tokens: give either --tokens (words) or --token-ids (numbers), not both")
    size = 0
    if tokens is not None:
        given = words(tokens, "tokens")
        vocab = vocabulary(vocab_text) if vocab_text is not None else tuple(sorted(set(given)))
        ids = encode(given, vocab)
        size = len(vocab)
    else:
        assert token_ids is not None
        ids = []
        for value in token_ids:
            if not math.isfinite(value) or value != int(value) or value < 0:
                raise DataError(f"token-ids: {value:g} is not a token id; give whole numbers from 0, e.g."
                                " --token-ids 0 2 1")
            ids.append(int(value))
        if vocab_text is not None:
            size = len(vocabulary(vocab_text))
            if ids and max(ids) >= size:
                raise DataError(f"token-ids: {max(ids)} is not an id of the {size} words of --vocab-text"
                                f" (0 to {size - 1})")
        elif ids:
            size = max(ids) + 1
    x, y = next_token_sample(ids, "tokens" if tokens is not None else "token-ids")
    return size, (x,), (y,)


def corpus_vocabulary() -> tuple[str, ...]:
    return vocabulary(" ".join(CORPUS))


def samples() -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    """``--data corpus``: every window of WINDOW + 1 words of each sentence, as next-token samples."""
    vocab = corpus_vocabulary()
    xs, ys = [], []
    for sentence in CORPUS:
        ids = encode(sentence.split(), vocab)
        for start in range(len(ids) - WINDOW):
            x, y = next_token_sample(ids[start:start + WINDOW + 1])
            xs.append(x)
            ys.append(y)
    return tuple(xs), tuple(ys)


def network(seed: int = 0) -> Network:
    """The network ``--data corpus`` trains without ``--network``."""
    return token_network(len(corpus_vocabulary()), WINDOW, seed=seed)
