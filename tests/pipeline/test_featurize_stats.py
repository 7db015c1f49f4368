"""featurize with identical inputs leaves every later stage up to date: data/features (its
stats.json included) is byte-identical, and the throughput lives in a separate DVC metric
that no stage depends on (issue 13 review, defect 3). Real DVC in a git repo in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import dvc_project, sh

pytestmark = pytest.mark.slow

TIMINGS = "reports/featurize_timing.json"


def _features_hash(root: Path) -> str:
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    (out,) = [o for o in lock["stages"]["featurize"]["outs"] if o["path"] == "data/features"]
    return str(out["md5"])


def test_featurize_twice_gives_identical_features_and_separate_timings(tmp_path: Path) -> None:
    root = dvc_project(tmp_path / "proj")
    sh(["dvc", "repro", "featurize"], root)
    stats_1 = (root / "data/features/stats.json").read_bytes()
    hash_1 = _features_hash(root)
    timing_1 = json.loads((root / TIMINGS).read_text())
    assert set(timing_1) == {"graph_functions_per_s", "total_s"}
    assert "timing" not in json.loads(stats_1)

    sh(["dvc", "repro", "--force", "--single-item", "featurize"], root)
    assert (root / "data/features/stats.json").read_bytes() == stats_1
    assert _features_hash(root) == hash_1  # later stages see an unchanged dependency
    assert json.loads((root / TIMINGS).read_text()).keys() == timing_1.keys()

    # the timings are a DVC metric of featurize, and no stage lists them as a dependency
    shown = json.loads(sh(["dvc", "metrics", "show", "--json"], root).stdout)
    assert any(TIMINGS in json.dumps(v) for v in shown.values()), shown
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    assert all(TIMINGS not in s.get("deps", []) for s in stages.values())
