"""Semantics-preserving edits and the twin augmentation built from them
(vulnfusion.graphs.edits), on real tree-sitter parses, with exact expected texts."""

from __future__ import annotations

import numpy as np
import pytest

from vulnfusion.graphs.edits import (
    DEAD_BLOCK,
    add_dead_code,
    augment,
    augment_pairs,
    reindent,
    rename_identifiers,
)

FUNC = """static int f(char *buf, int n, struct s *p) {
    int a = n + g, b[4];
    char *q = buf;
    for (int i = 0; i < n; i++) a += p->len * i;
    memcpy(q, buf, n);
    return a;
}"""


def test_rename_touches_parameters_and_locals_only() -> None:
    # not the global `g`, the callee `memcpy`, the field `len` or the struct tag `s`
    assert (
        rename_identifiers(FUNC)
        == """static int f(char *v0, int v1, struct s *v2) {
    int v3 = v1 + g, v4[4];
    char *v5 = v0;
    for (int v6 = 0; v6 < v1; v6++) v3 += v2->len * v6;
    memcpy(v5, v0, v1);
    return v3;
}"""
    )
    # K&R parameters: the list and the declarations name the same variables
    kr = "int h(a, b) int a; char *b; { int c = a; return b[c]; }"
    assert (
        rename_identifiers(kr) == "int h(v0, v1) int v0; char *v1; { int v2 = v0; return v1[v2]; }"
    )
    assert rename_identifiers("int h(int a) { return a; }", "tmp") == (
        "int h(int tmp0) { return tmp0; }"
    )


def test_dead_code_and_reindent_keep_the_rest_byte_for_byte() -> None:
    at = FUNC.index("{") + 1
    assert add_dead_code(FUNC) == FUNC[:at] + DEAD_BLOCK + FUNC[at:]
    assert add_dead_code("int x;") == "int x;"  # no function: unchanged
    # a multi-byte character before the body: the insertion point is a str offset
    utf = "int é(void) { return 0; }"
    assert add_dead_code(utf) == "int é(void) {" + DEAD_BLOCK + " return 0; }"
    assert reindent("a\n      b\n    c") == "a\n\t  b\n\tc"
    # indented with tabs only: the tabs become spaces instead
    assert reindent("int f() {\n\tint a;\n\t\treturn a;\n}") == (
        "int f() {\n    int a;\n        return a;\n}"
    )
    assert reindent("  y\n z") == "  y\n z"  # nothing to change: unchanged
    # a line continuing a backslash-ended line may be inside a string: left alone
    cont = 'puts("a\\\n    b");\n    x;'
    assert reindent(cont) == 'puts("a\\\n    b");\n\tx;'


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # no return type: read as if it had `int`, as identifier normalisation does
        ("foo(int a)\n{\n    return a;\n}", "foo(int a)\n{" + DEAD_BLOCK + "\n    return a;\n}"),
        (
            "static foo(a)\nint a;\n{ return a; }",
            "static foo(a)\nint a;\n{" + DEAD_BLOCK + " return a; }",
        ),
        # CRLF text: the block's line ending is CRLF too
        (
            "int f(void)\r\n{\r\n  return 0;\r\n}",
            "int f(void)\r\n{" + DEAD_BLOCK.replace("\n", "\r\n") + "\r\n  return 0;\r\n}",
        ),
        ("#define X 1", "#define X 1"),  # no function at all
    ],
)
def test_dead_code_siblings(text: str, want: str) -> None:
    assert add_dead_code(text) == want


@pytest.mark.parametrize(
    ("text", "prefix", "want"),
    [
        # a global named like a new name: the prefix moves out of its way
        ("int f(int a) { return a + v0; }", "v", "int f(int v_0) { return v_0 + v0; }"),
        ("int f(int a) { return tmp1(a); }", "tmp", "int f(int tmp_0) { return tmp1(tmp_0); }"),
        (
            "int f(int a) { return a + v_1 + v2; }",
            "v",
            "int f(int v__0) { return v__0 + v_1 + v2; }",
        ),
        # a name that only starts like one is no clash
        ("int f(int a) { return v0x; }", "v", "int f(int v0) { return v0x; }"),
    ],
)
def test_rename_never_captures_an_existing_name(text: str, prefix: str, want: str) -> None:
    assert rename_identifiers(text, prefix) == want


def test_augment_edits_at_least_once_and_is_reproducible() -> None:
    outs = [augment(FUNC, np.random.default_rng(s)) for s in range(40)]
    assert all(o != FUNC for o in outs)  # never the identity
    assert len(set(outs)) > 5  # the compositions and prefixes vary
    assert augment(FUNC, np.random.default_rng(3)) == outs[3]
    # every edit keeps the function's line count but dead code, which adds exactly one line
    for o in outs:
        assert o.count("\n") - FUNC.count("\n") in (0, 1)


def test_augment_changes_every_demo_twin() -> None:
    """Tab-indented twins, twins without locals: some edit always applies."""
    from vulnfusion.data.demo import generate_demo_pairs

    texts = [t for _, v, f in generate_demo_pairs(100, 101) for t in (v, f)]
    for k, t in enumerate(texts):
        assert augment(t, np.random.default_rng(k)) != t
    # only a text no edit can change comes back as it was
    assert augment("#define X 1", np.random.default_rng(0)) == "#define X 1"


def test_augment_pairs_layout() -> None:
    pairs = [
        (FUNC, FUNC.replace("i < n", "i < n - 1")),
        ("int g(int x) { return x; }", "int g(int x) { return 0; }"),
    ]
    got = augment_pairs(pairs, 2, seed=7)
    assert len(got) == 6 and got[:2] == pairs  # originals first, then copy 1, copy 2
    assert got == augment_pairs(pairs, 2, seed=7)
    assert got != augment_pairs(pairs, 2, seed=8)
    for vul, fix in got[2:]:
        assert (vul, fix) not in pairs
    assert augment_pairs(pairs, 0, seed=7) == pairs
    with pytest.raises(ValueError, match="copies must be >= 0, got -1"):
        augment_pairs(pairs, -1, seed=7)
