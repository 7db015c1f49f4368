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
