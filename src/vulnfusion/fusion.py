"""Old import path of fusion training, which now lives in ``vulnfusion.runs.fusion``.

Kept so callers written against it keep working; nothing in the package imports it.
"""

from __future__ import annotations

from vulnfusion.runs.fusion import (
    LoadedCheckpoint,
    build_fusion,
    cached_features,
    compute_features,
    default_branch_dir,
    load_branch,
    param_groups,
    split_cache,
    train_fusion,
)

Branch = LoadedCheckpoint  # the old name

__all__ = [
    "Branch",
    "LoadedCheckpoint",
    "build_fusion",
    "cached_features",
    "compute_features",
    "default_branch_dir",
    "load_branch",
    "param_groups",
    "split_cache",
    "train_fusion",
]
