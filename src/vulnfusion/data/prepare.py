"""The ``prepare`` stage: load a source, drop exact duplicates, split, write jsonl + stats.

Example ids are content hashes of the function text: stable across runs, orderings and
machines, and unique once exact duplicates are gone.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vulnfusion.config import Config
from vulnfusion.data.sources import DataError, Record, RejectLog, read_source
from vulnfusion.io import atomic_dir, sha256_file, write_json, write_jsonl
from vulnfusion.paths import SPLITS as SPLITS  # re-export: old import path
from vulnfusion.paths import project_root

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Dedup:
    records: list[Record]
    duplicates_dropped: int
    conflicting_dropped: int


def example_id(func: str) -> str:
    """Stable id: the first 16 hex digits of the SHA-1 of the function text."""
    return hashlib.sha1(func.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def load_records(cfg: Config, rejects: RejectLog) -> tuple[list[Record], str]:
    """Records from the configured source and a hash identifying the input data."""
    if cfg.data.source == "demo":
        from vulnfusion.data.demo import generate_demo

        d = cfg.data.demo
        rows = generate_demo(d.n_functions, d.seed, d.label_noise)
        recs = [
            Record(
                func=str(r["func"]),
                target=int(r["target"]),  # type: ignore[call-overload]
                source_id=f"demo:{i}",
                project="demo",
                cwe=str(r.get("cwe")),
            )
            for i, r in enumerate(rows)
        ]
        return recs, f"demo-n{d.n_functions}-s{d.seed}-p{d.label_noise}"
    assert cfg.data.path is not None  # validate_semantics guarantees it
    path = resolve_data_path(cfg.data.path)
    recs = read_source(path, cfg.data.max_chars, cfg.data.on_bad_record == "skip", rejects)
    return recs, _data_hash(path)


def resolve_data_path(path: str) -> Path:
    """A relative ``data.path`` is relative to the project root — also when a queued DVC
    experiment runs in a temp copy under ``.dvc/tmp/exps`` (where ``../shared`` is elsewhere)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or p.exists() else project_root() / p


def _data_hash(path: Path) -> str:
    files = sorted(p for p in path.iterdir() if p.suffix == ".jsonl") if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        h.update(sha256_file(f).encode())
    return h.hexdigest()[:16]


def deduplicate(records: Sequence[Record]) -> Dedup:
    """Keep the first copy of each exact text; drop every copy of a text with both labels."""
    by_text: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_text[r.func].append(r)
    kept: list[Record] = []
    dup = conflict = 0
    for group in by_text.values():
        if len({r.target for r in group}) > 1:
            conflict += len(group)  # ambiguous label: no copy is trustworthy
            continue
        kept.append(group[0])
        dup += len(group) - 1
    return Dedup(kept, dup, conflict)


def split_records(records: Sequence[Record], cfg: Config) -> dict[str, list[Record]]:
    """Split per ``split.strategy`` into train/valid/test."""
    s = cfg.split
    if s.strategy == "stratified":
        first, test = _stratified(records, s.test_fraction, s.seed)
        train, valid = _stratified(first, s.valid_fraction / (1 - s.test_fraction), s.seed + 1)
        return {"train": train, "valid": valid, "test": test}
    return _cross_project(records, cfg)


def _stratified(records: Sequence[Record], fraction: float, seed: int) -> tuple[list, list]:
    rng = random.Random(seed)
    rest: list[Record] = []
    held: list[Record] = []
    for label in (0, 1):
        group = sorted((r for r in records if r.target == label), key=lambda r: example_id(r.func))
        rng.shuffle(group)
        n = round(len(group) * fraction)
        held.extend(group[:n])
        rest.extend(group[n:])
    return rest, held


def _cross_project(records: Sequence[Record], cfg: Config) -> dict[str, list[Record]]:
    s = cfg.split
    missing = sum(1 for r in records if r.project is None)
    if missing:
        raise DataError(f"split.strategy cross_project: {missing} records have no 'project' field")
    train_p, test_p = set(s.train_projects), set(s.test_projects)
    if train_p & test_p:
        raise DataError(f"split: projects in both train and test: {sorted(train_p & test_p)}")
    found = {r.project for r in records if r.project is not None}
    for name in sorted((train_p | test_p) - found):
        raise DataError(f"split: project {name!r} not in the data (have {sorted(found)})")
    source = [r for r in records if r.project in train_p]
    train, valid = _stratified(source, s.valid_fraction, s.seed)
    test = [r for r in records if r.project in test_p]
    return {"train": train, "valid": valid, "test": test}


def to_row(r: Record) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": example_id(r.func),
        "func": r.func,
        "target": r.target,
        "source_id": r.source_id,
    }
    for key in ("project", "orig_split", "cwe"):
        if getattr(r, key) is not None:
            row[key] = getattr(r, key)
    return row


def split_stats(rows: Sequence[Record]) -> dict[str, Any]:
    n = len(rows)
    pos = sum(r.target for r in rows)
    projects = Counter(r.project or "unknown" for r in rows)
    return {
        "count": n,
        "positives": pos,
        "positive_rate": round(pos / n, 4) if n else 0.0,
        "projects": dict(sorted(projects.items())),
    }


def prepare(cfg: Config, out_dir: str | Path) -> dict[str, Any]:
    """Run the whole stage; returns the stats written to ``stats.json``."""
    out = Path(out_dir)
    rejects = RejectLog()
    records, data_hash = load_records(cfg, rejects)
    dd = deduplicate(records)
    splits = split_records(dd.records, cfg)
    for name in SPLITS:
        if not splits[name]:
            raise DataError(f"split: the {name} split is empty ({len(dd.records)} records)")
        if len({r.target for r in splits[name]}) < 2:
            log.warning("the %s split has a single class", name)
    stats = {
        "source": cfg.data.source,
        "data_hash": data_hash,
        "strategy": cfg.split.strategy,
        "records_read": len(records) + sum(rejects.counts.values()),
        "records_rejected": rejects.as_dict(),
        "duplicates_dropped": dd.duplicates_dropped,
        "conflicting_duplicates_dropped": dd.conflicting_dropped,
        "splits": {name: split_stats(splits[name]) for name in SPLITS},
    }
    # Everything lands in a temp dir renamed into place at the end: no partial output.
    with atomic_dir(out) as tmp:
        for name in SPLITS:
            rows = sorted((to_row(r) for r in splits[name]), key=lambda row: row["id"])
            write_jsonl(tmp / f"{name}.jsonl", rows)
        write_json(tmp / "stats.json", stats)
    return stats
