"""Where ``scan`` writes and what it shows, found by a fresh user's trial (session 21): ``-o``
onto a device, a FIFO or a symlink; control characters in file names; a closed or full
standard output; code that does not parse; a tree with no C file. Real model, real files,
real processes where the file descriptors are the point."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.scan.conftest import RegisteredModel
from tests.scan.test_scan import _tree
from vulnfusion.console import main
from vulnfusion.scan.walk import terminal_safe

VULNFUSION = Path(sys.executable).parent / "vulnfusion"


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _scan_args(model: RegisteredModel, *extra: str) -> list[str]:
    return ["--model", str(model.local_dir), "--threshold", "0", "--top-lines", "0", *extra]


# ------------------------------------------------------------------ -o: what is at the path


def test_output_onto_a_fifo_is_written_through(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """A rename over a FIFO would replace it with a regular file (and the reader would
    wait forever): the report is written into the FIFO, which stays one."""
    root = _tree(tmp_path / "t")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    res = _cli("scan", str(root), *_scan_args(registered_model, "--format", "json"), "-o",
               str(fifo))  # fmt: skip
    assert res.exit_code == 0, res.output
    reader.join(60)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert len(json.loads(got[0])["findings"]) == 11


def test_output_onto_a_device_keeps_the_device(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """``-o /dev/null`` (as root the rename would succeed and replace the device node)."""
    root = _tree(tmp_path / "t")
    before = os.stat("/dev/null")
    res = _cli("scan", str(root), *_scan_args(registered_model), "-o", "/dev/null")
    assert res.exit_code == 0, res.output
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert res.stderr == "vulnfusion: 11 finding(s); wrote /dev/null\n"


def test_output_through_a_symlink_replaces_its_target(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "t")
    (tmp_path / "reports").mkdir()
    target = tmp_path / "reports" / "scan.json"
    target.write_text("old\n")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    res = _cli("scan", str(root), *_scan_args(registered_model, "--format", "json"), "-o",
               str(link))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(json.loads(target.read_text())["findings"]) == 11
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["scan.json"]


def test_output_through_a_dangling_symlink_names_the_directory_it_created(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "t")
    link = tmp_path / "L"
    link.symlink_to(tmp_path / "missing_dir" / "sub" / "r.json")
    res = _cli("scan", str(root), *_scan_args(registered_model, "--format", "json"), "-o",
               str(link))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        f"vulnfusion: 11 finding(s); wrote {link} (created the directory "
        f"{tmp_path / 'missing_dir'})\n"
    )
    assert link.is_symlink() and len(json.loads(link.read_text())["findings"]) == 11


def test_an_output_error_escapes_a_name_once(tmp_path: Path) -> None:
    """The console's error printer escapes the whole line: a message that escaped the name
    itself would show ``\\x1b`` as ``\\\\x1b``."""
    root = _tree(tmp_path / "t")
    out = str(tmp_path / "e\x1bx") + "/"
    args = ["scan", str(root), "--model", str(tmp_path / "none"), "-o", out]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert f"'-o': {tmp_path}/e\\x1bx/: names a directory" in res.stderr


@pytest.mark.parametrize("suffix", ["/", "/newdir/"])
def test_output_ending_in_a_slash_is_refused(tmp_path: Path, suffix: str) -> None:
    """``-o out/target.txt/`` would have replaced the file ``target.txt``, ``-o out/newdir/``
    made a file named ``newdir``; a shell refuses both. Before the model loads."""
    root = _tree(tmp_path / "t")
    (tmp_path / "target.txt").write_text("keep\n")
    out = str(tmp_path / "target.txt") + suffix if suffix == "/" else str(tmp_path) + suffix
    res = CliRunner().invoke(
        main,
        ["scan", str(root), "--model", str(tmp_path / "none"), "-o", out],
        prog_name="vulnfusion",
    )
    assert res.exit_code == 2
    assert res.stderr == (
        f"vulnfusion: error: Invalid value for '-o': {out}: names a directory; -o takes a file "
        "(see 'vulnfusion scan --help')\n"
    )
    assert (tmp_path / "target.txt").read_text() == "keep\n"


def test_output_says_which_directory_it_created(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "t")
    out = tmp_path / "new" / "deeper" / "scan.sarif"
    res = _cli("scan", str(root), *_scan_args(registered_model, "--format", "sarif"), "-o",
               str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert res.stderr == (
        f"vulnfusion: 11 finding(s); wrote {out} (created the directory {tmp_path / 'new'})\n"
    )
    again = _cli("scan", str(root), *_scan_args(registered_model, "--format", "sarif"), "-o",
                 str(out))  # fmt: skip
    assert again.stderr == f"vulnfusion: 11 finding(s); wrote {out}\n"


# ------------------------------------------------------------- control characters in names


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("new\nline.c", "new\\x0aline.c"),
        ("\x1b[31mRED\x1b[0m.c", "\\x1b[31mRED\\x1b[0m.c"),
        ("tab\there.c", "tab\\x09here.c"),
        ("cr\r.c", "cr\\x0d.c"),
        ("del\x7f.c", "del\\x7f.c"),
        ("c1\x9b.c", "c1\\x9b.c"),
        ("rlo\u202egnp.c", "rlo\\u202egnp.c"),  # Trojan Source: reverses what follows
        ("isolate\u2066x\u2069.c", "isolate\\u2066x\\u2069.c"),
        ("caf\udce9.c", "caf\\xe9.c"),  # a name that is not UTF-8 (PEP 383)
        ("zw\u200bsp.c", "zw\\u200bsp.c"),  # invisible: looks like zwsp.c
        ("soft\u00adhy.c", "soft\\xadhy.c"),
        ("bom\ufeff.c", "bom\\ufeff.c"),
        ("nb\u00a0sp.c", "nb\\xa0sp.c"),  # a space that is not one
        ("pu\ue000.c", "pu\\ue000.c"),  # private use
        ("tag\U000e0041.c", "tag\\U000e0041.c"),
        ("hang\u3164ul.c", "hang\\u3164ul.c"),  # Hangul filler: a letter that shows nothing
        ("q\\x0a.c", "q\\\\x0a.c"),  # a literal backslash is doubled: not the newline's escape
        ("a\\b.c", "a\\\\b.c"),
        ("plain-ünïcode.c", "plain-ünïcode.c"),
        ("日本語 😀.c", "日本語 😀.c"),
        ("ha#sh%20.c", "ha#sh%20.c"),
    ],
)
def test_terminal_safe_escapes_every_control_character(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown


def test_control_characters_in_file_names_cannot_forge_report_rows(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """A newline in a name would start a fake row of the table; an escape sequence would
    recolour the terminal. The text report and stderr show escapes; JSON keeps the name."""
    root = tmp_path / "t"
    root.mkdir()
    body = "int %s(char *s)\n{\n    return s[0];\n}\n"
    names = {"a\nauth.c:42   check_password   0.999  error\nb.c": "forged", "\x1b[2J.c": "esc"}
    for name, func in names.items():
        (root / name).write_text(body % func)
    res = _cli("scan", str(root), *_scan_args(registered_model))
    assert res.exit_code == 0, res.output
    rows = res.stdout.split("\n\n")[0].splitlines()
    assert len(rows) == 3  # the header and two findings: no forged row
    starts = ("\\x1b[2J.c:1 ", "a\\x0aauth.c:42   check_password   0.999  error\\x0ab.c:1 ")
    assert sorted(r[: len(s)] for r, s in zip(sorted(rows[1:]), starts, strict=True)) == sorted(
        starts
    )
    assert "\x1b" not in res.stdout and "\x1b" not in res.stderr
    doc = json.loads(
        _cli("scan", str(root), *_scan_args(registered_model, "--format", "json")).stdout
    )
    assert sorted(f["file"] for f in doc["findings"]) == sorted(names)


@pytest.mark.parametrize(
    ("name", "shown"),
    [("no\x1b[2Jpe.c", "no\\x1b[2Jpe.c"), ("missing\n.c", "missing\\x0a.c"),
     ("nel\x85.c", "nel\\x85.c"), ("ls\u2028.c", "ls\\u2028.c")],
)  # fmt: skip
def test_an_error_naming_a_file_escapes_its_control_characters(
    tmp_path: Path, name: str, shown: str
) -> None:
    """One line, and the reason after a line break in the name is kept."""
    res = CliRunner().invoke(main, ["scan", str(tmp_path / name)])
    assert res.exit_code == 2
    assert res.stderr == f"vulnfusion: error: {tmp_path}/{shown}: no such file or directory\n"


# ------------------------------------------------------------------------ standard output


def _run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VULNFUSION), *args], capture_output=False, text=True, timeout=300, **kwargs
    )


def test_a_closed_standard_output_is_an_error_not_a_silent_success(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """``vulnfusion scan . >&-``: Python has no ``sys.stdout`` and click would print
    nothing, exit 0. ``>/dev/full``: the write fails at the flush, and says where."""
    root = _tree(tmp_path / "t")
    args = ["scan", str(root), *_scan_args(registered_model)]
    closed = subprocess.run(
        ["/bin/sh", "-c", '"$0" "$@" >&-', str(VULNFUSION), *args],
        stderr=subprocess.PIPE, text=True, timeout=300,
    )  # fmt: skip
    assert closed.returncode == 2
    assert closed.stderr == (
        "vulnfusion: error: standard output is closed: nowhere to write the report (give -o FILE)\n"
    )
    with open("/dev/full", "w") as full:
        res = _run(args, stdout=full, stderr=subprocess.PIPE)
    assert res.returncode == 2
    assert res.stderr == (
        "vulnfusion: error: cannot write the report to standard output: No space left on device\n"
    )


def test_descriptor_names_write_to_the_descriptor_itself(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """``-o /dev/stdout`` is the descriptor the shell gave, as bash reads it: an appended
    file keeps what it held (re-opening ``/proc/self/fd/1`` by name would truncate it), a pipe
    takes the report (its ``/proc`` link names no file), ``/dev/stderr`` and ``/dev/fd/N``
    likewise; a closed one fails before the model loads."""
    root = _tree(tmp_path / "t")
    args = " ".join(["scan", str(root), *_scan_args(registered_model, "--format", "json")])
    log = tmp_path / "log.txt"
    script = (
        f'echo PRIOR > {log}; "{VULNFUSION}" {args} -o /dev/stdout >> {log} && '
        f'"{VULNFUSION}" {args} -o /dev/stderr 2>> {log} && '
        f'"{VULNFUSION}" {args} -o /dev/fd/5 5>> {log} && '
        f'"{VULNFUSION}" {args} -o /dev/stdout | cat > {tmp_path / "piped.json"}'
    )
    res = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    text = log.read_text()
    assert text.startswith("PRIOR\n{")
    assert text.count('"format_version"') == 3
    assert len(json.loads((tmp_path / "piped.json").read_text())["findings"]) == 11
    with open(log) as read_only:
        fd = read_only.fileno()
        res = _cli("scan", str(root), "--model", str(tmp_path / "none"), "-o", f"/dev/fd/{fd}")
    assert res.exit_code == 2
    assert res.stderr == f"vulnfusion: error: file descriptor {fd} is open for reading only\n"
    closed = _cli("scan", str(root), "--model", str(tmp_path / "none"), "-o", "/dev/fd/57")
    assert closed.exit_code == 2
    assert closed.stderr == (
        "vulnfusion: error: file descriptor 57 is closed: nowhere to write the report\n"
    )


def test_a_reader_that_is_gone_ends_the_scan_quietly(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """``scan … | head -1`` where head has exited before the report is written (the write
    fails with EPIPE): 141 (SIGPIPE's 128 + 13, as a shell reports ``cat`` there), no
    traceback, no "Exception ignored" from the interpreter's final flush."""
    root = _tree(tmp_path / "t")
    proc = subprocess.Popen(
        [str(VULNFUSION), "scan", str(root), *_scan_args(registered_model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the model has even loaded: the one write must fail
    err = proc.stderr.read()
    assert proc.wait(300) == 141
    assert err == ""


# ----------------------------------------------------------- code that does not parse; no C


SYNTAX = """\
int missing_semi(char *p) {
    char b[4]
    strcpy(b, p);
    return 0;
}

@@@ garbage $$$ line

int after_garbage(char *p) {
    char b[4];
    strcpy(b, p);
    return 0;
}

int unclosed(char *p) {
    char b[4];
    strcpy(b, p);

int last(void) { return 2; }
"""


def test_code_that_does_not_parse_is_noted_and_nothing_is_swallowed(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    root = tmp_path / "t"
    root.mkdir()
    (root / "a.c").write_text(SYNTAX)
    res = _cli("scan", str(root), *_scan_args(registered_model, "--format", "json"))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    found = [(f["function"], f["start_line"], f["end_line"]) for f in doc["findings"]]
    assert found == [("missing_semi", 1, 5), ("after_garbage", 9, 13), ("unclosed", 15, 17),
                     ("last", 19, 19)]  # fmt: skip
    notes = [(n["id"], n["line"], n["message"]) for n in doc["notifications"]]
    assert notes == [
        ("VFN-unparsed", 7, "a.c:7: line 7 does not parse as C (outside any function); "
                            "a function there would not be found"),
        ("VFN-syntax-error", 1, "a.c:1: function missing_semi has a syntax error at line 2: "
                                "read as recovered"),
        ("VFN-syntax-error", 15, "a.c:15: function unclosed is not closed (no '}' matches "
                                 "its '{'): read up to the next definition"),
    ]  # fmt: skip
    summary = doc["summary"]
    assert (summary["functions_with_syntax_errors"], summary["unparsed_regions"]) == (2, 1)
    text = _cli("scan", str(root), *_scan_args(registered_model)).stdout
    assert text.split("\n\n")[-1].splitlines()[1:] == [
        "unparsed (1): a.c:7",
        "syntax-error (2): a.c:1, a.c:15",
    ]


@pytest.mark.parametrize("content", ["empty", "cpp-only", "text-only"])
def test_a_tree_without_c_files_says_so(
    registered_model: RegisteredModel, tmp_path: Path, content: str
) -> None:
    root = tmp_path / "t"
    root.mkdir()
    if content == "cpp-only":
        (root / "a.cpp").write_text("int main() { return 0; }\n")
    elif content == "text-only":
        (root / "README").write_text("no code here\n")
    res = _cli("scan", str(root), *_scan_args(registered_model, "--format", "sarif"))
    assert res.exit_code == 0, res.output
    skipped = " (1 file(s) skipped, see the other notifications)" if content == "cpp-only" else ""
    message = f"no C file (.c, .h) was scanned{skipped}"
    assert res.stderr == f"vulnfusion: notice: {message}\n"
    run = json.loads(res.stdout)["runs"][0]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes][-1] == message
