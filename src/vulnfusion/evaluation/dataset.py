"""The labelled set ``evaluate`` reads: every format ``prepare`` reads, plus CSV.

Records are read and validated by :func:`vulnfusion.data.sources.read_labelled` (the same
one-line ``<file>:<line>: <reason>`` errors as ``prepare``), keeping the optional
``pair_id``, ``project`` and ``cwe`` of each record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vulnfusion.data.sources import (
    DataError,
    RejectLog,
    read_labelled,
    source_files,
)
from vulnfusion.io import hash_files
from vulnfusion.paths import SPLITS

DEFAULT_MAX_CHARS = 200_000  # data.max_chars's default; the model's own limit applies later


@dataclass(frozen=True)
class EvalRow:
    """One labelled function of the evaluation set."""

    row_id: str  # see row_id_of
    func: str
    label: int
    where: str  # file:line or file[n], for per-record errors
    pair_id: str | None = None
    project: str | None = None
    cwe: str | None = None


@dataclass
class EvalData:
    """The rows kept, the records skipped (``--on-bad-record skip``) and the input's hash."""

    path: Path
    rows: list[EvalRow]
    rejects: RejectLog
    digest: str  # 16 hex digits of SHA-256 over the contents of the files read
    split: str | None = None
    notice: str | None = None  # e.g. which split of a directory was chosen by default


ALL_SPLITS = "all"  # --split all: every split of a directory, every record of a file
DEFAULT_DIR_SPLIT = "test"


def read_eval_data(
    path: str | Path,
    split: str | None = None,
    skip_bad: bool = False,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> EvalData:
    """Read and validate the records under ``path`` that ``split`` selects.

    Args:
        path: a file (``.jsonl``, ``.jsonl.gz``, ``.json``, ``function.json``, ``.csv``,
            ``.csv.gz``) or a CodeXGLUE directory (``train``/``valid``/``test``).
        split: keep only this split (a directory's file, or a record's ``split`` field);
            ``"all"`` keeps everything. ``None``: a directory's ``test`` split (with a
            ``notice``: scoring train+valid+test together would mostly measure the data the
            model was fitted on), every record of a file. Of a directory only the files read
            must exist, and only they are hashed into ``digest``.
        skip_bad: count and skip bad records instead of failing on the first.
        max_chars: longer functions are bad records.

    Raises:
        DataError: the path or a record is unusable (one line naming file and line), or
            ``split`` selects nothing.
    """
    path = Path(path)
    if split is not None and split not in (*SPLITS, ALL_SPLITS):
        raise DataError(f"split {split!r}: choose one of {', '.join(SPLITS)} or {ALL_SPLITS}")
    notice = None
    if split is None and path.is_dir():
        split = DEFAULT_DIR_SPLIT
        notice = (
            f"{path} is a train/valid/test directory: evaluating its {split} split only "
            f"(--split {ALL_SPLITS} for every split)"
        )
    keep = None if split == ALL_SPLITS else split
    only = keep if path.is_dir() else None
    rejects = RejectLog()
    pairs = read_labelled(path, max_chars, skip_bad, rejects, allow_csv=True, only=only)
    rows = [
        EvalRow(
            row_id=row_id_of(rec.source_id, str(extra["where"])),
            func=rec.func,
            label=rec.target,
            where=str(extra["where"]),
            pair_id=extra["pair_id"],
            project=extra["project"],  # the record's own field, NaN/blank read as missing
            cwe=extra["cwe"],
        )
        for rec, extra in pairs
        if keep is None or rec.orig_split == keep
    ]
    if not rows:
        raise DataError(f"{path}: no records of split {split!r}")
    digest = hash_files(f for _, f in source_files(path, allow_csv=True, only=only))
    return EvalData(path, rows, rejects, digest, split, notice)


def row_id_of(source_id: str, where: str) -> str:
    """A row's ``row_id`` in ``predictions.jsonl``: the record's own id when it has one —
    ``idx:<idx>`` (CodeXGLUE), ``<project>:<project_index>`` (Devign JSONL) — else
    ``row:<n>`` with ``n`` 1-based, counted as an editor shows a file: the line of a JSON
    Lines record, the first physical line of a CSV record (the header is line 1, so the
    first record is ``row:2``), the position of a ``function.json`` element (its first is
    ``row:1``; the reader's errors say ``file[0]``, a 0-based index, as ``prepare``'s do).
    Records of a directory's split file without ``idx`` get ``<split>/`` in front
    (``test/row:3``)."""
    if where.endswith("]") and "row:" in source_id:  # the reader numbers array items from 0
        prefix, n = source_id.rsplit("row:", 1)
        return f"{prefix}row:{int(n) + 1}"
    return source_id
