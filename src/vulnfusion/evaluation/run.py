"""``evaluate`` end to end: read → score → figures → files → MLflow run."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from vulnfusion.config import Config
from vulnfusion.data.fingerprint import TRAINING_HASHES_FILE, Fingerprints, exact_hash
from vulnfusion.evaluation import outputs, plots
from vulnfusion.evaluation import tracking as eval_tracking
from vulnfusion.evaluation.dataset import EvalData, read_eval_data
from vulnfusion.evaluation.figures import (
    Options,
    Overlap,
    Scored,
    data_warnings,
    duplicates,
    figure_set,
    find_overlap,
    groups,
    rows_without_overlap,
)
from vulnfusion.evaluation.scoring import ScoredRows, admissible, score_rows
from vulnfusion.io import staged_dir
from vulnfusion.scan.model import ScanModel, load_scan_model

log = logging.getLogger(__name__)
SCHEMA = "vulnfusion-evaluation/1"


@dataclass(frozen=True)
class Request:
    """One ``vulnfusion evaluate`` call (the CLI flags)."""

    data: Path
    output: Path
    name: str
    model_uri: str | None = None
    split: str | None = None
    skip_bad: bool = False
    options: Options = field(default_factory=Options)
    progress: bool | None = None
    log_mlflow: bool = True
    config: Config = field(default_factory=Config)


@dataclass
class Result:
    report: dict[str, Any]
    model: ScanModel
    notice: str | None = None  # the model's (e.g. champion missing, candidate used)
    data_notice: str | None = None  # the data's (e.g. a directory's test split by default)


def evaluate(req: Request) -> Result:
    """Evaluate the model on ``req.data``; writes ``evaluation.json``, ``predictions.jsonl``,
    ``evaluation.md`` and ``figures/`` into ``req.output`` and logs the MLflow run.

    Raises:
        DataError: unreadable data or a bad record (without ``skip_bad``), or nothing left.
        ModelLoadError: the model URI does not resolve.
        TrackingError: the MLflow store is unusable.
    """
    data = read_eval_data(req.data, req.split, req.skip_bad)  # fail before loading a model
    if req.model_uri is None or req.model_uri.startswith(("models:/", "runs:/")):
        # the project's store holds its registry; only pointed at (not created) here, so a
        # missing store is reported by the loader instead of appearing empty in the CWD
        eval_tracking.point_at(req.config)
    model = load_scan_model(req.model_uri)
    rows = admissible(data.rows, model, req.skip_bad, data.rejects)
    scored = score_rows(rows, model, progress=req.progress)
    report, overlap = build_report(req, data, model, scored)
    # written beside the output and moved in at the end: a Ctrl-C leaves no half of a report
    with staged_dir(req.output) as stage:
        preds = predictions(scored, model, overlap)
        outputs.write_predictions(stage / outputs.PREDICTIONS_FILE, preds)
        figs = report["all"]
        plots.write_figures(
            np.array([r.label for r in scored.rows], dtype=np.int64),
            scored.prob,
            model.spec.threshold,
            figs["roc_auc"]["value"],
            figs["pr_auc"]["value"],
            figs["calibration"]["ece"],
            stage / outputs.FIGURES_DIR,
        )
        if req.log_mlflow:
            report["mlflow"] = _log_run(req, data, scored, report, stage)
        else:
            outputs.write_report(stage, report)
    return Result(report, model, model.notice, data.notice)


def build_report(
    req: Request, data: EvalData, model: ScanModel, scored: ScoredRows
) -> tuple[dict[str, Any], Overlap | None]:
    """The ``evaluation.json`` document (keys in :mod:`vulnfusion.evaluation`)."""
    rows, thr, opts = scored.rows, model.spec.threshold, req.options
    full = Scored(
        np.array([r.label for r in rows], dtype=np.int64),
        scored.prob,
        [r.pair_id for r in rows],
        [r.project for r in rows],
        [r.cwe for r in rows],
        [r.func for r in rows],
    )
    train = training_fingerprints(model)
    overlap = find_overlap([r.func for r in rows], train) if train is not None else None
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "name": req.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": {
            "path": str(data.path),
            "split": data.split,
            "digest": data.digest,
            "n_read": len(data.rows) + sum(data.rejects.counts.values()),  # kept + skipped
            "n_scored": len(rows),
            "skipped": data.rejects.as_dict(),
        },
        "model": {
            "uri": model.uri,
            "name": model.name,
            "version": model.version,
            "alias": _alias(model.uri),
            "threshold": thr,
        },
        "options": {
            "target_fpr": opts.target_fpr,
            "n_boot": opts.n_boot,
            "seed": opts.seed,
            "alpha": opts.alpha,
        },
        "all": figure_set(full, thr, opts),
        "duplicates": duplicates(full.func or [], full.y.tolist()),
        "groups": groups(full, thr),
        "leakage": _leakage(overlap, len(rows)),
        "without_overlap": None,
        "mlflow": None,
    }
    report["warnings"] = data_warnings(report["all"], report["duplicates"])
    if overlap is not None and overlap.any.any():
        keep = rows_without_overlap(full, overlap)
        sub = full.subset(keep)
        if keep.size and 0 < sub.y.sum() < keep.size:
            report["without_overlap"] = figure_set(sub, thr, opts)
    return report, overlap


def training_fingerprints(model: ScanModel) -> Fingerprints | None:
    """The training texts' fingerprints the model's bundle carries (``None``: a bundle from
    before they were recorded)."""
    context = getattr(getattr(model.pyfunc, "_model_impl", None), "context", None)
    bundle = (getattr(context, "artifacts", None) or {}).get("bundle")
    if bundle is None or not (Path(bundle) / TRAINING_HASHES_FILE).exists():
        return None
    return Fingerprints.read(Path(bundle) / TRAINING_HASHES_FILE)


def _leakage(overlap: Overlap | None, n: int) -> dict[str, Any]:
    if overlap is None:
        return {
            "available": False,
            "n_exact": None,
            "n_normalized_only": None,
            "n_overlap": None,
            "share": None,
            "warning": "the model carries no training fingerprints: overlap with its "
            "training data was not checked",
        }
    out = overlap.summary()
    out["warning"] = None
    if out["n_overlap"]:
        out["warning"] = (
            f"{out['n_overlap']} of {n} functions ({out['share']:.1%}) duplicate training "
            f"functions ({out['n_exact']} exact, {out['n_normalized_only']} up to whitespace/"
            "comments); 'without_overlap' holds the figures without them"
        )
    return out


def _alias(uri: str) -> str | None:
    if uri.startswith("models:/") and "@" in uri:
        return uri.rsplit("@", 1)[1]
    return None


def predictions(
    scored: ScoredRows, model: ScanModel, overlap: Overlap | None
) -> list[dict[str, Any]]:
    """``predictions.jsonl`` rows: ``row_id``, ``func_hash`` (the text's ``prepare`` id),
    ``label``, ``probability``, ``predicted`` (0/1 at the model's threshold), ``pair_id``,
    ``project``, ``cwe`` and ``overlap`` (``exact``, ``normalized`` or ``None``)."""
    thr = model.spec.threshold
    out = []
    for i, (r, p) in enumerate(zip(scored.rows, scored.prob, strict=True)):
        seen = None
        if overlap is not None and overlap.any[i]:
            seen = "exact" if overlap.exact[i] else "normalized"
        out.append(
            {
                "row_id": r.row_id,
                "func_hash": exact_hash(r.func),
                "label": r.label,
                "probability": float(p),
                "predicted": int(p >= thr),
                "pair_id": r.pair_id,
                "project": r.project,
                "cwe": r.cwe,
                "overlap": seen,
            }
        )
    return out


def _log_run(
    req: Request, data: EvalData, scored: ScoredRows, report: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Log the run; ``evaluation.json``/``.md`` are written into ``out`` inside it (they
    carry its id), and ``out``'s files are its artifacts."""
    import pandas as pd  # heavy; only for the MLflow dataset

    frame = pd.DataFrame(
        {
            "func": [r.func for r in scored.rows],
            "target": [r.label for r in scored.rows],
            "pair_id": [r.pair_id for r in scored.rows],
            "project": [r.project for r in scored.rows],
            "cwe": [r.cwe for r in scored.rows],
        }
    )
    tags = {**eval_tracking.model_tags(report["model"]), "data_digest": data.digest}
    with eval_tracking.evaluation_run(req.config, req.name, tags) as info:
        report["mlflow"] = info
        outputs.write_report(out, report)
        eval_tracking.log_dataset(frame, data.path, data.path.name, data.digest)
        params = {f"eval.{k}": v for k, v in report["options"].items()}
        params.update({"eval.data": str(data.path), "eval.split": str(data.split)})
        eval_tracking.log_results(eval_tracking.metric_scalars(report), params, out)
    return info
