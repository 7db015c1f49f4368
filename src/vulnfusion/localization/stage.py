"""The ``localize`` stage: the fusion ensemble's line localisation on the test split.

The ensemble is loaded exactly as it is served (``registry.build_bundle`` →
``serving.EnsembleScorer``), so the lines measured here are the lines the pyfunc's
``top_lines`` parameter and ``vulnfusion scan`` report.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vulnfusion.config import Config
from vulnfusion.io import read_json
from vulnfusion.localization.evaluate import STAGE_METHODS, localization_report
from vulnfusion.registry import build_bundle
from vulnfusion.serving import EnsembleScorer


def localize_ensemble(
    cfg: Config,
    fusion_dir: Path,
    features_dir: Path,
    test_jsonl: Path,
    output: Path,
    methods: Sequence[str] = STAGE_METHODS,
) -> dict[str, Any]:
    """Measure ``methods`` and the floors on ``test_jsonl``'s flawed rows; write ``output``.

    Rows without ``flaw_lines`` (any source but the demo) are skipped: ``output`` then says
    ``"functions": 0`` and holds no metric.
    """
    ensemble = read_json(fusion_dir / "ensemble_metrics.json")
    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_bundle(cfg, fusion_dir, features_dir, ensemble, Path(tmp) / "bundle")
        scorer = EnsembleScorer(bundle)
        return localization_report(scorer, test_jsonl, output, methods)
