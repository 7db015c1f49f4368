"""`mlflow models serve` for real on 127.0.0.1, stopped by PID: good and malformed requests,
the row limit against the server's timeout, 8 concurrent clients for half a minute (a minute
under `make reliability`; 0 errors, p50/p99, flat RSS) and clients that hang up mid-request."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
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


TIMEOUT_S = 60  # `mlflow models serve --timeout` (MLflow's default, set explicitly here)


@pytest.fixture(scope="module")
def server_process(
    trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int]]:
    """The real scoring server on a free loopback port: (URL, PID of its process group)."""
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
    log_path = tmp_path_factory.mktemp("serve") / "server.log"
    log = log_path.open("w")
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
            "--timeout",
            str(TIMEOUT_S),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,  # a file, not a pipe: a full pipe would block the server under load
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("server did not answer /ping within 180 s")
    yield url, proc.pid
    os.killpg(proc.pid, signal.SIGTERM)  # stop by PID (its whole process group)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def server(server_process: tuple[str, int]) -> str:
    return server_process[0]


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


def test_every_bad_row_is_listed_in_a_short_400(server: str) -> None:
    good = "int g(int n) { return n + 1; }"
    funcs = [good] * 50
    for i in (3, 7, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21):
        funcs[i] = ""
    funcs[37] = "int f(void) return 0;"  # '(' present, '{' missing
    status, text = _post(f"{server}/invocations", _records(funcs))
    assert status == 400
    body = json.loads(text)
    assert body["error_code"] == "INVALID_PARAMETER_VALUE"
    listed = "; ".join(f"row {i}: 'func' is empty" for i in (3, 7, 11, 12, 13, 14, 15, 16, 17, 18))
    assert body["message"] == f"14 of 50 rows rejected, nothing scored: {listed}; and 4 more"
    assert len(text) < 600  # no dump of the 50-row request


def test_a_missing_brace_is_named_as_such(server: str) -> None:
    body = json.dumps({"dataframe_records": [{"func": "int f(void) return 0;"}]}).encode()
    status, text = _post(f"{server}/invocations", body)
    assert (status, json.loads(text)["message"]) == (
        400,
        "1 row rejected, nothing scored: row 0: no function body (no '{' found)",
    )


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
    outcome = (
        f"HTTP {status}: scored (valid input)"
        if status == 200
        else f"HTTP {status}: {json.loads(text)['message'][:160]}"
    )
    reliability(f"bad-input corpus `{case.name}` via REST /invocations", outcome)


# ----------------------------------------------------------------------------- limits & load


def _functions(workspace: Path) -> list[str]:
    from vulnfusion.io import read_jsonl

    splits = ("test", "valid")
    return [r["func"] for s in splits for r in read_jsonl(workspace / f"data/prepared/{s}.jsonl")]


def _records(funcs: list[str]) -> bytes:
    return json.dumps({"dataframe_records": [{"func": f} for f in funcs]}).encode()


@pytest.mark.reliability
def test_a_request_at_the_row_limit_is_scored_and_one_more_row_is_refused_at_once(
    server: str, trained_workspace: Path, reliability: object
) -> None:
    from vulnfusion.config import load_config

    limit = load_config(trained_workspace / "params.yaml").register.max_rows
    pool = _functions(trained_workspace)
    funcs = [pool[i % len(pool)] for i in range(limit)]
    start = time.perf_counter()
    status, text = _post(f"{server}/invocations", _records(funcs))
    at_limit_s = time.perf_counter() - start
    assert status == 200, text[:300]
    assert len(json.loads(text)["predictions"]) == limit
    assert at_limit_s < TIMEOUT_S
    start = time.perf_counter()
    status, text = _post(f"{server}/invocations", _records([*funcs, funcs[0]]))
    over_s = time.perf_counter() - start
    assert status == 400
    # the body is our message alone (no dump of the request before it)
    body = json.loads(text)
    assert (body["error_code"], body["message"]) == (
        "INVALID_PARAMETER_VALUE",
        f"{limit + 1} rows exceed the limit of {limit} rows per request "
        "(register.max_rows); split the request",
    )
    assert over_s < 5.0  # refused before any scoring (scoring `limit` rows took at_limit_s)
    reliability(
        f"REST request of exactly register.max_rows = {limit:,} rows, then {limit + 1:,} rows",
        f"{limit:,} rows: HTTP 200 in {at_limit_s:.1f} s (timeout {TIMEOUT_S} s, tiny model); "
        f"{limit + 1:,} rows: HTTP 400 naming the limit in {over_s:.2f} s, nothing scored",
    )


LOAD_CLIENTS = 8
# `make reliability` (which sets VULNFUSION_RELIABILITY_REPORT) soaks for a minute; `make test`
# for half of one: the same clients and checks, RSS growth measured over 20 s instead of 45 s.
_SOAK = os.environ.get("VULNFUSION_RELIABILITY_REPORT")
LOAD_S = 60.0 if _SOAK else 30.0
WARMUP_S = 15.0 if _SOAK else 10.0  # RSS growth is measured from here to the end
RSS_GROWTH_TOLERANCE = 0.15  # "flat": under 15% growth after warm-up
REQUEST_SIZES = (1, 1, 1, 4, 16, 64)  # rows per request, drawn at random: mostly single
MAX_REQUESTS_PER_CLIENT = 5_000  # a bound on the loop whatever the speed


def _tree_rss(pid: int) -> int:
    """Resident memory (bytes) of the server's process tree: the CLI and uvicorn below it."""
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):  # a child that just exited
            total += proc.memory_info().rss
    return total


def _client(url: str, pool: list[str], seed: int, t0: float, out: list[dict[str, Any]]) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        started = time.perf_counter() - t0
        if started >= LOAD_S:
            return
        rows = int(rng.choice(REQUEST_SIZES))
        funcs = [pool[int(i)] for i in rng.integers(0, len(pool), size=rows)]
        try:
            status, text = _post(f"{url}/invocations", _records(funcs))
            ok = status == 200 and len(json.loads(text)["predictions"]) == rows
            error = "" if ok else f"HTTP {status}: {text[:200]}"
        except Exception as exc:  # every failure counts as an error
            error = f"{type(exc).__name__}: {exc}"
        latency = time.perf_counter() - t0 - started
        out.append({"start": started, "s": latency, "rows": rows, "error": error})


@pytest.mark.reliability
def test_eight_concurrent_clients_under_sustained_load(
    server_process: tuple[str, int], trained_workspace: Path, reliability: object
) -> None:
    url, pid = server_process
    pool = _functions(trained_workspace)
    results: list[list[dict[str, Any]]] = [[] for _ in range(LOAD_CLIENTS)]
    rss: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    clients = [
        threading.Thread(target=_client, args=(url, pool, i, t0, results[i]), daemon=True)
        for i in range(LOAD_CLIENTS)
    ]
    for c in clients:
        c.start()
    while time.perf_counter() - t0 < LOAD_S:  # RSS once a second while the clients run
        rss.append((time.perf_counter() - t0, _tree_rss(pid)))
        time.sleep(1.0)
    for c in clients:
        c.join(timeout=TIMEOUT_S + 30)
    assert not any(c.is_alive() for c in clients), "a client is still waiting on the server"
    rss.append((time.perf_counter() - t0, _tree_rss(pid)))
    done = [r for rows in results for r in rows]
    errors = [r["error"] for r in done if r["error"]]
    assert errors == [], errors[:3]
    assert all(len(rows) >= 1 for rows in results)
    lat = np.array([r["s"] for r in done if r["start"] >= WARMUP_S]) * 1000
    single = np.array([r["s"] for r in done if r["start"] >= WARMUP_S and r["rows"] == 1]) * 1000
    p50, p99 = np.percentile(lat, [50, 99])
    warm = next(v for t, v in rss if t >= WARMUP_S)
    end, peak = rss[-1][1], max(v for _, v in rss)
    growth = (end - warm) / warm
    assert growth < RSS_GROWTH_TOLERANCE, [round(v / 2**20) for _, v in rss]
    reliability(
        f"{LOAD_CLIENTS} concurrent REST clients for {LOAD_S:.0f} s, requests of "
        f"{sorted(set(REQUEST_SIZES))} rows",
        f"{len(done)} requests ({sum(r['rows'] for r in done)} functions), 0 errors; after "
        f"{WARMUP_S:.0f} s warm-up p50 {p50:.0f} ms, p99 {p99:.0f} ms (single-function p50 "
        f"{np.percentile(single, 50):.0f} ms); server RSS {warm / 2**20:.0f} MB after warm-up, "
        f"{end / 2**20:.0f} MB at the end ({growth:+.1%}, limit +{RSS_GROWTH_TOLERANCE:.0%}), "
        f"peak {peak / 2**20:.0f} MB",
    )


def _hang_up(url: str, body: bytes, send: int) -> None:
    """POST ``body`` but send only its first ``send`` bytes, then close without reading."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST /invocations HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(head + body[:send])


@pytest.mark.reliability
def test_a_client_that_hangs_up_mid_request_does_not_hurt_the_next(
    server_process: tuple[str, int], trained_workspace: Path, reliability: object
) -> None:
    url, pid = server_process
    pool = _functions(trained_workspace)
    probe = _records(pool[:8])
    status, text = _post(f"{url}/invocations", probe)
    assert status == 200, text[:300]
    expected = [p["probability"] for p in json.loads(text)["predictions"]]
    big = _records([pool[i % len(pool)] for i in range(256)])
    _hang_up(url, big, len(big) // 2)  # gone while the body is being read
    _hang_up(url, big, len(big))  # gone while the model scores
    request = urllib.request.Request(
        f"{url}/invocations", data=big, headers={"Content-Type": "application/json"}
    )
    with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=0.2) as r:
        r.read()  # a client that gives up after 0.2 s, while the model scores
    after = []
    for _ in range(5):
        start = time.perf_counter()
        status, text = _post(f"{url}/invocations", probe)
        after.append(time.perf_counter() - start)
        assert status == 200, text[:300]
        got = [p["probability"] for p in json.loads(text)["predictions"]]
        assert got == pytest.approx(expected, abs=1e-6)
    assert psutil.pid_exists(pid)
    reliability(
        "REST clients hanging up mid-request (half the body sent; whole body sent, no read; "
        "client timeout 0.2 s), each a 256-function request",
        f"server alive; the next 5 requests: HTTP 200, same probabilities as before, in "
        f"{min(after):.2f}-{max(after):.2f} s each",
    )
