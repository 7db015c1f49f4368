"""The semantics-preserving edits and the diff probe of `make bench`'s `ood` section
(benchmarks/bench/why.py), on real tree-sitter parses, with exact expected texts."""

from __future__ import annotations

import pytest

from tests.helpers import ROOT

FUNC = """static int f(char *buf, int n, struct s *p) {
    int a = n + g, b[4];
    char *q = buf;
    for (int i = 0; i < n; i++) a += p->len * i;
    memcpy(q, buf, n);
    return a;
}"""


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))


def test_rename_touches_parameters_and_locals_only() -> None:
    from bench.why import rename_identifiers

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


def test_dead_code_and_reindent_keep_the_rest_byte_for_byte() -> None:
    from bench.why import DEAD_BLOCK, add_dead_code, reindent

    at = FUNC.index("{") + 1
    assert add_dead_code(FUNC) == FUNC[:at] + DEAD_BLOCK + FUNC[at:]
    assert add_dead_code("int x;") == "int x;"  # no function: unchanged
    assert reindent("a\n      b\n    c") == "a\n\t  b\n\tc"


@pytest.mark.parametrize(
    ("vulnerable", "fixed", "changed"),
    [
        ("a\nb\nc\nd", "a\nB\nc\nX\nd", {2, 3}),  # a replaced line, an insertion after c
        ("a\nb\nc", "a\nb\nif (x)\nc", {2}),  # a check inserted: the line before it
        ("a\nb\nc", "a\nc", {2}),  # a deleted line
        ("x\ny", "if (n) return;\nx\ny", {1}),  # inserted at the top: line 1
    ],
)
def test_changed_lines(vulnerable: str, fixed: str, changed: set[int]) -> None:
    from bench.why import changed_lines

    assert changed_lines(vulnerable, fixed) == changed
