"""Find the C sources of a tree: ``.gitignore`` files at every level, ``--exclude`` globs, no
symlink ever followed.

Ignore rules use git's own semantics through the maintained ``pathspec`` library
(``GitIgnoreSpec``): a ``.gitignore`` applies to paths below its directory, a deeper file's
rules (negations included) override a shallower one's, and an ignored directory is not entered
(git cannot re-include a file inside it either). Scanning a directory inside a git repository
applies the ``.gitignore`` files above it up to the work tree's top too, as git does (not
``.git/info/exclude`` or ``core.excludesFile``: they are one clone's settings, not the
project's). ``--exclude`` globs are gitignore patterns
anchored at the scanned root.

Symlinks are reported, never followed — as git stores them: a link inside the tree points at a
file the walk reaches directly anyway, one pointing outside the tree must not be read, and not
following any also means no loop can be walked round. Directories are visited at most once by
``(st_dev, st_ino)`` too, so even a bind-mount loop ends.

The walk is a generator: memory is the stack of open directories, whatever the tree size.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from vulnfusion.errors import VulnfusionError

C_SUFFIXES = frozenset({".c", ".h"})
# counted as skipped: the model was trained on C functions only
CPP_SUFFIXES = frozenset({".cc", ".cpp", ".cxx", ".c++", ".hh", ".hpp", ".hxx", ".h++", ".ipp"})


class ScanInputError(VulnfusionError, ValueError):
    """A path or option given to ``scan`` cannot be used (one line, naming it)."""


def name_bytes(rel: str) -> bytes:
    """A walked path's bytes as the file system holds them: a name that is not valid UTF-8
    reaches Python with each bad byte as a lone surrogate (PEP 383, ``os.fsdecode``), which
    ``surrogateescape`` turns back into that byte."""
    return rel.encode("utf-8", "surrogateescape")


def printable(text: str) -> str:
    """``text`` safe to print and to write as UTF-8 JSON: the bytes of a file name that were
    not UTF-8 (see :func:`name_bytes`) shown as ``\\xff`` escapes; other text unchanged."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return name_bytes(text).decode("utf-8", "backslashreplace")
    return text


# C0 and C1 controls, DEL, and the bidirectional controls of Trojan Source (CVE-2021-42574):
# in a terminal they move the cursor, recolour, or reorder what the reader sees
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` safe to show in a terminal or a line-based table: :func:`printable`, then each
    control character as an escape (``\\x1b``, ``\\x0a`` for a newline, ``\\u202e``), so a
    file name can neither forge a row nor send escape sequences; so are the characters a reader
    cannot see or tell from a space (Unicode categories Cf, Co, Cn, Zl, Zp and Zs other than
    the space: U+200B, U+00AD, U+FEFF, U+00A0, private use …), which would make two names look
    alike or shift the table's columns. JSON and SARIF keep the name exact instead (their
    encoders escape controls losslessly)."""
    if "\\" in text:  # a literal backslash doubled: `q\\x0a.c` must not pass for `q<LF>.c`
        text = text.replace("\\", "\\\\")
    text = _UNSAFE_CHARS.sub(_escape_char, printable(text))
    if text.isascii():
        return text
    return "".join(_escape_code(ord(c)) if _invisible(c) else c for c in text)


# letters and symbols that render as nothing (Hangul fillers, the braille blank)
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _invisible(c: str) -> bool:
    kind = unicodedata.category(c)
    return (
        kind in ("Cf", "Co", "Cn", "Cs", "Zl", "Zp")
        or (kind == "Zs" and c != " ")
        or c in _BLANK_LETTERS
    )


def _escape_code(code: int) -> str:
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _escape_char(match: re.Match[str]) -> str:
    return _escape_code(ord(match.group()))


def printable_doc(doc: object) -> object:
    """A JSON document (dicts, lists, strings …) with :func:`printable` applied to every
    string, keys included."""
    if isinstance(doc, str):
        return printable(doc)
    if isinstance(doc, dict):
        return {printable_doc(k): printable_doc(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [printable_doc(v) for v in doc]
    return doc


@dataclass(frozen=True)
class Candidate:
    """A regular C file to read: its absolute path and its POSIX path relative to the root."""

    path: Path
    rel: str


@dataclass(frozen=True)
class Skipped:
    """A path the walk did not read, and why (``reason`` is a short key, ``detail`` a line)."""

    rel: str
    # "cpp", "symlink", "symlink-outside", "not-regular", "unreadable-dir", "not-c" (a file
    # named on the command line only)
    reason: str
    detail: str


def _spec(lines: Iterable[str]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(list(lines))


@dataclass(frozen=True)
class _Rules:
    """One ``.gitignore`` (or the ``--exclude`` list): its patterns, relative to ``base``."""

    base: str  # POSIX path of its directory relative to the root ("" for the root)
    spec: pathspec.GitIgnoreSpec
    # a .gitignore above the root (same repository): the root's path relative to its directory
    lead: str = ""


def _ignored(rules: list[_Rules], rel: str, is_dir: bool) -> bool:
    """git's verdict for ``rel``: the last rule that matches, deepest file last, decides."""
    verdict: bool | None = None
    for r in rules:
        sub = rel if not r.base else rel[len(r.base) + 1 :]
        sub = f"{r.lead}/{sub}" if r.lead and sub else (r.lead or sub)
        result = r.spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            verdict = result.include
    return bool(verdict)


def _read_gitignore(directory: Path, base: str) -> _Rules | None:
    try:
        text = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:  # an unreadable .gitignore ignores nothing, as in git
        return None
    return _Rules(base, _spec(text.splitlines()))


def _enclosing_rules(root: Path) -> list[_Rules]:
    """The ``.gitignore`` files above ``root`` inside its git repository (from the top of
    the work tree down to ``root``'s parent), as git applies them to ``root``'s contents: so
    scanning ``src`` of a repository skips what ``git status`` in it would. None outside a
    repository, and none when they ignore ``root`` itself: a directory named on the command
    line is scanned, as a file named there is."""
    real = Path(os.path.realpath(root))
    ancestors = []
    for d in real.parents:
        ancestors.append(d)
        if (d / ".git").exists():
            break
    else:
        return []  # not inside a git work tree
    if (real / ".git").exists():
        return []  # root is the top of its own repository
    rules = []
    for d in reversed(ancestors):
        r = _read_gitignore(d, "")
        if r is not None:
            rules.append(_Rules("", r.spec, real.relative_to(d).as_posix()))
    return [] if _ignored(rules, "", True) else rules


def walk_tree(root: Path, excludes: Iterable[str] = ()) -> Iterator[Candidate | Skipped]:
    """Yield every C file under ``root`` (sorted, depth first) and every path skipped on the way.

    Args:
        root: a directory (resolved by the caller); a file is yielded alone, if it is C.
        excludes: gitignore-style patterns relative to ``root`` (``--exclude``).

    Yields:
        ``Candidate`` for a regular ``.c``/``.h`` file, ``Skipped`` for a C++ file, a symlink,
        a special file (FIFO, socket, device) with a C suffix, or a directory that could not be
        listed. Ignored paths (``.gitignore``, ``--exclude``, ``.git``) yield nothing.
    """
    root = Path(root)
    extra = [_Rules("", _spec(excludes))] if excludes else []
    if not root.is_dir():
        named = list(_classify(root, root.name, os.path.realpath(root.parent)))
        # a file named on the command line is never dropped without a word
        yield from named or [Skipped(root.name, "not-c", "not a C source (.c or .h): not read")]
        return
    seen: set[tuple[int, int]] = set()
    own = [r for r in [_read_gitignore(root, "")] if r]
    base_rules = _enclosing_rules(root) + own + extra
    yield from _walk_dir(root, "", base_rules, extra, (os.path.realpath(root), seen))


def _walk_dir(
    directory: Path,
    rel: str,
    rules: list[_Rules],
    extra: list[_Rules],
    state: tuple[str, set[tuple[int, int]]],
) -> Iterator[Candidate | Skipped]:
    root_real, seen = state
    try:
        st = directory.stat()
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield Skipped(rel or ".", "unreadable-dir", f"cannot list directory: {exc.strerror}")
        return
    for entry in entries:
        child = f"{rel}/{entry.name}" if rel else entry.name
        if entry.name == ".git":
            continue
        try:
            is_link = entry.is_symlink()
            is_dir = not is_link and entry.is_dir(follow_symlinks=False)
        except OSError:
            is_link, is_dir = False, False
        if _ignored(rules, child, is_dir):
            continue
        if is_dir:
            sub = _read_gitignore(Path(entry.path), child)
            # the --exclude rules stay last: they override any .gitignore negation
            deeper = rules[: len(rules) - len(extra)] + ([sub] if sub else []) + extra
            yield from _walk_dir(Path(entry.path), child, deeper, extra, state)
        else:
            yield from _classify(Path(entry.path), child, root_real)


def _classify(path: Path, rel: str, root_real: str) -> Iterator[Candidate | Skipped]:
    """What one non-directory entry is: a C file to read, something skipped, or nothing."""
    suffix = path.suffix.lower()
    if path.suffix == ".C":  # upper-case .C is C++ (gcc, git's linguist)
        suffix = ".cc"
    if path.is_symlink():
        if suffix not in C_SUFFIXES and not path.is_dir():
            return  # a link to a README or a binary is no more interesting than the file
        target = os.path.realpath(path)
        if not os.path.exists(target):  # dangling, or a loop: nothing there to scan
            yield Skipped(rel, "symlink", "symlink not followed (its target does not exist)")
        elif os.path.commonpath([root_real, target]) != root_real:
            yield Skipped(rel, "symlink-outside", "symlink out of the scanned tree not followed")
        else:
            yield Skipped(rel, "symlink", "symlink not followed (its target is scanned directly)")
        return
    if suffix in CPP_SUFFIXES:
        yield Skipped(rel, "cpp", "C++ file skipped (the model scores C functions)")
        return
    if suffix not in C_SUFFIXES:
        return
    try:
        mode = path.lstat().st_mode
    except OSError as exc:
        yield Skipped(rel, "unreadable", f"cannot stat: {exc.strerror}")
        return
    if not stat.S_ISREG(mode):  # a FIFO would block a read forever; a device is not source
        yield Skipped(rel, "not-regular", "not a regular file (FIFO, socket or device)")
        return
    yield Candidate(path, rel)
