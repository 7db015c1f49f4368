"""Writing a report to standard output so that a failure is an error, never a silent exit 0.

Python sets ``sys.stdout`` to ``None`` when file descriptor 1 is closed at start
(``vulnfusion scan . >&-``), and ``click.echo`` then prints nothing without a word; a full
disk (``>/dev/full``) fails only at the final flush, after the exit code is decided. Both
become one-line errors here (exit 2). A reader that stops early (``| head``) is no error: the
command ends at once with 141 (128 + SIGPIPE, what a shell reports for ``cat`` there), and
nothing more is written.
"""

from __future__ import annotations

import os
import sys

import click

EXIT_BROKEN_PIPE = 141


def write_stdout(text: str) -> None:
    """Write ``text`` to standard output and flush it.

    Raises:
        click.ClickException: standard output is closed or a write fails (``ENOSPC``,
            ``EIO``), naming standard output and the system's reason.
    """
    stream = sys.stdout
    if stream is None:
        raise click.ClickException(
            "standard output is closed: nowhere to write the report (give -o FILE)"
        )
    try:
        click.echo(text, nl=False, file=stream)
        stream.flush()
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(EXIT_BROKEN_PIPE)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        _quiet_stdout()
        raise click.ClickException(f"cannot write the report to standard output: {why}") from None
    except ValueError as exc:  # "I/O operation on closed file"
        raise click.ClickException(f"cannot write the report to standard output: {exc}") from None


def _quiet_stdout() -> None:
    """Point file descriptor 1 at ``/dev/null`` so that the interpreter's flush at exit does
    not fail again on the unwritten rest (the recipe of Python's ``signal`` documentation)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (click's test runner)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
