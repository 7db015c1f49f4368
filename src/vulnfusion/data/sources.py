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
as pandas writes them); a JSON object naming a key twice is a bad record. Function text
is normalised once here (:func:`vulnfusion.data.text.normalize_code`: LF line endings, no BOM).

``vulnfusion evaluate`` also reads CSV (``.csv``, ``.csv.gz``; a header row naming ``func``
and ``target``, optional ``pair_id``, ``project``, ``cwe``; RFC 4180 quoting, so a function's
newlines sit inside a quoted field): :func:`read_labelled` with ``allow_csv``. ``prepare``
does not (its error names the formats it takes).

Every problem is reported as ``<file>:<line>: <reason>`` (``<file>[<n>]`` for records of a
JSON array). With ``on_bad_record: error`` the first one stops the stage; with ``skip`` it is
counted by reason and its location kept, so nothing disappears silently.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vulnfusion.data.text import normalize_code
from vulnfusion.errors import VulnfusionError
from vulnfusion.paths import SPLITS as CODEXGLUE_SPLITS

# A split name as written in a file name or a record's ``split`` field → the one used here.
SPLIT_NAMES = {"train": "train", "valid": "valid", "validation": "valid", "test": "test"}
DATA_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz")
CSV_SUFFIXES = (".csv", ".csv.gz")  # evaluate only (read_labelled)
EXTRA_FIELDS = ("pair_id", "project", "cwe")  # optional per-record fields evaluate keeps
GZIP_MAGIC = b"\x1f\x8b"
_PEEK_BYTES = 4096
MAX_REJECT_EXAMPLES = 20


class DataError(VulnfusionError, ValueError):
    """Bad input data: one line naming the file and line (or record) at fault."""


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


@dataclass(frozen=True)
class _Raw:
    where: str  # "file:line" or "file[n]"
    obj: Any  # the parsed JSON value, or a DataError describing why it could not be parsed


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


def _iter_raw(path: Path, allow_csv: bool = False, only: str | None = None) -> Iterator[_Raw]:
    for split, f in source_files(path, allow_csv, only):
        # JSON Lines or one JSON array, told apart by the first character, not the name:
        # DiverseVul ships JSON Lines as .json, and function.json is an array.
        if allow_csv and f.name.endswith(CSV_SUFFIXES):
            reader = _iter_csv
        else:
            reader = _iter_json_array if _first_char(f) == b"[" else _iter_jsonl
        for raw in reader(f):
            yield _Raw(raw.where, (split, raw.obj))


def _open_bytes(path: Path) -> Any:
    """The file's bytes, gunzipped when they start with the gzip magic (whatever the name)."""
    with path.open("rb") as fh:
        gzipped = fh.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _first_char(path: Path) -> bytes:
    """The first byte after a BOM and whitespace; raises ``DataError`` for an empty file."""
    try:
        with _open_bytes(path) as fh:
            head = _strip_boms(fh.read(_PEEK_BYTES))
            while not head:
                chunk = fh.read(_PEEK_BYTES)
                if not chunk:
                    raise DataError(f"{path}: empty file")
                head = _strip_boms(chunk)
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    return bytes(head[:1])


def _strip_boms(data: bytes) -> bytes:
    """``data`` without leading whitespace and BOMs (a BOM may follow a blank line)."""
    data = data.lstrip()
    while data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :].lstrip()
    return data


def _iter_jsonl(path: Path) -> Iterator[_Raw]:
    empty = True
    try:
        with _open_bytes(path) as fh:
            for lineno, line in enumerate(_lines(fh), 1):
                # A BOM opens the file, or every part of files joined with `cat`: either
                # would otherwise cost the record on its line.
                while line.startswith(codecs.BOM_UTF8):
                    line = line[len(codecs.BOM_UTF8) :]
                if not line.strip():
                    continue
                empty = False
                yield _Raw(f"{path}:{lineno}", _parse_line(line))
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if empty:
        raise DataError(f"{path}: empty file")


def _lines(fh: Any) -> Iterator[bytes]:
    """The lines of a binary file, without their ends; LF, CRLF and a lone CR each end one.

    JSON escapes CR and LF inside strings, so a raw CR is always a line end (old Mac and some
    Windows tools write CR alone); counting it as one keeps the line numbers in errors right.
    """
    for chunk in fh:  # split at LF by the file object; CRs are handled here
        line = chunk[:-1] if chunk.endswith(b"\n") else chunk
        if line.endswith(b"\r") and len(line) < len(chunk):
            line = line[:-1]  # CRLF: one line end
        if b"\r" in line:
            yield from line.split(b"\r")
        else:
            yield line


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> Any:
    """``object_pairs_hook``: a dict, or a ``DataError`` naming a key given twice (json would
    keep the last silently); the validator reports it at the record's place."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return DataError(f"x: duplicate key '{key}' in a JSON object")
        seen.add(key)
    return dict(pairs)


def _parse_line(line: bytes) -> Any:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DataError(f"x: not valid UTF-8 (byte {exc.start})")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        return DataError(f"x: invalid JSON ({exc.msg} at column {exc.colno})")


def _iter_json_array(path: Path) -> Iterator[_Raw]:
    try:
        with _open_bytes(path) as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    while raw.startswith(codecs.BOM_UTF8):  # not lstrip(): error line numbers stay right
        raw = raw[len(codecs.BOM_UTF8) :]
    if not raw.strip():
        raise DataError(f"{path}: empty file")
    try:
        doc, clean = raw.decode("utf-8"), True
    except UnicodeDecodeError:
        # decode anyway and blame the records holding the bad bytes, one bad record each
        doc, clean = raw.decode("utf-8", errors="surrogateescape"), False
    try:
        data = json.loads(doc, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        # json counts LF only; a CR-only or mixed file numbers its lines as an editor does
        before = doc[: exc.pos].replace("\r\n", "\n").replace("\r", "\n")
        raise DataError(f"{path}:{before.count(chr(10)) + 1}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON array of records (function.json)")
    for i, obj in enumerate(data):
        if not clean and _ESCAPED_BYTE.search(json.dumps(obj, ensure_ascii=False)):
            obj = DataError("x: not valid UTF-8")
        yield _Raw(f"{path}[{i}]", obj)


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what surrogateescape made of a bad byte


def _iter_csv(path: Path) -> Iterator[_Raw]:
    """CSV records as dicts (header row = field names); ``where`` is the record's first line.

    ``target`` ``"0"``/``"1"``/``"true"``/``"false"`` or a number equal to 0 or 1 (``"1.0"``,
    as pandas writes a float column) becomes 0/1 (anything else stays text and fails
    validation by name); empty cells are absent fields. Bytes are decoded per record, so a
    record with invalid UTF-8 is one bad record (``file:line: not valid UTF-8 (byte N)``, N
    counted from the start of that line, as for JSON Lines), skipped with the others under
    ``--on-bad-record skip``. A header naming a column twice is an error: ``csv`` would keep
    the last cell silently.
    """
    # a function is one field: lift csv's 128 KiB field limit (data.max_chars judges length)
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))
    buffer: list[str] = []  # the physical lines of the record being read
    try:
        with _open_bytes(path) as fh:
            reader = csv.reader(_csv_lines(fh, buffer), strict=True)
            header = _csv_header(path, reader)
            buffer.clear()
            start = reader.line_num + 1
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise DataError(f"{path}:{start}: invalid CSV ({exc})") from None
                bad = _undecodable(buffer)
                if bad is not None:
                    yield _Raw(f"{path}:{start + bad[0]}", DataError(f"x: {bad[1]}"))
                elif cells:  # csv yields [] for a blank line, as DictReader skips it
                    yield _Raw(f"{path}:{start}", _csv_record(header, cells))
                buffer.clear()
                start = reader.line_num + 1
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _csv_lines(fh: Any, buffer: list[str]) -> Iterator[str]:
    """Physical lines (LF, CRLF or a lone CR ends one, as ``newline=""``), decoded with
    ``surrogateescape`` so bad bytes survive to be reported per record; each also goes to
    ``buffer`` (the caller clears it after each record: ``csv`` reads no further ahead)."""
    first = True
    for chunk in fh:  # split at LF by the file object; CRs are split here
        if first:
            while chunk.startswith(codecs.BOM_UTF8):
                chunk = chunk[len(codecs.BOM_UTF8) :]
            first = False
        text = chunk.decode("utf-8", errors="surrogateescape")
        for line in _LINE_END.findall(text):
            buffer.append(line)
            yield line


_LINE_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _undecodable(lines: list[str]) -> tuple[int, str] | None:
    """(index of the first line with invalid UTF-8, reason) or ``None`` when all decode."""
    for i, line in enumerate(lines):
        try:
            line.encode("utf-8", errors="surrogateescape").decode("utf-8")
        except UnicodeDecodeError as exc:
            return i, f"not valid UTF-8 (byte {exc.start})"
    return None


def _csv_header(path: Path, reader: Any) -> list[str]:
    """The header row's names; raises ``DataError`` for none, a lacking or a repeated one."""
    try:
        header = next(reader)
        while not header:  # blank lines before the header, as DictReader skips them
            header = next(reader)
    except StopIteration:
        raise DataError(f"{path}: empty file") from None
    except csv.Error as exc:
        raise DataError(f"{path}:{reader.line_num}: invalid CSV ({exc})") from None
    line = reader.line_num
    bad = _undecodable([h for h in header])
    if bad is not None:
        raise DataError(f"{path}:{line}: CSV header {bad[1]}")
    if "func" not in header or "target" not in header:
        raise DataError(f"{path}:{line}: CSV header lacks 'func' or 'target' ({header})")
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        names = ", ".join(f"'{h}'" for h in twice)
        raise DataError(f"{path}:{line}: CSV header names column {names} more than once")
    return header


def _csv_record(header: list[str], cells: list[str]) -> Any:
    if len(cells) > len(header):
        return DataError(f"x: {len(cells)} cells, header has {len(header)}")
    if len(cells) < len(header):
        return DataError("x: fewer cells than the header names")
    out: dict[str, Any] = {k: v for k, v in zip(header, cells, strict=True) if v != ""}
    target = out.get("target")
    if isinstance(target, str):
        out["target"] = _csv_label(target)
    return out


def _csv_label(text: str) -> Any:
    """0/1 for ``0``, ``1``, ``true``, ``false`` or a number exactly 0 or 1 (``1.0``,
    ``0e0``); otherwise the text unchanged (the validator rejects it by name)."""
    t = text.strip().lower()
    if t in ("true", "false"):
        return int(t == "true")
    try:
        value = float(t)
    except ValueError:
        return text
    return int(value) if value in (0.0, 1.0) else text


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


def _float_label(raw: _Raw) -> None:
    """A JSON ``target`` of 1.0/0.0 (pandas' ``to_json`` of a float column) as 1/0, in place;
    evaluate only: ``prepare`` keeps its stricter labels."""
    obj = raw.obj[1] if isinstance(raw.obj, tuple) else raw.obj
    target = obj.get("target") if isinstance(obj, dict) else None
    if isinstance(target, float) and target in (0.0, 1.0):
        obj["target"] = int(target)


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

    def check(self, raw: _Raw) -> Record:
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


def check_length(text: str, where: str, max_chars: int | None) -> None:
    """Raise ``DataError`` when normalised ``text`` is longer than ``max_chars`` characters."""
    if max_chars is not None and len(text) > max_chars:
        raise DataError(
            f"{where}: function has {len(text)} characters once line endings are normalised, "
            f"above the limit of {max_chars}"
        )


def _check_text(func: str, where: str) -> None:
    """Reject text that cannot be a C function: binary garbage, lone surrogates, no body."""
    controls = sum(1 for ch in func if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    if "\x00" in func or controls > max(3, len(func) // 100):
        raise DataError(f"{where}: binary content ({controls} control characters)")
    try:
        func.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"{where}: text has invalid unicode (lone surrogate)") from None
    missing = " or ".join(f"'{c}'" for c in "({" if c not in func)
    if missing:
        raise DataError(f"{where}: no function body (no {missing} found)")
