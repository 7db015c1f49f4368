"""Every DVC stage depends on all the package code it runs (DESIGN §11).

For each stage, the stage script named in its ``cmd`` is read with ``ast`` and its imports
are followed through ``src/vulnfusion`` (lazy imports inside functions and the parent
packages' ``__init__`` included). Every file of that closure must be covered by the stage's
``deps`` — listed itself or under a listed directory — or an edit to it would leave the
stage's outputs silently stale.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.unit.import_graph import ROOT, closure, file_edges, import_graph, module_files

DVC_YAML = ROOT / "dvc.yaml"
SCRIPT = re.compile(r"\bpython\s+(?:-m\s+)?(\S+\.py)\b")
GRAPH = import_graph()  # parsed once per session


def stages() -> dict[str, dict]:
    return yaml.safe_load(DVC_YAML.read_text())["stages"]


def stage_scripts(stage: dict) -> list[str]:
    """The Python scripts a stage's ``cmd`` runs (relative to the project root)."""
    cmd = stage["cmd"] if isinstance(stage["cmd"], str) else " ".join(stage["cmd"])
    return SCRIPT.findall(cmd)


def code_deps(stage: dict) -> list[str]:
    """The scripts it runs, and any ``.py`` file listed in its deps: a file a stage hands to
    another program (the served model's entry, which MLflow runs at ``register``) runs the
    code it imports as well."""
    listed = [d for d in dep_paths(stage) if d.endswith(".py") and (ROOT / d).is_file()]
    return sorted({*stage_scripts(stage), *listed})


def dep_paths(stage: dict) -> list[str]:
    return [next(iter(d)) if isinstance(d, dict) else d for d in stage.get("deps", [])]


def covered(path: str, deps: list[str]) -> bool:
    """``path`` is a listed dep or lies under a listed directory."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def code_run_by(script: Path) -> list[str]:
    """The package files importing ``script`` runs, relative to the project root."""
    modules = module_files()
    direct = {e.target for e in file_edges(script, "__main__", modules)}
    return sorted(modules[m].relative_to(ROOT).as_posix() for m in closure(direct, GRAPH))


def missing_deps(stage: dict) -> list[str]:
    deps = dep_paths(stage)
    missing = []
    for script in code_deps(stage):
        needed = [script, *code_run_by(ROOT / script)]
        missing += [f for f in needed if not covered(f, deps)]
    return sorted(set(missing))


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_deps_cover_the_code_it_runs(name: str) -> None:
    stage = stages()[name]
    assert stage_scripts(stage), f"stage {name}: no `python <script>.py` in its cmd"
    missing = missing_deps(stage)
    assert missing == [], f"stage {name}: dvc.yaml deps miss " + ", ".join(missing)


def test_a_missing_dep_is_named() -> None:
    # the check itself: drop one file the train stage imports and it must be reported
    stage = dict(stages()["train_transformer"])
    stage["deps"] = [d for d in dep_paths(stage) if d != "src/vulnfusion/training.py"]
    assert missing_deps(stage) == ["src/vulnfusion/training.py"]
    assert code_run_by(ROOT / "pipelines" / "train_transformer.py")[:1] == [
        "src/vulnfusion/__init__.py"
    ]
