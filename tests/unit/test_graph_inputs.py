"""Code graphs of C that practitioners have but tree-sitter-c misreads (issue 14, items 1-3).

Each issue example stands for a kind: K&R parameter declarations (also when the
definition returns a pointer and tree-sitter dissolves it), attribute macros in the
header, and preprocessor lines inside an if/else.  Edges are compared by source line
(``def line -> use line``), on real tree-sitter parses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import tree_sitter
import tree_sitter_c

from vulnfusion.graphs import EDGE_TYPES, CodeGraph, build_graph
from vulnfusion.graphs.repair import plan, suspect

PUNCT = {";", ",", "(", ")", "{", "}", "[", "]", ":", "[[", "]]", "\n"}
LITERALS = {"string_literal", "char_literal", "number_literal"}
_PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_c.language()))


def _kept(data: bytes, inserted: int = -1) -> list[tuple[str, int]]:
    """(type, 1-based line) of every node the graph contract keeps, in pre-order; with
    ``inserted``, the ``int`` inserted there for an implicit-int header is left out."""
    out, stack = [], [_PARSER.parse(data).root_node]
    while stack:
        node = stack.pop()
        if node.type == "comment" or (not node.is_named and node.type in PUNCT):
            continue
        if (node.start_byte, node.type) == (inserted, "primitive_type"):
            continue
        out.append((node.type, node.start_point[0] + 1))
        if node.type not in LITERALS:
            stack.extend(reversed(node.children))
    return out


def node_lines(code: str, g: CodeGraph) -> list[int]:
    """Line of every node of ``g``: from the text as written or as repaired (blanking
    keeps lines), whichever parse has exactly the graph's node types."""
    data = code.encode()
    fix = plan(data)
    texts = [(data, -1)]
    if fix is not None:
        at = fix.implicit_int
        texts.append((fix.data, -1) if at < 0 else (fix.data[:at] + b"int " + fix.data[at:], at))
    for text, at in texts:
        kept = _kept(text, at)
        if [t for t, _ in kept] == g.node_type:
            return [line for _, line in kept]
    raise AssertionError("graph nodes match no parse of the text")


def line_edges(code: str, etype: str) -> list[tuple[int, int]]:
    """Edges of one type as sorted (source line, target line) pairs, with repeats."""
    g = build_graph(code)
    lines = node_lines(code, g)
    m = g.etype == EDGE_TYPES.index(etype)
    pairs = zip(g.src[m].tolist(), g.dst[m].tolist(), strict=True)
    return sorted((lines[a], lines[b]) for a, b in pairs)


def flow(code: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return line_edges(code, "cfg"), line_edges(code, "dfg")


def assert_same_graph(a: CodeGraph, b: CodeGraph) -> None:
    assert a.node_type == b.node_type and a.node_token == b.node_token
    for field in ("src", "dst", "etype"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert (a.has_error, a.truncated, a.fallback) == (b.has_error, b.truncated, b.fallback)


# ----------------------------------------------------------------------------- K&R

KR = """\
static int
copy_field(dst, src, n)
char *dst;
const char *src;
int n;
{
  int i = 0;
  while (i < n) { dst[i] = src[i]; i++; }
  return i;
}
"""
KR_ANSI = """\
static int
copy_field(char *dst, const char *src, int n)
{
  int i = 0;
  while (i < n) { dst[i] = src[i]; i++; }
  return i;
}
"""


def _shift(edges: list[tuple[int, int]], by: int) -> list[tuple[int, int]]:
    return sorted((a + by, b + by) for a, b in edges)


def test_kr_parameters_are_definitions_at_entry_like_ansi_ones() -> None:
    cfg, dfg = flow(KR)
    ansi_cfg, ansi_dfg = flow(KR_ANSI)
    assert len(dfg) == len(ansi_dfg) == 13
    # dst (line 3), src (4) and n (5) reach their uses in the loop (line 8)
    assert dfg.count((3, 8)) == dfg.count((4, 8)) == dfg.count((5, 8)) == 1
    # the K&R list's names are overridden by the declarations: no edge from line 2
    assert not [e for e in dfg if e[0] == 2]
    # the body is 3 lines lower than in the ANSI version; its own flow is identical
    assert cfg == _shift(ansi_cfg, 3)
    assert [e for e in dfg if e[0] >= 7] == _shift([e for e in ansi_dfg if e[0] >= 4], 3)


KR_PTR = """\
char *
find_char(s, c)
char *s;
int c;
{
  while (*s && *s != c)
    s++;
  return s;
}
"""
KR_PTR_ANSI = """\
char *
find_char(char *s, int c)
{
  while (*s && *s != c)
    s++;
  return s;
}
"""


def test_kr_function_returning_a_pointer_is_rebuilt_with_its_parameters() -> None:
    # tree-sitter-c has no K&R rule for a pointer return type: it dissolves the definition
    root = _PARSER.parse(KR_PTR.encode()).root_node
    assert "function_definition" not in [c.type for c in root.children]
    g = build_graph(KR_PTR)
    assert not g.fallback and not g.has_error and "function_definition" in g.node_type
    cfg, dfg = flow(KR_PTR)
    assert cfg == [(6, 7), (6, 8), (7, 6)]
    assert dfg == [(3, 6), (3, 6), (3, 7), (3, 8), (4, 6), (7, 6), (7, 6), (7, 7), (7, 8)]
    ansi_cfg, ansi_dfg = flow(KR_PTR_ANSI)
    assert cfg == _shift(ansi_cfg, 2) and len(dfg) == len(ansi_dfg) == 9


def test_kr_undeclared_parameter_is_defined_by_its_name_in_the_list() -> None:
    code = """\
int
scale(v, k, fn)
int (*fn)(int);
long k;
{
  int r = fn(v);
  return r * k;
}
"""
    cfg, dfg = flow(code)
    assert cfg == [(6, 7)]
    # v (implicit int, only in the list: line 2), fn (line 3), k (line 4), r (line 6)
    assert dfg == [(2, 6), (3, 6), (4, 7), (6, 7)]


def test_kr_declaration_with_several_declarators_and_a_pointer_struct_return() -> None:
    code = """\
struct node *
pick(a, b, which)
struct node *a, *b;
int which;
{
  if (which)
    return a;
  return b;
}
"""
    cfg, dfg = flow(code)
    assert cfg == [(6, 7), (6, 8)]
    assert dfg == [(3, 7), (3, 8), (4, 6)]


# ----------------------------------------------------------------------------- macros

PUT_MSG_BODY = """\
{
  int n;
  va_list ap;
  va_start(ap, fmt);
  n = vsnprintf(ob->buf + ob->used, ob->size - ob->used, fmt, ap);
  va_end(ap);
  ob->used += n;
  return n;
}
"""
PLAIN = "static int put_msg(struct outbuf *ob, const char *fmt, ...)\n"


@pytest.mark.parametrize(
    ("header", "plain"),
    [
        ("static FMT_CHECK(2, 3) int put_msg(struct outbuf *ob, const char *fmt, ...)\n", PLAIN),
        ("static __printf(2, 3) int put_msg(struct outbuf *ob, const char *fmt, ...)\n", PLAIN),
        ("static int __printf(2, 3) put_msg(struct outbuf *ob, const char *fmt, ...)\n", PLAIN),
        ("static __must_check int put_msg(struct outbuf *ob, const char *fmt, ...)\n", PLAIN),
        ("static int __must_check put_msg(struct outbuf *ob, const char *fmt, ...)\n", PLAIN),
        ("static av_cold int put_msg(struct outbuf *ob, const char *fmt, ...)\n", PLAIN),
        (
            "static FMT_CHECK(2, 3) __must_check int put_msg(struct outbuf *ob, const char *fmt,"
            " ...)\n",
            PLAIN,
        ),
        (
            "static FMT_CHECK(2, 3) struct outbuf *put_msg(struct outbuf *ob, const char *fmt,"
            " ...)\n",
            "static struct outbuf *put_msg(struct outbuf *ob, const char *fmt, ...)\n",
        ),
        (
            "static void * __must_check put_msg(struct outbuf *ob, const char *fmt, ...)\n",
            "static void * put_msg(struct outbuf *ob, const char *fmt, ...)\n",
        ),
    ],
)
def test_attribute_macro_gives_the_graph_of_the_code_without_it(header: str, plain: str) -> None:
    g, want = build_graph(header + PUT_MSG_BODY), build_graph(plain + PUT_MSG_BODY)
    assert_same_graph(g, want)
    cfg, dfg = flow(header + PUT_MSG_BODY)
    assert cfg == [(3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9)]
    # ob (line 1) -> 6 x4 and 8, fmt -> 5 and 6, ap -> 5 6 7, n -> 8 and 9
    assert len(dfg) == 12
    assert dfg.count((1, 6)) == 5 and (1, 8) in dfg and (6, 9) in dfg and (6, 8) in dfg


def test_issue_example_without_the_macro_loses_nothing() -> None:
    """Before the repair, the macro swallowed the header: 3 dfg edges and 5 cfg edges."""
    code = "static FMT_CHECK(2, 3) int put_msg(struct outbuf *ob, const char *fmt, ...)\n"
    g = build_graph(code + PUT_MSG_BODY)
    assert not g.has_error
    assert "FMT_CHECK" not in g.node_token and "put_msg" in g.node_token
    assert int((g.etype == EDGE_TYPES.index("dfg")).sum()) == 12


def test_export_symbol_line_after_the_function_changes_no_flow() -> None:
    plain = PLAIN + PUT_MSG_BODY
    g, want = build_graph(plain + "EXPORT_SYMBOL(put_msg);\n"), build_graph(plain)
    for et in ("cfg", "dfg"):
        k = EDGE_TYPES.index(et)
        np.testing.assert_array_equal(g.src[g.etype == k], want.src[want.etype == k])
        np.testing.assert_array_equal(g.dst[g.etype == k], want.dst[want.etype == k])
    assert g.node_type[: want.num_nodes] == want.node_type


def test_two_bare_type_names_without_a_keyword_are_left_as_parsed() -> None:
    """``gboolean G_GNUC_UNUSED``: which one is the type is unknowable; nothing is blanked,
    and tree-sitter's own recovery already keeps the flow."""
    code = "static gboolean G_GNUC_UNUSED put_msg(struct outbuf *ob, const char *fmt, ...)\n"
    g = build_graph(code + PUT_MSG_BODY)
    assert "G_GNUC_UNUSED" in g.node_token and "gboolean" in g.node_token
    assert flow(code + PUT_MSG_BODY)[1] == flow(PLAIN + PUT_MSG_BODY)[1]


# ----------------------------------------------------------------------------- #if in bodies

PICK_SIZE = """\
int pick_size(int req)
{
  int sz = 0;
  if (req > 64) {
    sz = 64;
  }
#ifdef ALLOW_SMALL
  else {
    sz = req;
  }
#endif
  return sz;
}
"""


def test_ifdef_between_if_and_else_keeps_both_configurations() -> None:
    cfg, dfg = flow(PICK_SIZE)
    assert (5, 9) not in cfg  # never through both branches of one if
    # with ALLOW_SMALL: if -> 5 | 9 -> 12; without: if -> 5 | return
    assert cfg == [(3, 4), (4, 5), (4, 9), (4, 12), (5, 12), (9, 12)]
    assert dfg == [(1, 4), (1, 9), (3, 12), (5, 12), (9, 12)]


def test_ifdef_before_else_if_with_else_in_the_other_branch() -> None:
    code = """\
int f(int a, int b)
{
  int x = 0;
  if (a) {
    x = 1;
  }
#ifdef FOO
  else if (b) {
    x = 2;
  }
#else
  else {
    x = 3;
  }
#endif
  return x;
}
"""
    cfg, dfg = flow(code)
    # FOO: if(a) -> else if(b) -> x=2 | return;  not FOO: if(a) -> x=3.  Every
    # configuration has an else for if(a), so it never exits straight to return.
    assert cfg == [(3, 4), (4, 5), (4, 8), (4, 13), (5, 16), (8, 9), (8, 16), (9, 16), (13, 16)]
    assert (8, 13) not in cfg and (4, 16) not in cfg
    assert dfg == [(1, 4), (1, 8), (3, 16), (5, 16), (9, 16), (13, 16)]


def test_ifdef_else_without_braces_is_an_else_not_a_declaration() -> None:
    code = """\
int f(int a)
{
  int x = 0;
  if (a)
    x = 1;
#ifdef FOO
  else
    x = 2;
#endif
  return x;
}
"""
    cfg, dfg = flow(code)
    assert cfg == [(3, 4), (4, 5), (4, 8), (4, 10), (5, 10), (8, 10)]
    assert dfg == [(1, 4), (3, 10), (5, 10), (8, 10)]


def test_if_elif_else_branches_are_alternatives() -> None:
    code = """\
int f(int a)
{
  int x = 0;
#if FOO
  x = 1;
#elif BAR
  x = a;
#else
  x = 3;
#endif
  return x;
}
"""
    cfg, dfg = flow(code)
    assert cfg == [(3, 5), (3, 7), (3, 9), (5, 11), (7, 11), (9, 11)]
    assert dfg == [(1, 7), (5, 11), (7, 11), (9, 11)]


def test_ifdef_without_else_can_be_skipped() -> None:
    code = """\
int f(int a)
{
  int x = 0;
#ifdef DEBUG
  x = a;
  log_it(x);
#endif
  return x;
}
"""
    cfg, dfg = flow(code)
    assert cfg == [(3, 5), (3, 8), (5, 6), (6, 8)]
    assert dfg == [(1, 5), (3, 8), (5, 6), (5, 8)]


def test_directive_then_comments_then_else_is_found_without_backtracking() -> None:
    """Many comments after a directive: a pattern whose comment could span several
    comments backtracks exponentially here (60 comments would not finish)."""
    comments = b"/* a */ " * 60
    assert suspect(b"#if X\n" + comments + b"x = 1;") is False
    assert suspect(b"#if X\n" + comments + b"\n// c\nelse {}") is True
    assert suspect(b"#if X\nx = 1;\n#endif\nelse_branch();") is False


def test_comment_between_directive_and_else_still_splits_if_else() -> None:
    code = PICK_SIZE.replace("#ifdef ALLOW_SMALL\n", "#ifdef ALLOW_SMALL\n  /* small */\n")
    cfg, dfg = flow(code)
    assert cfg == [(3, 4), (4, 5), (4, 10), (4, 13), (5, 13), (10, 13)]
    assert dfg == [(1, 4), (1, 10), (3, 13), (5, 13), (10, 13)]


# ------------------------------------------- #if branches that each hold an else (review)

PICK_TWO = PICK_SIZE.replace("#endif\n", "#else\n  else {\n    sz = 32;\n  }\n#endif\n")


@pytest.mark.parametrize(
    "code",
    [PICK_TWO, PICK_TWO.replace("#ifdef ALLOW_SMALL", "#if A").replace("#else", "#elif B")],
)
@pytest.mark.reliability
def test_if_branches_each_holding_an_else_are_alternatives(code: str, reliability: Any) -> None:
    cfg, dfg = flow(code)
    # then-body (5) and the two elses (9, 13) are alternatives; each reaches the return
    if "#elif" in code:  # no #else: some configuration has no else at all
        assert cfg == [(3, 4), (4, 5), (4, 9), (4, 13), (4, 16), (5, 16), (9, 16), (13, 16)]
        assert dfg == [(1, 4), (1, 9), (3, 16), (5, 16), (9, 16), (13, 16)]
    else:
        assert cfg == [(3, 4), (4, 5), (4, 9), (4, 13), (5, 16), (9, 16), (13, 16)]
        assert dfg == [(1, 4), (1, 9), (5, 16), (9, 16), (13, 16)]
    reliability(
        "graph input: `#if`/`#else` (or `#if`/`#elif`) branches that each hold an `else` "
        "of one `if`",
        "cfg/dfg by line exact: then-body and both elses are alternatives, then-body "
        "reaches the return",
    )


@pytest.mark.reliability
def test_if_elif_else_each_holding_an_else(reliability: Any) -> None:
    code = PICK_TWO.replace("#ifdef ALLOW_SMALL", "#if A").replace(
        "#else\n  else {\n    sz = 32;\n  }\n",
        "#elif B\n  else {\n    sz = 32;\n  }\n#else\n  else {\n    sz = 1;\n  }\n",
    )
    cfg, dfg = flow(code)
    assert cfg == [(3, 4), (4, 5), (4, 9), (4, 13), (4, 17), (5, 20), (9, 20), (13, 20), (17, 20)]
    assert dfg == [(1, 4), (1, 9), (5, 20), (9, 20), (13, 20), (17, 20)]
    reliability(
        "graph input: `#if`/`#elif`/`#else`, each branch an `else` of one `if`",
        "three alternative elses, each reaching the return; exact cfg/dfg",
    )


TOGGLED_ELSE_IF = """\
int f(int a, int b)
{
  int x = 0;
  if (a) {
    x = 1;
  } else
#ifdef X
  if (b) {
    x = 2;
  } else
#endif
  {
    x = 3;
  }
  return x;
}
"""


@pytest.mark.reliability
def test_ifdef_toggling_an_else_if_gives_both_configurations(reliability: Any) -> None:
    cfg, dfg = flow(TOGGLED_ELSE_IF)
    # X: if(a) -> 5 | if(b) -> 9 | 13;  not X: if(a) -> 5 | 13.  Never 5 -> 8 or 5 -> 13.
    assert cfg == [(3, 4), (4, 5), (4, 8), (4, 13), (5, 15), (8, 9), (8, 13), (9, 15), (13, 15)]
    assert dfg == [(1, 4), (1, 8), (5, 15), (9, 15), (13, 15)]
    reliability(
        "graph input: `} else` `#ifdef X` `if (b) {..} else` `#endif` `{..}` (toggled else-if)",
        "flow of both configurations, never through both branches of one if; exact cfg/dfg",
    )


@pytest.mark.reliability
def test_ifndef_toggling_an_else_if_without_braces(reliability: Any) -> None:
    code = """\
int f(int a, int b)
{
  int x = 0;
  if (a)
    x = 1;
  else
#ifndef X
  if (b)
    x = 2;
  else
#endif
    x = 3;
  return x;
}
"""
    cfg, dfg = flow(code)
    assert cfg == [(3, 4), (4, 5), (4, 8), (4, 12), (5, 13), (8, 9), (8, 12), (9, 13), (12, 13)]
    assert dfg == [(1, 4), (1, 8), (5, 13), (9, 13), (12, 13)]
    reliability(
        "graph input: toggled else-if without braces under `#ifndef`",
        "flow of both configurations; exact cfg/dfg",
    )


@pytest.mark.parametrize(
    "directive",
    [
        "#if defined(ALLOW_SMALL) && \\\n    !defined(NO_SMALL)",
        "#ifdef ALLOW_SMALL /* small sizes\n   are allowed */",
    ],
)
@pytest.mark.reliability
def test_directive_over_two_lines_before_else(directive: str, reliability: Any) -> None:
    code = PICK_SIZE.replace("#ifdef ALLOW_SMALL", directive)
    assert suspect(code.encode())
    cfg, dfg = flow(code)
    assert (5, 10) not in cfg
    assert cfg == [(3, 4), (4, 5), (4, 10), (4, 13), (5, 13), (10, 13)]
    assert dfg == [(1, 4), (1, 10), (3, 13), (5, 13), (10, 13)]
    reliability(
        "graph input: directive before `else` over two lines (continuation or block comment)",
        "split if/else found; no then-body -> else-body edge; exact cfg/dfg",
    )


@pytest.mark.parametrize(
    ("then", "mine", "other"),
    [
        ("  if (a) {\n    x = 1;\n  }\n", "  else {\n    x = 2;\n  }\n", "  x = 3;\n"),
        ("  if (a)\n    x = 1;\n", "  else\n    x = 2;\n", "  else\n    x = 3;\n"),
    ],
)
@pytest.mark.reliability
def test_else_branch_holding_a_plain_statement_or_a_braceless_else(
    then: str, mine: str, other: str, reliability: Any
) -> None:
    head = "int f(int a)\n{\n  int x = 0;\n"
    code = f"{head}{then}#ifdef A\n{mine}#else\n{other}#endif\n  return x;\n}}\n"
    cfg, dfg = flow(code)
    if "{" in then:  # lines: if 4, x=1 5, x=2 9, x=3 12, return 14
        # A: if -> 5 | 9 -> return;  not A: if -> 5, then x = 3 (no else) -> return
        assert cfg == [(3, 4), (4, 5), (4, 9), (4, 12), (5, 12), (5, 14), (9, 14), (12, 14)]
        assert dfg == [(1, 4), (5, 14), (9, 14), (12, 14)]
    else:  # lines: if 4, x=1 5, x=2 8, x=3 11, return 13; every configuration has an else
        assert cfg == [(3, 4), (4, 5), (4, 8), (4, 11), (5, 13), (8, 13), (11, 13)]
        assert dfg == [(1, 4), (5, 13), (8, 13), (11, 13)]
    assert (9, 12) not in cfg and (8, 11) not in cfg
    reliability(
        "graph input: `#else` branch holding a plain statement, or braceless elses in "
        "both branches",
        "alternatives per configuration; exact cfg/dfg",
    )


def test_the_word_of_an_else_directive_is_not_an_else_keyword() -> None:
    assert suspect(b"#else\n// c\n#if Y\nx = 1;\n#endif\n#endif\n") is False
    assert suspect(b"#  else\n#if Y\n#endif\n") is False
    assert suspect(b"} else\n\n#endif\n{\n") is True


# ----------------------------------------- macros after the parameter list, inside it (review)

_PUT = "put_msg(struct outbuf *ob, const char *fmt, ...)"


@pytest.mark.parametrize(
    "header",
    [
        f"static __must_check int {_PUT} __releases(lock)\n",
        f"static int {_PUT} __releases(lock)\n",
        f"static __must_check int {_PUT} __acquires(ob->lock)\n",
        f"static int {_PUT} __printf(2, 3)\n",
        f"static FMT_CHECK(2, 3) int {_PUT} __must_hold(&ob->lock)\n",
        "static int put_msg(struct outbuf __rcu *ob, const char __user *fmt, ...)\n",
        "static __must_check int put_msg(struct outbuf *ob, const char __user *fmt, ...)"
        " __releases(lock)\n",
    ],
)
@pytest.mark.reliability
def test_annotation_after_or_inside_the_parameter_list_is_blanked(
    header: str, reliability: Any
) -> None:
    assert_same_graph(build_graph(header + PUT_MSG_BODY), build_graph(PLAIN + PUT_MSG_BODY))
    cfg, dfg = flow(header + PUT_MSG_BODY)
    assert cfg == [(3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9)]
    assert len(dfg) == 12 and dfg.count((1, 6)) == 5
    reliability(
        "graph input: sparse annotation after/inside the parameter list "
        "(`__releases(lock)`, `__user`)",
        "graph identical to the annotation-free function",
    )


# ------------------------------------------------- implicit int: no return type (review)

MAX_KR = "max(a, b)\nint a, b;\n{\n  int m = a;\n  if (b > m)\n    m = b;\n  return m;\n}\n"
MAX_ANSI = "max(int a, int b)\n\n{\n  int m = a;\n  if (b > m)\n    m = b;\n  return m;\n}\n"
CMP_KR = "static\ncmp(a, b)\nchar *a, *b;\n{\n  int d = *a - *b;\n  return d;\n}\n"


@pytest.mark.parametrize(
    ("code", "typed", "cfg", "dfg"),
    [
        (
            MAX_KR, "int " + MAX_KR, [(4, 5), (5, 6), (5, 7), (6, 7)],
            [(2, 4), (2, 5), (2, 6), (4, 5), (4, 7), (6, 7)],
        ),
        (
            MAX_ANSI, "int " + MAX_ANSI, [(4, 5), (5, 6), (5, 7), (6, 7)],
            [(1, 4), (1, 5), (1, 6), (4, 5), (4, 7), (6, 7)],
        ),
        (CMP_KR, CMP_KR.replace("static\n", "static int\n"), [(5, 6)], [(3, 5), (3, 5), (5, 6)]),
    ],
)  # fmt: skip
@pytest.mark.reliability
def test_header_without_return_type_is_implicit_int(
    code: str,
    typed: str,
    cfg: list[tuple[int, int]],
    dfg: list[tuple[int, int]],
    reliability: Any,
) -> None:
    g, want = build_graph(code), build_graph(typed)
    assert not g.has_error and not g.fallback
    # the typed graph less its one ``int`` return-type node (the first primitive_type)
    r = want.node_type.index("primitive_type")
    assert g.node_type == want.node_type[:r] + want.node_type[r + 1 :]
    assert g.node_token == want.node_token[:r] + want.node_token[r + 1 :]
    assert flow(code) == (cfg, dfg) == flow(typed)
    reliability(
        "graph input: header without return type (K&R or ANSI implicit int)",
        "parameters defined at entry; graph = typed graph less its `int` node",
    )


# ------------------------------------- #if among K&R parameter declarations (review)

KR_IFDEF = """\
char *
find(s, c)
char *s;
#ifdef WIDE
long c;
#else
int c;
#endif
{
  while (*s && *s != c)
    s++;
  return s;
}
"""


@pytest.mark.parametrize("code", [KR_IFDEF, KR_IFDEF.replace("char *\n", "int\n")])
@pytest.mark.reliability
def test_kr_declarations_in_ifdef_branches_are_alternative_definitions(
    code: str, reliability: Any
) -> None:
    g = build_graph(code)
    assert not g.has_error and not g.fallback
    cfg, dfg = flow(code)
    assert cfg == [(10, 11), (10, 12), (11, 10)]
    # both declarations of c (lines 5 and 7) reach its use: one per configuration
    assert dfg == [
        (3, 10), (3, 10), (3, 11), (3, 12), (5, 10), (7, 10), (11, 10), (11, 10), (11, 11),
        (11, 12),
    ]  # fmt: skip
    reliability(
        "graph input: K&R parameter declarations inside `#ifdef`/`#else`",
        "both declarations reach the use; exact cfg/dfg",
    )


# ------------------------------------------- whole-header macros: SYSCALL_DEFINEn (review)


@pytest.mark.parametrize(
    "header",
    [
        "SYSCALL_DEFINE3(put_msg, struct outbuf *, ob, const char *, fmt, int, flags)\n",
        "COMPAT_SYSCALL_DEFINE3(put_msg, struct outbuf __user *, ob, const char __user *, fmt,"
        " int, flags)\n",
    ],
)
@pytest.mark.reliability
def test_syscall_define_header_has_its_parameters(header: str, reliability: Any) -> None:
    ansi = "static int put_msg(struct outbuf *ob, const char *fmt, int flags)\n"
    g = build_graph(header + PUT_MSG_BODY)
    assert not g.has_error and not g.fallback
    assert "SYSCALL_DEFINE3" not in g.node_token and "COMPAT_SYSCALL_DEFINE3" not in g.node_token
    # parameter names are identifiers defined at entry, as in the ANSI header
    assert flow(header + PUT_MSG_BODY) == flow(ansi + PUT_MSG_BODY)
    assert len(flow(header + PUT_MSG_BODY)[1]) == 12
    reliability(
        "graph input: `SYSCALL_DEFINE3(name, T, a, ...)` whole-header macro",
        "same cfg/dfg as the ANSI header",
    )


def test_other_whole_header_macros_are_a_known_limit() -> None:
    """``PHP_FUNCTION(name)``: the parameters are hidden in the macro; the body's own flow
    is kept (documented in the package docstring)."""
    cfg, dfg = flow("PHP_FUNCTION(put_msg)\n" + PUT_MSG_BODY)
    assert cfg == [(3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 9)]
    assert dfg == [(4, 5), (4, 6), (4, 7), (6, 8), (6, 9)]
