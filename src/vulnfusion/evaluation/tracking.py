"""The ``evaluate-<name>`` MLflow run: metrics, figures, the dataset as an MLflow dataset input,
tags naming the model. The evaluation's only MLflow calls; the store and experiment come
from :func:`vulnfusion.tracking.connect` (the project's experiment, ``MLFLOW_TRACKING_URI``
first). Under ``mlflow run -e evaluate`` the run MLflow opened is used.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from vulnfusion import tracking
from vulnfusion.config import Config
from vulnfusion.lineage import log_input

RUN_PREFIX = "evaluate-"


def metric_scalars(report: Mapping[str, Any]) -> dict[str, float]:
    """The report's figures as flat MLflow metric names, e.g. ``f1``, ``f1_low``, ``vd_s``,
    ``pairs/p_c``, ``ece``, ``overlap/n_exact``, ``without_overlap/f1``; ``None`` left out."""
    out: dict[str, float] = {}
    _figures(out, "", report["all"])
    if report.get("without_overlap"):
        _figures(out, "without_overlap/", report["without_overlap"])
    leak = report["leakage"]
    for k in ("n_exact", "n_normalized_only", "n_overlap"):
        if leak.get(k) is not None:
            out[f"overlap/{k}"] = float(leak[k])
    out["skipped"] = float(report["data"]["skipped"]["total"])
    return {k: v for k, v in out.items() if math.isfinite(v)}


def _figures(out: dict[str, float], prefix: str, figs: Mapping[str, Any]) -> None:
    out[f"{prefix}n"] = float(figs["n"])
    for k in ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "balanced_accuracy"):
        _interval(out, f"{prefix}{k}", figs[k])
    for k, v in (("vd_s", figs["vd_s"]["vd_s"]), ("ece", figs["calibration"]["ece"])):
        if v is not None:
            out[f"{prefix}{k}"] = float(v)
    out[f"{prefix}brier"] = float(figs["calibration"]["brier"])
    pairs = figs.get("pairs")
    if pairs:
        out[f"{prefix}pairs/n"] = float(pairs["n_pairs"])
        for k in ("p_c", "p_v", "p_b", "p_r", "vulnerable_scores_higher"):
            _interval(out, f"{prefix}pairs/{k}", pairs[k])


def _interval(out: dict[str, float], name: str, entry: Mapping[str, Any]) -> None:
    for suffix, key in (("", "value"), ("_low", "low"), ("_high", "high")):
        if entry.get(key) is not None:
            out[name + suffix] = float(entry[key])


def model_tags(model: Mapping[str, Any]) -> dict[str, str]:
    """Tags linking the run to the registered model it evaluated."""
    return {
        "model_uri": str(model["uri"]),
        "registered_model_name": str(model["name"]),
        "registered_model_version": str(model["version"]),
        "registered_model_alias": str(model["alias"] or ""),
    }


def connect(cfg: Config) -> str:
    """Point MLflow (tracking and registry) at the project's store; returns its URI."""
    return tracking.connect(cfg)


def point_at(cfg: Config) -> str:
    """Point MLflow (tracking and registry) at the project's store without touching it (a
    sqlite store is not created); returns its URI. :func:`connect` checks and prepares it."""
    import mlflow

    uri = tracking.tracking_uri(cfg)
    if uri.startswith(("http://", "https://")):  # as connect: fail fast on a server down
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@contextlib.contextmanager
def evaluation_run(cfg: Config, name: str, tags: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Open the run ``evaluate-<name>`` in the project's experiment; yields ``{run_id,
    experiment_id, tracking_uri}``. It ends FAILED on an error and KILLED on Ctrl-C, as the
    stages' runs do."""
    import mlflow

    tracking.connect(cfg)
    launched = os.environ.get("MLFLOW_RUN_ID")  # `mlflow run -e evaluate`
    own = {**tags, tracking.RUN_KEY_TAG: RUN_PREFIX + name, "kind": "evaluation"}
    with mlflow.start_run(run_id=launched or None, tags=own) as run:
        try:
            mlflow.set_tag("mlflow.runName", RUN_PREFIX + name)
            parent = pipeline_parent(tags, run.info.experiment_id)
            if parent:  # the UI shows the evaluation inside the execution that built the model
                mlflow.set_tags({"mlflow.parentRunId": parent, "pipeline_run_id": parent})
            yield {
                "run_id": run.info.run_id,
                "experiment_id": run.info.experiment_id,
                "tracking_uri": mlflow.get_tracking_uri(),
            }
        except (KeyboardInterrupt, SystemExit):
            mlflow.end_run("KILLED")
            raise


def pipeline_parent(tags: Mapping[str, str], experiment_id: str) -> str | None:
    """The pipeline run (one per ``dvc repro`` / ``dvc exp run``) that built the registered
    model version named in ``tags`` (its ``pipeline_run_id`` tag, see
    :func:`vulnfusion.lineage.lineage_tags`), when that run is in ``experiment_id``;
    ``None`` for a model directory, a version built outside DVC or another experiment."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    name, version = tags.get("registered_model_name"), tags.get("registered_model_version")
    if not name or not version or not version.isdigit():
        return None
    client = MlflowClient()
    try:
        parent = client.get_model_version(name, version).tags.get("pipeline_run_id")
        if parent and client.get_run(parent).info.experiment_id == experiment_id:
            return str(parent)
    except MlflowException:
        return None
    return None


def log_dataset(frame: Any, source: Path, name: str, digest: str) -> None:
    """The evaluation set as an MLflow dataset input (context ``evaluation``): the UI's
    Datasets column shows its name and ``digest`` — ``evaluation.json``'s ``data.digest``
    (the files read), not MLflow's own hash of the frame, so both name the data alike;
    ``targets`` is the label column."""
    from mlflow.data.pandas_dataset import from_pandas

    with warnings.catch_warnings():
        # MLflow's advice on ambiguous local sources and integer columns says nothing here
        warnings.simplefilter("ignore", UserWarning)
        dataset = from_pandas(
            frame, source=str(source.resolve()), name=name, targets="target", digest=digest
        )
        log_input(dataset, "evaluation", {"file_digest": digest})


def log_results(metrics: Mapping[str, float], params: Mapping[str, Any], out_dir: Path) -> None:
    """Metrics, parameters and every file under ``out_dir`` (figures under ``figures/``)."""
    import mlflow

    mlflow.log_metrics(dict(metrics))
    mlflow.log_params({k: str(v) for k, v in params.items()})
    mlflow.log_artifacts(str(out_dir))
