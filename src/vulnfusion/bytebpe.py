"""Byte-level BPE without ``tokenizers``' per-character cost: counting, training, encoding.

A byte-level BPE (GPT-2, RoBERTa; Hugging Face ``tokenizers``' ``ByteLevel`` pre-tokenizer
and ``BPE`` model) splits a text into words with GPT-2's pattern, maps each word's bytes to
printable characters (``bytes_to_unicode``: a space becomes ``Ġ``) and runs BPE on each word
alone. ``tokenizers`` spends most of its time in that split (~0.4 us per character: a
``NormalizedString`` tracks every character's alignment), in training and in encoding alike.
This module does the split in C for ASCII text (``vulnfusion._bytebpe``) and works on words:

- ``byte_level_word_counts``: a corpus's words and their counts (what the trainer counts);
- ``train_merges``: ``tokenizers``' ``BpeTrainer`` algorithm, step for step, on those counts
  (its merge loop in C too);
- ``native_encoder``: encode, each distinct word's ids from the tokenizer's own BPE model.

``tokenization`` uses them where the C module is built; the vocabulary, merges and ids equal
``tokenizers``' own (``tests/unit/test_bytebpe.py``; on Devign: the same ``tokenizer.json``
and the same ids for all 27,318 functions).
"""

from __future__ import annotations

import functools
import heapq
import importlib
import itertools
import json
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

_API_VERSION = 3


def native_bytebpe() -> Any | None:
    """The C pre-tokenizer module ``vulnfusion._bytebpe``, or None: not built (no C compiler
    at install time), another API version, or ``VULNFUSION_PURE_PYTHON_TOKENIZE=1`` (read
    per call; for comparisons)."""
    if os.environ.get("VULNFUSION_PURE_PYTHON_TOKENIZE") == "1":
        return None
    try:  # a compiled module: no file for the import graph (tests/unit/import_graph.py)
        module = importlib.import_module("vulnfusion._bytebpe")
    except ImportError:
        return None
    return module if getattr(module, "API_VERSION", None) == _API_VERSION else None


@functools.lru_cache(maxsize=1)
def byte_level_table() -> dict[int, str]:
    """``str.translate`` table: ASCII code -> its character in the byte-level alphabet
    (``bytes_to_unicode``: a space is ``Ġ``, a newline ``Ċ``), read from ``tokenizers``'
    own ``ByteLevel`` pre-tokenizer."""
    from tokenizers import pre_tokenizers

    raw = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    return {b: raw.pre_tokenize_str(chr(b))[0][0] for b in range(128)}


def byte_level_word_counts(native: Any, texts: Iterable[str]) -> Counter[str]:
    """Byte-level word -> occurrences in ``texts``: the words ``ByteLevel(add_prefix_space=
    False)`` splits them into, ASCII texts by the C pre-tokenizer ``native``, others by
    ``tokenizers``."""
    from tokenizers import pre_tokenizers

    split = pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str
    texts = list(texts)
    ascii_counts, skipped = native.count_words(texts)
    counts: Counter[str] = Counter()
    for i in skipped:
        counts.update(word for word, _ in split(texts[i]))
    table = byte_level_table()
    for word, n in ascii_counts.items():
        counts[word.translate(table)] += n
    return counts


def train_merges(
    counts: Mapping[str, int],
    vocab_size: int,
    min_frequency: int,
    special_tokens: Sequence[str],
    alphabet: Iterable[str],
) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """BPE training (Sennrich et al. 2016) on word counts: ``(vocab, merges)``.

    ``tokenizers``' ``BpeTrainer.do_train`` (v0.23; no continuing-subword prefix, no
    end-of-word suffix, no alphabet limit), step for step, so the result is the one
    ``train_from_iterator`` gives on the texts the counts came from: ids for the special
    tokens, then every character of ``alphabet`` and of the words in code-point order; then,
    until ``vocab_size`` tokens, the most frequent adjacent pair (ties: the smaller pair of
    ids) is merged, from a lazily updated max-heap whose entries carry the words they were
    counted in. A pair is only applied to its entry's words, as there; the same pair may so
    be merged twice, and the later rank is kept (as ``tokenizers``' merge map does). Stops
    early when the best pair occurs fewer than ``min_frequency`` times. Heap entries with
    equal count and pair pop in insertion order, and an entry's words are merged in index
    order (``tokenizers``: heap order, hash-set order; not seen to differ on Devign or the
    tests' corpora). The loop runs in C where the module is built (``_bytebpe.train``:
    0.25 CPU-s against 3.1 for the Python :func:`_train_loop` on Devign's train split).
    """
    token_id: dict[str, int] = {}
    tokens: list[str] = []
    for t in itertools.chain(special_tokens, sorted(set(alphabet).union(*counts))):
        if t not in token_id:
            token_id[t] = len(tokens)
            tokens.append(t)

    def new_token(a: int, b: int) -> int:
        new = tokens[a] + tokens[b]
        if new not in token_id:
            token_id[new] = len(tokens)
            tokens.append(new)
        return token_id[new]

    words = [[token_id[c] for c in w] for w in counts]
    native = native_bytebpe()
    loop = _train_loop if native is None else native.train
    merges = loop(words, list(counts.values()), len(tokens), vocab_size, min_frequency, new_token)
    last = {pair: rank for rank, pair in enumerate(merges)}
    kept = [pair for rank, pair in enumerate(merges) if last[pair] == rank]
    return token_id, [(tokens[a], tokens[b]) for a, b in kept]


def _train_loop(
    words: list[list[int]],
    freq: list[int],
    n_tokens: int,
    vocab_size: int,
    min_frequency: int,
    new_token: Callable[[int, int], int],
) -> list[tuple[int, int]]:
    """The merge loop of :func:`train_merges` in Python (the C module's ``train`` does the
    same, ~10x faster): ``words`` (symbol ids; merged in place) occurring ``freq`` times;
    ``new_token(a, b)`` gives the merged symbol's id (``n_tokens`` grows with new ids).
    Returns every merged pair in order, repeats included."""
    pair_counts: defaultdict[tuple[int, int], int] = defaultdict(int)
    where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)
    for i, (symbols, n) in enumerate(zip(words, freq, strict=True)):
        for pair in itertools.pairwise(symbols):
            pair_counts[pair] += n
            where[pair].add(i)
    order = itertools.count()  # heap ties: insertion order (never compares the word sets)
    heap = [(-pair_counts[p], p, next(order), pos) for p, pos in where.items() if pair_counts[p]]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while n_tokens < vocab_size and heap:
        negative, pair, _, pos = heapq.heappop(heap)
        count = pair_counts[pair]
        if -negative != count:  # stale: re-queue with the current count
            heapq.heappush(heap, (-count, pair, next(order), pos))
            continue
        if count < 1 or count < min_frequency:
            break
        new = new_token(*pair)
        n_tokens = max(n_tokens, new + 1)
        merges.append(pair)
        where = defaultdict(set)
        for i in sorted(pos):  # as the C loop does
            _merge_word(words[i], pair, new, freq[i], i, pair_counts, where)
        for p, words_of_p in where.items():
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], p, next(order), words_of_p))
    return merges


def _merge_word(
    symbols: list[int],
    pair: tuple[int, int],
    new: int,
    n: int,
    i: int,
    pair_counts: defaultdict[tuple[int, int], int],
    where: defaultdict[tuple[int, int], set[int]],
) -> None:
    """Merge ``pair`` into ``new`` left to right in one word (``Word::merge``); its ``n``
    occurrences update the neighbours' pair counts, new pairs record word ``i``."""
    a, b = pair
    j = 0
    while True:
        try:
            j = symbols.index(a, j)
        except ValueError:
            return
        if j + 1 < len(symbols) and symbols[j + 1] == b:
            if j > 0:
                left = symbols[j - 1]
                pair_counts[(left, a)] -= n
                pair_counts[(left, new)] += n
                where[(left, new)].add(i)
            symbols[j : j + 2] = [new]
            if j < len(symbols) - 1:
                right = symbols[j + 1]
                pair_counts[(b, right)] -= n
                pair_counts[(new, right)] += n
                where[(new, right)].add(i)
        j += 1


def native_encoder(tokenizer: Any, max_length: int) -> Callable[[str], list[int] | None] | None:
    """``text -> ids`` (special tokens added, truncated to ``max_length``) through the C
    pre-tokenizer, or None where it does not apply.

    It applies to a fast tokenizer with no normalizer, the ``ByteLevel(add_prefix_space=
    False)`` pre-tokenizer with GPT-2's pattern, a BPE model without dropout, RoBERTa's
    post-processor, and no truncation or padding set on the backend (the scratch tokenizer;
    CodeBERT's, UniXcoder's), and ``max_length >= 2``. Each distinct word's ids come from the
    tokenizer's own model (cached), so they are the tokenizer's. The returned function gives
    None for a text that is not pure ASCII or holds an added token's text (``<s>``...:
    ``tokenizers`` splits those out before the pre-tokenizer): encode those with
    ``tokenizers``.
    """
    native = native_bytebpe()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if native is None or backend is None or max_length < 2:
        return None
    if backend.truncation is not None or backend.padding is not None:
        return None
    specials = _roberta_byte_level(json.loads(backend.to_str()))
    if specials is None:
        return None
    cls_id, sep_id = specials
    model, table = backend.model, byte_level_table()
    added = [t.content for t in backend.get_added_tokens_decoder().values()]
    cache: dict[str, tuple[int, ...]] = {}

    def tokenize(word: str) -> tuple[int, ...]:
        return tuple(t.id for t in model.tokenize(word.translate(table)))

    def run(text: str) -> list[int] | None:
        if any(a in text for a in added):
            return None
        ids = native.encode(text, cache, tokenize, max_length - 2)
        return None if ids is None else [cls_id, *ids, sep_id]

    return run


def _roberta_byte_level(spec: Mapping[str, Any]) -> tuple[int, int] | None:
    """(cls id, sep id) if a ``tokenizer.json`` is a byte-level BPE with RoBERTa's
    post-processor that the C pre-tokenizer reproduces, else None."""
    pre, post, model = spec.get("pre_tokenizer"), spec.get("post_processor"), spec.get("model")
    if spec.get("normalizer") is not None or not (pre and post and model):
        return None
    if pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") or not pre.get("use_regex"):
        return None
    if model.get("type") != "BPE" or model.get("dropout") is not None:
        return None
    if post.get("type") != "RobertaProcessing":
        return None
    return int(post["cls"][1]), int(post["sep"][1])
