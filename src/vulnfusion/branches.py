"""Old import path of the per-seed run code, which now lives in ``vulnfusion.runs``.

Kept so callers written against it (benchmarks, tests in flight) keep working; new code
imports from the ``runs`` modules named below. Nothing in the package imports this module.
"""

from __future__ import annotations

from vulnfusion.batching import BatchLayout
from vulnfusion.features import Features, load_features
from vulnfusion.paths import manifest_path, resume_path_for
from vulnfusion.runs.branch import build_branch, train_branch
from vulnfusion.runs.outputs import (
    log_run_outputs,
    logits_by_id,
    write_figures,
    write_history,
    write_manifest,
    write_run_outputs,
    write_sweep,
)
from vulnfusion.runs.resume import resume_key
from vulnfusion.runs.scoring import (
    evaluate_logits,
    recompute_logits,
    score_splits,
    train_config,
    train_config_from_meta,
)
from vulnfusion.runs.seed_run import FinishedFit, finish_seed_run, maybe_run

__all__ = [
    "Features",
    "FinishedFit",
    "build_branch",
    "evaluate_logits",
    "finish_seed_run",
    "load_features",
    "log_run_outputs",
    "logits_by_id",
    "manifest_path",
    "maybe_run",
    "recompute_logits",
    "resume_key",
    "resume_path_for",
    "score_splits",
    "track_spec",
    "train_branch",
    "train_config",
    "train_config_from_meta",
    "write_figures",
    "write_history",
    "write_manifest",
    "write_run_outputs",
    "write_sweep",
]


def track_spec(track: str, pad_id: int = 1) -> BatchLayout:
    """Old name of ``BatchLayout.for_track``."""
    return BatchLayout.for_track(track, pad_id)
