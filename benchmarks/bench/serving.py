"""Section ``serving``: the real ``mlflow models serve`` on 127.0.0.1 (the model registered by
the subset pipeline, as in ``scoring``), single-function POST /invocations requests sent
sequentially (after 5 warm-up requests).

  serving.p50_ms, serving.p95_ms, serving.mean_ms, serving.requests, serving.errors,
  serving.max_ms, serving.startup_s, serving.target_p50_ms (100), serving.meets_target
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from bench.context import VENV_BIN, Ctx, dig
from bench.inputs import devign_functions, subset_registered
from bench.processes import kill_group, last_line
from vulnfusion.io import free_port


def post_json(url: str, body: dict[str, Any], timeout: float = 60.0) -> int:
    """POST ``body`` as JSON; the HTTP status (error statuses included)."""
    data = json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def wait_ping(url: str, proc: subprocess.Popen[Any], log: Path, timeout: float = 240.0) -> float:
    """Seconds until the server answers ``/ping``; raises if it exits or never answers."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {last_line(log)}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"server did not answer /ping within {timeout:.0f} s")


def send_requests(url: str, funcs: list[str], budget_s: float) -> tuple[list[float], int]:
    """Sequential single-function requests; latencies (ms) of the 200 OK ones, error count."""
    lat, errors, start = [], 0, time.perf_counter()
    for f in funcs:
        if time.perf_counter() - start > budget_s:
            break
        t0 = time.perf_counter()
        status = post_json(f"{url}/invocations", {"dataframe_records": [{"func": f}]})
        if status == 200:
            lat.append((time.perf_counter() - t0) * 1000)
        else:
            errors += 1
    return lat, errors


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(ctx: Ctx, warmup: int = 5) -> dict[str, Any]:
    reg = subset_registered(ctx)
    n = ctx.sizes.serving_requests
    funcs = devign_functions(ctx, n + warmup, seed=2)
    port, log = free_port(), ctx.logs / "serve.log"
    cmd = [
        str(VENV_BIN / "mlflow"),
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
    ]
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            cmd,
            env=ctx.env,
            cwd=ctx.tmp,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        startup = wait_ping(url, proc, log)
        send_requests(url, funcs[:warmup], ctx.sizes.serving_budget_s)
        lat, errors = send_requests(url, funcs[warmup:], ctx.sizes.serving_budget_s)
    finally:
        kill_group(proc)
    if not lat:
        raise RuntimeError(f"no successful request ({errors} errors): {last_line(log)}")
    p50 = percentile(lat, 50)
    return {
        "p50_ms": round(p50, 1),
        "p95_ms": round(percentile(lat, 95), 1),
        "mean_ms": round(statistics.fmean(lat), 1),
        "max_ms": round(max(lat), 1),
        "requests": len(lat),
        "errors": errors,
        "startup_s": round(startup, 1),
        "model_uri": reg["registry_uri"],
        "target_p50_ms": 100,
        "meets_target": p50 <= 100,
    }


def headline(r: dict[str, Any]) -> str:
    return (
        f"p50 {dig(r, 'p50_ms')} ms, p95 {dig(r, 'p95_ms')} ms over {dig(r, 'requests')} requests"
    )
