"""The ``prepare`` stage: load a source, drop exact duplicates, split, write jsonl + stats.

Example ids are content hashes of the function text: stable across runs, orderings and
machines, and unique once exact duplicates are gone.

``split.strategy`` (``stats.json`` records the one that ran as ``strategy``):

* ``auto`` (default) — ``given`` when every record comes with a split (a train/valid/test
  directory, or a ``split`` field), ``stratified`` when none does;
* ``given`` — keep the input's split, so numbers compare with its leaderboard; a text found in
  several splits keeps its copy in the most held-out one (test, then valid, then train) and
  ``cross_split_duplicates_dropped`` counts the copies dropped;
* ``stratified`` — seeded train/valid/test by label; ``cross_project`` — by project.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from vulnfusion.config import Config
from vulnfusion.data.sources import (
    DataError,
    NoValidRecordsError,
    Record,
    RejectLog,
    read_source,
    source_files,
)
from vulnfusion.io import atomic_dir, sha256_file, write_json, write_jsonl
from vulnfusion.paths import SPLITS, project_root

log = logging.getLogger(__name__)
# Which copy of a text found in several given splits survives: the most held-out one, so the
# input's test split stays whole (comparable with published numbers) and training loses a copy.
_KEEP_FIRST = {"test": 0, "valid": 1, "train": 2}


@dataclass(frozen=True)
class AnnotatedRecord(Record):
    """A record with line-level ground truth (the demo source records it): 1-based lines of
    ``func`` carrying the flaw, or the fix; written to the prepared rows when present."""

    flaw_lines: tuple[int, ...] | None = None
    fix_lines: tuple[int, ...] | None = None


LINE_FIELDS = ("flaw_lines", "fix_lines")


@dataclass(frozen=True)
class Dedup:
    records: list[Record]
    duplicates_dropped: int
    conflicting_dropped: int
    cross_split_dropped: int = 0  # of duplicates_dropped: copies in another split than the kept one


def example_id(func: str) -> str:
    """Stable id: the first 16 hex digits of the SHA-1 of the function text."""
    return hashlib.sha1(func.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def load_records(cfg: Config, rejects: RejectLog) -> tuple[list[Record], str]:
    """Records from the configured source and a hash identifying the input data."""
    if cfg.data.source == "demo":
        from vulnfusion.data.demo import generate_demo

        d = cfg.data.demo
        rows = generate_demo(d.n_functions, d.seed, d.label_noise)
        recs: list[Record] = [
            AnnotatedRecord(
                func=str(r["func"]),
                target=int(r["target"]),  # type: ignore[call-overload]
                source_id=f"demo:{i}",
                project="demo",
                cwe=str(r.get("cwe")),
                flaw_lines=_lines(r.get("flaw_lines")),
                fix_lines=_lines(r.get("fix_lines")),
            )
            for i, r in enumerate(rows)
        ]
        return recs, f"demo-n{d.n_functions}-s{d.seed}-p{d.label_noise}"
    assert cfg.data.path is not None  # validate_semantics guarantees it
    path = resolve_data_path(cfg.data.path)
    recs = read_source(path, cfg.data.max_chars, cfg.data.on_bad_record == "skip", rejects)
    return recs, _data_hash(path)


def _lines(value: object) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value)  # type: ignore[attr-defined]


def resolve_data_path(path: str) -> Path:
    """A relative ``data.path`` is relative to the project root — also when a queued DVC
    experiment runs in a temp copy under ``.dvc/tmp/exps`` (where ``../shared`` is elsewhere)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or p.exists() else project_root() / p


def _data_hash(path: Path) -> str:
    files = sorted(f for _, f in source_files(path))
    h = hashlib.sha256()
    for f in files:
        h.update(sha256_file(f).encode())
    return h.hexdigest()[:16]


def deduplicate(records: Sequence[Record], keep_given_split: bool = False) -> Dedup:
    """Keep one copy of each exact text; drop every copy of a text with both labels.

    The first copy is kept, or with ``keep_given_split`` (records carry ``orig_split``) the
    copy in the most held-out split: test, then valid, then train.
    """
    by_text: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_text[r.func].append(r)
    kept: list[Record] = []
    dup = conflict = cross = 0
    for group in by_text.values():
        if len({r.target for r in group}) > 1:
            conflict += len(group)  # ambiguous label: no copy is trustworthy
            continue
        if keep_given_split:
            group = sorted(group, key=lambda r: _KEEP_FIRST[str(r.orig_split)])
        kept.append(group[0])
        dup += len(group) - 1
        cross += sum(1 for r in group[1:] if r.orig_split != group[0].orig_split)
    return Dedup(kept, dup, conflict, cross)


def resolve_strategy(requested: str, records: Sequence[Record]) -> str:
    """The split strategy to run: ``auto`` becomes ``given`` or ``stratified`` (module doc).

    Raises:
        DataError: ``given`` (or ``auto``) while some records have no split and others do.
    """
    with_split = sum(1 for r in records if r.orig_split is not None)
    if requested == "auto" and with_split == 0:
        return "stratified"
    if requested in ("auto", "given") and with_split < len(records):
        raise DataError(
            f"split.strategy {requested}: {len(records) - with_split} of {len(records)} records "
            "have no split (a train/valid/test directory or a 'split' field gives one); "
            "set split.strategy: stratified to split them here"
        )
    return "given" if requested == "auto" else requested


def split_records(
    records: Sequence[Record], cfg: Config, strategy: str | None = None
) -> dict[str, list[Record]]:
    """Split into train/valid/test per ``strategy`` (default: ``split.strategy``, resolved)."""
    s = cfg.split
    strategy = strategy or resolve_strategy(s.strategy, records)
    if strategy == "given":
        return {name: [r for r in records if r.orig_split == name] for name in SPLITS}
    if strategy == "stratified":
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
    for key in LINE_FIELDS:  # line-level ground truth, where the source has it
        if getattr(r, key, None) is not None:
            row[key] = list(getattr(r, key))
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
    """Run the whole stage; returns the stats written to ``stats.json``.

    Raises:
        DataError: bad input, or an empty split. Any failure after the input was read (every
            record rejected in skip mode, an empty split, a split strategy that does not fit)
            first writes ``stats.json`` alone, with the per-reason reject counts, what was
            computed so far and ``error``; the one-line error repeats the reject counts.
    """
    out = Path(out_dir)
    rejects = RejectLog()
    stats: dict[str, Any] = {
        "source": cfg.data.source,
        "data_hash": None,
        "strategy": None,
        "strategy_requested": cfg.split.strategy,
    }
    try:
        records, stats["data_hash"] = load_records(cfg, rejects)
    except NoValidRecordsError as exc:
        assert cfg.data.path is not None  # the demo source has no bad records
        stats["data_hash"] = _data_hash(resolve_data_path(cfg.data.path))
        stats["records_read"] = sum(rejects.counts.values())
        stats["records_rejected"] = rejects.as_dict()
        _fail(out, stats, rejects, str(exc))
    stats["records_read"] = len(records) + sum(rejects.counts.values())
    stats["records_rejected"] = rejects.as_dict()
    try:
        splits = _split(cfg, records, stats)
    except DataError as exc:
        _fail(out, stats, rejects, str(exc))
    # Everything lands in a temp dir renamed into place at the end: no partial output.
    with atomic_dir(out) as tmp:
        for name in SPLITS:
            rows = sorted((to_row(r) for r in splits[name]), key=lambda row: row["id"])
            write_jsonl(tmp / f"{name}.jsonl", rows)
        write_json(tmp / "stats.json", stats)
    return stats


def _split(cfg: Config, records: list[Record], stats: dict[str, Any]) -> dict[str, list[Record]]:
    """Deduplicate and split ``records``, filling ``stats`` as each step ends (so a failure
    leaves what was computed); raises ``DataError`` for an empty split."""
    strategy = stats["strategy"] = resolve_strategy(cfg.split.strategy, records)
    dd = deduplicate(records, keep_given_split=strategy == "given")
    stats["duplicates_dropped"] = dd.duplicates_dropped
    stats["conflicting_duplicates_dropped"] = dd.conflicting_dropped
    if strategy == "given":
        stats["cross_split_duplicates_dropped"] = dd.cross_split_dropped
    splits = split_records(dd.records, cfg, strategy)
    stats["splits"] = {name: split_stats(splits[name]) for name in SPLITS}
    for name in SPLITS:
        if not splits[name]:
            raise DataError(
                f"split: the {name} split is empty ({len(dd.records)} records kept in all)"
            )
        if len({r.target for r in splits[name]}) < 2:
            log.warning("the %s split has a single class", name)
    return splits


def _fail(out: Path, stats: dict[str, Any], rejects: RejectLog, error: str) -> NoReturn:
    """Write ``stats.json`` alone (no split files) with ``error``, then raise ``DataError``
    naming the error, the reject counts and where the stats are."""
    with atomic_dir(out) as tmp:
        write_json(tmp / "stats.json", {**stats, "error": error})
    total = sum(rejects.counts.values())
    by_reason = "".join(f", {k}: {n}" for k, n in sorted(rejects.counts.items()))
    by_reason = f": {by_reason[2:]}" if by_reason else ""
    raise DataError(f"{error} ({total} rejected{by_reason}; see {out / 'stats.json'})")
