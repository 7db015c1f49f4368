"""A real `git init` + `dvc repro` of the first stages on a tiny demo, in tmp_path.

The whole pipeline runs end to end elsewhere, once each way, with these checks: as a DVC
experiment in ``test_mlproject.py`` (every output, one MLflow run per stage, the alias, an
up-to-date workspace, the ``aggregate`` entry point) and by plain ``dvc repro`` in
``test_bad_input_pipeline.py::test_skip_mode_end_to_end`` (the same, on a corpus with bad
records)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import dvc_project, sh


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    return dvc_project(tmp_path / "proj")


def test_prepare_and_featurize(dvc_repo: Path) -> None:
    sh(["dvc", "repro", "featurize"], dvc_repo)
    stats = json.loads((dvc_repo / "data/prepared/stats.json").read_text())
    assert sum(s["count"] for s in stats["splits"].values()) == 160
    assert (dvc_repo / "data/features/train.safetensors").exists()
    status = sh(["dvc", "status", "featurize"], dvc_repo).stdout
    assert status.strip() == "Data and pipelines are up to date."
    again = sh(["dvc", "repro", "featurize"], dvc_repo).stdout
    assert "didn't change, skipping" in again


def test_only_the_active_preset_is_a_dependency(dvc_repo: Path) -> None:
    """Editing a preset the run does not use leaves every stage up to date; editing the
    active one (``preset: demo``) makes the stages that read it stale."""
    sh(["dvc", "repro", "prepare"], dvc_repo)
    params = dvc_repo / "params.yaml"
    raw = yaml.safe_load(params.read_text())
    raw["presets"]["devign"]["gnn"]["hidden_size"] = 64
    raw["presets"]["devign_gpu"]["transformer"]["max_length"] = 384
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert sh(["dvc", "status", "prepare"], dvc_repo).stdout.strip() == (
        "Data and pipelines are up to date."
    )
    raw["presets"]["demo"] = {"split": {"seed": 7}}
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    status = sh(["dvc", "status", "prepare"], dvc_repo).stdout
    assert "modified:           presets.demo" in status, status
