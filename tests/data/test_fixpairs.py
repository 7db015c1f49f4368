"""Vulnerable/fixed pairs mined from a training split (``vulnfusion.data.fixpairs``)."""

from __future__ import annotations

import pytest

from vulnfusion.data.fixpairs import FixPair, function_name, mine_fix_pairs
from vulnfusion.data.formats import DataError

COPY = """static int copy_{v}(char *dst, const char *src, int n)
{{
    int len = strlen(src);
    {check}
    memcpy(dst, src, len);
    dst[len] = 0;
    return len;
}}
"""
UNCHECKED = COPY.format(v="a", check="")
CHECKED = COPY.format(v="a", check="if (len >= n) return -1;")
OTHER = """static int copy_a(struct ctx *c)
{
    while (c->next) c = c->next;
    return c->count * 2 + c->flags;
}
"""


def _row(id_: str, func: str, target: int, project: str | None = "p") -> dict:
    row = {"id": id_, "func": func, "target": target}
    if project is not None:
        row["project"] = project
    return row


@pytest.mark.parametrize(
    "code, name",
    [
        ("static int foo(int a) { return a; }", "foo"),
        ("av_cold static void bar (void)\n{\n}", "bar"),
        ("char *\nbaz(p)\n  char *p;\n{ return p; }", "baz"),  # K&R, name on its own line
        ("static inline uint32_t *get_u32(const uint8_t *b) { return 0; }", "get_u32"),
        ("int (*pick(int k))(int) { return 0; }", "pick"),  # returns a function pointer
        ("{ return 1; }", None),  # a body without a header
        ("x = 1;", None),
    ],
)
def test_function_name(code: str, name: str | None) -> None:
    assert function_name(code) == name


def test_a_function_and_its_fix_pair_up() -> None:
    rows = [_row("v", UNCHECKED, 1), _row("f", CHECKED, 0)]
    (pair,) = mine_fix_pairs(rows, min_similarity=0.8)
    assert (pair.vul_id, pair.fix_id) == ("v", "f")
    assert 0.8 <= pair.similarity < 1.0


def test_pairs_stay_inside_one_project_and_one_name() -> None:
    rows = [
        _row("v", UNCHECKED, 1, "p"),
        _row("f-other-project", CHECKED, 0, "q"),
        _row("f-other-name", CHECKED.replace("copy_a", "copy_b"), 0, "p"),
    ]
    assert mine_fix_pairs(rows, min_similarity=0.5) == []


def test_a_missing_project_counts_as_one_project() -> None:
    rows = [_row("v", UNCHECKED, 1, None), _row("f", CHECKED, 0, None)]
    assert [(p.vul_id, p.fix_id) for p in mine_fix_pairs(rows, 0.8)] == [("v", "f")]


def test_dissimilar_namesakes_do_not_pair() -> None:
    rows = [_row("v", UNCHECKED, 1), _row("f", OTHER, 0)]
    assert mine_fix_pairs(rows, min_similarity=0.5) == []
    assert len(mine_fix_pairs(rows, min_similarity=0.0)) == 1  # the threshold decides


def test_matching_is_one_to_one_most_similar_first() -> None:
    near = UNCHECKED.replace("dst[len] = 0;", "dst[len] = '\\0';")  # one edit further away
    rows = [
        _row("v1", UNCHECKED, 1),
        _row("v2", near, 1),
        _row("f", CHECKED, 0),
    ]
    pairs = mine_fix_pairs(rows, min_similarity=0.5)
    assert len(pairs) == 1  # the one fix is used once
    assert pairs[0].vul_id == "v1"  # v1 differs from the fix by the check alone
    assert pairs[0].fix_id == "f"


def test_max_pairs_keeps_the_most_similar() -> None:
    rows = [
        _row("v1", UNCHECKED, 1),
        _row("f1", CHECKED, 0),
        _row("v2", UNCHECKED.replace("copy_a", "copy_c"), 1),
        _row("f2", UNCHECKED.replace("copy_a", "copy_c").replace("return len;", "return 0;"), 0),
    ]
    both = mine_fix_pairs(rows, min_similarity=0.5)
    assert [p.vul_id for p in both] == ["v2", "v1"]  # v2/f2 differ by one token
    assert both[0].similarity > both[1].similarity
    assert mine_fix_pairs(rows, min_similarity=0.5, max_pairs=1) == both[:1]


def test_exact_duplicates_with_opposite_labels_pair_at_similarity_one() -> None:
    rows = [_row("v", UNCHECKED, 1), _row("f", UNCHECKED, 0)]
    assert mine_fix_pairs(rows) == [FixPair("v", "f", 1.0)]


def test_no_pairs_without_both_labels() -> None:
    assert mine_fix_pairs([_row("v", UNCHECKED, 1), _row("w", CHECKED, 1)], 0.0) == []
    assert mine_fix_pairs([], 0.0) == []


@pytest.mark.parametrize(
    "row, message",
    [
        ({"func": "int f(void) {}", "target": 1}, "row 1: no 'id' field"),
        ({"id": "x", "target": 1}, "row 1: no 'func' field"),
        ({"id": "x", "func": "int f(void) {}"}, "row 1: no 'target' field"),
        ({"id": "x", "func": "int f(void) {}", "target": 2}, "row 1 (x): target 2 is not 0 or 1"),
    ],
)
def test_bad_rows_are_one_line_errors(row: dict, message: str) -> None:
    with pytest.raises(DataError) as err:
        mine_fix_pairs([_row("ok", UNCHECKED, 1), row])
    assert str(err.value) == message
