"""Command line of ``benchmarks/run.py``: run the chosen sections, write bench.json/.md."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bench
from bench.context import DEVIGN, FULL, QUICK, ROOT, Ctx, make_env
from bench.report import merge_results, write_outputs
from bench.sections import SECTIONS, markdowns
from vulnfusion.io import git_commit


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_section(ctx: Ctx, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """One section's result (or ``{"error": ...}``) and its ``meta.sections.<name>`` entry."""
    section = SECTIONS[name]
    before, start, date = os.getloadavg(), time.perf_counter(), _now()
    try:
        result = section.run(ctx)
    except Exception as exc:  # one section failing must not stop the others
        result = {"error": one_line(exc)}
    wall, after = time.perf_counter() - start, os.getloadavg()
    meta = {
        "date": date,
        "wall_s": round(wall, 1),
        "quick": ctx.quick,
        "load_avg_before": [round(x, 2) for x in before],
        "load_avg_after": [round(x, 2) for x in after],
    }
    line = f"ERROR {result['error']}" if "error" in result else section.headline(result)
    print(f"[bench] {name}: {line} ({wall:.0f} s, load {before[0]:.2f}→{after[0]:.2f})", flush=True)
    return result, meta


def run_meta(quick: bool, threads: int | None) -> dict[str, Any]:
    import torch

    if threads:
        torch.set_num_threads(threads)
    return {
        "date": _now(),
        "torch_threads_setting": threads or "default (torch picks)",
        "git_sha": git_commit(ROOT),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": quick,
        "devign": str(DEVIGN),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    doc = bench.__doc__ or ""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--output", type=Path, default=ROOT / "reports" / "bench.json")
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma list of sections (default: all): {','.join(SECTIONS)}",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes: a smoke test")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, outputs)")
    p.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="use (and keep) this directory instead of a fresh temp dir; the Devign pipeline "
        "workspaces a previous invocation left there are reused (their `dvc repro` is a no-op "
        "when up to date), so later sections can run without retraining",
    )
    p.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="pin torch intra-op threads (OMP/MKL_NUM_THREADS in the stages, "
        "torch.set_num_threads here); default: as shipped, torch decides",
    )
    args = p.parse_args(argv)
    args.sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not DEVIGN.exists():
        print(f"[bench] warning: {DEVIGN} not found; Devign sections will record errors")
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # in-process scoring: less noise
    if args.work_dir is not None:
        tmp = args.work_dir.resolve()
        tmp.mkdir(parents=True, exist_ok=True)
        args.keep_tmp = True
    else:
        tmp = Path(tempfile.mkdtemp(prefix="vulnfusion-bench-"))
    env = make_env(tmp, args.torch_threads)
    one = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    ctx = Ctx(
        tmp,
        QUICK if args.quick else FULL,
        env,
        env if args.torch_threads else {**env, **one},
        reuse=args.work_dir is not None,
    )
    ctx.logs.mkdir(exist_ok=True)
    meta = run_meta(args.quick, args.torch_threads)
    results: dict[str, Any] = {}
    section_meta: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        for name in args.sections:
            results[name], section_meta[name] = run_section(ctx, name)
            section_meta[name]["git_sha"] = meta["git_sha"]
            section_meta[name]["torch_threads"] = meta["torch_threads_setting"]
            # write after every section: an interrupted run keeps what it measured
            write_outputs(
                args.output, merge_results(args.output, results, meta, section_meta), markdowns()
            )
    finally:
        if args.keep_tmp:
            print(f"[bench] temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"[bench] wrote {args.output} and {args.output.with_suffix('.md')} "
        f"({time.perf_counter() - start:.0f} s)"
    )
