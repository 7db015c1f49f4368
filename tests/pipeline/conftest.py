"""Fixtures of the pipeline tests: a real ``mlflow server`` on 127.0.0.1, and the whole tiny
pipeline run once as a DVC experiment through ``mlflow run`` for the MLproject tests."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import cloned_project, mlflow_run, sh
from vulnfusion.io import free_port


@dataclass(frozen=True)
class MainExperiment:
    """The tiny project after ``mlflow run . -e main -P preset=demo``: the whole pipeline,
    run once as one DVC experiment, and what was true right after it.

    ``root`` is where ``tests/pipeline/test_mlproject.py`` runs further entry points (it
    changes the workspace). ``status`` is ``dvc status`` and ``experiments`` ``dvc exp list
    --name-only`` (the experiment ``main`` made: one name), both read right after the run.
    """

    root: Path
    status: str
    experiments: list[str]


@pytest.fixture(scope="session")
def main_experiment(tmp_path_factory: pytest.TempPathFactory) -> MainExperiment:
    """One real `mlflow run . -e main` (= `dvc exp run -S preset=demo`) on a committed tiny
    copy of the project (every stage, two seeds, three tracks)."""
    root = cloned_project(tmp_path_factory.mktemp("mlproject") / "proj")
    res = mlflow_run(root, "main", "preset=demo")
    assert res.returncode == 0, res.stderr[-3000:]
    status = sh(["dvc", "status"], root).stdout.strip()
    names = sh(["dvc", "exp", "list", "--name-only"], root).stdout.split()
    return MainExperiment(root, status, names)


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    """A fresh ``mlflow server`` (sqlite backend, 2 workers) on a free loopback port."""
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--workers",
            "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
