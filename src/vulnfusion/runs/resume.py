"""Resuming an interrupted seed run: only into a run made with identical inputs.

The state file itself lives at ``paths.resume_path_for(out_dir)`` (beside the DVC output,
which DVC wipes before a run); ``training.Trainer`` writes and reads it.
"""

from __future__ import annotations

import hashlib
import json

from vulnfusion.config import Config, to_dict
from vulnfusion.features import Features


def resume_key(
    cfg: Config, track: str, seed: int, feats: Features, extra: list[str] | None = None
) -> str:
    """Fingerprint (16 hex digits) of everything that shapes a run: the resolved config,
    track, seed, the features' content hash and ``extra`` (e.g. the fusion's branch weights).
    """
    blob = json.dumps(
        {
            "cfg": to_dict(cfg),
            "track": track,
            "seed": seed,
            "features": feats.features_hash,
            "extra": extra or [],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
