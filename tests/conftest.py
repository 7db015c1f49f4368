"""Shared fixtures: real configs shrunk to test size, trained tiny workspaces, the Devign path.

Only fixtures and pytest hooks live here; helpers a test module imports are in ``tests/helpers``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import DEVIGN, mlflow_state_restored, tiny_params

# ----------------------------------------------------------------------------- parallel runs
# `make test` runs the suite on every core with pytest-xdist (`-n auto --dist loadfile`: a
# test module runs whole on one worker, so its module fixtures are built once). Each worker
# is one process; the stage subprocesses the tests start inherit this, so two workers' torch
# pools do not fight over the same cores (results are only compared within a run).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, modules are handed out heaviest first — ``heavy`` (several whole
    pipeline runs), then ``slow``, then the rest; a module's tests stay together — so the
    longest do not start last and leave one worker alone at the end (``make test`` passes
    ``--no-loadscope-reorder``, which would otherwise order modules by their test count)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rank: dict[Path, int] = {}
    for item in items:
        weight = (
            0 if item.get_closest_marker("heavy") else 1 if item.get_closest_marker("slow") else 2
        )
        rank[item.path] = min(rank.get(item.path, 2), weight)
    items.sort(key=lambda item: rank[item.path])  # stable: file order kept otherwise


@pytest.fixture(autouse=True)
def _isolate_mlflow_env() -> Iterator[None]:
    """One test's MLflow store never leaks into a later test (``mlflow_state_restored``)."""
    with mlflow_state_restored():
        yield


@pytest.fixture
def tiny_params_file(tmp_path: Path) -> Path:
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    return p


@pytest.fixture(scope="session")
def devign_path() -> Path:
    if not DEVIGN.exists():
        pytest.skip(f"{DEVIGN} not present")
    return DEVIGN


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with params.yaml (tiny) and real prepared data + features, built once."""
    from vulnfusion.config import resolve
    from vulnfusion.data.prepare import prepare
    from vulnfusion.featurize import featurize

    root = tmp_path_factory.mktemp("tiny")
    raw = tiny_params()
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    cfg = resolve(raw)
    prepare(cfg, root / "data" / "prepared")
    featurize(cfg, root / "data" / "prepared", root / "data" / "features")
    return root


@pytest.fixture
def mlflow_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real sqlite MLflow store private to the test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture(scope="session")
def trained_workspace(tiny_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny workspace after every stage ran once in-process (branches, fusion, aggregate,
    compare, register) against its own sqlite MLflow store."""
    from vulnfusion.config import load_config
    from vulnfusion.ensemble import aggregate_track
    from vulnfusion.registry import register_ensemble
    from vulnfusion.report import write_comparison
    from vulnfusion.runs.branch import train_branch
    from vulnfusion.runs.fusion import train_fusion

    ws = tiny_workspace
    with mlflow_state_restored():  # nothing of this store leaks into the tests that follow
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{ws / 'mlflow.db'}"
        cfg = load_config(ws / "params.yaml")
        feats, out = ws / "data/features", ws / "outputs"
        for seed in cfg.seeds:
            for track in ("transformer", "gnn"):
                train_branch(cfg, track, seed, feats, out / track / f"seed_{seed}", "test")
            train_fusion(
                cfg,
                seed,
                feats,
                out / "fusion" / f"seed_{seed}",
                out / "transformer" / f"seed_{seed}",
                out / "gnn" / f"seed_{seed}",
                ws / "data/cache/fusion",
                "test",
            )
        for track in ("transformer", "gnn", "fusion"):
            aggregate_track(
                cfg, track, out / track, out / track / "ensemble_metrics.json", feats, False, "test"
            )
        write_comparison(out, ws / "reports")
        register_ensemble(
            cfg,
            out / "fusion",
            feats,
            ws / "reports/comparison.json",
            ws / "reports/registered_model.json",
            "test",
        )
    return ws


# ----------------------------------------------------------------------------- reliability
# Tests marked `reliability` record what fault they tried, what was observed and whether
# anything was lost; `make reliability` sets VULNFUSION_RELIABILITY_REPORT and the session
# writes those rows (and any failure) to that markdown file.

_RELIABILITY_ROWS: list[dict[str, Any]] = []


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Any:
    def record(fault: str, outcome: str, lost: str = "nothing") -> None:
        row = {"fault": fault, "outcome": " ".join(outcome.split())[:300], "lost": lost}
        if ("reliability", row) not in request.node.user_properties:  # hypothesis: once
            request.node.user_properties.append(("reliability", row))

    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" or "reliability" not in report.keywords:
        return
    rows = [v for k, v in report.user_properties if k == "reliability"]
    if report.failed:
        first = str(report.longrepr).strip().splitlines()[-1][:300] if report.longrepr else ""
        rows = [{"fault": report.nodeid, "outcome": f"TEST FAILED: {first}", "lost": "unknown"}]
    for row in rows:
        _RELIABILITY_ROWS.append({**row, "test": report.nodeid, "passed": report.passed})


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("VULNFUSION_RELIABILITY_REPORT")
    if not path or not _RELIABILITY_ROWS:
        return
    from vulnfusion.io import write_text

    lines = [
        "# vulnfusion reliability record",
        "",
        "Written by `make reliability` (`pytest -m reliability`): every fault and bad input "
        "tried by a real test (real processes, real DVC, MLflow and tree-sitter), the outcome "
        "the test observed and asserted, and whether anything was lost.",
        "",
        f"{sum(r['passed'] for r in _RELIABILITY_ROWS)} of {len(_RELIABILITY_ROWS)} checks passed.",
        "",
        "| fault or input | observed outcome | lost | result | test |",
        "|---|---|---|---|---|",
    ]
    for r in _RELIABILITY_ROWS:
        cells = [
            r["fault"],
            r["outcome"],
            r["lost"],
            "pass" if r["passed"] else "FAIL",
            f"`{r['test']}`",
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    write_text(Path(path), "\n".join(lines) + "\n")
