"""The byte-level BPE fast paths (``vulnfusion.bytebpe`` and its C pre-tokenizer) give
``tokenizers``' own results: the same words, the same trained vocabulary and merges, the same
ids; and they step aside (``None``) wherever they do not apply."""

from __future__ import annotations

import json
import random
import shutil
import sysconfig
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tokenizers import ByteLevelBPETokenizer, Tokenizer, models, pre_tokenizers
from tokenizers.processors import RobertaProcessing
from transformers import PreTrainedTokenizerFast

from tests.helpers import DEVIGN, devign_sample
from vulnfusion import bytebpe
from vulnfusion.tokenization import SPECIAL_TOKENS, encode, load_tokenizer_dir, train_bpe

# each a case of GPT-2's pattern: contractions (case-sensitive, at a word start only), the
# optional space before letters/digits/punctuation, whitespace runs before a word or at the
# end, Oniguruma's \s (\v \f yes, 0x1c-0x1f no), control characters, runs of each class
EDGE = [
    "", " ", "  ", "a", " a", "  a", "\ta", "\t\ta", " \ta", "\t a", "a ", "a  ", "a\n",
    "x's", "x'S", "'re'", "'r", "'", "''s", " 's", "don't", "we'll'", "'ve've", "I'M 'm",
    "a\x1cb", "\x0b\x0cx", "\r\n\r\n  }", "1.5e10", " 123abc", " ..x", "x\x00y\x7f",
    "<s></s><mask>", "  \n", "\n", "a\n\n\tb", "if (a) {\n    return 'c';\n}\n",
    "x->y[i]++ /* c */", "#define N 10\n", "s = \"%d\\n\";", "a\x1f\x1e b",
]  # fmt: skip
# (text, exact words): the split spelled out, not only compared
SPLITS = [
    ("a  b", ["a", " ", " b"]),
    ("x's 'S", ["x", "'s", " '", "S"]),
    ("\t\tx", ["\t", "\t", "x"]),
    ("  \tx", ["  ", "\t", "x"]),
    ("f(a, b);\n", ["f", "(", "a", ",", " b", ");", "\n"]),
    ("int  x = 10;  ", ["int", " ", " x", " =", " 10", ";", "  "]),
    ("we'll've", ["we", "'ll", "'ve"]),
    ("a\x1cb", ["a", "\x1c", "b"]),
]


def _native() -> Any:
    native = bytebpe.native_bytebpe()
    if native is None:
        pytest.skip("the C pre-tokenizer is not built")
    return native


def _hf_words(text: str) -> list[str]:
    return [w for w, _ in pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(text)]


def _devign(n: int) -> Iterator[str]:
    if not DEVIGN.exists():
        pytest.skip(f"{DEVIGN} not present")
    yield from devign_sample(n, 61)


def test_the_c_pre_tokenizer_is_built_and_used() -> None:
    """`make test` installs with a C compiler: an optional build that failed quietly would
    only show up as a slower featurize stage."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        pytest.skip("no C compiler: the extension is optional")
    assert bytebpe.native_bytebpe() is not None


@pytest.mark.parametrize(("text", "words"), SPLITS, ids=range(len(SPLITS)))
def test_split_exact(text: str, words: list[str]) -> None:
    assert _native().split(text) == words
    assert [w.translate(bytebpe.byte_level_table()) for w in words] == _hf_words(text)


def test_split_equals_tokenizers_on_edge_cases_and_devign() -> None:
    native, table = _native(), bytebpe.byte_level_table()
    texts = [*EDGE, *_devign(300)]
    n = 0
    for text in texts:
        words = native.split(text)
        if words is None:
            continue
        assert "".join(words) == text
        assert [w.translate(table) for w in words] == _hf_words(text), repr(text[:60])
        n += 1
    assert n >= len(EDGE) + 250  # Devign is nearly all ASCII


def test_count_words_equals_counting_the_split() -> None:
    """The C word table: counts and first-seen order as a dict fed word by word, past its
    growth points (1,024 words, 2,048 slots, 64 KiB of word bytes), with long words."""
    texts = [*EDGE, *_devign(400)]
    texts += [f"v{i} " * 3 + "x" * (i % 5000) for i in range(3000)]
    want: dict[str, int] = {}
    for t in texts:
        for w in _native().split(t) or []:
            want[w] = want.get(w, 0) + 1
    got, skipped = _native().count_words(texts)
    assert list(got.items()) == list(want.items())
    assert skipped == [i for i, t in enumerate(texts) if not t.isascii()]
    assert sum(len(w) * n for w, n in got.items()) == sum(len(t) for t in texts if t.isascii())


def test_non_ascii_is_left_to_tokenizers() -> None:
    native = _native()
    odd = ["café", "a\u00a0b", "x = '€';", "\u2028"]
    for text in odd:
        assert native.split(text) is None
        assert native.encode(text, {}, lambda w: (1,), 10) is None
    assert native.count_words(odd) == ({}, [0, 1, 2, 3])
    assert native.count_words(["x", *odd, "x y"]) == ({"x": 2, " y": 1}, [1, 2, 3, 4])
    table = bytebpe.byte_level_table()
    got = bytebpe.byte_level_word_counts(native, ["café x", "x  y"])
    want = Counter(_hf_words("café x")) + Counter(_hf_words("x  y"))
    assert got == want and all(" " not in w for w in got)
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("a")] == "a"


def _hf_train(texts: list[str], vocab_size: int, min_frequency: int) -> tuple[Any, Any]:
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS, show_progress=False,
    )  # fmt: skip
    model = json.loads(bpe._tokenizer.to_str())["model"]
    return model["vocab"], [tuple(m) for m in model["merges"]]


def _corpora() -> dict[str, list[str]]:
    rng = random.Random(7)
    # a small alphabet and repeated words: many pairs with equal counts (the tie rule)
    ties = [" ".join(rng.choice(["ab", "ba", "aab", "abab", "b"]) for _ in range(20))] * 3
    noise = ["".join(rng.choice("ab \n\t'x1") for _ in range(80)) for _ in range(60)]
    return {"ties": ties, "noise": noise, "edge": EDGE * 2, "code": list(_devign(200))}


@pytest.mark.parametrize("corpus", ["ties", "noise", "edge", "code"])
@pytest.mark.parametrize(("vocab_size", "min_frequency"), [(300, 2), (600, 1), (2000, 3)])
def test_train_merges_equals_the_tokenizers_trainer(
    corpus: str, vocab_size: int, min_frequency: int
) -> None:
    texts = _corpora()[corpus]
    counts = bytebpe.byte_level_word_counts(_native(), texts)
    vocab, merges = bytebpe.train_merges(
        counts, vocab_size, min_frequency, SPECIAL_TOKENS, pre_tokenizers.ByteLevel.alphabet()
    )
    want_vocab, want_merges = _hf_train(texts, vocab_size, min_frequency)
    assert vocab == want_vocab
    assert merges == want_merges


@pytest.mark.parametrize("corpus", ["ties", "noise", "edge", "code", "random"])
@pytest.mark.parametrize(("vocab_size", "min_frequency"), [(300, 2), (600, 1), (5000, 0)])
def test_the_c_merge_loop_equals_the_python_one(
    corpus: str, vocab_size: int, min_frequency: int
) -> None:
    """``_bytebpe.train`` against ``bytebpe._train_loop``: every merge, repeats and order
    included, the merged words and the ids handed out."""
    native = _native()
    rng = random.Random(11)
    texts = _corpora()[corpus] if corpus != "random" else [
        "".join(rng.choice("aab ") for _ in range(rng.randrange(1, 40))) for _ in range(300)
    ]  # fmt: skip
    counts = bytebpe.byte_level_word_counts(native, texts)
    runs = []
    for loop in (native.train, bytebpe._train_loop):
        tokens = sorted(set().union(*counts))
        words = [[tokens.index(c) for c in w] for w in counts]
        ids: dict[str, int] = {t: i for i, t in enumerate(tokens)}

        def new_token(a: int, b: int, tokens: list[str] = tokens, ids: dict = ids) -> int:
            tokens.append(tokens[a] + tokens[b])
            return ids.setdefault(tokens[-1], len(ids))

        merges = loop(words, list(counts.values()), len(ids), vocab_size, min_frequency, new_token)
        runs.append((merges, ids))
    assert runs[0] == runs[1]
    assert len(runs[0][0]) >= 5


def test_the_c_merge_loop_rejects_bad_input() -> None:
    train = _native().train
    with pytest.raises(TypeError, match="callable"):
        train([[0, 1]], [2], 2, 10, 1, None)
    with pytest.raises(ValueError, match="differ in length"):
        train([[0, 1]], [2, 3], 2, 10, 1, lambda a, b: 2)
    with pytest.raises(ValueError, match=r"words\[1\]\[0\] is not a symbol id"):
        train([[0, 1], [-1, 1]], [2, 1], 2, 10, 1, lambda a, b: 2)
    with pytest.raises(TypeError, match=r"words\[0\] must be a list"):
        train([(0, 1)], [2], 2, 10, 1, lambda a, b: 2)
    with pytest.raises(ValueError, match="bad id"):
        train([[0, 1]], [2], 2, 10, 1, lambda a, b: -5)

    def boom(a: int, b: int) -> int:
        raise KeyError((a, b))

    with pytest.raises(KeyError):
        train([[0, 1], [0, 1, 0, 1]], [2, 3], 2, 10, 1, boom)
    assert train([[0, 1, 0, 1]], [3], 2, 10, 1, lambda a, b: 2 if a == 0 else 3) == [
        (0, 1),
        (2, 2),
    ]
    assert train([], [], 0, 10, 1, boom) == []


def test_train_merges_stops_at_min_frequency_and_vocab_size() -> None:
    vocab, merges = bytebpe.train_merges({"abab": 3, "cd": 1}, 100, 2, ["<s>"], "abcd")
    assert vocab == {"<s>": 0, "a": 1, "b": 2, "c": 3, "d": 4, "ab": 5, "abab": 6}
    assert merges == [("a", "b"), ("ab", "ab")]
    vocab, merges = bytebpe.train_merges({"abab": 3, "cd": 1}, 6, 1, ["<s>"], "abcd")
    assert len(vocab) == 6 and merges == [("a", "b")]


def test_train_bpe_saves_the_same_tokenizer_either_way(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _native()
    texts = [*EDGE, *_devign(200), "café int x;"]
    fast = train_bpe(texts, 1000, 64)
    monkeypatch.setenv("VULNFUSION_PURE_PYTHON_TOKENIZE", "1")
    assert bytebpe.native_bytebpe() is None
    slow = train_bpe(texts, 1000, 64)
    assert fast.backend_tokenizer.to_str() == slow.backend_tokenizer.to_str()
    fast.save_pretrained(str(tmp_path / "fast"))
    slow.save_pretrained(str(tmp_path / "slow"))
    for f in sorted((tmp_path / "slow").iterdir()):
        assert (tmp_path / "fast" / f.name).read_bytes() == f.read_bytes(), f.name


ENCODE_TEXTS = [
    *EDGE,
    "int g(void) {\n" + "    x = x + 1;\n" * 400 + "}",
    "int h(void) {" + " " * 5000 + "return 0; }",
    's = "<s>"; t = "</s>";',  # added tokens' text: tokenizers splits them out first
    "x<mask>y",
    'p = "héllo";',  # not ASCII
    " " * 300,
]


@pytest.mark.parametrize("max_length", [2, 3, 16, 256, 4096])
def test_encode_equals_truncation(tiny_workspace: Path, max_length: int) -> None:
    _native()
    tok = load_tokenizer_dir(tiny_workspace / "data/features/tokenizer")
    texts = [*ENCODE_TEXTS, *_devign(120)]
    assert bytebpe.native_encoder(tok, max_length) is not None
    got = encode(tok, texts, max_length)
    # (a call with truncation=True leaves it set on the backend: native_encoder then steps aside)
    assert got == tok(texts, truncation=True, max_length=max_length)["input_ids"]


def test_native_encoder_steps_aside(tiny_workspace: Path) -> None:
    """Where it cannot reproduce the tokenizer, ``native_encoder`` is None and ``encode``
    falls back to ``tokenizers``."""
    _native()
    path = tiny_workspace / "data/features/tokenizer"
    assert bytebpe.native_encoder(load_tokenizer_dir(path), 1) is None  # below <s></s>
    truncating = load_tokenizer_dir(path)
    truncating.backend_tokenizer.enable_truncation(8)
    assert bytebpe.native_encoder(truncating, 64) is None
    prefixed = load_tokenizer_dir(path)
    prefixed.backend_tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    assert bytebpe.native_encoder(prefixed, 64) is None
    want = prefixed(ENCODE_TEXTS, truncation=True, max_length=64)["input_ids"]
    assert encode(prefixed, ENCODE_TEXTS, 64) == want
    wordlevel = Tokenizer(models.WordLevel({"<unk>": 0, "<s>": 1, "</s>": 2}, unk_token="<unk>"))
    wordlevel.pre_tokenizer = pre_tokenizers.Whitespace()
    wordlevel.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 1))
    fast = PreTrainedTokenizerFast(tokenizer_object=wordlevel, unk_token="<unk>")
    assert bytebpe.native_encoder(fast, 64) is None
    assert encode(fast, ["a b", "<s>"], 64) == fast(["a b", "<s>"])["input_ids"]


def test_the_environment_switch(monkeypatch: pytest.MonkeyPatch, tiny_workspace: Path) -> None:
    _native()
    tok = load_tokenizer_dir(tiny_workspace / "data/features/tokenizer")
    assert bytebpe.native_encoder(tok, 64) is not None
    fast = encode(tok, ENCODE_TEXTS, 64)
    monkeypatch.setenv("VULNFUSION_PURE_PYTHON_TOKENIZE", "1")  # read per call
    assert bytebpe.native_bytebpe() is None and bytebpe.native_encoder(tok, 64) is None
    assert encode(tok, ENCODE_TEXTS, 64) == fast


def test_bad_calls_raise_not_crash() -> None:
    native = _native()
    with pytest.raises(TypeError):
        native.split(b"bytes")
    with pytest.raises(TypeError, match="must be a list"):
        native.count_words("a b")
    with pytest.raises(TypeError, match=r"texts\[1\] is bytes"):
        native.count_words(["a b", b"c"])
    with pytest.raises(TypeError, match="callable"):
        native.encode("a b", {}, None, 4)
    with pytest.raises(ValueError, match="limit"):
        native.encode("a b", {}, lambda w: (1,), -1)
    with pytest.raises(TypeError, match="tuple"):
        native.encode("a b", {}, lambda w: [1], 4)

    def boom(word: str) -> tuple[int, ...]:
        raise KeyError(word)

    with pytest.raises(KeyError, match="a"):
        native.encode("a b", {}, boom, 4)
    cache: dict[str, tuple[int, ...]] = {}
    assert native.encode("a b a", cache, lambda w: (len(w), 7), 10) == [1, 7, 2, 7, 2, 7]
    assert cache == {"a": (1, 7), " b": (2, 7), " a": (2, 7)}
    assert native.encode("a b a", cache, lambda w: (0,), 3) == [1, 7, 2]  # from the cache
    assert native.encode("a b", {}, lambda w: (), 5) == []
