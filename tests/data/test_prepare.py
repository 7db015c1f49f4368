"""`prepare` output contract on real data: splits, labels, stratification, no leakage."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.helpers import tiny_params
from vulnfusion.config import resolve
from vulnfusion.data.prepare import deduplicate, example_id, prepare
from vulnfusion.data.sources import Record
from vulnfusion.paths import SPLITS


def _rows(out: Path) -> dict[str, list[dict]]:
    return {
        s: [json.loads(x) for x in (out / f"{s}.jsonl").read_text().splitlines()] for s in SPLITS
    }


@pytest.fixture(scope="module")
def devign_prepared(tmp_path_factory: pytest.TempPathFactory, devign_path: Path) -> Path:
    out = tmp_path_factory.mktemp("devign") / "prepared"
    cfg = resolve(tiny_params(data={"source": "devign", "path": str(devign_path)}))
    prepare(cfg, out)
    return out


def test_devign_splits_are_disjoint_labelled_and_stratified(devign_prepared: Path) -> None:
    rows = _rows(devign_prepared)
    stats = json.loads((devign_prepared / "stats.json").read_text())
    texts = {s: {r["func"] for r in rows[s]} for s in SPLITS}
    assert not texts["train"] & texts["valid"] and not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]
    assert all(r["target"] in (0, 1) for s in SPLITS for r in rows[s])
    n = {s: len(rows[s]) for s in SPLITS}
    total = sum(n.values())
    # 27,318 read, every copy of the 60 conflicting duplicate groups dropped
    assert stats["records_read"] == 27_318 and total == 27_318 - 120
    assert stats["conflicting_duplicates_dropped"] == 120
    assert abs(n["valid"] / total - 0.1) < 0.005 and abs(n["test"] / total - 0.1) < 0.005
    rates = [stats["splits"][s]["positive_rate"] for s in SPLITS]
    assert max(rates) - min(rates) < 0.01  # stratified by label
    ids = [r["id"] for s in SPLITS for r in rows[s]]
    assert len(ids) == len(set(ids)) and all(r["id"] == example_id(r["func"]) for r in rows["test"])


def test_split_is_reproducible(devign_prepared: Path, tmp_path: Path, devign_path: Path) -> None:
    cfg = resolve(tiny_params(data={"source": "devign", "path": str(devign_path)}))
    prepare(cfg, tmp_path / "again")
    for s in SPLITS:
        assert (tmp_path / "again" / f"{s}.jsonl").read_bytes() == (
            devign_prepared / f"{s}.jsonl"
        ).read_bytes()


def test_cross_project_split(tmp_path: Path, devign_path: Path) -> None:
    cfg = resolve(
        tiny_params(
            data={"source": "devign", "path": str(devign_path)}, split={"strategy": "cross_project"}
        )
    )
    stats = prepare(cfg, tmp_path / "cp")
    sp = stats["splits"]
    assert set(sp["train"]["projects"]) == {"FFmpeg"} == set(sp["valid"]["projects"])
    assert set(sp["test"]["projects"]) == {"qemu"}
    assert sp["test"]["count"] > 17_000


def test_demo_split_sizes(tmp_path: Path) -> None:
    stats = prepare(resolve(tiny_params()), tmp_path / "demo")
    assert [stats["splits"][s]["count"] for s in SPLITS] == [128, 16, 16]


def test_dedup_keeps_one_copy_and_drops_conflicts() -> None:
    recs = [
        Record("a", 1, "1"),
        Record("a", 1, "2"),
        Record("b", 0, "3"),
        Record("b", 1, "4"),
        Record("c", 0, "5"),
    ]
    d = deduplicate(recs)
    assert Counter(r.func for r in d.records) == {"a": 1, "c": 1}
    assert (d.duplicates_dropped, d.conflicting_dropped) == (1, 2)
