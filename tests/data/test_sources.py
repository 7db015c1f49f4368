"""Every malformed case: a one-line error naming file and line, or a counted skip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.bad_inputs import CASES, GOOD, MAX_CHARS_FOR_TESTS, BadCase
from tests.helpers import run_script, tiny_params
from vulnfusion.data.sources import DataError, RejectLog, read_source

IDS = [c.name for c in CASES]


def _write(tmp_path: Path, case: BadCase) -> Path:
    path = tmp_path / f"{case.name}.jsonl"
    path.write_bytes(case.content)
    return path


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_error_mode_names_file_and_line(tmp_path: Path, case: BadCase) -> None:
    path = _write(tmp_path, case)
    if case.error is None:
        recs = read_source(path, MAX_CHARS_FOR_TESTS, skip_bad=False, rejects=RejectLog())
        assert len(recs) == 2
        return
    with pytest.raises(DataError) as err:
        read_source(path, MAX_CHARS_FOR_TESTS, skip_bad=False, rejects=RejectLog())
    msg = str(err.value)
    assert "\n" not in msg
    assert case.error in msg
    where = f"{path}:{case.line}:" if case.line else f"{path}:"
    assert msg.startswith(where), msg


@pytest.mark.reliability
@pytest.mark.parametrize("case", [c for c in CASES if c.reason], ids=lambda c: c.name)
def test_skip_mode_counts_and_keeps_good(
    tmp_path: Path, case: BadCase, reliability: object
) -> None:
    path = _write(tmp_path, case)
    rejects = RejectLog()
    recs = read_source(path, MAX_CHARS_FOR_TESTS, skip_bad=True, rejects=rejects)
    assert [r.func for r in recs] == [GOOD["func"]]
    assert rejects.counts == {case.reason: 1}
    assert rejects.examples[case.reason] == [f"{path}:2"]
    reliability(
        f"bad record `{case.name}` (on_bad_record: skip)",
        f"skipped, counted as '{case.reason}' at {path.name}:2; the good record kept",
    )


def test_empty_file_fails_even_when_skipping(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        read_source(path, 1000, skip_bad=True, rejects=RejectLog())


@pytest.mark.parametrize("layout", ["function_json", "codexglue_dir", "jsonl_gz"])
def test_public_shapes(tmp_path: Path, layout: str) -> None:
    import gzip

    funcs = [f"int f{i}(int x) {{ return x + {i}; }}" for i in range(6)]
    if layout == "function_json":
        path = tmp_path / "function.json"
        path.write_text(
            json.dumps(
                [
                    {"project": "qemu", "commit_id": "c", "target": i % 2, "func": f}
                    for i, f in enumerate(funcs)
                ]
            )
        )
    elif layout == "codexglue_dir":
        path = tmp_path / "cx"
        path.mkdir()
        for s, chunk in zip(
            ("train", "valid", "test"), (funcs[:4], funcs[4:5], funcs[5:]), strict=True
        ):
            rows = [{"func": f, "target": 1, "idx": funcs.index(f)} for f in chunk]
            (path / f"{s}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path = tmp_path / "d.jsonl.gz"
        with gzip.open(path, "wt") as fh:
            for i, f in enumerate(funcs):
                fh.write(
                    json.dumps({"project": "FFmpeg", "project_index": i, "target": 0, "func": f})
                    + "\n"
                )
    recs = read_source(path, 10_000, skip_bad=False, rejects=RejectLog())
    assert [r.func for r in recs] == funcs
    if layout == "codexglue_dir":
        assert [r.orig_split for r in recs] == ["train"] * 4 + ["valid", "test"]


@pytest.mark.reliability
@pytest.mark.parametrize("case", [c for c in CASES if c.error], ids=lambda c: c.name)
def test_prepare_cli_one_line_error_and_no_output(
    tmp_path: Path, case: BadCase, reliability: object
) -> None:
    path = _write(tmp_path, case)
    params = tiny_params(
        data={"source": "devign", "path": str(path), "max_chars": MAX_CHARS_FOR_TESTS}
    )
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "prepared"
    res = run_script("prepare.py", "--output-dir", str(out), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: ") and case.error in lines[-1]
    assert "Traceback" not in res.stderr
    assert not out.exists()
    reliability(
        f"bad record `{case.name}` (on_bad_record: error, prepare stage)",
        f"exit 2, one line: {lines[-1].replace(str(tmp_path) + '/', '')}; no output",
    )
