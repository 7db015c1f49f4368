"""The whole malformed corpus inside one real dataset, through the whole DVC pipeline.

Skip mode: every bad record is counted under its reason with its exact ``file:line``, every
good record reaches the splits, the features and the scored test set (nothing lost), and the
run ends with a registered model. The skip-mode run is also the suite's plain ``dvc repro``
of the whole pipeline (outside a DVC experiment): one MLflow run per stage execution in the
default store, one alias on version 1, nothing left stale. Error mode: the first bad record
stops ``prepare`` with one line naming it, and nothing that looks like prepared data is left
behind.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.bad_inputs import CASES, MAX_CHARS_FOR_TESTS
from tests.helpers import dvc_env, dvc_project, sh
from vulnfusion.data.demo import generate_demo

pytestmark = [pytest.mark.slow, pytest.mark.heavy, pytest.mark.reliability]

N_GOOD = 160


def _corpus(path: Path) -> None:
    """Good demo records with every bad case's bad record spliced in, spread through the file."""
    lines = [
        json.dumps({**r, "idx": i}).encode() for i, r in enumerate(generate_demo(N_GOOD, seed=5))
    ]
    for k, case in enumerate(c for c in CASES if c.line == 2):
        bad = case.content.splitlines()[1]
        # own idx (no accidental duplicate) — except the case that is about a duplicate idx
        new_idx = 3 if case.name == "duplicated_ids" else 10_000 + k
        bad = bad.replace(b'"idx": 1', f'"idx": {new_idx}'.encode(), 1)
        bad = bad.replace(b'"idx": 0', f'"idx": {new_idx}'.encode(), 1)
        lines.insert(5 + 9 * k, bad)
    path.write_bytes(b"\n".join(lines) + b"\n")


def _bad_lines(path: Path) -> dict[int, str]:
    """Line → reason, found by reading the corpus back the way a user would (for the check)."""
    from vulnfusion.data.sources import RejectLog, read_source

    rejects = RejectLog()
    read_source(path, MAX_CHARS_FOR_TESTS, skip_bad=True, rejects=rejects)
    out = {}
    for reason, where in rejects.examples.items():
        for w in where:
            out[int(w.rsplit(":", 1)[1])] = reason
    return out


def _repo(root: Path, corpus: Path, mode: str) -> Path:
    # one seed: bad input is what this module exercises (and a one-seed pipeline is a valid
    # configuration the ensemble stages must handle); seed ensembles are tested elsewhere
    return dvc_project(
        root,
        seeds=[0],
        data={
            "source": "devign",
            "path": str(corpus),
            "on_bad_record": mode,
            "max_chars": MAX_CHARS_FOR_TESTS,
        },
    )


def test_skip_mode_end_to_end(tmp_path: Path, reliability: object) -> None:
    corpus = tmp_path / "corpus.jsonl"
    _corpus(corpus)
    n_lines = len(corpus.read_bytes().splitlines())
    root = _repo(tmp_path / "proj", corpus, "skip")
    sh(["dvc", "repro"], root, timeout=1500)

    stats = json.loads((root / "data/prepared/stats.json").read_text())
    rejected = stats["records_rejected"]
    bad_cases = [c for c in CASES if c.line == 2 and c.reason]
    assert set(rejected["by_reason"]) == {c.reason for c in bad_cases}, rejected["by_reason"]
    assert rejected["total"] == len(bad_cases)
    # every rejection names the corpus line it came from
    locations = [w for ws in rejected["examples"].values() for w in ws]
    assert all(w.startswith(f"{corpus}:") for w in locations)
    kept = sum(s["count"] for s in stats["splits"].values())
    dropped = stats["duplicates_dropped"] + stats["conflicting_duplicates_dropped"]
    assert kept + dropped + rejected["total"] == n_lines  # every line accounted for

    # the accepted-but-unparsable function is featurized (counted as a parse error) and scored
    prepared = [
        json.loads(line)
        for s in ("train", "valid", "test")
        for line in (root / f"data/prepared/{s}.jsonl").read_text().splitlines()
    ]
    assert any(r["func"].startswith("int f( {") for r in prepared)
    feats = json.loads((root / "data/features/stats.json").read_text())
    assert sum(s["functions"] for s in feats["splits"].values()) == kept
    test_ids = [
        json.loads(x)["id"] for x in (root / "data/prepared/test.jsonl").read_text().splitlines()
    ]
    scored = json.loads((root / "outputs/fusion/ensemble/logits.json").read_text())["test"]
    assert sorted(scored) == sorted(test_ids)  # the whole test split scored, nothing extra
    assert json.loads((root / "reports/registered_model.json").read_text())["version"] == "1"
    # plain `dvc repro` (no DVC experiment): one run per stage execution in the default store,
    # each nested under the execution's one `pipeline` parent run
    with sqlite3.connect(root / "mlflow.db") as db:
        keys = sorted(r[0] for r in db.execute("select value from tags where key = 'run_key'"))
        aliases = db.execute("select name, alias, version from registered_model_aliases").fetchall()
        parent_of = dict(
            db.execute("select run_uuid, value from tags where key = 'mlflow.parentRunId'")
        )
        (parent,) = db.execute(
            "select run_uuid from tags where key = 'run_key' and value = 'pipeline'"
        )
    tracks = ("transformer", "gnn", "fusion")
    expected = [f"{t}-seed0" for t in tracks] + [f"{t}-ensemble" for t in tracks]
    assert keys == sorted([*expected, "pipeline"])
    assert len(parent_of) == len(expected) and set(parent_of.values()) == {parent[0]}
    passed = json.loads((root / "reports/comparison.json").read_text())["all_targets_pass"]
    assert aliases == [("vulnfusion-ensemble", "champion" if passed else "candidate", 1)]
    assert sh(["dvc", "status"], root).stdout.strip() == "Data and pipelines are up to date."

    for reason, where in sorted(rejected["examples"].items()):
        reliability(
            f"bad record in a {n_lines}-line corpus: {reason} (skip mode, dvc repro)",
            "skipped and counted in stats.json at "
            f"{', '.join(w.rsplit('/', 1)[-1] for w in where)}; pipeline finished and "
            "registered a model",
        )
    reliability(
        "unparsable C (accepted input) through dvc repro",
        f"kept, featurized with tree-sitter error recovery (parse-error rate "
        f"{feats['splits']['train']['parse_error_rate']}), scored",
    )
    reliability(
        f"skip mode accounting ({n_lines} lines)",
        f"{kept} kept + {dropped} duplicates dropped + {rejected['total']} rejected = "
        f"{n_lines}; all {len(test_ids)} test functions scored",
    )


def test_error_mode_stops_at_the_first_bad_line(tmp_path: Path, reliability: object) -> None:
    corpus = tmp_path / "corpus.jsonl"
    _corpus(corpus)
    first_bad = min(_bad_lines(corpus))
    root = _repo(tmp_path / "proj", corpus, "error")
    res = subprocess.run(
        ["dvc", "repro", "prepare"],
        cwd=root,
        env=dvc_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode != 0
    errors = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1 and f"{corpus}:{first_bad}:" in errors[0], res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert not (root / "data/prepared/stats.json").exists()
    reliability(
        "bad record in the corpus, on_bad_record: error (dvc repro)",
        f"one line: {errors[0].replace(str(corpus), 'corpus.jsonl')}; no data/prepared written",
    )
