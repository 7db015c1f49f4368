"""``vulnfusion scan``: score every C function of a tree and report SARIF, JSON or a table.

Only flag parsing and output here; the work is :mod:`vulnfusion.scan`. Exit codes: 0 ran
cleanly, 1 findings and ``--fail-on-findings`` (with ``--only-new``: new findings only),
2 usage or input error (one line, from the group in ``console/__init__``), 130 interrupted,
143 terminated.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import click

from vulnfusion.console.options import model_option
from vulnfusion.console.streams import check_descriptor, descriptor_of, write_descriptor
from vulnfusion.io import nearest_existing, unwritable_reason, write_text
from vulnfusion.scan.baseline import apply_baseline, read_baseline
from vulnfusion.scan.engine import ScanOptions, run_scan, scan_root
from vulnfusion.scan.extract import DEFAULT_MAX_FILE_BYTES
from vulnfusion.scan.formats import to_json, to_text
from vulnfusion.scan.model import load_scan_model
from vulnfusion.scan.sarif import build_sarif
from vulnfusion.scan.walk import ScanInputError, printable_doc, terminal_safe

# console.EXIT_OK / EXIT_FINDINGS, restated: importing the package from here would be a cycle
EXIT_OK, EXIT_FINDINGS = 0, 1


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["sarif", "json", "text"]),
    default="text",
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write here (atomically, keeping the file's permissions; missing directories are "
    "created, a symlink is written through; '-', /dev/stdout, /dev/stderr, /dev/fd/N: that "
    "descriptor, as the shell set it up).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    callback=lambda ctx, param, value: _finite(param, value),
    help="Report functions at or above this probability [default: the model's threshold].",
)
@click.option(
    "--top-lines",
    type=click.IntRange(0, 100),
    default=5,
    show_default=True,
    help="Suspicious lines per finding, by line occlusion through the model (0: none).",
)
@click.option("--baseline", type=click.Path(path_type=Path), help="A previous scan's SARIF.")
@click.option("--only-new", is_flag=True, help="Keep only findings new since --baseline.")
@click.option("--exclude", multiple=True, metavar="GLOB", help="gitignore-style; repeatable.")
@click.option("--jobs", type=click.IntRange(1), help="Scoring threads [default: one per core].")
@click.option(
    "--max-file-bytes",
    type=click.IntRange(1),
    default=DEFAULT_MAX_FILE_BYTES,
    show_default=True,
    help="Larger files are skipped with a notification.",
)
@click.option("--fail-on-findings", is_flag=True, help="Exit 1 when anything is reported.")
@click.option("--progress/--no-progress", default=None, help="[default: when stderr is a TTY]")
def scan(
    paths: tuple[Path, ...],
    model_uri: str | None,
    fmt: str,
    output: str | None,
    threshold: float | None,
    top_lines: int,
    baseline: Path | None,
    only_new: bool,
    exclude: tuple[str, ...],
    jobs: int | None,
    max_file_bytes: int,
    fail_on_findings: bool,
    progress: bool | None,
) -> None:
    """Score every C function under PATHS (files or directories) with the registered model.

    Honours .gitignore files and --exclude globs, never follows symlinks. Functions at or above
    the threshold are findings; files and functions that cannot be scored become
    notifications (SARIF toolExecutionNotifications) and counts in the summary.
    """
    if only_new and baseline is None:
        raise click.UsageError("--only-new needs --baseline")
    scan_root(paths)  # a missing path fails before the model is loaded (seconds)
    target = _target(output)  # and so does an -o that could never be written
    old = read_baseline(baseline) if baseline is not None else None
    model = load_scan_model(model_uri, jobs)
    if model.notice:
        click.echo(f"vulnfusion: notice: {model.notice}", err=True)
    options = ScanOptions(
        threshold=model.spec.threshold if threshold is None else threshold,
        excludes=exclude,
        top_lines=top_lines,
        max_file_bytes=max_file_bytes,
        progress=progress,
    )
    result = run_scan(paths, model, options)
    if result.summary.files_scanned == 0:
        click.echo(f"vulnfusion: notice: {result.notifications[-1].message}", err=True)
    absent = apply_baseline(result.findings, old) if old is not None else None
    if only_new:
        result.findings = [f for f in result.findings if f.baseline_state == "new"]
        absent = []
    code = EXIT_FINDINGS if fail_on_findings and result.findings else EXIT_OK
    ident = {"uri": model.uri, "name": model.name, "version": model.version}
    _emit(fmt, target, result, ident, code, absent)
    click.get_current_context().exit(code)


def _finite(param: Any, value: float | None) -> float | None:
    """``FloatRange`` lets ``nan`` through (every comparison with it is false)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number in [0, 1]", param=param)
    return value


def _target(output: str | None) -> Path | int:
    """Where ``-o`` sends the report: a file path, or a file descriptor (none given, ``-``,
    ``/dev/stdout``, ``/dev/fd/N`` …: see :mod:`vulnfusion.console.streams`), checked now.

    Raises:
        click.BadParameter: a path ending in ``/`` (a directory's name, not a file's), or one
            :func:`check_output_path` refuses.
        click.ClickException: the descriptor is closed.
    """
    fd = 1 if output is None else descriptor_of(output)
    if fd is not None:
        check_descriptor(fd, given=output is not None)
        return fd
    assert output is not None
    if output.endswith(("/", os.sep)) or output in (".", ".."):
        raise click.BadParameter(f"{output}: names a directory; -o takes a file", param_hint="'-o'")
    path = Path(output)
    check_output_path(path)
    return path


def check_output_path(path: Path) -> None:
    """Fail now, not after the scan, when ``-o PATH`` cannot be written, as a shell's ``>``
    could not: ``path`` is a directory, a parent is not a directory, an existing file is not
    writable by this process, or there is no file and the nearest existing parent takes no new
    one (missing parents are created, as ``io.write_text`` does). An existing writable file in
    a directory that takes no new file is written in place, as are a device or FIFO
    (``/dev/null``): see :func:`vulnfusion.io.atomic_path` with ``user_target``.

    Raises:
        click.BadParameter: one line naming the path.
    """
    name = str(path)  # escaped once, by the console's one-line error printer
    if path.is_dir():
        raise click.BadParameter(f"{name}: is a directory", param_hint="'-o'")
    if path.exists():  # through a symlink: the file a shell's '>' would write
        if not os.access(path, os.W_OK):
            raise click.BadParameter(f"{name}: is not writable", param_hint="'-o'")
        return
    target = Path(os.path.realpath(path)) if path.is_symlink() else path.absolute()
    parent = nearest_existing(target.parent)
    if not parent.is_dir():
        raise click.BadParameter(f"{name}: {parent} is not a directory", param_hint="'-o'")
    why = unwritable_reason(parent)
    if why is not None:
        raise click.BadParameter(f"{name}: {parent} is not writable ({why})", param_hint="'-o'")


def _emit(
    fmt: str,
    output: Path | int,
    result: Any,
    model: dict[str, str],
    code: int,
    absent: list[dict[str, Any]] | None,
) -> None:
    # printable: a file name that is not UTF-8 is shown with \xff escapes (SARIF URIs keep
    # its bytes, percent-encoded; the text table escapes its own, to size its columns)
    if fmt == "text":
        text = to_text(result, model, len(absent or []))
    elif fmt == "json":
        text = json.dumps(printable_doc(to_json(result, model, absent)), indent=2) + "\n"
    else:
        doc = printable_doc(build_sarif(result, model, code, absent))
        text = json.dumps(doc, indent=2) + "\n"
    if isinstance(output, int):
        write_descriptor(output, text)
        return
    created = _missing_parent(Path(os.path.realpath(output)) if output.is_symlink() else output)
    try:
        write_text(output, text, user_target=True)  # as a shell's '>' would
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ScanInputError(f"-o {output}: cannot write the report: {why}") from None
    made = f" (created the directory {terminal_safe(str(created))})" if created else ""
    n = len(result.findings)
    click.echo(f"vulnfusion: {n} finding(s); wrote {terminal_safe(str(output))}{made}", err=True)


def _missing_parent(path: Path) -> Path | None:
    """The outermost missing directory above ``path`` (``None`` when its parent exists)."""
    missing = None
    for parent in path.absolute().parents:
        if parent.exists():
            break
        missing = parent
    return missing
