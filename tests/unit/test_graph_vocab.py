"""GraphVocab contract: deterministic ordering, thresholds, normalisation, encode, JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vulnfusion.graphs import GraphVocab, build_graph, normalize_token

SNIPPETS = [
    "int add(int a, int b) { return a + b; }",
    'void log_it(const char *m) { printf("%s: %d\\n", m, 3); puts("done"); }',
    "int loop(int n) { int s = 0; for (int i = 0; i < n; i++) s += i * 4096; return s; }",
    "char first(char *p) { if (!p) return '0'; return p[0] + 100000; }",
    "static int z(void) { return 0x10 + 1.5f; }",
]

BUILD_IN_SUBPROCESS = """
import json, sys
from vulnfusion.graphs import GraphVocab, build_graph
snippets = json.loads(sys.argv[1])
sys.stdout.write(GraphVocab.build(build_graph(s) for s in snippets).to_json())
"""


@pytest.fixture(scope="module")
def vocab() -> GraphVocab:
    return GraphVocab.build(build_graph(s) for s in SNIPPETS)


@pytest.mark.parametrize(
    ("node_type", "token", "expected"),
    [
        ("number_literal", "0", "0"),
        ("number_literal", "-1", "-1"),
        ("number_literal", "16", "16"),
        ("number_literal", "0x10", "16"),
        ("number_literal", "010", "8"),
        ("number_literal", "0xFFFFu", "65535"),
        ("number_literal", "1U", "1"),
        ("number_literal", "4096", "4096"),
        ("number_literal", "17", "<num>"),
        ("number_literal", "100000", "<num>"),
        ("number_literal", "1.5f", "<num>"),
        ("number_literal", "1e10", "<num>"),
        ("number_literal", "9" * 40, "<num>"),
        ("string_literal", '"done"', "<str>"),
        ("string_literal", '"%s: %d\\n"', "<fmtstr>"),
        ("char_literal", "'0'", "<chr>"),
        ("identifier", "memcpy", "memcpy"),
        ("<=", "<=", "<="),
        ("compound_statement", "", ""),
    ],
)
def test_normalize_token(node_type: str, token: str, expected: str) -> None:
    assert normalize_token(node_type, token) == expected


def test_specials_come_first(vocab: GraphVocab) -> None:
    assert vocab.types[:2] == ("<pad>", "<unk>")
    assert vocab.tokens[:3] == ("<pad>", "<unk>", "<none>")
    assert (GraphVocab.PAD, GraphVocab.UNK, GraphVocab.NONE) == (0, 1, 2)
    assert vocab.num_types == len(vocab.types) and vocab.num_tokens == len(vocab.tokens)


def test_ordering_is_by_count_then_string() -> None:
    graphs = [build_graph(s) for s in SNIPPETS]
    vocab = GraphVocab.build(graphs, min_token_freq=1)
    type_counts: dict[str, int] = {}
    for g in graphs:
        for t in g.node_type:
            type_counts[t] = type_counts.get(t, 0) + 1
    assert list(vocab.types[2:]) == sorted(type_counts, key=lambda t: (-type_counts[t], t))
    counts = [
        sum(
            normalize_token(t, k) == tok
            for g in graphs
            for t, k in zip(g.node_type, g.node_token, strict=True)
        )
        for tok in vocab.tokens[3:]
    ]
    keys = list(zip((-c for c in counts), vocab.tokens[3:], strict=True))
    assert keys == sorted(keys)


def test_min_freq_and_cap() -> None:
    graphs = [build_graph(s) for s in SNIPPETS]
    every = GraphVocab.build(graphs, min_token_freq=1)
    frequent = GraphVocab.build(graphs, min_token_freq=2)
    capped = GraphVocab.build(graphs, min_token_freq=1, max_tokens=5)
    assert "add" in every.tokens and "add" not in frequent.tokens  # seen once
    assert "<fmtstr>" in every.tokens and "<str>" in every.tokens and "<num>" in frequent.tokens
    assert capped.tokens == every.tokens[:8]
    assert set(frequent.tokens) < set(every.tokens)
    assert every.types == frequent.types == capped.types  # all train types always kept


def test_encode(vocab: GraphVocab) -> None:
    g = build_graph(SNIPPETS[2])
    types, toks = vocab.encode(g)
    assert types.dtype == np.int32 and toks.dtype == np.int32
    assert types.shape == toks.shape == (g.num_nodes,)
    for i, (t, k) in enumerate(zip(g.node_type, g.node_token, strict=True)):
        assert vocab.types[types[i]] == t
        if k == "":
            assert toks[i] == GraphVocab.NONE
        elif normalize_token(t, k) in vocab.tokens:
            assert vocab.tokens[toks[i]] == normalize_token(t, k)
        else:
            assert toks[i] == GraphVocab.UNK
    assert GraphVocab.UNK in toks.tolist() and toks.tolist().count(GraphVocab.UNK) < len(toks) / 4


def test_encode_unknowns(vocab: GraphVocab) -> None:
    g = build_graph("int q(void) { goto out; out: return never_seen_name; }")
    types, toks = vocab.encode(g)
    assert types[g.node_type.index("goto_statement")] == GraphVocab.UNK
    assert toks[g.node_token.index("never_seen_name")] == GraphVocab.UNK
    assert toks[0] == GraphVocab.NONE  # translation_unit is internal


def test_json_round_trip(vocab: GraphVocab) -> None:
    s = vocab.to_json()
    back = GraphVocab.from_json(s)
    assert back == vocab and back.to_json() == s
    g = build_graph(SNIPPETS[1])
    for a, b in zip(vocab.encode(g), back.encode(g), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "payload",
    [
        "[]",
        '{"format": "other"}',
        json.dumps({"format": "vulnfusion.graph_vocab", "types": ["a"], "tokens": ["b"]}),
        json.dumps({"format": "vulnfusion.graph_vocab", "types": "abc", "tokens": []}),
        json.dumps({"format": "vulnfusion.graph_vocab", "tokens": ["<pad>", "<unk>", "<none>"]}),
        "not json",
    ],
)
def test_from_json_rejects_bad_payloads(payload: str) -> None:
    """A corrupt graph_vocab.json is a user-facing error: the stages print it on one line."""
    from vulnfusion.errors import VulnfusionError

    with pytest.raises(VulnfusionError):
        GraphVocab.from_json(payload)


def test_identical_across_processes(vocab: GraphVocab) -> None:
    """Built in a fresh interpreter with a different hash seed -> byte-identical JSON."""
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", BUILD_IN_SUBPROCESS, json.dumps(SNIPPETS)],
            env=env, capture_output=True, text=True, check=True, timeout=120,
        )  # fmt: skip
        assert out.stdout == vocab.to_json()


def test_counts_added_one_graph_at_a_time_give_the_built_vocab(vocab: GraphVocab) -> None:
    """``featurize`` counts the train graphs as they arrive (``VocabCounts``): the same
    vocabulary as ``GraphVocab.build`` over the whole list, for every threshold."""
    from vulnfusion.graphs.vocab import VocabCounts

    graphs = [build_graph(s) for s in SNIPPETS]
    counts = VocabCounts()
    for g in graphs:
        counts.add(g)
    assert counts.vocab() == vocab
    for min_freq, cap in ((1, 20000), (2, 3), (3, 0)):
        assert counts.vocab(min_freq, cap) == GraphVocab.build(graphs, min_freq, cap)
    assert counts.vocab(1, 3).tokens[3:] == GraphVocab.build(graphs, 1, 3).tokens[3:]
    assert len(counts.vocab(1, 3).tokens) == 6  # 3 specials + the cap
