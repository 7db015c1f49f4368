"""Sizes, paths and the state shared by the sections of one benchmark invocation."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = Path(__file__).resolve().parent
PIPELINES = ROOT / "pipelines"
DEVIGN = (ROOT.parent / "shared" / "data" / "devign" / "devign.jsonl.gz").resolve()
VENV_BIN = Path(sys.executable).parent
TRACKS = ("transformer", "gnn")
SEEDS = (0, 1, 2)
STAGE_TIMEOUT_S = 1800
MB = 1024 * 1024
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    featurize_repeats: int = 3
    featurize_full: bool = True  # False: featurize the Devign subset instead (--quick)
    demo_epochs: int = 2
    devign_batches: int = 12
    devign_repeats: int = 3
    subset_functions: int = 1500
    fusion_epochs: int = 2
    fusion_cached_repeats: int = 3
    fusion_uncached_repeats: int = 3
    scoring_batches: int = 5
    serving_requests: int = 200
    serving_budget_s: float = 300.0
    timing_repeats: int = 3  # best of this many, as the unit tests these timings came from


FULL = Sizes()
QUICK = Sizes(
    featurize_repeats=1,
    featurize_full=False,
    demo_epochs=1,
    devign_batches=4,
    devign_repeats=1,
    fusion_uncached_repeats=1,
    subset_functions=300,
    scoring_batches=2,
    serving_requests=20,
    serving_budget_s=60.0,
)


@dataclass
class Ctx:
    """State shared by the sections of one invocation (memoized workspaces in ``done``)."""

    tmp: Path
    sizes: Sizes
    env: dict[str, str]  # measured runs: torch threads as shipped (or --torch-threads)
    setup_env: dict[str, str]  # runs that only build inputs: 1 thread unless --torch-threads
    done: dict[str, Any] = field(default_factory=dict)
    runs: int = 0
    reuse: bool = False  # --work-dir: keep workspaces a previous invocation left there

    @property
    def logs(self) -> Path:
        return self.tmp / "logs"

    @property
    def quick(self) -> bool:
        return self.sizes is QUICK


def once(ctx: Ctx, key: str, build: Callable[[], T]) -> T:
    """``build()`` the first time ``key`` is asked for in this invocation, then its result."""
    if key not in ctx.done:
        ctx.done[key] = build()
    return cast(T, ctx.done[key])


def make_env(tmp: Path, threads: int | None) -> dict[str, str]:
    """The subprocess environment: the temp MLflow store, offline Hugging Face, our venv."""
    pinned = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")} if threads else {}
    return {
        **os.environ,
        **pinned,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GIT_PYTHON_REFRESH": "quiet",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def dig(d: Any, *keys: str) -> Any:
    """``d[k0][k1]...``, or None where a level is missing."""
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d
