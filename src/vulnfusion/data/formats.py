"""The file formats records come in, each read as a stream of :class:`RawRecord`.

JSON Lines, one JSON array (told apart by the first character, not the file name: DiverseVul
ships JSON Lines as ``.json``, CodeXGLUE's ``function.json`` is an array) and CSV (RFC 4180,
``vulnfusion evaluate`` only); gzip is recognised by its magic bytes, leading UTF-8 BOMs are
dropped, and LF, CRLF and a lone CR each end a line so error line numbers match an editor's.

A record that cannot be parsed is not raised here: its :class:`RawRecord` carries a
:class:`DataError` for the validator in :mod:`vulnfusion.data.sources` to report at the
record's place (or skip, under ``on_bad_record: skip``). A file that cannot be read or holds
nothing raises :class:`DataError` naming it.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vulnfusion.errors import VulnfusionError

CSV_SUFFIXES = (".csv", ".csv.gz")  # evaluate only (read_labelled)
GZIP_MAGIC = b"\x1f\x8b"
_PEEK_BYTES = 4096


class DataError(VulnfusionError, ValueError):
    """Bad input data: one line naming the file and line (or record) at fault."""


@dataclass(frozen=True)
class RawRecord:
    """One record as a file holds it, before validation."""

    where: str  # "file:line" or "file[n]"
    obj: Any  # the parsed JSON value, or a DataError describing why it could not be parsed


def read_records(path: Path, allow_csv: bool = False) -> Iterator[RawRecord]:
    """Every record of one file, in file order.

    ``allow_csv``: a ``.csv``/``.csv.gz`` name is read as CSV; otherwise the first character
    after BOMs and whitespace chooses: ``[`` is one JSON array, anything else JSON Lines.

    Raises:
        DataError: the file cannot be read, is empty, is not valid JSON as a whole (an
            array), or its CSV header is unusable.
    """
    if allow_csv and path.name.endswith(CSV_SUFFIXES):
        return _iter_csv(path)
    return _iter_json_array(path) if _first_char(path) == b"[" else _iter_jsonl(path)


def _open_bytes(path: Path) -> Any:
    """The file's bytes, gunzipped when they start with the gzip magic (whatever the name).

    Raises:
        DataError: the name ends in ``.gz`` but the bytes are not gzip (a renamed or
            half-downloaded file would otherwise fail later as "invalid JSON").
    """
    with path.open("rb") as fh:
        gzipped = fh.read(2) == GZIP_MAGIC
    if not gzipped and path.name.endswith(".gz"):
        raise DataError(f"{path}: not a gzip file (its name ends in .gz)")
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


def _iter_jsonl(path: Path) -> Iterator[RawRecord]:
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
                yield RawRecord(f"{path}:{lineno}", _parse_line(line))
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


def _iter_json_array(path: Path) -> Iterator[RawRecord]:
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
        yield RawRecord(f"{path}[{i}]", obj)


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # what surrogateescape made of a bad byte


def _iter_csv(path: Path) -> Iterator[RawRecord]:
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
                    yield RawRecord(f"{path}:{start + bad[0]}", DataError(f"x: {bad[1]}"))
                elif cells:  # csv yields [] for a blank line, as DictReader skips it
                    yield RawRecord(f"{path}:{start}", _csv_record(header, cells))
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
        out["target"] = label_from_text(target)
    return out


def label_from_text(text: str) -> Any:
    """0/1 for ``0``, ``1``, ``true``, ``false`` (any case, surrounding blanks ignored) or a
    number exactly 0 or 1 (``1.0``, ``0e0``); otherwise the text unchanged (the validator
    rejects it by name). A CSV cell's label, and a JSON label given as a string."""
    t = text.strip().lower()
    if t in ("true", "false"):
        return int(t == "true")
    try:
        value = float(t)
    except ValueError:
        return text
    return int(value) if value in (0.0, 1.0) else text
