"""Function extraction (real tree-sitter) and the tree walker, on real files in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vulnfusion.scan.engine import scan_root
from vulnfusion.scan.extract import FileSkip, extract, extract_functions, read_source
from vulnfusion.scan.walk import Candidate, ScanInputError, Skipped, walk_tree

# every case the issue names, one per function; columns are 1-based, end exclusive
CASES = """\
#include <stdio.h>

static int add(int a, int b)
{
    return a + b;
}

static inline unsigned sq(unsigned x) { return x * x; }

int kr_style(a, p)
int a;
char *p;
{
    return p[a];
}

#ifdef CONFIG_FAST
int fast_path(void) { return 1; }
#else
int slow_path(void)
{
    return 0;
}
#endif

SYSCALL_DEFINE3(read, unsigned int, fd, char __user *, buf, size_t, count)
{
\treturn ksys_read(fd, buf, count);
}

int __attribute__((noinline)) attr_fn(int q) { return q; }

static int (*get_handler(int k))(int) { return 0; }

  int indented(char *s) { char *t = "é→"; return s[0]; }
"""

EXPECTED = [  # name, start line, start col, end line, end col
    ("add", 3, 1, 6, 2),
    ("sq", 8, 1, 8, 56),
    ("kr_style", 10, 1, 15, 2),
    ("fast_path", 18, 1, 18, 34),
    ("slow_path", 20, 1, 23, 2),
    ("SYSCALL_DEFINE3(read, …)", 26, 1, 29, 2),
    ("attr_fn", 31, 1, 31, 59),
    ("get_handler", 33, 1, 33, 52),
    ("indented", 35, 3, 35, 57),
]


def _spans(text: str) -> list[tuple[str, int, int, int, int]]:
    return [
        (f.name, f.start_line, f.start_col, f.end_line, f.end_col) for f in extract_functions(text)
    ]


def test_exact_function_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "cases.c"
    path.write_text(CASES, encoding="utf-8")
    funcs = extract_functions(read_source(path).text)
    assert _spans(CASES) == EXPECTED
    lines = CASES.splitlines()
    for f in funcs:  # each span cuts exactly the function: first and last characters
        assert lines[f.start_line - 1][f.start_col - 1 :].startswith(f.text.split("\n")[0])
        assert lines[f.end_line - 1][f.end_col - 2] == "}"
    assert funcs[2].text == "int kr_style(a, p)\nint a;\nchar *p;\n{\n    return p[a];\n}"
    # code points, not bytes: "é→" before the end is 5 UTF-8 bytes but 2 columns
    assert funcs[-1].end_col == len(lines[34]) + 1


def test_crlf_keeps_positions_and_scores_lf_text(tmp_path: Path) -> None:
    path = tmp_path / "crlf.c"
    path.write_bytes(CASES.replace("\n", "\r\n").encode("utf-8"))
    funcs = extract_functions(read_source(path).text)
    assert [(f.name, f.start_line, f.start_col, f.end_line, f.end_col) for f in funcs] == EXPECTED
    assert all("\r" not in f.text for f in funcs)
    assert [f.text for f in funcs] == [f.text for f in extract_functions(CASES)]


def test_latin1_file_is_decoded_with_a_fallback(tmp_path: Path) -> None:
    path = tmp_path / "legacy.c"
    path.write_bytes("/* auteur: José */\nint f(void) { return 'é'; }\n".encode("latin-1"))
    src = read_source(path)
    assert src.encoding == "latin-1"
    assert _spans(src.text) == [("f", 2, 1, 2, 28)]
    bom = tmp_path / "bom.c"
    bom.write_bytes(b"\xef\xbb\xbfint g(void) { return 0; }\n")
    assert read_source(bom).encoding == "utf-8"
    assert _spans(read_source(bom).text) == [("g", 1, 1, 1, 26)]


@pytest.mark.parametrize(
    ("content", "cap", "reason"),
    [
        (b"", 100, "empty"),
        (b"\x7fELF\x00\x00\x01int f(){}", 100, "binary"),
        (b"int f(void) { return 0; }\n" * 10, 100, "too-large"),
    ],
)
def test_unscannable_files_raise_fileskip(
    tmp_path: Path, content: bytes, cap: int, reason: str
) -> None:
    path = tmp_path / "x.c"
    path.write_bytes(content)
    with pytest.raises(FileSkip) as info:
        read_source(path, cap)
    assert info.value.reason == reason


def _walk(root: Path, excludes: tuple[str, ...] = ()) -> tuple[list[str], list[tuple[str, str]]]:
    found, skipped = [], []
    for e in walk_tree(root, excludes):
        if isinstance(e, Candidate):
            found.append(e.rel)
        else:
            assert isinstance(e, Skipped)
            skipped.append((e.rel, e.reason))
    return found, skipped


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("int f(void) { return 0; }\n")


def test_gitignore_at_every_level_and_excludes(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "main.c",
        "gen/table.c",
        "lib/a.c",
        "lib/a_test.c",
        "lib/keep_test.c",
        "lib/deep/b.h",
        "lib/deep/b.c",
        "vendor/z.c",
        "tool.cpp",
        "legacy.C",
        "notes.txt",
        ".git/x.c",
    )
    (tmp_path / ".gitignore").write_text("gen/\n*_test.c\n")
    (tmp_path / "lib" / ".gitignore").write_text("!keep_test.c\n")
    (tmp_path / "lib" / "deep" / ".gitignore").write_text("*.h\n")
    found, skipped = _walk(tmp_path)
    assert found == ["lib/a.c", "lib/deep/b.c", "lib/keep_test.c", "main.c", "vendor/z.c"]
    assert skipped == [("legacy.C", "cpp"), ("tool.cpp", "cpp")]
    found, _ = _walk(tmp_path, ("vendor/", "lib/deep/*.c", "keep_test.c"))
    assert found == ["lib/a.c", "main.c"]


def _git_untracked_c(repo: Path, sub: str) -> list[str]:
    """git's own answer: the .c/.h files under ``sub`` that ``git status`` would list."""
    import subprocess

    out = subprocess.run(
        ["git", "-C", str(repo / sub), "ls-files", "--others", "--exclude-standard", "."],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sorted(x for x in out.splitlines() if x.endswith((".c", ".h")))


def test_gitignore_files_above_a_scanned_directory_apply(tmp_path: Path) -> None:
    """Scanning ``src`` of a repository skips what git skips there, rules of the
    ``.gitignore`` files above ``src`` included; checked against git itself."""
    import subprocess

    repo = tmp_path / "repo"
    _touch(
        repo,
        "anch.c",
        "src/anch.c",
        "src/ok.c",
        "src/gen/gen.c",
        "src/gen/important.c",
        "src/keep/keep.c",
        "src/keep/local.c",
        "src/build/out.c",
        "src/deep/x_test.c",
        "src/deep/y.c",
    )
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_text("src/gen/\n!src/gen/important.c\nbuild\n/anch.c\n*_test.c\n")
    (repo / "src" / "keep" / ".gitignore").write_text("local.c\n")
    found, _ = _walk(repo / "src")
    assert found == ["anch.c", "deep/y.c", "keep/keep.c", "ok.c"]
    assert found == _git_untracked_c(repo, "src")
    found, _ = _walk(repo / "src" / "deep")
    assert found == ["y.c"] == _git_untracked_c(repo, "src/deep")
    # a directory the rules above ignore, named on the command line: scanned
    found, _ = _walk(repo / "src" / "gen")
    assert found == ["gen.c", "important.c"]
    # outside any repository, nothing above the root applies
    (tmp_path / "plain" / "src").mkdir(parents=True)
    (tmp_path / "plain" / ".gitignore").write_text("*.c\n")
    _touch(tmp_path / "plain", "src/a.c")
    assert _walk(tmp_path / "plain" / "src")[0] == ["a.c"]


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    _touch(outside, "secret.c")
    root = tmp_path / "root"
    _touch(root, "src/a.c")
    os.symlink(root, root / "src" / "loop")  # a loop back to the root
    os.symlink(outside / "secret.c", root / "stolen.c")
    os.symlink(outside, root / "ext")
    os.symlink(root / "src" / "a.c", root / "alias.c")
    os.symlink(root / "missing.c", root / "dangling.c")
    found, skipped = _walk(root)
    assert found == ["src/a.c"]
    assert skipped == [
        ("alias.c", "symlink"),
        ("dangling.c", "symlink"),
        ("ext", "symlink-outside"),
        ("src/loop", "symlink"),
        ("stolen.c", "symlink-outside"),
    ]


def test_special_files_are_skipped_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.c")  # opening it would block the scan forever
    (tmp_path / "dir.c").mkdir()  # a directory with a C name is walked, not read
    _touch(tmp_path, "dir.c/inner.c")
    found, skipped = _walk(tmp_path)
    assert found == ["dir.c/inner.c"]
    assert skipped == [("pipe.c", "not-regular")]


def test_a_vanished_file_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(FileSkip) as info:  # deleted between the walk and the read
        read_source(tmp_path / "gone.c")
    assert info.value.reason == "unreadable"
    assert str(info.value) == "cannot read: No such file or directory"


def test_uris_are_relative_to_the_common_root(tmp_path: Path) -> None:
    _touch(tmp_path, "a/x/one.c", "a/y/two.c")
    assert scan_root([tmp_path / "a/x", tmp_path / "a/y/two.c"]) == tmp_path.resolve() / "a"
    assert scan_root([tmp_path / "a/x"]) == tmp_path.resolve() / "a/x"
    with pytest.raises(ScanInputError, match=r"nope: no such file or directory"):
        scan_root([tmp_path / "nope"])


# tree-sitter gives up the function_definition node for f (each #if branch opens a brace):
# its extent comes back by brace matching over the first branch; the macro block inside f is
# not mistaken for a macro-wrapped function
RECOVERED = """\
static int f(int *a)
{
    int x = 0;
    LIST_FOREACH(a, next) {
        x++;
    }
#if A
    if (x) { /* { */
#else
    if (!x) {
#endif
        x--; s = "}";
    }
    return x;
}

int g(void) { return 1; }
"""


def test_definitions_recovered_from_a_broken_parse() -> None:
    assert _spans(RECOVERED) == [("f", 1, 1, 15, 2), ("g", 17, 1, 17, 26)]
    # f never closes: reported up to the next definition, flagged, and g is still its own
    unclosed = RECOVERED.replace("\n}\n\nint g", "\n\nint g")
    assert _spans(unclosed) == [("f", 1, 1, 14, 14), ("g", 16, 1, 16, 26)]
    assert [f.problem for f in extract_functions(unclosed)] == [UNCLOSED, None]


UNCLOSED = "is not closed (no '}' matches its '{'): read up to the next definition"


# the kind: C that does not parse never vanishes without a word, and a function whose brace
# is never closed does not swallow the definitions after it
@pytest.mark.parametrize(
    ("source", "spans", "problems", "unparsed"),
    [
        (  # a missing ';': scored as recovered, flagged at the line of the error
            "int f(char *p) {\n  char b[4]\n  strcpy(b, p);\n  return 0;\n}\n",
            [("f", 1, 1, 5, 2)],
            ["has a syntax error at line 2: read as recovered"],
            [],
        ),
        (  # garbage between two functions: an unparsed region, both functions intact
            "int a(void) { return 1; }\n\n@@@ junk $$$\n\nint b(void) { return 2; }\n",
            [("a", 1, 1, 1, 26), ("b", 5, 1, 5, 26)],
            [None, None],
            [(3, 3)],
        ),
        (  # unclosed function followed by one definition (tree-sitter nests it)
            "int u(int p) {\n  p++;\n\nvoid *v(void) { return 0; }\n",
            [("u", 1, 1, 2, 7), ("v", 4, 1, 4, 28)],
            [UNCLOSED, None],
            [],
        ),
        (  # unclosed inner block: tree-sitter gives up the node; both followers still found
            "int u(int p) {\n if (p) {\n  p++;\n\nstatic int v(void) { return 1; }\n"
            "int w(int q) { return q; }\n",
            [("u", 1, 1, 3, 7), ("v", 5, 1, 5, 33), ("w", 6, 1, 6, 27)],
            [UNCLOSED, None, None],
            [],
        ),
        (  # K&R definition returning a pointer: tree-sitter splits it into declarations
            # and a bare block; joined back, no problem (it is valid C)
            "char *kr(dst, src)\nchar *dst; const char *src;\n{\n    return dst;\n}\n"
            "int after(void) { return 0; }\n",
            [("kr", 1, 1, 5, 2), ("after", 6, 1, 6, 30)],
            [None, None],
            [],
        ),
        (  # K&R returning `char **`: the head is lost in an ERROR node; named from it
            "static char **\nkr_pp(p, n)\n\tchar **p;\n\tunsigned n;\n{\n\treturn p + n;\n}\n",
            [("kr_pp", 1, 1, 7, 2)],
            [None],
            [],
        ),
        (  # a prototype missing its ';': tree-sitter glues the next head onto it
            "int proto(void)\n\nint real_fn(char *s) {\n    return s[0];\n}\n",
            [("real_fn", 3, 1, 5, 2)],
            ["follows a declaration that lacks its ';' (line 1): read without it"],
            [],
        ),
        (  # a macro body after a signature, then a function: the function is still found
            "int via_macro(void) BODY\nint fine(void) { return 2; }\n",
            [("fine", 2, 1, 2, 29)],
            ["follows a declaration that lacks its ';' (line 1): read without it"],
            [],
        ),
        (  # two prototypes missing their ';': the definition is the last head
            "static int a(void)\nstatic int b(void)\nint c(int x)\n{\n    return x;\n}\n",
            [("c", 3, 1, 6, 2)],
            ["follows a declaration that lacks its ';' (line 1): read without it"],
            [],
        ),
        (  # a prototype missing its ';' before a struct: noted, the next function intact
            "int proto(void)\n\nstruct foo {\n    int x;\n};\n\nint after(int y)\n{\n"
            "    return y;\n}\n",
            [("proto", 1, 1, 5, 2), ("after", 7, 1, 10, 2)],
            [
                "is a declaration missing its ';' read together with what follows: not a function",
                None,
            ],
            [],
        ),
        (  # valid C returning a pointer to an array: named through the array declarator
            "int (*c5(void))[3] {\n    return 0;\n}\n",
            [("c5", 1, 1, 3, 2)],
            [None],
            [],
        ),
        (  # a macro after the signature on its own line is not a new head (Linux style)
            "static void f(int x)\n    __releases(lock)\n{\n    x++;\n}\n",
            [("f", 1, 1, 5, 2)],
            [None],
            [],
        ),
        (  # a block outside any function is not C: an unparsed region, not silence
            "int a(void) { return 1; }\n\n{\n    x++;\n}\n",
            [("a", 1, 1, 1, 26)],
            [None],
            [(3, 5)],
        ),
        (  # a lone unclosed function at the end of the file: kept, up to the last code
            "int z(void) { return 0; }\nint u(int p) {\n  p++;\n\n",
            [("z", 1, 1, 1, 26), ("u", 2, 1, 3, 7)],
            [None, UNCLOSED],
            [],
        ),
    ],
)
def test_code_that_does_not_parse_is_reported_not_dropped(
    source: str,
    spans: list[tuple[str, int, int, int, int]],
    problems: list[str | None],
    unparsed: list[tuple[int, int]],
) -> None:
    found = extract(source)
    assert [
        (f.name, f.start_line, f.start_col, f.end_line, f.end_col) for f in found.functions
    ] == spans
    assert [f.problem for f in found.functions] == problems
    assert found.unparsed == unparsed


@pytest.mark.parametrize(
    ("source", "text_lines", "file_lines"),
    [
        ("int f(int a)\n{\n  /* x\r y */\n  a = 1;\n  return a;\n}\n", [5, 6], [4, 5]),  # lone CR
        ("int f(int a)\r\n{\r\n  a = 1;\r\n  return a;\r\n}\r\n", [3, 4], [3, 4]),  # CRLF
        ("\n\nint f(int a)\n{\r  a = 1;\r  return a;\r}\n", [3, 4], [4, 4]),  # CR-only body
    ],
)
def test_top_lines_map_to_file_lines_whatever_the_line_ends(
    source: str, text_lines: list[int], file_lines: list[int]
) -> None:
    """The model numbers lines of the normalised text (a lone CR ends one); SARIF regions
    count LF only: the related lines must be the file's."""
    from vulnfusion.scan.localize import to_file_lines

    (fn,) = extract_functions(source)
    got = to_file_lines(fn, [(ln, 1.0) for ln in text_lines])
    assert [ls.line for ls in got] == file_lines


def test_a_file_named_on_the_command_line_is_never_dropped_silently(tmp_path: Path) -> None:
    for name in ("notes.txt", ".gitignore", "Makefile"):
        (tmp_path / name).write_text("x\n")
        assert _walk(tmp_path / name) == ([], [(name, "not-c")])
    _touch(tmp_path, "a.c", "b.hpp")
    assert _walk(tmp_path / "a.c") == (["a.c"], [])
    assert _walk(tmp_path / "b.hpp") == ([], [("b.hpp", "cpp")])
