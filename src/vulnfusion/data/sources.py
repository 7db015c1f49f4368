"""Readers for every public shape of the Devign corpus, with strict per-record validation.

Shapes accepted for ``data.path``:

* CodeXGLUE ``function.json`` — one JSON array of ``{project, commit_id, target, func}``;
* a directory holding one file per split — ``train``, ``valid`` (or Hugging Face's
  ``validation``) and ``test`` — such as CodeXGLUE's ``train.jsonl``/``valid.jsonl``/
  ``test.jsonl`` (``func``, ``target``, ``idx``); the split a record came from is kept as
  ``orig_split``;
* a single file such as ``../shared/data/devign/devign.jsonl.gz`` (``func``, ``target``,
  ``project``, ``project_index``); a record's own ``split`` field, if any, is kept as
  ``orig_split``.

Whatever the name says, a file whose first character is ``[`` is read as one JSON array and
any other as JSON Lines; gzip is recognised by its magic bytes; a leading UTF-8 BOM is
ignored. ``target`` is 0/1 or ``false``/``true`` (``evaluate`` also takes ``0.0``/``1.0``,
as pandas writes them, and the same as text, ``"1"``, as a CSV cell holds them); a JSON
object naming a key twice is a bad record. Function text
is normalised once here (:func:`vulnfusion.data.text.normalize_code`: LF line endings, no BOM).

``vulnfusion evaluate`` also reads CSV (``.csv``, ``.csv.gz``; a header row naming ``func``
and ``target``, optional ``pair_id``, ``project``, ``cwe``; RFC 4180 quoting, so a function's
newlines sit inside a quoted field): :func:`read_labelled` with ``allow_csv``. ``prepare``
does not (its error names the formats it takes).

The file formats themselves are read by :mod:`vulnfusion.data.formats`.

Every problem is reported as ``<file>:<line>: <reason>`` (``<file>[<n>]`` for records of a
JSON array). With ``on_bad_record: error`` the first one stops the stage; with ``skip`` it is
counted by reason and its location kept, so nothing disappears silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vulnfusion.data.formats import (
    CSV_SUFFIXES,
    DataError,
    RawRecord,
    label_from_text,
    read_records,
)
from vulnfusion.data.text import normalize_code
from vulnfusion.paths import SPLITS as CODEXGLUE_SPLITS

# A split name as written in a file name or a record's ``split`` field → the one used here.
SPLIT_NAMES = {"train": "train", "valid": "valid", "validation": "valid", "test": "test"}
DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")
EXTRA_FIELDS = ("pair_id", "project", "cwe")  # optional per-record fields evaluate keeps
MAX_REJECT_EXAMPLES = 20

__all__ = [
    "DataError",
    "NoValidRecordsError",
    "Record",
    "RejectLog",
    "check_function_text",
    "check_length",
    "read_labelled",
    "read_source",
    "source_files",
]


class NoValidRecordsError(DataError):
    """Every record of the input was rejected (skip mode); the reader's ``RejectLog`` says why."""


@dataclass(frozen=True)
class Record:
    func: str
    target: int
    source_id: str  # where it came from, e.g. "FFmpeg:123", "idx:17", "demo:4"
    project: str | None = None
    orig_split: str | None = None  # train, valid or test as the input gave it; None: not split
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


def read_source(
    path: str | Path, max_chars: int, skip_bad: bool, rejects: RejectLog
) -> list[Record]:
    """Read every record under ``path``; bad ones raise or are logged per ``skip_bad``.

    Raises:
        DataError: the path, a file or (``skip_bad`` false) a record is unusable.
        NoValidRecordsError: ``skip_bad`` is true and every record was rejected (the
            counts are in ``rejects``, for the caller to write down before failing).
    """
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
        raise NoValidRecordsError(f"{path}: no valid records")
    return out


def _reason_key(reason: str) -> str:
    """Group messages such as "label 2 is not 0 or 1" under a stable reason name."""
    return reason.split(" (")[0] if "(" in reason else reason


def source_files(
    path: Path, allow_csv: bool = False, only: str | None = None
) -> list[tuple[str | None, Path]]:
    """The files ``read_source`` reads under ``path``, each with the split its name gives.

    A directory must hold one file per split — ``train``, ``valid`` or ``validation``, and
    ``test``, each ``.jsonl``, ``.jsonl.gz``, ``.json`` or ``.json.gz``; a single file has no
    split (``None``). ``allow_csv`` also takes a single ``.csv``/``.csv.gz`` file. ``only``
    (``evaluate --split``) needs and returns just that split's file of a directory.

    Raises:
        DataError: a split file is missing or given twice, or the file type is unsupported.
    """
    if not path.is_dir():
        if allow_csv and path.name.endswith(CSV_SUFFIXES):
            return [(None, path)]
        if not path.name.endswith(DATA_SUFFIXES):
            raise DataError(
                f"{path}: unsupported file type (want {', '.join(DATA_SUFFIXES)} or a directory)"
            )
        return [(None, path)]
    out: list[tuple[str | None, Path]] = []
    for split in CODEXGLUE_SPLITS if only is None else (only,):
        names = [n for n, canonical in SPLIT_NAMES.items() if canonical == split]
        found = [path / (n + s) for n in names for s in DATA_SUFFIXES if (path / (n + s)).exists()]
        if not found:
            raise DataError(
                f"{path}: directory lacks {' or '.join(n + '.jsonl' for n in names)} "
                "(CodeXGLUE layout: train, valid or validation, test)"
            )
        if len(found) > 1:
            raise DataError(f"{path}: {' and '.join(f.name for f in found)} both hold {split}")
        out.append((split, found[0]))
    return out


def _iter_raw(path: Path, allow_csv: bool = False, only: str | None = None) -> Iterator[RawRecord]:
    for split, f in source_files(path, allow_csv, only):
        for raw in read_records(f, allow_csv):
            yield RawRecord(raw.where, (split, raw.obj))


def read_labelled(
    path: str | Path,
    max_chars: int,
    skip_bad: bool,
    rejects: RejectLog,
    allow_csv: bool = True,
    only: str | None = None,
) -> list[tuple[Record, dict[str, str | None]]]:
    """Like :func:`read_source`, plus CSV, with each record's :data:`EXTRA_FIELDS` and
    ``where`` (its ``file:line`` or ``file[n]``, for later per-record errors). ``only``: of
    a directory, read just that split's file (the others need not exist).

    ``pair_id`` is a string or an integer (kept as text), ``project`` and ``cwe`` strings
    (a list of CWEs is joined with ``|``); absent, null, blank or NaN fields are ``None``.

    Raises:
        DataError: as :func:`read_source`, and for an extra field of the wrong type.
        NoValidRecordsError: as :func:`read_source`.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    validator = _Validator(max_chars)
    out: list[tuple[Record, dict[str, str | None]]] = []
    for raw in _iter_raw(path, allow_csv, only):
        _float_label(raw)
        try:
            rec = validator.check(raw)
            obj = raw.obj[1] if isinstance(raw.obj, tuple) else raw.obj
            extras = {k: _extra(obj, k, raw.where) for k in EXTRA_FIELDS}
            out.append((rec, {**extras, "where": raw.where}))
        except DataError as exc:
            if not skip_bad:
                raise
            rejects.add(_reason_key(str(exc).split(": ", 1)[1]), raw.where)
    if not out:
        raise NoValidRecordsError(f"{path}: no valid records")
    return out


def _float_label(raw: RawRecord) -> None:
    """A JSON ``target`` read as a CSV cell is, in place: 1.0/0.0 (pandas' ``to_json`` of a
    float column) and the texts ``"1"``, ``"0"``, ``"true"``, ``"false"``, ``"1.0"`` as 1/0
    (:func:`vulnfusion.data.formats.label_from_text`), so a label means the same in every
    format ``evaluate`` reads; anything else (0.5, ``"yes"``) stays as it is for the
    validator to reject by name. Evaluate only: ``prepare`` keeps its stricter labels."""
    obj = raw.obj[1] if isinstance(raw.obj, tuple) else raw.obj
    target = obj.get("target") if isinstance(obj, dict) else None
    if isinstance(target, float) and target in (0.0, 1.0):
        obj["target"] = int(target)
    elif isinstance(target, str):
        obj["target"] = label_from_text(target)


_MISSING_TEXT = ("", "nan", "<na>")  # how pandas and spreadsheets write a missing cell


def _extra(obj: dict[str, Any], key: str, where: str) -> str | None:
    """One of :data:`EXTRA_FIELDS` as text; absent, null, NaN (JSON ``NaN`` or the text
    ``NaN``/``nan``/``<NA>``) and blank are missing (``None``), not a group named "NaN"."""
    value = obj.get(key)
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str) and value.strip().lower() in _MISSING_TEXT:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, list)):
        raise DataError(f"{where}: field '{key}' is not a string ({type(value).__name__})")
    if isinstance(value, list):
        if key != "cwe" or not all(isinstance(v, str) for v in value):
            raise DataError(f"{where}: field '{key}' is not a string (list)")
        return "|".join(value) or None
    if isinstance(value, int) and key != "pair_id":
        raise DataError(f"{where}: field '{key}' is not a string (int)")
    return str(value)


class _Validator:
    """Checks one raw record; remembers ids to catch duplicated ids."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.seen_ids: dict[str, str] = {}

    def check(self, raw: RawRecord) -> Record:
        file_split, obj = raw.obj if isinstance(raw.obj, tuple) else (None, raw.obj)
        if isinstance(obj, DataError):
            raise DataError(f"{raw.where}: {str(obj).split(': ', 1)[1]}")
        if not isinstance(obj, dict):
            raise DataError(f"{raw.where}: record is not a JSON object")
        func = self._func(obj, raw.where)
        target = self._target(obj, raw.where)
        # The file a record came from names its split; otherwise its own ``split`` field may.
        split = file_split or self._split_field(obj, raw.where)
        source_id = self._source_id(obj, file_split, raw.where)
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
        func = normalize_code(func)
        if not func.strip():
            raise DataError(f"{where}: empty function")
        if len(func) > self.max_chars:
            raise DataError(
                f"{where}: function too long ({len(func)} chars > data.max_chars {self.max_chars})"
            )
        _check_text(func, where)
        return func

    @staticmethod
    def _target(obj: dict[str, Any], where: str) -> int:
        if "target" not in obj:
            raise DataError(f"{where}: missing field 'target'")
        t = obj["target"]
        if isinstance(t, bool):  # Hugging Face exports of CodeXGLUE write true/false
            return int(t)
        if not isinstance(t, int) or t not in (0, 1):
            raise DataError(f"{where}: label is not 0 or 1 (target={t!r})")
        return t

    @staticmethod
    def _split_field(obj: dict[str, Any], where: str) -> str | None:
        if "split" not in obj:
            return None
        s = obj["split"]
        if not isinstance(s, str) or s not in SPLIT_NAMES:
            raise DataError(f"{where}: split is not train, valid, validation or test (split={s!r})")
        return SPLIT_NAMES[s]

    def _source_id(self, obj: dict[str, Any], split: str | None, where: str) -> str:
        if "idx" in obj:
            sid = f"idx:{obj['idx']}"
        elif "project" in obj and "project_index" in obj:
            sid = f"{obj['project']}:{obj['project_index']}"
        else:
            sid = f"row:{_position(where)}"
        sid = f"{split}/{sid}" if split and not sid.startswith("idx:") else sid
        if sid in self.seen_ids:
            raise DataError(f"{where}: duplicate id ({sid}, first at {self.seen_ids[sid]})")
        self.seen_ids[sid] = where
        return sid


def _position(where: str) -> str:
    """The line of ``file:line`` or the index of ``file[n]`` (a path may hold ':' or '[')."""
    return where[where.rindex("[") + 1 : -1] if where.endswith("]") else where.rsplit(":", 1)[1]


def check_function_text(func: str, where: str, max_chars: int | None = None) -> str:
    """The normalised text of one function (:func:`~vulnfusion.data.text.normalize_code`).

    The same checks ``prepare`` applies to every record, for callers that take code from
    elsewhere (the served model, per request row): score what this returns, so LF and CRLF
    versions of a function get the same score. ``max_chars`` (if given) limits the length of
    the normalised text, as ``data.max_chars`` does in ``prepare``: a CRLF copy of a function
    is accepted exactly when its LF twin is.

    Raises:
        DataError: ``<where>: <reason>`` for text over ``max_chars`` once normalised, binary
            content, a lone surrogate, or text with no function body.
    """
    text = normalize_code(func)
    check_length(text, where, max_chars)
    _check_text(text, where)
    return text


# phrases of the refusal messages below that callers key on (``scan`` counts refusals by them)
TOO_LONG_PHRASE = "above the limit of"
BINARY_PHRASE = "binary content"


def check_length(text: str, where: str, max_chars: int | None) -> None:
    """Raise ``DataError`` when normalised ``text`` is longer than ``max_chars`` characters."""
    if max_chars is not None and len(text) > max_chars:
        raise DataError(
            f"{where}: function has {len(text)} characters once line endings are normalised, "
            f"{TOO_LONG_PHRASE} {max_chars}"
        )


def _check_text(func: str, where: str) -> None:
    """Reject text that cannot be a C function: binary garbage, lone surrogates, no body."""
    controls = sum(1 for ch in func if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if "\x00" in func or controls > max(3, len(func) // 100):
        raise DataError(f"{where}: {BINARY_PHRASE} ({controls} control characters)")
    try:
        func.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{where}: text has invalid unicode (lone surrogate)") from None
    missing = " or ".join(f"'{c}'" for c in "({" if c not in func)
    if missing:
        raise DataError(f"{where}: no function body (no {missing} found)")
