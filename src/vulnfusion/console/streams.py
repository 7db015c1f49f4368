"""Writing a report to a file descriptor so that a failure is an error, never a silent exit 0.

Python sets ``sys.stdout`` to ``None`` when file descriptor 1 is closed at start
(``vulnfusion scan . >&-``), and ``click.echo`` then prints nothing without a word; a full
disk (``>/dev/full``) fails only at the final flush, after the exit code is decided. Both
become one-line errors here (exit 2). A reader that stops early (``| head``) is no error: the
command ends at once with 141 (128 + SIGPIPE, what a shell reports for ``cat`` there), and
nothing more is written.

``-o`` names of descriptors are taken as bash takes them in a redirection: ``/dev/stdout``,
``/dev/stderr``, ``/dev/fd/N`` and ``/proc/self/fd/N`` are the process's own descriptor N,
written as it is — not re-opened by name, which would truncate a file the shell opened for
appending (``>> log``) or fail for a pipe (``/proc/self/fd/1 -> pipe:[…]``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
from typing import Any

import click

EXIT_BROKEN_PIPE = 141
_DESCRIPTOR_PATH = re.compile(r"/(?:dev/fd|proc/self/fd)/([0-9]+)")
_STANDARD = {"-": 1, "/dev/stdout": 1, "/dev/stderr": 2}
_NAMES = {1: "standard output", 2: "standard error"}


def descriptor_of(output: str) -> int | None:
    """The file descriptor ``output`` names (``-``, ``/dev/stdout`` → 1, ``/dev/stderr`` → 2,
    ``/dev/fd/N`` / ``/proc/self/fd/N`` → N), or ``None`` for an ordinary path."""
    if output in _STANDARD:
        return _STANDARD[output]
    match = _DESCRIPTOR_PATH.fullmatch(output)
    return int(match.group(1)) if match else None


def check_descriptor(fd: int, given: bool = False) -> None:
    """Fail before any work when descriptor ``fd`` cannot take the report.

    Args:
        given: the user named it with ``-o`` (the message then does not suggest ``-o``).

    Raises:
        click.ClickException: it is closed (``>&-``) or open for reading only
            (``3<file``), naming it.
    """
    stream = _stream(fd)
    closed = stream is None if fd in _NAMES else not _is_open(fd)
    hint = "" if given else " (give -o FILE)"
    if closed:
        raise click.ClickException(f"{_name(fd)} is closed: nowhere to write the report{hint}")
    if _is_open(fd) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        raise click.ClickException(f"{_name(fd)} is open for reading only{hint}")


def write_descriptor(fd: int, text: str) -> None:
    """Write ``text`` to descriptor ``fd`` and flush it.

    Raises:
        click.ClickException: the descriptor is closed or a write fails (``ENOSPC``,
            ``EIO``), naming it and the system's reason.
    """
    check_descriptor(fd)
    stream = _stream(fd)
    own = stream is None  # another descriptor: a stream of our own over a duplicate of it
    if own:
        stream = os.fdopen(os.dup(fd), "w", encoding="utf-8")
    try:
        click.echo(text, nl=False, file=stream)
        stream.flush()
    except BrokenPipeError:
        _quiet(fd)
        sys.exit(EXIT_BROKEN_PIPE)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        _quiet(fd)
        raise click.ClickException(f"cannot write the report to {_name(fd)}: {why}") from None
    except ValueError as exc:  # "I/O operation on closed file"
        raise click.ClickException(f"cannot write the report to {_name(fd)}: {exc}") from None
    finally:
        if own:
            with contextlib.suppress(OSError):
                stream.close()


def write_stdout(text: str) -> None:
    """:func:`write_descriptor` for standard output."""
    write_descriptor(1, text)


def _stream(fd: int) -> Any:
    return {1: sys.stdout, 2: sys.stderr}.get(fd)


def _name(fd: int) -> str:
    return _NAMES.get(fd, f"file descriptor {fd}")


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _quiet(fd: int) -> None:
    """Point descriptor ``fd`` (when it is standard output: the interpreter flushes that at
    exit) at ``/dev/null``, so the unwritten rest does not fail a second time (the recipe of
    Python's ``signal`` documentation)."""
    if fd != 1:
        return
    try:
        real = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (click's test runner)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, real)
    os.close(devnull)
