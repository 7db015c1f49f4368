"""Section ``scoring``: the registered ensemble (the full stage chain on the Devign subset:
seeds 0,1,2, branch epochs 1, through ``register``) loaded with mlflow.pyfunc.load_model,
Devign functions scored in batches of 256.

  scoring.functions_per_s (256 / median batch seconds), scoring.batch_size (256),
  scoring.batches, scoring.batch_s, scoring.load_s, scoring.model_uri, scoring.target (100),
  scoring.pipeline_s (building the registered model, when this section built it)
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.context import SEEDS, Ctx, dig
from bench.inputs import devign_functions, project_env, subset_registered


def run(ctx: Ctx, batch_size: int = 256) -> dict[str, Any]:
    reg = subset_registered(ctx)
    n = ctx.sizes.scoring_batches
    funcs = devign_functions(ctx, batch_size * n + 8, seed=1)
    with project_env(ctx):
        import mlflow.pyfunc
        import pandas as pd

        start = time.perf_counter()
        model = mlflow.pyfunc.load_model(reg["registry_uri"])
        load_s = time.perf_counter() - start
        model.predict(pd.DataFrame({"func": funcs[-8:]}))  # warm-up
        times = []
        for i in range(n):
            batch = pd.DataFrame({"func": funcs[i * batch_size : (i + 1) * batch_size]})
            start = time.perf_counter()
            pred = model.predict(batch)
            times.append(time.perf_counter() - start)
            if len(pred) != batch_size:
                raise RuntimeError(f"scored {len(pred)} rows of {batch_size}")
    fps = batch_size / statistics.median(times)
    return {
        "functions_per_s": round(fps, 1),
        "batch_size": batch_size,
        "batches": n,
        "batch_s": [round(t, 2) for t in times],
        "load_s": round(load_s, 2),
        "model_uri": reg["registry_uri"],
        "version": reg["version"],
        "seeds": list(SEEDS),
        "target": 100,
        "meets_target": fps >= 100,
        "pipeline_s": reg.get("pipeline_s"),
    }


def headline(r: dict[str, Any]) -> str:
    return f"{dig(r, 'functions_per_s')} fn/s (batch {dig(r, 'batch_size')})"
