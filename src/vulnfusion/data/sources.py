"""Readers for every public shape of the Devign corpus, with strict per-record validation.

Shapes accepted for ``data.path``:

* CodeXGLUE ``function.json`` — one JSON array of ``{project, commit_id, target, func}``;
* a directory holding CodeXGLUE ``train.jsonl``/``valid.jsonl``/``test.jsonl`` (``func``,
  ``target``, ``idx``); the file a record came from is kept as ``orig_split``;
* a single ``.jsonl`` or ``.jsonl.gz`` file such as ``../shared/data/devign/devign.jsonl.gz``
  (``func``, ``target``, ``project``, ``project_index``).

Every problem is reported as ``<file>:<line>: <reason>`` (``<file>[<n>]`` for records of a
JSON array). With ``on_bad_record: error`` the first one stops the stage; with ``skip`` it is
counted by reason and its location kept, so nothing disappears silently.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vulnfusion.errors import VulnfusionError
from vulnfusion.paths import SPLITS as CODEXGLUE_SPLITS

MAX_REJECT_EXAMPLES = 20


class DataError(VulnfusionError, ValueError):
    """Bad input data: one line naming the file and line (or record) at fault."""


@dataclass(frozen=True)
class Record:
    func: str
    target: int
    source_id: str  # where it came from, e.g. "FFmpeg:123", "idx:17", "demo:4"
    project: str | None = None
    orig_split: str | None = None
    cwe: str | None = None


@dataclass
class RejectLog:
    """Skipped records, by reason, with the first locations of each (nothing is lost silently)."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        seen = self.examples.setdefault(reason, [])
        if len(seen) < MAX_REJECT_EXAMPLES:
            seen.append(where)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": sum(self.counts.values()),
            "by_reason": dict(sorted(self.counts.items())),
            "examples": self.examples,
        }


@dataclass(frozen=True)
class _Raw:
    where: str  # "file:line" or "file[n]"
    obj: Any  # the parsed JSON value, or a DataError describing why it could not be parsed


def read_source(
    path: str | Path, max_chars: int, skip_bad: bool, rejects: RejectLog
) -> list[Record]:
    """Read every record under ``path``; bad ones raise or are logged per ``skip_bad``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: data.path does not exist")
    validator = _Validator(max_chars)
    out: list[Record] = []
    for raw in _iter_raw(path):
        try:
            out.append(validator.check(raw))
        except DataError as exc:
            if not skip_bad:
                raise
            reason = str(exc).split(": ", 1)[1]
            rejects.add(_reason_key(reason), raw.where)
    if not out:
        raise DataError(f"{path}: no valid records")
    return out


def _reason_key(reason: str) -> str:
    """Group messages such as "label 2 is not 0 or 1" under a stable reason name."""
    return reason.split(" (")[0] if "(" in reason else reason


def _iter_raw(path: Path) -> Iterator[_Raw]:
    if path.is_dir():
        files = [path / f"{s}.jsonl" for s in CODEXGLUE_SPLITS]
        missing = [f.name for f in files if not f.exists()]
        if missing:
            raise DataError(f"{path}: directory lacks {', '.join(missing)} (CodeXGLUE layout)")
        for split, f in zip(CODEXGLUE_SPLITS, files, strict=True):
            for raw in _iter_jsonl(f):
                yield _Raw(raw.where, (split, raw.obj))
        return
    if path.name.endswith((".jsonl", ".jsonl.gz")):
        for raw in _iter_jsonl(path):
            yield _Raw(raw.where, (None, raw.obj))
        return
    if path.suffix == ".json":
        yield from ((_Raw(r.where, (None, r.obj))) for r in _iter_json_array(path))
        return
    raise DataError(f"{path}: unsupported file type (want function.json, *.jsonl(.gz) or a dir)")


def _open_bytes(path: Path) -> Any:
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def _iter_jsonl(path: Path) -> Iterator[_Raw]:
    empty = True
    try:
        with _open_bytes(path) as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                empty = False
                yield _Raw(f"{path}:{lineno}", _parse_line(line))
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if empty:
        raise DataError(f"{path}: empty file")


def _parse_line(line: bytes) -> Any:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DataError(f"x: not valid UTF-8 (byte {exc.start})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return DataError(f"x: invalid JSON ({exc.msg} at column {exc.colno})")


def _iter_json_array(path: Path) -> Iterator[_Raw]:
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: empty file")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 (byte offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of records (function.json)")
    for i, obj in enumerate(data):
        yield _Raw(f"{path}[{i}]", obj)


class _Validator:
    """Checks one raw record; remembers ids to catch duplicated ids."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.seen_ids: dict[str, str] = {}

    def check(self, raw: _Raw) -> Record:
        split, obj = raw.obj if isinstance(raw.obj, tuple) else (None, raw.obj)
        if isinstance(obj, DataError):
            raise DataError(f"{raw.where}: {str(obj).split(': ', 1)[1]}")
        if not isinstance(obj, dict):
            raise DataError(f"{raw.where}: record is not a JSON object")
        func = self._func(obj, raw.where)
        target = self._target(obj, raw.where)
        source_id = self._source_id(obj, split, raw.where)
        project = obj.get("project")
        return Record(
            func=func,
            target=target,
            source_id=source_id,
            project=project if isinstance(project, str) else None,
            orig_split=split,
        )

    def _func(self, obj: dict[str, Any], where: str) -> str:
        if "func" not in obj:
            raise DataError(f"{where}: missing field 'func'")
        func = obj["func"]
        if not isinstance(func, str):
            raise DataError(f"{where}: field 'func' is not a string")
        if not func.strip():
            raise DataError(f"{where}: empty function")
        if len(func) > self.max_chars:
            raise DataError(
                f"{where}: function too long ({len(func)} chars > data.max_chars {self.max_chars})"
            )
        check_function_text(func, where)
        return func

    @staticmethod
    def _target(obj: dict[str, Any], where: str) -> int:
        if "target" not in obj:
            raise DataError(f"{where}: missing field 'target'")
        t = obj["target"]
        if isinstance(t, bool) or t not in (0, 1) or not isinstance(t, int):
            raise DataError(f"{where}: label is not 0 or 1 (target={t!r})")
        return int(t)

    def _source_id(self, obj: dict[str, Any], split: str | None, where: str) -> str:
        if "idx" in obj:
            sid = f"idx:{obj['idx']}"
        elif "project" in obj and "project_index" in obj:
            sid = f"{obj['project']}:{obj['project_index']}"
        else:
            sid = f"row:{where.rsplit(':', 1)[-1].strip('[]')}"
        sid = f"{split}/{sid}" if split and not sid.startswith("idx:") else sid
        if sid in self.seen_ids:
            raise DataError(f"{where}: duplicate id ({sid}, first at {self.seen_ids[sid]})")
        self.seen_ids[sid] = where
        return sid


def check_function_text(func: str, where: str) -> None:
    """Reject text that cannot be a C function: binary garbage, lone surrogates, no body."""
    controls = sum(1 for ch in func if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if "\x00" in func or controls > max(3, len(func) // 100):
        raise DataError(f"{where}: binary content ({controls} control characters)")
    try:
        func.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{where}: text has invalid unicode (lone surrogate)") from None
    if "{" not in func or "(" not in func:
        raise DataError(f"{where}: no function body (no '(' or '{{' found)")
