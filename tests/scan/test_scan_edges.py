"""``scan`` at its edges: interruption mid-batch, overlapping PATHs, file names that need
URI escapes, malformed baselines, why a function was refused, and ``-o`` / ``--threshold``
values that can never work (all with the real tiny registered model and real files)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.scan.conftest import RegisteredModel
from tests.scan.test_scan import UTIL, _tree
from vulnfusion.console import main
from vulnfusion.scan.engine import SCORING_THREAD, ScanOptions, run_scan, scoring_abandoned
from vulnfusion.scan.sarif import artifact_uri, path_of

SARIF_BIN = Path(sys.executable).parent / "sarif"


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


class _Blocking:
    """``scorer`` whose second ``predict`` blocks until ``release`` is set, and whose
    ``check`` raises ``KeyboardInterrupt`` (a Ctrl-C on the reading thread) once that
    batch is in flight."""

    def __init__(self, scorer: Any) -> None:
        self.scorer, self.max_rows = scorer, scorer.max_rows
        self.calls = 0
        self.in_flight, self.release = threading.Event(), threading.Event()

    def check(self, func: str) -> str | None:
        if self.in_flight.is_set():
            raise KeyboardInterrupt
        return self.scorer.check(func)

    def predict(self, funcs: list[str]) -> list[float]:
        self.calls += 1
        if self.calls == 2:
            self.in_flight.set()
            self.release.wait(60)
        out: list[float] = self.scorer.predict(funcs)
        return out


def test_ctrl_c_mid_batch_returns_at_once(scan_model: Any, tmp_path: Path) -> None:
    """A Ctrl-C while a batch is being scored stops the scan at once: the batch in flight is
    abandoned on a daemon thread (the process can exit without finishing it)."""
    root = _tree(tmp_path / "t")
    for i in range(4):  # enough functions for several 2-function batches
        (root / "src" / f"more{i}.c").write_text(UTIL)
    blocking = _Blocking(scan_model)
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_scan([root], blocking, ScanOptions(threshold=0.0, batch_size=2, progress=False))
        assert time.monotonic() - start < 30  # not the 60 s the blocked batch would take
        workers = [t for t in threading.enumerate() if t.name == SCORING_THREAD]
        assert workers and all(t.daemon for t in workers)
        assert scoring_abandoned()  # what tells the console to end with os._exit
    finally:
        blocking.release.set()
    deadline = time.monotonic() + 30
    while scoring_abandoned() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not scoring_abandoned()  # the released batch ran to its end


def test_ctrl_c_while_the_last_batch_scores_abandons_it(scan_model: Any, tmp_path: Path) -> None:
    """The kind of the trial's exit 134: a Ctrl-C while ``run_scan`` waits for its *last*
    batch (the one its ``with`` block drains on the way out, e.g. in localisation) must
    abandon that batch too, or the console exits normally with torch still running on the
    daemon thread and the C++ runtime aborts ("terminate called without an active
    exception"). A real SIGINT to this process, delivered while the batch is blocked."""
    root = tmp_path / "t"
    root.mkdir()
    (root / "one.c").write_text(UTIL)  # 2 functions: one batch, the last
    blocking = _Blocking(scan_model)
    blocking.calls = 1  # its first predict is the blocking one
    timer = threading.Timer(
        1.0, lambda: (blocking.in_flight.wait(30), os.kill(os.getpid(), signal.SIGINT))
    )
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_scan(
                [root], _NoCheckInterrupt(blocking), ScanOptions(threshold=0.0, progress=False)
            )
        assert scoring_abandoned()
    finally:
        blocking.release.set()
        timer.join()
    deadline = time.monotonic() + 30
    while scoring_abandoned() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not scoring_abandoned()


class _NoCheckInterrupt:
    """``_Blocking`` without its Ctrl-C from ``check`` (the signal comes from outside)."""

    def __init__(self, blocking: _Blocking) -> None:
        self.blocking, self.max_rows = blocking, blocking.max_rows

    def check(self, func: str) -> str | None:
        return self.blocking.scorer.check(func)  # type: ignore[no-any-return]

    def predict(self, funcs: list[str]) -> list[float]:
        return self.blocking.predict(funcs)


def test_cli_interrupt_and_terminate_exit_codes(
    registered_model: RegisteredModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C exits 130 and SIGTERM 143 (a real signal, delivered mid-scan), each with one
    line, and neither leaves an ``-o`` file behind."""
    import vulnfusion.console.scan as console_scan

    root = _tree(tmp_path / "t")
    out = tmp_path / "out.sarif"
    args = ["scan", str(root), "--model", str(registered_model.local_dir), "-o", str(out)]

    def interrupted(*_: Any) -> Any:
        raise KeyboardInterrupt

    def terminated(*_: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the handler raises before this ends
        raise AssertionError("SIGTERM was not delivered")

    before = signal.getsignal(signal.SIGTERM)
    for fake, code, word in ((interrupted, 130, "interrupted"), (terminated, 143, "terminated")):
        monkeypatch.setattr(console_scan, "run_scan", fake)
        res = CliRunner().invoke(main, args)
        assert res.exit_code == code, res.output
        assert res.stderr.strip() == f"vulnfusion: {word}"
        assert list(tmp_path.glob("*.sarif")) == [] and list(tmp_path.glob(".out*")) == []
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back


def test_overlapping_paths_scan_each_file_once(scan_model: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    paths = [root, root / "src" / "util.c", root / "src", root / "src" / "tool.cpp"]
    result = run_scan(paths, scan_model, ScanOptions(threshold=0.0, progress=False))
    assert result.summary.files_scanned == 2
    assert result.summary.files_skipped == {"cpp": 1}
    assert result.summary.functions_found == 11
    spans = [(f.uri, f.start_line) for f in result.findings]
    assert len(spans) == len(set(spans)) == 11


@pytest.mark.parametrize(
    ("name", "uri"),
    [
        ("a b%20#c.c", "a%20b%2520%23c.c"),
        ("dir with space/x?.c", "dir%20with%20space/x%3F.c"),
        ("plain/name_1-2.c", "plain/name_1-2.c"),
        ("ünï.c", "%C3%BCn%C3%AF.c"),
    ],
)
def test_artifact_uris_are_percent_encoded(name: str, uri: str) -> None:
    assert artifact_uri(name) == uri
    assert path_of(uri) == name


def test_sarif_uri_of_an_odd_file_name_reads_back(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    root = tmp_path / "t"
    (root / "odd dir").mkdir(parents=True)
    (root / "odd dir" / "a b%20#c.c").write_text(UTIL)
    out = tmp_path / "odd.sarif"
    model = str(registered_model.local_dir)
    res = _cli("scan", str(root), "--model", model, "--threshold", "0", "--format", "sarif",
               "-o", str(out), "--top-lines", "0")  # fmt: skip
    assert res.exit_code == 0, res.output
    results = json.loads(out.read_text())["runs"][0]["results"]
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert uris == {"odd%20dir/a%20b%2520%23c.c"}
    summary = subprocess.run(
        [str(SARIF_BIN), "summary", str(out)], capture_output=True, text=True, check=True
    )
    levels = re.findall(r"^(?:error|warning|note): (\d+)$", summary.stdout, re.MULTILINE)
    assert len(levels) == 3 and sum(map(int, levels)) == 2  # sarif-tools reads 2 results


def test_malformed_baselines_fail_before_the_scan(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "t")
    model = str(registered_model.local_dir)
    common = ["--model", model, "--threshold", "0", "--top-lines", "0"]
    old = tmp_path / "old.sarif"
    assert _cli("scan", str(root), *common, "--format", "sarif", "-o", str(old)).exit_code == 0
    log = json.loads(old.read_text())
    key = next(iter(log["runs"][0]["results"][0]["partialFingerprints"]))
    log["runs"][0]["results"][0]["partialFingerprints"][key] = ["not", "a", "string"]
    bad = tmp_path / "bad.sarif"
    bad.write_text(json.dumps(log))
    res = CliRunner().invoke(main, ["scan", str(root), *common, "--baseline", str(bad)])
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"vulnfusion: error: --baseline {bad}: results[0].partialFingerprints['{key}'] "
        "is a list, not a string"
    )
    # a result without locations is valid SARIF: reported as absent, with no file
    log = json.loads(old.read_text())
    gone = log["runs"][0]["results"][0]
    del gone["locations"]
    gone["partialFingerprints"] = {k: "0" * 32 for k in gone["partialFingerprints"]}
    noloc = tmp_path / "noloc.sarif"
    noloc.write_text(json.dumps(log))
    out = tmp_path / "new.json"
    res = _cli("scan", str(root), *common, "--baseline", str(noloc), "--format", "json",
               "-o", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    absent = json.loads(out.read_text())["absent"]
    assert [(a["file"], a["function"]) for a in absent] == [(None, gone["properties"]["function"])]


def test_refused_functions_are_counted_by_reason(scan_model: Any, tmp_path: Path) -> None:
    """A function over the model's ``max_input_chars`` counts as ``too-long``, one with a NUL
    byte (past the first 8 KiB, so the file itself is read) as ``binary``."""
    root = tmp_path / "t"
    root.mkdir()
    limit = scan_model.spec.max_input_chars
    body = "    x += 1;\n" * (limit // 12 + 10)
    (root / "long.c").write_text(f"int too_long(int x)\n{{\n{body}    return x;\n}}\n")
    padding = UTIL * (9000 // len(UTIL) + 1)
    (root / "nul.c").write_text(padding + 'int nul(void) { return "\x00"[0]; }\n')
    result = run_scan([root], scan_model, ScanOptions(threshold=0.0, progress=False))
    assert result.summary.functions_skipped == {"binary": 1, "too-long": 1}
    assert len(result.findings) == result.summary.functions_scored == 2 * (9000 // len(UTIL) + 1)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--threshold", "nan", "Invalid value for '--threshold': nan is not a number in [0, 1]"),
        ("--threshold", "inf", "Invalid value for '--threshold'"),
        ("-o", "{tmp}", "Invalid value for '-o': {tmp}: is a directory"),
        ("-o", "{tmp}/file.txt/out.sarif", "{tmp}/file.txt is not a directory"),
    ],
)
def test_unusable_options_fail_before_the_model_loads(
    tmp_path: Path, flag: str, value: str, message: str
) -> None:
    """One line, exit 2, and before the model loads: the model named here does not exist,
    so reaching the load would give another error."""
    root = _tree(tmp_path / "t")
    (tmp_path / "file.txt").write_text("x")
    value = value.format(tmp=tmp_path)
    res = CliRunner().invoke(main, ["scan", str(root), "--model", str(tmp_path / "none"),
                                    flag, value])  # fmt: skip
    assert res.exit_code == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert message.format(tmp=tmp_path) in res.stderr


@pytest.mark.parametrize(
    "uri, module",
    [
        ("http://x", None),  # MLflow's http artifact store: a bare ValueError
        ("http://127.0.0.1:9/m", None),  # nothing listens there
        ("s3://bucket/m", "botocore"),  # each needs its client library: an ImportError
        ("gs://bucket/m", "google.cloud.storage"),
        ("file:///etc/passwd", None),
    ],
)
def test_a_model_uri_that_cannot_load_is_a_usage_error(
    tmp_path: Path, uri: str, module: str | None
) -> None:
    """Whatever an artifact store raises, a bad ``--model`` is one line and exit 2, never a
    traceback or exit 1 (the "findings" code under ``--fail-on-findings``)."""
    import importlib.util

    if module is not None:
        try:
            if importlib.util.find_spec(module) is not None:
                pytest.skip(f"{module} is installed: the URI would reach the network")
        except ModuleNotFoundError:
            pass
    root = _tree(tmp_path / "t")
    res = CliRunner().invoke(main, ["scan", str(root), "--model", uri, "--fail-on-findings"])
    assert res.exit_code == 2, res.output
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith(f"vulnfusion: error: cannot load model '{uri}': ")
    if module is not None:
        assert "client library of this URI's scheme is not installed" in res.stderr
    if uri.startswith("http"):
        assert "set MLFLOW_TRACKING_URI=<server> and pass models:/name@alias" in res.stderr


EXIT_WHILE_BLOCKED = """
import sys, threading
from pathlib import Path
from vulnfusion.scan.engine import SCORING_THREAD, ScanOptions, run_scan, scoring_abandoned

class Stuck:
    max_rows, calls = 1000, 0
    def check(self, func):
        if self.calls >= 2:
            raise KeyboardInterrupt  # Ctrl-C on the reading thread, batch 2 in flight
        return None
    def predict(self, funcs):
        self.calls += 1
        if self.calls == 2:
            threading.Event().wait()  # a batch that never ends
        return [0.5] * len(funcs)

try:
    run_scan([Path(sys.argv[1])], Stuck(), ScanOptions(threshold=0.0, batch_size=2, progress=False))
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


def test_process_exits_while_a_batch_is_still_scoring(tmp_path: Path) -> None:
    """What made Ctrl-C take minutes: the interpreter used to wait at exit for the batch in
    flight (a pool thread). A process whose batch never ends must still exit at once."""
    root = _tree(tmp_path / "t")
    for i in range(4):
        (root / "src" / f"more{i}.c").write_text(UTIL)
    script = tmp_path / "stuck.py"
    script.write_text(EXIT_WHILE_BLOCKED)
    proc = subprocess.run(
        [sys.executable, str(script), str(root)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "interrupted\n"
    assert proc.stderr == ""


# ------------------------------------------------ review of issue 15 (session 17): D2–D5


def test_file_names_that_are_not_utf8_are_scanned(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """Linux file names are bytes: one that is not UTF-8 is scanned like any other. SARIF
    names it by its own bytes, percent-encoded; JSON and text show ``\\xff`` escapes; its
    fingerprints are stable and a baseline finds it again."""
    root = tmp_path / "t"
    root.mkdir()
    body = b"int %s(char *s)\n{\n    char b[1];\n    strcpy(b, s);\n    return 0;\n}\n"
    names = {b"bad\xffname.c": b"bad", b"caf\xe9.c": b"cafe", b"\x80.h": b"lead"}
    for name, func in names.items():
        (Path(os.fsdecode(bytes(root))) / os.fsdecode(name)).write_bytes(body % func)
    common = ["--model", str(registered_model.local_dir), "--threshold", "0", "--top-lines", "1"]
    out = {fmt: tmp_path / f"scan.{fmt}" for fmt in ("sarif", "json", "text")}
    for fmt, path in out.items():
        res = _cli("scan", str(root), *common, "--format", fmt, "-o", str(path))
        assert res.exit_code == 0, res.output
    results = json.loads(out["sarif"].read_text(encoding="utf-8"))["runs"][0]["results"]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results]
    assert sorted(uris) == ["%80.h", "bad%FFname.c", "caf%E9.c"]
    related = results[0]["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert related == uris[0]
    files = sorted(f["file"] for f in json.loads(out["json"].read_text())["findings"])
    assert files == ["\\x80.h", "bad\\xffname.c", "caf\\xe9.c"]
    table = out["text"].read_text(encoding="utf-8")
    assert "bad\\xffname.c:1" in table and "caf\\xe9.c:1" in table
    again = tmp_path / "again.sarif"
    res = _cli("scan", str(root), *common, "--format", "sarif", "-o", str(again),
               "--baseline", str(out["sarif"]))  # fmt: skip
    assert res.exit_code == 0, res.output
    states = [r["baselineState"] for r in json.loads(again.read_text())["runs"][0]["results"]]
    assert states == ["unchanged"] * 3
    summary = subprocess.run(
        [str(SARIF_BIN), "summary", str(out["sarif"])], capture_output=True, text=True
    )
    assert summary.returncode == 0, summary.stderr


def test_an_unwritable_output_directory_fails_before_the_scan(tmp_path: Path) -> None:
    """``/proc`` refuses new files even to root (for whom ``os.access`` says yes): the probe
    writes a real file, before the model loads (the model named here does not exist)."""
    root = _tree(tmp_path / "t")
    res = CliRunner().invoke(
        main, ["scan", str(root), "--model", str(tmp_path / "none"), "-o", "/proc/x.sarif"]
    )
    assert res.exit_code == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith("vulnfusion: error: Invalid value for '-o': /proc/x.sarif: /proc is")
    assert "is not writable (" in line


def test_a_downloaded_registered_version_is_named_by_its_meta(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """``mlflow artifacts download -u models:/…`` writes ``registered_model_meta``: results
    carry that name and version; a directory without it (or with a broken one) is named
    after itself."""
    import shutil

    root = _tree(tmp_path / "t")
    model = tmp_path / "my-model"
    shutil.copytree(registered_model.local_dir, model)
    meta = model / "registered_model_meta"

    def identity() -> tuple[str, str]:
        out = tmp_path / "s.sarif"
        res = _cli("scan", str(root), "--model", str(model), "--threshold", "0",
                   "--top-lines", "0", "--format", "sarif", "-o", str(out))  # fmt: skip
        assert res.exit_code == 0, res.output
        props = json.loads(out.read_text())["runs"][0]["results"][0]["properties"]
        return props["model"], props["modelVersion"]

    meta.write_text("model_name: vulnfusion-ensemble\nmodel_version: 7\n")
    assert identity() == ("vulnfusion-ensemble", "7")
    meta.write_text("model_name: [unclosed\n")
    assert identity()[0] == "my-model"
    meta.unlink()
    name, version = identity()
    assert name == "my-model" and version.startswith("local")


def test_the_text_report_says_why_files_were_skipped(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """Text mode lists each notification kind with a count and its first places."""
    root = tmp_path / "t"
    root.mkdir()
    (root / "ok.c").write_text("int ok(int a)\n{\n    return a;\n}\n")
    for i in range(7):
        (root / f"b{i}.c").write_bytes(b"\x00\x01\x02binary")
    (root / "empty.c").write_bytes(b"")
    (root / "lat.c").write_bytes(b"/* caf\xe9 */\nint lat(int a)\n{\n    return a;\n}\n")
    (root / "tool.cpp").write_text("int main() { return 0; }\n")
    res = _cli("scan", str(root), "--model", str(registered_model.local_dir), "--threshold",
               "1", "--top-lines", "0")  # fmt: skip
    assert res.exit_code == 0, res.output
    tail = res.stdout.split("\n\n")[-1].splitlines()
    assert tail == [
        "notices (all of them in --format json or sarif):",
        "binary (7): b0.c, b1.c, b2.c, b3.c, b4.c, … 2 more",
        "empty (1): empty.c",
        "decoded-latin1 (1): lat.c",
        "cpp (1): tool.cpp",
    ]


def test_verbose_is_our_own_debug_log_only() -> None:
    import logging

    root_level = logging.getLogger().level
    ours = logging.getLogger("vulnfusion")
    before = ours.level
    try:
        res = CliRunner().invoke(main, ["-v", "scan", "--help"])
        assert res.exit_code == 0
        assert ours.level == logging.DEBUG
        assert logging.getLogger("pydot").getEffectiveLevel() > logging.DEBUG
    finally:
        ours.setLevel(before)
        logging.getLogger().setLevel(root_level)


def test_symlinks_named_on_the_command_line_are_reported_not_followed(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    """A PATH that is a symlink (to a file outside the tree, to nowhere, to its own directory)
    is a notice where it stands: the other results keep their paths relative to the tree."""
    root = tmp_path / "t"
    root.mkdir()
    (root / "a.c").write_text("int a(int x)\n{\n    return x;\n}\n")
    outside = tmp_path / "secret.c"
    outside.write_text("int secret(void)\n{\n    return 1;\n}\n")
    (root / "out.c").symlink_to(outside)
    (root / "dangling.c").symlink_to(root / "nowhere.c")
    (root / "loop").symlink_to(root)
    paths = [str(root / n) for n in ("a.c", "out.c", "dangling.c", "loop")]
    out = tmp_path / "scan.json"
    res = _cli("scan", *paths, "--model", str(registered_model.local_dir), "--threshold", "0",
               "--top-lines", "0", "--format", "json", "-o", str(out))  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert [(f["file"], f["function"]) for f in doc["findings"]] == [("a.c", "a")]
    notes = sorted((n["file"], n["id"]) for n in doc["notifications"])
    assert notes == [("dangling.c", "VFN-symlink"), ("loop", "VFN-symlink"),
                     ("out.c", "VFN-symlink")]  # fmt: skip


def test_dash_output_is_standard_output(registered_model: RegisteredModel, tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    res = _cli("scan", str(root), "--model", str(registered_model.local_dir), "--threshold", "0",
               "--top-lines", "0", "--format", "json", "-o", "-")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["findings"]) == 11
    assert not Path("-").exists()
