"""The package's own import graph, read statically with ``ast`` (nothing is imported).

Every ``import vulnfusion…`` / ``from vulnfusion… import …`` / relative import counts,
wherever it sits: at module level, inside a function (a lazy import still runs, so it is
still a dependency) or under ``if TYPE_CHECKING:``. Shared by ``test_architecture.py``
(direction and cycles) and ``test_dvc_deps.py`` (what each DVC stage runs).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PACKAGE = "vulnfusion"


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``target`` at ``line`` of ``path``."""

    importer: str
    target: str
    path: Path
    line: int


def module_files(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package: dotted name → file (``pkg/__init__.py`` is ``pkg``)."""
    out = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return name in modules and modules[name].name == "__init__.py"


def _resolve_relative(
    importer: str, level: int, module: str | None, modules: dict[str, Path]
) -> str:
    base = importer.split(".")
    if not _is_package(importer, modules):
        base = base[:-1]  # a plain module's relative imports start at its package
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, module] if module else base)


def _targets(node: ast.AST, importer: str, modules: dict[str, Path]) -> Iterable[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            mod = _resolve_relative(importer, node.level, node.module, modules)
        else:
            mod = node.module or ""
        for alias in node.names:
            sub = f"{mod}.{alias.name}"
            # ``from pkg import submodule`` depends on the submodule; otherwise on ``mod``
            yield sub if sub in modules else mod


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The package module ``name`` refers to (``import a.b.c`` of a module a.b.c)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def file_edges(path: Path, importer: str, modules: dict[str, Path]) -> list[Edge]:
    """The package-internal imports in one file (``importer``: its dotted name, or a label)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    edges = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        for raw in _targets(node, importer, modules):
            if raw != PACKAGE and not raw.startswith(PACKAGE + "."):
                continue
            target = _known(raw, modules)
            if target is not None and target != importer:
                edges.append(Edge(importer, target, path, node.lineno))
    return edges


def import_graph(src: Path = SRC) -> dict[str, list[Edge]]:
    """Module → its package-internal imports (each edge once per importing line)."""
    modules = module_files(src)
    return {name: file_edges(path, name, modules) for name, path in modules.items()}


def parents(module: str) -> list[str]:
    """The packages Python runs before ``module`` (``a.b.c`` → ``a``, ``a.b``)."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(start: Iterable[str], graph: dict[str, list[Edge]]) -> set[str]:
    """Every module that importing ``start`` runs: imports, lazy ones and parent packages."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        todo.extend(parents(name))
        todo.extend(e.target for e in graph[name])
    return seen


def find_cycle(graph: dict[str, list[Edge]]) -> list[Edge] | None:
    """One import cycle as its edges (``a → b → … → a``), or ``None`` when there is none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[Edge] = []

    def visit(name: str) -> list[Edge] | None:
        state[name] = 1
        for e in graph.get(name, []):
            if state.get(e.target) == 1:
                start = next((i for i, p in enumerate(path) if p.importer == e.target), len(path))
                return [*path[start:], e]
            if e.target not in state:
                path.append(e)
                found = visit(e.target)
                if found:
                    return found
                path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def describe(cycle: list[Edge], root: Path = ROOT) -> str:
    """``a (a.py:12) → b (b.py:3) → a``: each hop with the line that makes it."""
    hops = [f"{e.importer} ({e.path.relative_to(root)}:{e.line})" for e in cycle]
    return " → ".join([*hops, cycle[-1].target])
