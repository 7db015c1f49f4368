"""The ``vulnfusion`` command's conventions: --version, one-line errors, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from vulnfusion import __version__
from vulnfusion.console import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), prog_name="vulnfusion")
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    assert run("--version") == (0, f"vulnfusion, version {__version__}\n", "")


@pytest.mark.parametrize(
    ("args", "stderr"),
    [
        (
            ["scan", "--bogus", "."],
            "vulnfusion: error: No such option '--bogus'. Did you mean '--jobs'? "
            "(see 'vulnfusion scan --help')\n",
        ),
        (
            ["scan", "--format", "xml", "."],
            "vulnfusion: error: Invalid value for '--format': 'xml' is not one of 'sarif', "
            "'json', 'text'. (see 'vulnfusion scan --help')\n",
        ),
        (["nosuch"], "vulnfusion: error: No such command 'nosuch'. (see 'vulnfusion --help')\n"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], stderr: str) -> None:
    assert run(*args) == (2, "", stderr)


def test_missing_path_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, out, err = run("scan", str(missing))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("vulnfusion: error: ") and str(missing) in err


def test_bare_command_prints_help_and_exits_2() -> None:
    code, out, err = run()
    assert (code, out) == (2, "")
    assert err.startswith("Usage: vulnfusion [OPTIONS] COMMAND [ARGS]...") and "scan" in err
