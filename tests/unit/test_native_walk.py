"""The C walk (``vulnfusion.graphs._cwalk``) fills a ``Walk`` exactly as the Python walk does.

Pass 1 of the graph builder has two implementations: the C extension built at install time
and the pure-Python reference it reproduces (used where the extension could not be built or
does not match the installed py-tree-sitter). Every field of the ``Walk`` must be equal, on
hand-written functions covering each branch of the walk and on real Devign functions, and so
must the graphs ``build_graph`` assembles from them.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import DEVIGN, devign_sample
from vulnfusion.graphs import build_graph
from vulnfusion.graphs import walk as walk_mod
from vulnfusion.graphs.locate import locate
from vulnfusion.graphs.parser import lang_for_process
from vulnfusion.graphs.walk import Walk

ROOT = Path(__file__).resolve().parents[2]

# each one exercises a branch of the walk (named in the comment)
CASES = {
    "statements": "int f(int n) { int s = 0; if (n > 0) s = n; else s = -n; return s; }",
    "for parts": "int f(int n) { int i, t = 0; for (i = 0; i < n; i++) t += i; return t; }",
    "for decl": "void f(void) { for (int i = 0, j = 9; i < j; i++, j--) g(i, j); }",
    "compound assign": "void f(int x) { x += 2; x <<= 1; y -= x; *p |= 3; }",
    "k&r": "int f(a, b) char *a; int b; { return a[b]; }",
    "switch goto": "int f(int c) { switch (c) { case 1: goto out; default: break; } "
    "out: return c; }",
    "do while": "void f(int n) { do { n--; } while (n); while (n < 3) n++; }",
    "long tokens": 'void f(void) { printf("a very long format string with a %d in the middle", 1); '
    "int an_identifier_longer_than_thirty_two_characters = 1; }",
    "non-ascii": 'void f(void) { char *s = "héllo wörld"; s[0] = 0; /* ünïcode */ }',
    "parse error": "int f(int x) { if (x > { return 1; } x = ; }",
    "macros": "static int f(int a) {\n#ifdef X\n  a++;\n#endif\n  FOO(a, b);\n  return a;\n}",
    "declarators": "void f(void) { int *p = 0, a[4], (*fp)(int); struct s v = {0}; p = &a[1]; }",
    "no body": "int f(int a);",
    "nested blocks": "void f(int a) { { { a = 1; } } if (a) { a = 2; } else if (a) { a = 3; } }",
}


def _walk(code: str, native: bool, spans: bool) -> dict[str, Any] | None:
    lg = lang_for_process()
    data = code.encode("utf-8", "replace")
    root = lg.parser.parse(data).root_node
    target = locate(root)
    if target is None:
        return None
    text = code if data.isascii() else None
    w = Walk(target.body, target.params, data, text, spans=[] if spans else None)
    if native:
        walk_mod.walk_tree(root, lg, w)
    else:
        walk_mod._walk_py(root, lg, w)
    return dataclasses.asdict(w)


def _devign_sample(n: int) -> Iterator[str]:
    return devign_sample(n, 97)


def _has_compiler() -> bool:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) is not None


def test_the_c_walk_is_built_and_used() -> None:
    """`make test` installs with a C compiler: the extension must be there and be used
    (an optional build that silently failed would only show up as a slower featurize)."""
    if not _has_compiler():
        pytest.skip("no C compiler: the extension is optional and the Python walk runs")
    assert walk_mod.native_walk() is not None
    assert walk_mod._native_tables(lang_for_process()) is not None


@pytest.mark.parametrize("spans", [False, True], ids=["no-spans", "spans"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_c_walk_equals_python_walk(name: str, spans: bool) -> None:
    if walk_mod.native_walk() is None:
        pytest.skip("the C walk is not built")
    native, ref = _walk(CASES[name], True, spans), _walk(CASES[name], False, spans)
    assert native == ref
    if ref is not None:
        assert ref["types"], "the case produced a walk"


def test_c_walk_equals_python_walk_on_devign() -> None:
    if walk_mod.native_walk() is None:
        pytest.skip("the C walk is not built")
    if not DEVIGN.exists():
        pytest.skip(f"{DEVIGN} not present")
    n = 0
    for code in _devign_sample(250):
        assert _walk(code, True, False) == _walk(code, False, False)
        n += 1
    assert n == 250


def test_graphs_are_equal_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    if walk_mod.native_walk() is None:
        pytest.skip("the C walk is not built")
    codes = [*CASES.values(), *(_devign_sample(60) if DEVIGN.exists() else [])]
    native = [build_graph(c, max_nodes=300) for c in codes]
    monkeypatch.setenv("VULNFUSION_PURE_PYTHON_WALK", "1")
    python = [build_graph(c, max_nodes=300) for c in codes]
    for a, b in zip(native, python, strict=True):
        assert a.node_type == b.node_type and a.node_token == b.node_token
        for f in ("src", "dst", "etype"):
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
        assert (a.has_error, a.truncated, a.fallback) == (b.has_error, b.truncated, b.fallback)


def test_another_tree_sitter_release_gets_the_python_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C walk reads py-tree-sitter's objects: only the release it was built against."""
    if walk_mod.native_walk() is None:
        pytest.skip("the C walk is not built")
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "0.25.2" if name == "tree-sitter" else real(name),
    )
    assert walk_mod.native_walk() is None
    monkeypatch.undo()
    lg = lang_for_process()
    build_graph(CASES["statements"])  # the C walk is in use in this process
    assert walk_mod._native_tables(lg) is not None
    monkeypatch.setenv("VULNFUSION_PURE_PYTHON_WALK", "1")  # honoured even now
    assert walk_mod.native_walk() is None and walk_mod._native_tables(lg) is None


def test_the_sdist_carries_what_the_c_walk_is_built_from(tmp_path: Path) -> None:
    """`python -m build` / `pip install <sdist>` compile from the sdist: without the vendored
    headers the optional build would fail quietly and the wheel lack the C walk."""
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    needed = {
        "src/vulnfusion/graphs/_cwalk.c", "src/vulnfusion/_bytebpe.c",
        "third_party/tree-sitter/LICENSE",
        "third_party/tree-sitter/lib/include/tree_sitter/api.h",
        *(p.relative_to(ROOT).as_posix() for p in (ROOT / "third_party").rglob("*.[ch]")),
    }  # fmt: skip
    assert needed <= names, sorted(needed - names)


def test_c_walk_bad_calls_raise_not_crash() -> None:
    cwalk = walk_mod.native_walk()
    if cwalk is None:
        pytest.skip("the C walk is not built")
    lg = lang_for_process()
    _, acts, names, special = walk_mod._native_tables(lg) or (None, b"", (), b"")
    code = CASES["long tokens"]
    root = lg.parser.parse(code.encode()).root_node
    target = locate(root)
    assert target is not None

    def fresh() -> Walk:
        return Walk(target.body, target.params, code.encode(), code)

    helpers = (lg.f_init, lg.f_update, walk_mod._identifier, walk_mod._compound_use)
    with pytest.raises(TypeError, match=r"tree_sitter\.Node"):
        cwalk.walk("not a node", fresh(), lg, acts, names, special, *helpers, walk_mod.clip)
    with pytest.raises(ValueError, match="65536"):
        cwalk.walk(root, fresh(), lg, acts[:10], names, special, *helpers, walk_mod.clip)
    used = fresh()
    cwalk.walk(root, used, lg, acts, names, special, *helpers, walk_mod.clip)
    with pytest.raises(ValueError, match="empty"):
        cwalk.walk(root, used, lg, acts, names, special, *helpers, walk_mod.clip)

    def bad_clip(tok: str) -> str:
        raise RuntimeError(f"clip failed on {tok[:8]}")

    with pytest.raises(RuntimeError, match="clip failed"):  # a helper's error propagates
        cwalk.walk(root, fresh(), lg, acts, names, special, *helpers, bad_clip)


def _flow_inputs(code: str) -> tuple[Walk, list[tuple[int, int]]] | None:
    from vulnfusion.graphs.cfg import CfgBuilder

    lg = lang_for_process()
    data = code.encode("utf-8", "replace")
    root = lg.parser.parse(data).root_node
    target = locate(root)
    if target is None:
        return None
    w = Walk(target.body, target.params, data, code if data.isascii() else None)
    walk_mod.walk_tree(root, lg, w)
    return w, CfgBuilder(w, lg.f_init, lg.f_update).run()


# reaching definitions: a loop (a fixpoint over a back edge), a redefinition that kills, a
# definition in one branch only, parameters (the ENTRY point), an undeclared name
DFG_CASES = {
    **CASES,
    "loop": "int f(int n) { int s = 0, i = 0; while (i < n) { s = s + i; i = i + 1; } return s; }",
    "kill": "int f(void) { int x = 1; x = 2; return x; }",
    "branch": "int f(int c) { int x = 0; if (c) x = 1; return x + g; }",
    "many defs": "int f(void) { int v = 0; " + "v = v + 1; " * 150 + "return v; }",
}


@pytest.mark.parametrize("name", sorted(DFG_CASES))
def test_c_dfg_equals_python_dfg(name: str) -> None:
    from vulnfusion.graphs import dfg

    if walk_mod.native_walk() is None:
        pytest.skip("the C walk is not built")
    inputs = _flow_inputs(DFG_CASES[name])
    if inputs is None:
        return
    w, edges = inputs
    for cap in (0, 3, 40, 100_000):
        ref = dfg.dfg_edges_py(w, edges, cap)
        assert dfg.dfg_edges(w, edges, cap) == ref
        assert walk_mod.native_walk().dfg_edges(w.defs, w.uses, edges, cap) == ref


def test_c_dfg_edges_exact() -> None:
    """x = 2 kills x = 1; both reach nothing else; the parameter reaches its use."""
    from vulnfusion.graphs import dfg

    inputs = _flow_inputs("int f(int a) { int x = 1; x = 2; return x + a; }")
    assert inputs is not None
    w, edges = inputs
    got = dfg.dfg_edges(w, edges, 1000)
    names = {i: w.toks[i] for i, *_ in w.defs} | {i: w.toks[i] for i, *_ in w.uses}
    assert [(names[a], names[b]) for a, b in got] == [("x", "x"), ("a", "a")]
    second_x = [i for i, name, *_ in w.defs if name == "x"][1]
    assert got[0][0] == second_x


def test_c_dfg_equals_python_dfg_on_devign() -> None:
    from vulnfusion.graphs import dfg

    if walk_mod.native_walk() is None:
        pytest.skip("the C walk is not built")
    if not DEVIGN.exists():
        pytest.skip(f"{DEVIGN} not present")
    for code in _devign_sample(250):
        inputs = _flow_inputs(code)
        if inputs is not None:
            w, edges = inputs
            for cap in (50, 2000):
                assert dfg.dfg_edges(w, edges, cap) == dfg.dfg_edges_py(w, edges, cap)


def test_c_dfg_bad_calls_raise_not_crash() -> None:
    cwalk = walk_mod.native_walk()
    if cwalk is None:
        pytest.skip("the C walk is not built")
    assert cwalk.dfg_edges([], [], [], 10) == []
    assert cwalk.dfg_edges([(1, "x", -2, True)], [(3, "x", 5)], [(-2, 5)], 10) == [(1, 3)]
    with pytest.raises(TypeError):
        cwalk.dfg_edges([(1, "x")], [], [], 10)
    with pytest.raises(TypeError):
        cwalk.dfg_edges([(1, "x", -2, True)], [], [(1,)], 10)
    with pytest.raises(TypeError):
        cwalk.dfg_edges([(1, "x", -2, True)], [("a", "x", 1)], [(-2, 1)], 10)
    with pytest.raises(TypeError):
        cwalk.dfg_edges((), [], [], 10)
