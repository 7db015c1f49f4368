"""The ``vulnfusion`` console command (``[project.scripts]``): the top layer, like ``cli``.

Subcommands live in sibling modules (``console.scan``, …) and register on ``main`` below.
Conventions, as in Semgrep and CodeQL: exit 0 = ran cleanly, 1 = findings (only when the
user asked with ``--fail-on-findings``), 2 = usage or input error, printed as one line
``vulnfusion: error: …`` on stderr (never a traceback for an expected failure). Built on
click: it gives ``--help`` on every subcommand and exit code 2 for usage errors.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
from typing import Any

import click

from vulnfusion import __version__
from vulnfusion.errors import VulnfusionError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM
MAX_ERROR_CHARS = 1000  # an error line longer than this is cut (a library's dump)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so ``finally`` blocks (atomic writes) still run;
    a ``BaseException`` so that no ``except Exception`` on the way swallows it."""


def _fail(message: str) -> None:
    """Print ``vulnfusion: error: <message>`` on stderr, as one line, and exit 2.

    Control characters are shown as escapes (:func:`~vulnfusion.scan.walk.terminal_safe`),
    line breaks included: a path with a newline in it keeps the reason that follows it, and a
    library's multi-line message stays one line (cut at :data:`MAX_ERROR_CHARS`)."""
    from vulnfusion.scan.walk import terminal_safe

    line = terminal_safe(message.strip()) or "unknown error"
    if len(line) > MAX_ERROR_CHARS:
        line = line[: MAX_ERROR_CHARS - 1] + "…"
    click.echo(f"vulnfusion: error: {line}", err=True)
    sys.exit(EXIT_USAGE)


class _Group(click.Group):
    """A click group whose failures are one line and exit code 2: expected errors of the
    package and click's own usage errors (bad flag, missing path), the latter with a pointer
    to ``--help`` instead of click's multi-line usage block."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (VulnfusionError, OSError) as exc:
            _fail(str(exc) or repr(exc))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """Subcommands are imported when first needed, inside :meth:`main`: their imports
        (torch, MLflow) take about a second, and a Ctrl-C then is the same one line and 130
        as later, not a traceback from the interpreter."""
        if name in _COMMANDS and name not in self.commands:
            module = importlib.import_module(_COMMANDS[name])
            self.add_command(getattr(module, name))
        return super().get_command(ctx, name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        before = _on_sigterm()
        try:
            kwargs["standalone_mode"] = False  # errors come here, not to click's printer
            code = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:  # what click makes of Ctrl-C (KeyboardInterrupt) and EOF
            _stop("interrupted", EXIT_INTERRUPTED)
        except _Terminated:
            _stop("terminated", EXIT_TERMINATED)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message(), err=True)  # bare `vulnfusion`: the help
            sys.exit(EXIT_USAGE)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else "vulnfusion"
            _fail(f"{exc.format_message()} (see '{where} --help')")
        except click.ClickException as exc:
            _fail(exc.format_message())
        finally:
            if before is not None:
                signal.signal(signal.SIGTERM, before)
        # without standalone mode click returns ``ctx.exit(code)``'s code instead of exiting
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _stop(word: str, code: int) -> None:
    """End an interrupted command: one line, then ``code``. Work abandoned mid-batch (every
    ``finally`` has run by now: no partial output file) ends the process with ``os._exit``,
    see :func:`vulnfusion.scan.engine.scoring_abandoned`."""
    click.echo(f"vulnfusion: {word}", err=True)
    from vulnfusion.scan.engine import scoring_abandoned

    if scoring_abandoned():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _on_sigterm() -> Any:
    """Turn SIGTERM into :class:`_Terminated` while a command runs (main thread only; the
    previous handler is returned to be restored, ``None`` when none was installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def raise_terminated(signum: int, frame: Any) -> None:
        raise _Terminated

    return signal.signal(signal.SIGTERM, raise_terminated)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="vulnfusion")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details to stderr.")
def main(verbose: bool) -> None:
    """Function-level C vulnerability detection with the registered vulnfusion model."""
    level = os.environ.get("VULNFUSION_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose:  # our own details; third-party libraries stay at the level above
        logging.getLogger("vulnfusion").setLevel(logging.DEBUG)


# subcommand -> its module (and the command object's name there), imported on first use
_COMMANDS = {"evaluate": "vulnfusion.console.evaluate", "scan": "vulnfusion.console.scan"}
