"""`make bench`'s bench.json merging (benchmarks/bench/report.py), on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import ROOT


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))


OLD = {
    "evaluation": {"stratified": {"roc_auc": 0.74}},
    "pipeline": {"devign_wall_s": 3500.0, "splits": {"stratified": {"wall_s": 3500.0}}},
    "featurize": {"functions_per_s": 485.3, "old_key": 1},
    "meta": {"sections": {"featurize": {"wall_s": 60}}},
}


def test_a_run_of_one_split_keeps_the_other_splits_figures(tmp_path: Path) -> None:
    from bench.report import merge_results

    path = tmp_path / "bench.json"
    path.write_text(json.dumps(OLD))
    new = {
        "evaluation": {"cross_project": {"roc_auc": 0.57}},
        "pipeline": {"preset": "devign", "splits": {"cross_project": {"wall_s": 5065.0}}},
        "featurize": {"functions_per_s": 660.0},
    }
    got = merge_results(path, new, {"git_sha": "abc"}, {"evaluation": {"wall_s": 139}})
    assert got["evaluation"] == {
        "stratified": {"roc_auc": 0.74},
        "cross_project": {"roc_auc": 0.57},
    }
    assert got["pipeline"] == {
        "devign_wall_s": 3500.0,
        "preset": "devign",
        "splits": {"stratified": {"wall_s": 3500.0}, "cross_project": {"wall_s": 5065.0}},
    }
    assert got["featurize"] == {"functions_per_s": 660.0}  # other sections: replaced whole
    assert got["meta"] == {
        "git_sha": "abc",
        "sections": {"featurize": {"wall_s": 60}, "evaluation": {"wall_s": 139}},
    }


def test_a_split_run_again_replaces_its_own_entry_and_an_error_replaces_all(
    tmp_path: Path,
) -> None:
    from bench.report import merge_results

    path = tmp_path / "bench.json"
    path.write_text(json.dumps(OLD))
    again = merge_results(path, {"evaluation": {"stratified": {"roc_auc": 0.75}}}, {}, {})
    assert again["evaluation"] == {"stratified": {"roc_auc": 0.75}}
    failed = merge_results(path, {"evaluation": {"error": "KeyError: 'x'"}}, {}, {})
    assert failed["evaluation"] == {"error": "KeyError: 'x'"}


def test_the_pipeline_headline_names_each_split_it_ran() -> None:
    from bench.pipeline import headline

    cross = {"splits": {"cross_project": {"wall_s": 2445.1, "peak_rss_mb": 2502.1}}}
    both = {
        "splits": {
            "stratified": {"wall_s": 3198.2, "peak_rss_mb": 2499.6},
            "cross_project": {"wall_s": 2445.1, "peak_rss_mb": 2502.1},
        }
    }
    assert headline(cross) == "devign preset: cross_project 2445 s, peak 2502 MB"
    assert headline(both) == (
        "devign preset: stratified 3198 s, peak 2500 MB; cross_project 2445 s, peak 2502 MB"
    )
    assert headline({"error": "x"}) == "devign preset: no split ran"
