"""Requests MLflow's schema check used to reject with a dump of the whole request (no `func`
column, no rows, a number where C source belongs) get one line naming the field, from a real
`mlflow models serve` of the registered model (issue 13 review, defect 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from vulnfusion.io import free_port
from vulnfusion.serving import REQUEST_SHAPE

pytestmark = pytest.mark.slow

GOOD = "int f(char *s) { char b[8]; strcpy(b, s); return 0; }"
NO_FUNC = f"no rows with a 'func' column to score; {REQUEST_SHAPE}"
ONE = "1 row rejected, nothing scored: row 0: "

CASES = {
    "records without func": ({"dataframe_records": [{"code": GOOD}]}, NO_FUNC),
    "no records": ({"dataframe_records": []}, NO_FUNC),
    "empty split": (
        {"dataframe_split": {"columns": ["func"], "data": []}},
        f"no rows to score; {REQUEST_SHAPE}",
    ),
    "integer func": (
        {"dataframe_records": [{"func": 42}]},
        ONE + "'func' must be a string, got int",
    ),
    "float func": (
        {"dataframe_split": {"columns": ["func"], "data": [[1.5]]}},
        ONE + "'func' must be a string, got float",
    ),
    "null func": ({"dataframe_records": [{"func": None}]}, ONE + "'func' is missing (null)"),
    "list func in one of two records": (
        {"dataframe_records": [{"func": GOOD}, {"func": ["int"]}]},
        "1 of 2 rows rejected, nothing scored: row 1: 'func' must be a string, got list",
    ),
    "columnar inputs with a number": (
        {"inputs": {"func": [GOOD, 7]}},
        "1 of 2 rows rejected, nothing scored: row 1: 'func' must be a string, got int",
    ),
    "one record lacks func": (
        {"dataframe_records": [{"func": GOOD}, {"code": GOOD}]},
        "1 of 2 rows rejected, nothing scored: row 1: 'func' is missing (null)",
    ),
    "inputs with a number": ({"inputs": {"func": [7]}}, ONE + "'func' must be a string, got int"),
    "columnar inputs without rows": (
        {"inputs": {"func": []}},
        f"no rows to score; {REQUEST_SHAPE}",
    ),
}


def _post(url: str, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def server(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow models serve` of the workspace's registered model on a free loopback port,
    stopped by the PID of its process group."""
    reg = json.loads((trained_workspace / "reports/registered_model.json").read_text())
    store = f"sqlite:///{trained_workspace / 'mlflow.db'}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        "MLFLOW_TRACKING_URI": store,
        "MLFLOW_REGISTRY_URI": store,
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    port = free_port()
    log_path = tmp_path_factory.mktemp("serve_schema") / "server.log"
    with log_path.open("w") as log:
        serve = ["models", "serve", "-m", reg["registry_uri"], "--env-manager", "local"]
        where = ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), *serve, *where],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                assert proc.poll() is None, log_path.read_text()[-2000:]
                assert time.monotonic() < deadline, "server did not answer /ping in 180 s"
                try:
                    with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(1)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("case", list(CASES))
def test_schema_level_errors_are_one_line_naming_the_field(server: str, case: str) -> None:
    body, expected = CASES[case]
    status, text = _post(f"{server}/invocations", json.dumps(body).encode())
    assert status == 400, text[:500]
    answer = json.loads(text)
    assert (answer["error_code"], answer["message"]) == ("INVALID_PARAMETER_VALUE", expected)
    assert len(text) < 400  # no dump of the request, no schema listing


def test_a_good_request_still_scores(server: str) -> None:
    status, text = _post(
        f"{server}/invocations", json.dumps({"dataframe_records": [{"func": GOOD}]}).encode()
    )
    assert status == 200, text[:500]
    (pred,) = json.loads(text)["predictions"]
    assert 0.0 <= pred["probability"] <= 1.0 and pred["label"] in (0, 1)


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": {"func": [GOOD, GOOD.replace("8", "16")]}},  # columnar: MLflow's one row
        {"dataframe_split": {"columns": ["func"], "data": [[GOOD], [GOOD.replace("8", "16")]]}},
        {"inputs": [{"func": GOOD}, {"func": GOOD.replace("8", "16")}]},
        {"instances": [{"func": GOOD}, {"func": GOOD.replace("8", "16")}]},
    ],
)
def test_every_json_request_form_scores_like_records(server: str, body: dict) -> None:
    """The four JSON shapes MLflow's server documents give the records form's answer, row
    for row (the columnar ``inputs`` form used to be refused as "got list")."""
    records = {"dataframe_records": [{"func": GOOD}, {"func": GOOD.replace("8", "16")}]}
    want = json.loads(_post(f"{server}/invocations", json.dumps(records).encode())[1])
    status, text = _post(f"{server}/invocations", json.dumps(body).encode())
    assert status == 200, text[:500]
    assert json.loads(text)["predictions"] == want["predictions"]
