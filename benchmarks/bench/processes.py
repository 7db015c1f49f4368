"""Subprocesses measured as a tree: wall time, sampled peak RSS, CPU seconds."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.context import MB, PIPELINES, STAGE_TIMEOUT_S, Ctx


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_rss_mb: float  # summed over the process tree, sampled
    maxrss_mb: float  # largest single reaped descendant so far (getrusage cross-check)
    cpu_s: float  # user + sys of the reaped tree


class RssSampler(threading.Thread):
    """Samples the summed RSS of a process and all its descendants every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._halt.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def kill_group(proc: subprocess.Popen[Any], grace_s: float = 20.0) -> None:
    """SIGTERM the process group we started, then SIGKILL it if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace_s)


def last_line(path: Path) -> str:
    """The last non-blank line of a log (300 characters at most), for one-line errors."""
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"


def run_measured(
    ctx: Ctx,
    cmd: list[str],
    tag: str,
    setup: bool = False,
    timeout: float = STAGE_TIMEOUT_S,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Measured:
    """Run ``cmd`` in the temp dir (own process group), log to a file, measure it."""
    ctx.runs += 1
    log_path = ctx.logs / f"{ctx.runs:03d}-{tag}.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log_path.open("w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            env=env or (ctx.setup_env if setup else ctx.env),
            cwd=cwd or ctx.tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        sampler = RssSampler(proc.pid)
        sampler.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise RuntimeError(f"{tag} timed out after {timeout:.0f} s") from None
        finally:
            sampler.stop()
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        raise RuntimeError(f"{tag} exited with {rc}: {last_line(log_path)}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(
        round(wall, 2), round(sampler.peak / MB, 1), round(after.ru_maxrss / 1024, 1), round(cpu, 2)
    )


def stage(
    ctx: Ctx, script: str, params: Path, *args: str | Path, tag: str = "", setup: bool = False
) -> Measured:
    """One pipeline stage script, exactly as DVC would call it (but with our paths).

    ``setup``: the run only builds inputs for a measurement (its time is not a headline
    figure), so it gets ``ctx.setup_env``.
    """
    cmd = [sys.executable, str(PIPELINES / script), "--params", str(params), *map(str, args)]
    return run_measured(ctx, cmd, tag or Path(script).stem, setup)
