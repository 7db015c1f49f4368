"""Abstract data-flow nodes (issue 17 deliverable 2, DeepDFA-style): the exact nodes each
kind of definition gets, their parents, the node cap, and that the option off changes
nothing."""

from __future__ import annotations

import pytest

from vulnfusion.graphs import GraphVocab, build_graph

CODE = """static int get(struct ctx *s, char *buf, size_t n)
{
    int len = strlen(buf) + 1, i;
    unsigned char tmp[16];
    char *p = s->data;
    len += n << 2;
    p = av_malloc(len * sizeof(*p));
    for (i = 0; i < 4; i++)
        tmp[i] = 0;
    return len;
}"""

# (definition's token, dfa node type, dfa token) in order
EXPECTED = [
    ("s", "dfa_type", "ctx*"),
    ("buf", "dfa_type", "char*"),
    ("n", "dfa_type", "size_t"),
    ("len", "dfa_api", "strlen"),
    ("len", "dfa_op", "+"),
    ("len", "dfa_lit", "number_literal"),
    ("len", "dfa_type", "int"),
    ("i", "dfa_type", "int"),
    ("tmp", "dfa_type", "char[]"),
    ("p", "dfa_op", "->"),
    ("p", "dfa_type", "char*"),
    ("len", "dfa_op", "+=|<<"),  # compound assignment: the operator and the right side
    ("len", "dfa_lit", "number_literal"),
    ("len", "dfa_type", "int"),  # an assignment takes the type declared for the name
    ("p", "dfa_api", "av_malloc"),
    ("p", "dfa_op", "*|sizeof"),
    ("p", "dfa_type", "char*"),
    ("i", "dfa_lit", "number_literal"),
    ("i", "dfa_type", "int"),
    ("i", "dfa_op", "++"),
    ("i", "dfa_type", "int"),
]


def _dfa(code: str, **kw: int) -> list[tuple[str, str, str]]:
    g = build_graph(code, dataflow=True, **kw)
    parent = {int(d): int(s) for s, d, e in zip(g.src, g.dst, g.etype, strict=True) if e == 0}
    return [
        (g.node_token[parent[i]], g.node_type[i], g.node_token[i])
        for i in range(g.num_nodes)
        if g.node_type[i].startswith("dfa_")
    ]


def test_each_kind_of_definition() -> None:
    assert _dfa(CODE) == EXPECTED


def test_the_option_off_and_the_function_nodes_unchanged() -> None:
    plain, with_dfa = build_graph(CODE), build_graph(CODE, dataflow=True)
    n = plain.num_nodes
    assert with_dfa.num_nodes == n + len(EXPECTED)
    assert with_dfa.node_type[:n] == plain.node_type and with_dfa.node_token[:n] == plain.node_token

    def edges(g, keep):  # type: ignore[no-untyped-def]
        return sorted(
            (int(a), int(b), int(e))
            for a, b, e in zip(g.src, g.dst, g.etype, strict=True)
            if keep(a, b)
        )

    assert edges(with_dfa, lambda a, b: max(a, b) < n) == edges(plain, lambda a, b: True)
    # each extra node hangs off its definition by one ast edge, and has no other edge
    assert edges(with_dfa, lambda a, b: max(a, b) >= n) == sorted(
        (a, b, 0) for a, b, _ in edges(with_dfa, lambda a, b: b >= n)
    )
    assert not any(t.startswith("dfa_") for t in plain.node_type)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        pytest.param(  # no return type: parsed with `int ` inserted, that node dropped again
            "foo(int a) { a = bar(a) * 2; return a; }",
            [
                ("a", "dfa_type", "int"),
                ("a", "dfa_api", "bar"),
                ("a", "dfa_op", "*"),
                ("a", "dfa_lit", "number_literal"),
                ("a", "dfa_type", "int"),
            ],
            id="no-return-type",
        ),
        pytest.param(
            "void f(void) { const char *m = \"x\"; m = g(h(m), 'c'); }",
            [
                ("m", "dfa_lit", "string_literal"),
                ("m", "dfa_type", "char*"),
                ("m", "dfa_api", "g|h"),
                ("m", "dfa_lit", "char_literal"),
                ("m", "dfa_type", "char*"),
            ],
            id="nested-calls-and-literals",
        ),
        pytest.param("void f(void) { g(); }", [], id="no-definitions"),
    ],
)
def test_more_kinds(code: str, expected: list[tuple[str, str, str]]) -> None:
    assert _dfa(code) == expected


def test_node_cap_drops_the_dataflow_nodes_first() -> None:
    n = build_graph(CODE).num_nodes
    capped = build_graph(CODE, max_nodes=n + 3, dataflow=True)
    assert capped.truncated and capped.num_nodes == n + 3
    assert [t for t in capped.node_type if t.startswith("dfa_")] == ["dfa_type"] * 3


def test_vocabulary_buckets_rare_values_to_unknown() -> None:
    """dfa tokens go through the train-only graph vocabulary: ``once`` (2 nodes in train:
    the callee and its dfa_api) is below min_token_freq 3 and encodes as <unk>; ``strlen``
    (4) keeps its id."""
    train = [build_graph(CODE, dataflow=True), build_graph(CODE, dataflow=True)]
    train.append(build_graph("int f(int q) { q = once(q); return q; }", dataflow=True))
    vocab = GraphVocab.build(train, min_token_freq=3)
    assert "strlen" in vocab.tokens and "once" not in vocab.tokens
    g = build_graph("int f(int q) { q = once(q); return q; }", dataflow=True)
    _, toks = vocab.encode(g)
    api = g.node_type.index("dfa_api")
    assert toks[api] == GraphVocab.UNK
