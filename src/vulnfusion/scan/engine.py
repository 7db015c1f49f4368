"""``scan`` end to end, without the CLI: walk → read → extract → score in batches → findings.

Memory stays flat whatever the tree size: files stream from the walker one at a time, at most
two batches of function texts are held (one being scored, one being read), and only findings
(positions, probability, fingerprints; never the text) are kept after their batch is scored.
Every file or function not scored becomes a :class:`Notification` and a count in
:class:`Summary`; nothing in the tree can crash a scan.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vulnfusion.data.sources import BINARY_PHRASE, TOO_LONG_PHRASE
from vulnfusion.scan.extract import (
    DEFAULT_MAX_FILE_BYTES,
    FileSkip,
    Function,
    extract,
    read_source,
)
from vulnfusion.scan.localize import LineScore, suspicious_lines_batch
from vulnfusion.scan.walk import Candidate, ScanInputError, Skipped, name_bytes, walk_tree

FINGERPRINT_KEY = "vulnfusionFunctionHash/v1"  # path + name + normalised text
IDENTITY_KEY = "vulnfusionFunctionName/v1"  # path + name: the same function, perhaps edited
SCORING_THREAD = "vulnfusion-scan"  # the daemon thread that scores batches (_ScoringThread)


_ABANDONED: list[threading.Event] = []  # "done" events of batches left scoring (interrupted)


def scoring_abandoned() -> bool:
    """Whether an interrupted scan left a batch scoring on its daemon thread. The process
    should then end with ``os._exit``: a daemon thread inside torch's C++ when the
    interpreter finalizes aborts it ("terminate called without an active exception",
    SIGABRT). Tracked with the batch's own "done" event, not ``Thread.is_alive()``, which
    CPython 3.11 reports False for a running thread once a Ctrl-C interrupted a ``join`` of
    it (bpo-45274's fix releases the thread's lock)."""
    return any(not done.is_set() for done in _ABANDONED)


class Scorer(Protocol):
    """What the engine needs from a model (``model.ScanModel`` in real use)."""

    @property
    def max_rows(self) -> int: ...

    def check(self, func: str) -> str | None: ...

    def predict(self, funcs: list[str]) -> list[float]: ...


@dataclass(frozen=True)
class Notification:
    """Something the user should know that is not a finding (SARIF toolExecutionNotification).

    ``level`` is SARIF's (``warning`` when code was not scanned, ``note`` otherwise); ``rule``
    a stable id per reason (``VFN-too-large``…); ``line`` 1-based or ``None``.
    """

    level: str
    rule: str
    message: str
    uri: str | None = None
    line: int | None = None


@dataclass
class Finding:
    """A function scored at or above the threshold."""

    uri: str  # POSIX path relative to the scanned root
    name: str
    start_line: int
    start_col: int
    end_line: int
    end_col: int
    probability: float
    fingerprints: dict[str, str]
    top_lines: list[LineScore] = field(default_factory=list)
    baseline_state: str | None = None  # set by ``baseline.apply_baseline``


@dataclass
class Summary:
    """Counts for the run (also written into the SARIF run's ``properties``)."""

    files_scanned: int = 0
    functions_found: int = 0
    functions_scored: int = 0
    findings: int = 0
    files_skipped: Counter = field(default_factory=Counter)  # reason -> count
    functions_skipped: Counter = field(default_factory=Counter)  # reason -> count
    files_decoded_latin1: int = 0
    functions_with_syntax_errors: int = 0  # scored as tree-sitter recovered them
    unparsed_regions: int = 0  # code outside any function that does not parse as C

    def as_dict(self) -> dict:
        """Plain JSON-able dict (counters sorted by reason)."""
        return {
            "files_scanned": self.files_scanned,
            "files_skipped": dict(sorted(self.files_skipped.items())),
            "files_decoded_latin1": self.files_decoded_latin1,
            "functions_found": self.functions_found,
            "functions_scored": self.functions_scored,
            "functions_skipped": dict(sorted(self.functions_skipped.items())),
            "functions_with_syntax_errors": self.functions_with_syntax_errors,
            "unparsed_regions": self.unparsed_regions,
            "findings": self.findings,
        }


@dataclass
class ScanResult:
    """Everything a report needs: the root, findings, notifications and counts."""

    root: Path
    threshold: float
    findings: list[Finding]
    notifications: list[Notification]
    summary: Summary


@dataclass(frozen=True)
class ScanOptions:
    """Knobs of one scan (CLI flags, with the library defaults)."""

    threshold: float
    excludes: tuple[str, ...] = ()
    top_lines: int = 5
    batch_size: int = 512  # functions per predict call: longer runs sort by length better
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    progress: bool | None = None  # None: a bar only when stderr is a terminal


def scan_root(paths: Sequence[Path]) -> Path:
    """The directory every result URI is relative to: the common parent of ``paths``.

    Raises:
        ScanInputError: a path does not exist.
    """
    if not paths:
        raise ScanInputError("no path to scan")
    dirs = []
    for p in paths:
        if not os.path.lexists(p):
            raise ScanInputError(f"{p}: no such file or directory")
        real = _real(p)
        dirs.append(real if real.is_dir() and not real.is_symlink() else real.parent)
    return Path(os.path.commonpath([str(d) for d in dirs]))


def _real(path: Path) -> Path:
    """``path`` with every symlink resolved except a last component that is one: a symlink
    named on the command line is reported where it is, never followed (like one in a tree)."""
    path = Path(os.path.abspath(path))
    if path.is_symlink():
        return Path(os.path.realpath(path.parent)) / path.name
    return Path(os.path.realpath(path))


def fingerprints(uri: str, name: str, ordinal: int, text: str) -> dict[str, str]:
    """SARIF ``partialFingerprints`` of a function: no line numbers, so moving code keeps them.

    ``FINGERPRINT_KEY`` hashes the file path, the name, the ordinal among same-named
    definitions of the file (``#if``/``#else`` twins) and the text with whitespace collapsed
    (re-indenting is not a change); ``IDENTITY_KEY`` leaves the text out, so a baseline can
    tell an edited function (``updated``) from a new one. SHA-256, first 32 hex digits.
    """
    ident = name_bytes(f"{uri}\0{name}\0{ordinal}")  # the path's own bytes, UTF-8 or not
    body = " ".join(text.split()).encode()
    return {
        FINGERPRINT_KEY: hashlib.sha256(ident + b"\0" + body).hexdigest()[:32],
        IDENTITY_KEY: hashlib.sha256(ident).hexdigest()[:32],
    }


def run_scan(paths: Sequence[Path], scorer: Scorer, options: ScanOptions) -> ScanResult:
    """Scan ``paths`` (files or directories) and score every C function found.

    Batches are scored on one background thread while this thread reads and extracts the
    next batch (at most two batches of texts held): torch releases the GIL while it scores,
    so reading and extraction overlap the forward passes instead of leaving both cores idle
    between batches (with the 512-function default batch, sorted by length inside, the
    kernel's ``fs`` tree went from 126 to 152 functions/s end to end on 2 cores, and 213 in
    a second run on a faster host; bench section ``scan``). Findings are recorded in batch
    order: the result does not depend on timing.

    Raises:
        ScanInputError: a path does not exist. Nothing inside the tree raises.
    """
    from tqdm import tqdm  # the bar is the only user of tqdm here

    root = scan_root(paths)
    result = ScanResult(root, options.threshold, [], [], Summary())
    batch: list[tuple[str, Function, int]] = []
    size = max(1, min(options.batch_size, scorer.max_rows))
    bar = tqdm(
        _entries(paths, root, options.excludes),
        desc="scan",
        unit=" files",
        file=sys.stderr,
        disable=None if options.progress is None else not options.progress,
    )
    with _ScoringThread(scorer, options, result) as scoring:
        for entry in bar:
            if isinstance(entry, Skipped):
                _skip_file(result, entry.rel, entry.reason, entry.detail)
                continue
            for item in _functions(entry, scorer, options, result):
                batch.append(item)
                if len(batch) >= size:
                    scoring.submit(batch)
                    batch = []
        if batch:
            scoring.submit(batch)
    bar.close()
    if result.summary.files_scanned == 0:  # as Semgrep's "nothing to scan": say so
        skipped = sum(result.summary.files_skipped.values())
        why = f" ({skipped} file(s) skipped, see the other notifications)" if skipped else ""
        result.notifications.append(
            Notification("warning", "VFN-no-c-files", f"no C file (.c, .h) was scanned{why}")
        )
    result.findings.sort(key=lambda f: (f.uri, f.start_line, f.start_col))
    result.summary.findings = len(result.findings)
    return result


class _ScoringThread:
    """Scores batches one at a time on a background thread; :meth:`submit` first records the
    previous batch (re-raising its error), so one batch is scored while the caller extracts
    the next. Leaving the ``with`` block records the last one; leaving it on an error (Ctrl-C
    included) abandons the batch in flight: the thread is a daemon, so the process exits at
    once instead of finishing a batch that localisation can keep busy for minutes."""

    def __init__(self, scorer: Scorer, options: ScanOptions, result: ScanResult) -> None:
        self._args = (scorer, options)
        self._result = result
        self._done: threading.Event | None = None  # the batch in flight, if any
        self._outcome: list[tuple[list[Finding], int] | BaseException] = []

    def __enter__(self) -> _ScoringThread:
        return self

    def submit(self, batch: list[tuple[str, Function, int]]) -> None:
        self._drain()
        outcome: list[tuple[list[Finding], int] | BaseException] = []
        done = threading.Event()
        self._outcome, self._done = outcome, done

        def run() -> None:
            try:
                outcome.append(_score(batch, *self._args))
            except BaseException as exc:  # handed to the caller by _drain, never printed here
                outcome.append(exc)
            finally:
                done.set()

        threading.Thread(target=run, name=SCORING_THREAD, daemon=True).start()

    def _drain(self) -> None:
        if self._done is None:
            return
        # short waits: a signal the OS delivers to another thread (a torch worker) runs its
        # Python handler (Ctrl-C) only when this thread next runs bytecode
        while not self._done.wait(0.1):
            pass
        self._done = None
        got = self._outcome[0]
        if isinstance(got, BaseException):
            raise got
        findings, n = got
        self._result.findings += findings
        self._result.summary.functions_scored += n

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            try:  # the last batch: a Ctrl-C while waiting for it abandons it too
                self._drain()
            except BaseException:
                self._abandon()
                raise
        else:
            self._abandon()

    def _abandon(self) -> None:
        if self._done is not None and not self._done.is_set():
            _ABANDONED.append(self._done)


def _entries(
    paths: Sequence[Path], root: Path, excludes: tuple[str, ...]
) -> Iterator[Candidate | Skipped]:
    """Walk each path; their relative paths re-based onto the common ``root``. A file (or a
    skipped entry) reached twice — overlapping PATHs: a directory and a file inside it — is
    reported once."""
    done: set[str] = set()
    seen: set[str] = set()  # relative to the one real root: one entry per real path
    for p in paths:
        real = str(_real(p))
        if real in done:
            continue
        done.add(real)
        link = Path(real).is_symlink()
        base = Path(real) if Path(real).is_dir() and not link else Path(real).parent
        prefix = os.path.relpath(base, root).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        if link:  # named on the command line: reported, not followed (nor out of the tree)
            rel = prefix + Path(real).name
            if rel not in seen:
                seen.add(rel)
                yield Skipped(rel, "symlink", "symlink named on the command line not followed")
            continue
        for e in walk_tree(Path(real), excludes):
            rel = prefix + e.rel
            if rel in seen:
                continue
            seen.add(rel)
            yield (
                Candidate(e.path, rel)
                if isinstance(e, Candidate)
                else Skipped(rel, e.reason, e.detail)
            )


def _skip_file(result: ScanResult, uri: str, reason: str, detail: str) -> None:
    result.summary.files_skipped[reason] += 1
    level = "note" if reason in ("cpp", "symlink", "empty", "not-c") else "warning"
    result.notifications.append(Notification(level, f"VFN-{reason}", f"{uri}: {detail}", uri))


def _functions(
    entry: Candidate, scorer: Scorer, options: ScanOptions, result: ScanResult
) -> Iterator[tuple[str, Function, int]]:
    """The scoreable functions of one file; every other outcome is noted in ``result``."""
    try:
        source = read_source(entry.path, options.max_file_bytes)
    except FileSkip as skip:
        _skip_file(result, entry.rel, skip.reason, str(skip))
        return
    summary = result.summary
    summary.files_scanned += 1
    if source.encoding != "utf-8":
        summary.files_decoded_latin1 += 1
        result.notifications.append(
            Notification(
                "note",
                "VFN-decoded-latin1",
                f"{entry.rel}: not valid UTF-8; decoded as Latin-1 (positions are still exact)",
                entry.rel,
            )
        )
    seen: Counter = Counter()
    found = extract(source.text)
    for first, last in found.unparsed:
        summary.unparsed_regions += 1
        span = f"line {first} does" if first == last else f"lines {first}-{last} do"
        result.notifications.append(
            Notification(
                "note",
                "VFN-unparsed",
                f"{entry.rel}:{first}: {span} not parse as C (outside any function); "
                "a function there would not be found",
                entry.rel,
                first,
            )
        )
    for fn in found.functions:
        summary.functions_found += 1
        if fn.problem is not None:
            summary.functions_with_syntax_errors += 1
            result.notifications.append(
                Notification(
                    "note",
                    "VFN-syntax-error",
                    f"{entry.rel}:{fn.start_line}: function {fn.name} {fn.problem}",
                    entry.rel,
                    fn.start_line,
                )
            )
        ordinal = seen[fn.name]
        seen[fn.name] += 1
        reason = scorer.check(fn.text)
        if reason is not None:
            summary.functions_skipped[_reason_key(reason)] += 1
            result.notifications.append(
                Notification(
                    "note",
                    "VFN-function-skipped",
                    f"{entry.rel}:{fn.start_line}: function {fn.name} not scored: {reason}",
                    entry.rel,
                    fn.start_line,
                )
            )
            continue
        yield entry.rel, fn, ordinal


def _reason_key(reason: str) -> str:
    """The summary key of a refusal, from the phrases ``data.sources`` builds its messages
    with (so a rewording there cannot silently move a count to ``refused``)."""
    if TOO_LONG_PHRASE in reason:
        return "too-long"
    if BINARY_PHRASE in reason:
        return "binary"
    return "refused"


def _score(
    batch: list[tuple[str, Function, int]], scorer: Scorer, options: ScanOptions
) -> tuple[list[Finding], int]:
    """The findings of one batch (in batch order) and how many functions were scored."""
    probs = scorer.predict([fn.text for _, fn, _ in batch])
    flagged = [(item, p) for item, p in zip(batch, probs, strict=True) if p >= options.threshold]
    # localisation: only for findings, in one call (scan.localize)
    lines = suspicious_lines_batch(scorer, [fn for (_, fn, _), _ in flagged], options.top_lines)
    return [
        Finding(
            uri,
            fn.name,
            fn.start_line,
            fn.start_col,
            fn.end_line,
            fn.end_col,
            p,
            fingerprints(uri, fn.name, ordinal, fn.text),
            top,
        )
        for ((uri, fn, ordinal), p), top in zip(flagged, lines, strict=True)
    ], len(batch)
