"""`mlflow models serve` for real on 127.0.0.1: good and malformed requests, stopped by PID."""

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

from tests.bad_inputs import CASES, BadCase
from vulnfusion.io import free_port

pytestmark = pytest.mark.slow


def _post(url: str, body: bytes, ctype: str = "application/json") -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture(scope="module")
def server(trained_workspace: Path) -> Iterator[str]:
    reg = json.loads((trained_workspace / "reports/registered_model.json").read_text())
    port = free_port()
    store = f"sqlite:///{trained_workspace / 'mlflow.db'}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
        "MLFLOW_TRACKING_URI": store,
        "MLFLOW_REGISTRY_URI": store,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }  # as an activated venv
    mlflow_bin = str(Path(sys.executable).parent / "mlflow")
    proc = subprocess.Popen(
        [
            mlflow_bin,
            "models",
            "serve",
            "-m",
            reg["registry_uri"],
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("server did not answer /ping within 180 s")
    yield url
    os.killpg(proc.pid, signal.SIGTERM)  # stop by PID (its whole process group)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def test_scores_good_requests(server: str) -> None:
    body = {
        "dataframe_records": [
            {"func": "int f(char *s) { char b[8]; strcpy(b, s); return 0; }"},
            {"func": "int g(int n) { return n + 1; }"},
        ]
    }
    status, text = _post(f"{server}/invocations", json.dumps(body).encode())
    assert status == 200, text
    preds = json.loads(text)["predictions"]
    assert len(preds) == 2
    for p in preds:
        assert 0.0 <= p["probability"] <= 1.0 and p["label"] in (0, 1)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", ""),
        (
            json.dumps({"dataframe_records": [{"code": "int f(void) { return 0; }"}]}).encode(),
            "func",
        ),
        (json.dumps({"dataframe_records": [{"func": ""}]}).encode(), "empty"),
        (json.dumps({"dataframe_records": [{"func": 42}]}).encode(), ""),
        (json.dumps({"dataframe_records": [{"func": "x" * 250_000}]}).encode(), "limit"),
        (json.dumps({"wrong_key": []}).encode(), ""),
    ],
)
@pytest.mark.reliability
def test_malformed_requests_get_4xx_with_a_message(
    server: str, body: bytes, fragment: str, reliability: object
) -> None:
    status, text = _post(f"{server}/invocations", body)
    assert 400 <= status < 500, (status, text[:500])
    assert "Traceback" not in text
    msg = json.loads(text).get("message", "")
    assert msg and fragment in msg
    reliability(f"REST request body {body[:60]!r}", f"HTTP {status}: {msg[:160]}")


REST_CASES = {  # case → expected message fragment (None: valid input, scored)
    "empty_function": "is empty",
    "binary_garbage": "binary content",
    "macro_only": "no function body",
    "lone_surrogate": "surrogates not allowed",  # rejected by MLflow's parser (pandas 3/arrow)
    "too_long": None,  # 150,033 chars: under register.max_chars (200,000), parse capped at 100k
    "unparsable_c": None,
}


@pytest.mark.parametrize("case", [c for c in CASES if c.name in REST_CASES], ids=lambda c: c.name)
@pytest.mark.reliability
def test_malformed_corpus_through_rest(server: str, case: BadCase, reliability: object) -> None:
    """The foundation's bad-input corpus, as REST requests: rejected with a message, or (for
    text that is valid C input, e.g. a 150,000-character or unparsable function) scored."""
    func = json.loads(case.content.splitlines()[1])["func"]
    body = json.dumps({"dataframe_records": [{"func": func}]}).encode()
    status, text = _post(f"{server}/invocations", body)
    if REST_CASES[case.name] is None:
        assert status == 200, text[:300]
        assert 0.0 <= json.loads(text)["predictions"][0]["probability"] <= 1.0
    else:
        assert 400 <= status < 500 and REST_CASES[case.name] in json.loads(text)["message"]
    outcome = (f"HTTP {status}: scored (valid input)" if status == 200
               else f"HTTP {status}: {json.loads(text)['message'][:160]}")
    reliability(f"bad-input corpus `{case.name}` via REST /invocations", outcome)
