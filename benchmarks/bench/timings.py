"""Section ``timings``: two library calls timed in-process against fixed wall-clock targets
(they were unit-test assertions; a test suite on a shared machine is the wrong place for a
stopwatch). Each figure is the best of ``timing_repeats`` (3) calls, so a momentarily busy
machine does not decide it; ``runs_s`` keeps every call.

  timings.demo_generation.{best_s,runs_s,functions (2000),seed (13),target_s (2.0),
      meets_target}                 ``vulnfusion.data.demo.generate_demo(2000, seed=13)``
  timings.bootstrap_ci.{f1,roc_auc}.{best_s,runs_s,target_s (1.0),meets_target}
      ``vulnfusion.metrics.bootstrap_ci`` with 1,000 resamples of 3,000 examples (positive
      rate 0.3, informative scores, a third rounded to 2 decimals so that ties occur), after
      one 50-resample warm-up call; also timings.bootstrap_ci.{examples,n_boot,positive_rate}
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.context import Ctx, dig
from vulnfusion.data.demo import generate_demo
from vulnfusion.metrics import bootstrap_ci, sigmoid

DEMO_FUNCTIONS, DEMO_SEED, DEMO_TARGET_S = 2000, 13, 2.0
BOOT_EXAMPLES, BOOT_RESAMPLES, BOOT_POSITIVE_RATE, BOOT_TARGET_S = 3000, 1000, 0.3, 1.0
BOOT_METRICS = ("f1", "roc_auc")


def best_of(call: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``call``, in call order."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        runs.append(time.perf_counter() - start)
    return runs


def timed(runs: list[float], target_s: float) -> dict[str, Any]:
    best = min(runs)
    return {
        "best_s": round(best, 4),
        "runs_s": [round(t, 4) for t in runs],
        "target_s": target_s,
        "meets_target": best <= target_s,
    }


def scored_sample(n: int, positive_rate: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels ``(n,)`` and informative probabilities ``(n,)``; the first third rounded to two
    decimals, so that the bootstrap's threshold sweep meets ties as on real scores."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_rate).astype(np.int64)
    y[:2] = [0, 1]  # both classes present whatever the draw
    prob = sigmoid(rng.normal(size=n) + 1.3 * y - 0.3)
    prob[: n // 3] = np.clip(np.round(prob[: n // 3], 2), 0.01, 0.99)
    return y, prob


def demo_generation(repeats: int) -> dict[str, Any]:
    runs = best_of(lambda: generate_demo(DEMO_FUNCTIONS, seed=DEMO_SEED), repeats)
    return {**timed(runs, DEMO_TARGET_S), "functions": DEMO_FUNCTIONS, "seed": DEMO_SEED}


def bootstrap(repeats: int) -> dict[str, Any]:
    y, prob = scored_sample(BOOT_EXAMPLES, BOOT_POSITIVE_RATE)
    out: dict[str, Any] = {}
    for metric in BOOT_METRICS:
        bootstrap_ci(y, prob, 0.5, metric, n_boot=50)  # warm-up
        runs = best_of(
            lambda m=metric: bootstrap_ci(y, prob, 0.5, m, n_boot=BOOT_RESAMPLES), repeats
        )
        out[metric] = timed(runs, BOOT_TARGET_S)
    return {
        **out,
        "examples": BOOT_EXAMPLES,
        "n_boot": BOOT_RESAMPLES,
        "positive_rate": BOOT_POSITIVE_RATE,
    }


def run(ctx: Ctx) -> dict[str, Any]:
    repeats = ctx.sizes.timing_repeats
    return {"demo_generation": demo_generation(repeats), "bootstrap_ci": bootstrap(repeats)}


def headline(r: dict[str, Any]) -> str:
    return (
        f"demo generation {dig(r, 'demo_generation', 'best_s')} s, bootstrap CI "
        f"f1 {dig(r, 'bootstrap_ci', 'f1', 'best_s')} s, "
        f"roc_auc {dig(r, 'bootstrap_ci', 'roc_auc', 'best_s')} s"
    )
