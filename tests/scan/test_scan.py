"""``vulnfusion scan`` end to end with the real tiny registered model and real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.scan.conftest import RegisteredModel
from tests.scan.test_extract_walk import CASES, EXPECTED
from vulnfusion import __version__
from vulnfusion.console import main
from vulnfusion.scan.baseline import apply_baseline
from vulnfusion.scan.engine import FINGERPRINT_KEY, IDENTITY_KEY, ScanOptions, run_scan
from vulnfusion.scan.extract import extract_functions
from vulnfusion.scan.sarif import RULE_ID, build_sarif, level_for

SARIF_BIN = Path(sys.executable).parent / "sarif"

UTIL = """\
#include <string.h>

void copy_name(char *dst, const char *src)
{
    strcpy(dst, src);
}

int sum(const int *v, int n)
{
    int s = 0;
    for (int i = 0; i <= n; i++)
        s += v[i];
    return s;
}
"""


def _tree(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src" / "cases.c").write_text(CASES, encoding="utf-8")
    (root / "src" / "util.c").write_text(UTIL, encoding="utf-8")
    (root / "src" / "tool.cpp").write_text("int main() { return 0; }\n")
    return root


def _opts(threshold: float = 0.0) -> ScanOptions:
    return ScanOptions(threshold=threshold, progress=False)


def _cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_scan_scores_equal_pyfunc_predict(scan_model: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    result = run_scan([root], scan_model, _opts())
    assert result.summary.as_dict() == {
        "files_scanned": 2,
        "files_skipped": {"cpp": 1},
        "files_decoded_latin1": 0,
        "functions_found": 11,
        "functions_scored": 11,
        "functions_skipped": {},
        "functions_with_syntax_errors": 0,
        "unparsed_regions": 0,
        "findings": 11,
    }
    texts = {
        (rel, f.start_line): f.text
        for rel, src in (("src/cases.c", CASES), ("src/util.c", UTIL))
        for f in extract_functions(src)
    }
    # the served pyfunc, one row per request: batching in scan changes no score
    for finding in result.findings:
        text = texts[(finding.uri, finding.start_line)]
        alone = scan_model.pyfunc.predict(pd.DataFrame({"func": [text]}))["probability"][0]
        assert finding.probability == pytest.approx(float(alone), abs=1e-6)
    spans = [
        (f.name, f.start_line, f.start_col, f.end_line, f.end_col)
        for f in result.findings
        if f.uri == "src/cases.c"
    ]
    assert spans == EXPECTED


class _FailingScorer:
    """``scorer`` whose ``predict`` raises on call ``fail_on`` (1-based)."""

    def __init__(self, scorer: Any, fail_on: int) -> None:
        self.scorer, self.fail_on, self.calls = scorer, fail_on, 0
        self.max_rows = scorer.max_rows

    def check(self, func: str) -> str | None:
        return self.scorer.check(func)

    def predict(self, funcs: list[str]) -> list[float]:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError(f"scoring failed on batch {self.calls}")
        out: list[float] = self.scorer.predict(funcs)
        return out


def test_batches_scored_in_background_keep_results_and_errors(
    scan_model: Any, tmp_path: Path
) -> None:
    """Batches are scored on a background thread while the next is extracted: two-function
    batches (6 of them, each scored while the next is read) give the same findings in the
    same order as one batch, and an error in a later batch reaches the caller."""
    root = _tree(tmp_path / "t")
    whole = run_scan([root], scan_model, ScanOptions(threshold=0.0, progress=False))
    small = run_scan([root], scan_model, ScanOptions(threshold=0.0, batch_size=2, progress=False))
    assert small.summary.as_dict() == whole.summary.as_dict()
    assert [(f.uri, f.start_line, f.name) for f in small.findings] == [
        (f.uri, f.start_line, f.name) for f in whole.findings
    ]
    for a, b in zip(small.findings, whole.findings, strict=True):
        assert a.probability == pytest.approx(b.probability, abs=1e-6)
        assert a.fingerprints == b.fingerprints
    for fail_on in (1, 3, 6):  # the first, a middle and the last batch (11 functions)
        failing = _FailingScorer(scan_model, fail_on)
        with pytest.raises(RuntimeError, match=f"scoring failed on batch {fail_on}"):
            run_scan([root], failing, ScanOptions(threshold=0.0, batch_size=2, progress=False))


def test_sarif_fields_github_reads(registered_model: RegisteredModel, tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    out = tmp_path / "scan.sarif"
    model = str(registered_model.local_dir)
    args = ["--model", model, "--format", "sarif", "-o", str(out), "--threshold", "0"]
    res = _cli("scan", str(root), *args)
    assert res.exit_code == 0, res.output
    log = json.loads(out.read_text())
    assert log["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("vulnfusion", __version__)
    assert driver["informationUri"].startswith("https://")
    (rule,) = driver["rules"]
    assert rule["id"] == RULE_ID
    for key in ("shortDescription", "fullDescription", "help"):
        assert rule[key]["text"]
    assert rule["properties"]["security-severity"] == "5.0"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == root.resolve().as_uri() + "/"
    assert len(run["results"]) == 11
    thr = run["properties"]["threshold"]
    assert thr == 0.0
    first = run["results"][0]
    assert first["ruleId"] == RULE_ID
    p = first["properties"]["probability"]
    assert first["level"] == level_for(p)
    links = ", ".join(
        f"[line {r['physicalLocation']['region']['startLine']}]({r['id']})"
        for r in first.get("relatedLocations", [])
    )
    assert first["message"]["text"] == (
        f"Function 'add' looks vulnerable: probability {p:.3f} (threshold 0.000)."
        + (f" Most suspicious lines: {links}." if links else "")
    )
    (loc,) = first["locations"]
    assert loc["physicalLocation"] == {
        "artifactLocation": {"uri": "src/cases.c", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 3, "startColumn": 1, "endLine": 6, "endColumn": 2},
    }
    assert set(first["partialFingerprints"]) == {FINGERPRINT_KEY, IDENTITY_KEY}
    assert all(len(v) == 32 for v in first["partialFingerprints"].values())
    # the download of a registered version says which (registered_model_meta)
    meta = (registered_model.local_dir / "registered_model_meta").read_text()
    assert "model_name: vulnfusion-ensemble" in meta
    assert first["properties"]["model"] == "vulnfusion-ensemble"
    assert f"model_version: {first['properties']['modelVersion']}\n" in meta
    assert first["properties"]["threshold"] == 0.0
    assert 1 <= len(first["relatedLocations"]) <= 5  # the top lines: tests/scan/test_localize.py
    assert "baselineState" not in first
    (inv,) = run["invocations"]
    assert (inv["executionSuccessful"], inv["exitCode"]) == (True, 0)
    assert inv["toolExecutionNotifications"] == [
        {
            "level": "note",
            "message": {"text": "src/tool.cpp: C++ file skipped (the model scores C functions)"},
            "descriptor": {"id": "VFN-cpp"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": "src/tool.cpp", "uriBaseId": "%SRCROOT%"}
                    }
                }
            ],
        }
    ]
    # a real SARIF consumer reads it back: sarif-tools counts the results by level
    levels = [r["level"] for r in run["results"]]
    summary = subprocess.run(
        [str(SARIF_BIN), "summary", str(out)], capture_output=True, text=True, check=True
    ).stdout
    assert f"error: {levels.count('error')}" in summary
    assert f"warning: {levels.count('warning')}" in summary


def _edit(root: Path) -> None:
    """Lines above every function move; one function removed, one added, one edited."""
    cases = root / "src" / "cases.c"
    text = cases.read_text().replace(
        "static inline unsigned sq(unsigned x) { return x * x; }\n", ""
    )
    cases.write_text("/* licence\n * header\n */\n" + text)
    util = (root / "src" / "util.c").read_text()
    util = util.replace("i <= n", "i < n")  # sum: fixed
    util += "\nint added(int *p) { return p[4096]; }\n"
    (root / "src" / "util.c").write_text(util)


def test_fingerprints_and_baseline_states(scan_model: Any, tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    before = run_scan([root], scan_model, _opts())
    old_log = build_sarif(before, {"uri": "m", "name": "m", "version": "1"}, 0)
    old_results = old_log["runs"][0]["results"]
    (root / "src" / "cases.c").write_text("// one\n// two\n// three\n" + CASES)
    moved = run_scan([root], scan_model, _opts())
    # lines inserted above: same fingerprints, same scores, regions three lines lower
    assert [f.fingerprints for f in moved.findings] == [f.fingerprints for f in before.findings]
    assert [f.probability for f in moved.findings] == pytest.approx(
        [f.probability for f in before.findings], abs=1e-6
    )
    shifted = [f.start_line + (3 if f.uri == "src/cases.c" else 0) for f in before.findings]
    assert [f.start_line for f in moved.findings] == shifted
    assert apply_baseline(moved.findings, old_results) == []
    assert {f.baseline_state for f in moved.findings} == {"unchanged"}

    (root / "src" / "cases.c").write_text(CASES)
    _edit(root)
    after = run_scan([root], scan_model, _opts())
    absent = apply_baseline(after.findings, old_results)
    states = {f.name: f.baseline_state for f in after.findings}
    assert states.pop("added") == "new"
    assert states.pop("sum") == "updated"
    assert set(states.values()) == {"unchanged"} and len(states) == 9
    assert [r["properties"]["function"] for r in absent] == ["sq"]
    assert absent[0]["baselineState"] == "absent"
    # not an alert any more, for a consumer that ignores baselineState (SARIF §3.27.9-10)
    assert (absent[0]["kind"], absent[0]["level"]) == ("pass", "none")
    assert "relatedLocations" not in absent[0]
    assert absent[0]["message"]["text"].startswith("Function 'sq' is no longer reported")


def test_cli_baseline_only_new_and_sarif_diff(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    root = _tree(tmp_path / "t")
    model = str(registered_model.local_dir)
    old, new = tmp_path / "old.sarif", tmp_path / "new.sarif"
    common = ["--model", model, "--threshold", "0", "--format", "sarif"]
    assert _cli("scan", str(root), *common, "-o", str(old)).exit_code == 0
    _edit(root)
    res = _cli("scan", str(root), *common, "-o", str(new), "--baseline", str(old))
    assert res.exit_code == 0, res.output
    results = json.loads(new.read_text())["runs"][0]["results"]
    states = sorted((r["properties"]["function"], r["baselineState"]) for r in results)
    assert [s for s in states if s[1] != "unchanged"] == [
        ("added", "new"),
        ("sq", "absent"),
        ("sum", "updated"),
    ]
    only = tmp_path / "only.json"
    flags = ["--baseline", str(old), "--only-new", "--fail-on-findings"]
    res = _cli("scan", str(root), *common[:4], "--format", "json", "-o", str(only), *flags)
    assert res.exit_code == 1
    doc = json.loads(only.read_text())
    assert [(f["function"], f["baseline_state"]) for f in doc["findings"]] == [("added", "new")]
    # sarif-tools diffs the two scans: as many alerts before and after (11: "added" came,
    # "sq" went), and the absent "sq" as a level-none result, not an alert
    diff = tmp_path / "diff.json"
    subprocess.run([str(SARIF_BIN), "diff", str(old), str(new), "-o", str(diff)], check=True)
    report = json.loads(diff.read_text())
    assert report["all"] == {"+": 1, "-": 0}
    assert [report[level]["+"] for level in ("error", "warning", "note", "none")] == [0, 0, 0, 1]
    ((message, counts),) = report["none"]["codes"].items()
    assert message.startswith("VF1001 Function 'sq' is no longer reported")
    assert (counts["<"], counts[">"]) == (0, 1)


def _hostile(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "ok.c").write_text(UTIL)
    (root / "empty.c").write_bytes(b"")
    (root / "blob.c").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8)
    line = b"static const int table_%07d[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };\n"
    with (root / "huge.c").open("wb") as fh:  # 20 MB of generated code
        for i in range(20_000_000 // len(line % 0) + 1):
            fh.write(line % i)
    os.mkfifo(root / "pipe.c")  # tests run as root: chmod 000 cannot make a file unreadable
    os.symlink(root, root / "sub" / "loop")
    (root / "latin.c").write_bytes("int l(void) { return 'é'; }\n".encode("latin-1"))
    return root


@pytest.mark.reliability
def test_hostile_tree_finishes_with_notifications(
    registered_model: RegisteredModel, tmp_path: Path, reliability: Any
) -> None:
    root = _hostile(tmp_path / "h")
    assert (root / "huge.c").stat().st_size >= 20_000_000
    out = tmp_path / "h.sarif"
    model = str(registered_model.local_dir)
    args = ["--model", model, "--format", "sarif", "-o", str(out), "--threshold", "0"]
    res = _cli("scan", str(root), *args)
    assert res.exit_code == 0, res.output
    run = json.loads(out.read_text())["runs"][0]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert sorted((n["descriptor"]["id"], n["level"]) for n in notes) == [
        ("VFN-binary", "warning"),
        ("VFN-decoded-latin1", "note"),
        ("VFN-empty", "note"),
        ("VFN-not-regular", "warning"),
        ("VFN-symlink", "note"),
        ("VFN-too-large", "warning"),
    ]
    summary = run["properties"]["summary"]
    assert summary["files_scanned"] == 2 and summary["files_decoded_latin1"] == 1
    assert summary["files_skipped"] == {
        "binary": 1,
        "empty": 1,
        "not-regular": 1,
        "symlink": 1,
        "too-large": 1,
    }
    assert sorted(r["properties"]["function"] for r in run["results"]) == ["copy_name", "l", "sum"]
    reliability(
        "scan a tree with a symlink loop, a FIFO named .c, a binary .c, a 20 MB file, an empty "
        "file and a Latin-1 file",
        "exit 0; 6 notifications (binary, latin-1, empty, FIFO, symlink, too-large); the 3 real "
        "functions scored",
    )


def test_text_format_and_exit_codes(registered_model: RegisteredModel, tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    model = str(registered_model.local_dir)
    res = _cli(
        "scan", str(root), "--model", model, "--threshold", "0", "--no-progress", "--top-lines", "0"
    )
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["location", "function", "probability", "level"]
    probs = [float(line.split()[-2]) for line in lines[1:12]]
    assert probs == sorted(probs, reverse=True) and len(lines) == 17
    assert lines[13].startswith("11 finding(s) at threshold 0.000 · 11 functions scored in 2 files")
    assert lines[14:] == [
        "",
        "notices (all of them in --format json or sarif):",
        "cpp (1): src/tool.cpp",
    ]
    findings = _cli("scan", str(root), "--model", model, "--threshold", "0", "--fail-on-findings")
    assert findings.exit_code == 1
    clean = _cli("scan", str(root), "--model", model, "--threshold", "1", "--fail-on-findings")
    assert clean.exit_code == 0
    assert clean.stdout.startswith("no function at or above the threshold")
    for args, message in [
        ((str(tmp_path / "nope"), "--model", model), "nope: no such file or directory"),
        ((str(root), "--model", str(tmp_path / "nomodel")), "no such directory"),
        ((str(root), "--model", model, "--only-new"), "--only-new needs --baseline"),
        ((str(root), "--model", model, "--baseline", str(root / "src/util.c")), "--baseline"),
        ((str(root), "--threshold", "2"), "2.0 is not in the range"),
    ]:
        bad = _cli("scan", *args)
        assert bad.exit_code == 2, (args, bad.output)
        assert message in bad.stderr.strip().splitlines()[-1]


def test_default_model_from_the_registry(registered_model: RegisteredModel, tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    # both named: a registry URI exported earlier in this process must not win
    env = {k: registered_model.tracking_uri for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    res = _cli("scan", str(root), "--format", "json", "--threshold", "0", env=env)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["model"]["name"] == "vulnfusion-ensemble"
    assert doc["model"]["version"] == "1"
    if registered_model.alias == "candidate":  # the tiny model fails the targets
        assert doc["model"]["uri"] == "models:/vulnfusion-ensemble@candidate"
        assert "vulnfusion: notice: models:/vulnfusion-ensemble@champion is not" in res.stderr
    else:
        assert doc["model"]["uri"] == "models:/vulnfusion-ensemble@champion"
