"""The package's imports point one way (DESIGN §11, docs/architecture.md).

Read statically from the source with ``ast``, lazy imports inside functions included:
a library module never imports the CLI, and no chain of imports leads back to where it
started. Module sizes are reported (``-rP``) but not asserted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.import_graph import (
    ROOT,
    closure,
    describe,
    file_edges,
    find_cycle,
    import_graph,
    module_files,
)

# the top layer: the stage plumbing and the ``vulnfusion`` console command
CLI = ("vulnfusion.cli", "vulnfusion.console")


def is_cli(module: str) -> bool:
    """The CLI packages and their submodules (the top layer)."""
    return any(module == top or module.startswith(top + ".") for top in CLI)


def test_no_library_module_imports_the_cli() -> None:
    offenders = [
        f"{e.path.relative_to(ROOT)}:{e.line} imports {e.target}"
        for name, edges in import_graph().items()
        if not is_cli(name)
        for e in edges
        if is_cli(e.target)
    ]
    assert offenders == [], "library modules must not import the CLI:\n" + "\n".join(offenders)


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle: {describe(cycle or [])}"


def test_every_library_module_is_seen() -> None:
    # guards the graph itself: a parse that silently found nothing would pass the tests above
    graph = import_graph()
    assert {"vulnfusion.cli", "vulnfusion.console", "vulnfusion.training"} <= graph.keys()
    assert any(e.target == "vulnfusion.config" for e in graph["vulnfusion.training"])


def test_lazy_and_relative_imports_count(tmp_path: Path) -> None:
    pkg = tmp_path / "vulnfusion"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "cli.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from vulnfusion import cli\n    return cli\n")
    (pkg / "sub" / "b.py").write_text("from ..a import f\nfrom . import c\n")
    (pkg / "sub" / "c.py").write_text("import vulnfusion.sub.b\n")
    modules = module_files(tmp_path)
    a = file_edges(pkg / "a.py", "vulnfusion.a", modules)
    b = file_edges(pkg / "sub" / "b.py", "vulnfusion.sub.b", modules)
    assert [(e.target, e.line) for e in a] == [("vulnfusion.cli", 2)]
    assert [(e.target, e.line) for e in b] == [("vulnfusion.a", 1), ("vulnfusion.sub.c", 2)]
    cycle = find_cycle(import_graph(tmp_path))
    assert cycle is not None
    assert [(e.importer, e.target) for e in cycle] == [
        ("vulnfusion.sub.b", "vulnfusion.sub.c"),
        ("vulnfusion.sub.c", "vulnfusion.sub.b"),
    ]
    assert describe(cycle, tmp_path) == (
        "vulnfusion.sub.b (vulnfusion/sub/b.py:2) → vulnfusion.sub.c (vulnfusion/sub/c.py:1)"
        " → vulnfusion.sub.b"
    )


MAX_MODULE_LINES = 520  # issue 12: "no module in src/ over ~500 lines"


def test_module_sizes() -> None:
    """Lines per module, largest first (printed with ``pytest -rP``); none over
    :data:`MAX_MODULE_LINES` (split a module that grows past it)."""
    sizes = sorted(
        ((len(p.read_text().splitlines()), name) for name, p in module_files().items()),
        reverse=True,
    )
    for n, name in sizes:
        print(f"{n:6d}  {name}")
    assert sizes, "no modules found"
    assert [(n, name) for n, name in sizes if n > MAX_MODULE_LINES] == []


@pytest.mark.parametrize(
    "name",
    ["vulnfusion.batching", "vulnfusion.training", "vulnfusion.models.gnn", "vulnfusion.ensemble"],
)
def test_feature_users_do_not_pull_in_the_featurize_stage(name: str) -> None:
    # the feature containers live in the light ``features`` module: reading features must
    # not load the featurize stage (parser driver, tokenizer training) or the data readers
    deps = closure([name], import_graph())
    heavy = sorted(d for d in deps if d.startswith(("vulnfusion.featurize", "vulnfusion.data")))
    assert heavy == []
