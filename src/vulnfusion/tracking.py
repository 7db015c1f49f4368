"""Every MLflow call of the project lives here.

Store: ``MLFLOW_TRACKING_URI`` if set, else ``mlflow.tracking_uri`` from params, else
``sqlite:///<project root>/mlflow.db`` — absolute, and resolved to the main checkout even
from a DVC experiment's temp workspace, so queued experiments share one store.

``mlflow`` is imported inside the functions that use it, on purpose: it takes seconds to
import, and the code paths that never log (non-zero ``torchrun`` ranks, the served model,
most tests) should not pay for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from vulnfusion.config import Config, flatten, to_dict
from vulnfusion.errors import VulnfusionError
from vulnfusion.io import git_commit
from vulnfusion.paths import project_root

log = logging.getLogger(__name__)

# Parity metrics logged as MLflow metrics (scalars only; the sweep goes in as a table).
SCALAR_KEYS = (
    "f1_at_0_5",
    "f1_at_best_threshold",
    "best_threshold_by_f1",
    "balanced_accuracy_at_best_threshold",
)
TEST_KEYS = ("accuracy", "precision", "recall", "f1", "balanced_accuracy")


class TrackingError(VulnfusionError, RuntimeError):
    """The tracking store cannot be reached or used (one-line message)."""


def tracking_uri(cfg: Config) -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    if cfg.mlflow.tracking_uri:
        return cfg.mlflow.tracking_uri
    return f"sqlite:///{project_root() / 'mlflow.db'}"


def connect(cfg: Config) -> str:
    """Point MLflow at the store and make sure it answers, before any training starts."""
    import mlflow

    uri = tracking_uri(cfg)
    if uri.startswith(("http://", "https://")):
        # fail fast on a server that is down instead of retrying for minutes
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        if not os.environ.get("MLFLOW_RUN_ID"):  # `mlflow run` already chose the experiment
            with _sqlite_init_lock(uri):
                experiment_id = _ensure_experiment(cfg.mlflow.experiment, uri)
            # by id: set_experiment(name) that loses a creation race returns without making the
            # experiment active, and the run then lands in "Default" (MLflow 3.17). A deleted
            # experiment fails here with MLflow's message (restore it or pick another name).
            mlflow.set_experiment(experiment_id=experiment_id)
        else:
            mlflow.search_experiments(max_results=1)  # the store answers (fail fast)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrackingError(f"MLflow tracking store {uri} is not usable: {first[:200]}") from None
    return uri


@contextlib.contextmanager
def _sqlite_init_lock(uri: str) -> Iterator[None]:
    """Serialise the first touch of a sqlite store: parallel stages (``dvc queue start -j N``)
    would otherwise race to create its schema."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    lock = Path(uri[len("sqlite:///") :] + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ensure_experiment(name: str, uri: str) -> str:
    """The id of experiment ``name``, created if missing. Parallel stages (``dvc queue start
    -j N``) may race to create it: the loser reads the winner's. With a local sqlite store,
    artifacts stay beside the database (not in the cwd, which is a throwaway directory for
    queued DVC experiments)."""
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is None:
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri[len("sqlite:///") :]).parent / "mlruns").as_uri()
        try:
            return str(mlflow.create_experiment(name, artifact_location=location))
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = mlflow.get_experiment_by_name(name)
            if found is None:
                raise
    return str(found.experiment_id)


def run_tags(
    cfg: Config, track: str, seed: int | None, stage: str, data_hash: str, degraded: bool = False
) -> dict[str, str]:
    """The tags every run of a stage carries (track, seed, preset, stage, commit, data)."""
    return {
        "track": track,
        "seed": "ensemble" if seed is None else str(seed),
        "preset": cfg.preset,
        "fusion_preset": cfg.fusion.preset,
        "dvc_stage": stage,
        "git_commit": git_commit(project_root()),
        "data_hash": data_hash,
        "degraded": str(degraded).lower(),
    }


class RunLogger:
    """Thin handle over an active run, so callers never import MLflow themselves."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def log_epoch(self, metrics: Mapping[str, float], step: int) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_parity(self, metrics: Mapping[str, Any]) -> None:
        """Final parity metrics under the same names in every run (side-by-side in the UI)."""
        import mlflow

        mlflow.log_metrics(parity_scalars(metrics))

    def log_sweep(self, sweep: list[dict[str, Any]]) -> None:
        import mlflow
        import pandas as pd

        mlflow.log_table(pd.DataFrame(sweep), artifact_file="threshold_sweep.json")

    def log_artifacts(self, path: Path, artifact_path: str | None = None) -> None:
        import mlflow

        if path.is_dir():
            mlflow.log_artifacts(str(path), artifact_path)
        else:
            mlflow.log_artifact(str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        import mlflow

        mlflow.set_tags(dict(tags))


def parity_scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {k: float(metrics[k]) for k in SCALAR_KEYS if metrics.get(k) is not None}
    test = metrics.get("test", {})
    for k in ("roc_auc", "pr_auc"):
        if test.get(k) is not None:
            out[f"test/{k}"] = float(test[k])
    for block in ("at_0_5", "at_valid_threshold"):
        for k in TEST_KEYS:
            value = test.get(block, {}).get(k)
            if value is not None:
                out[f"test/{block}/{k}"] = float(value)
    return out


@contextlib.contextmanager
def start_run(
    cfg: Config, run_name: str, tags: Mapping[str, str], run_id: str | None = None
) -> Iterator[RunLogger]:
    """One MLflow run per stage execution (or reopen ``run_id``), with the resolved config."""
    import mlflow

    connect(cfg)
    # Launched by `mlflow run`: log into the run MLflow made for this execution.
    launched = os.environ.get("MLFLOW_RUN_ID") if run_id is None else None
    with mlflow.start_run(
        run_id=run_id or launched,
        run_name=None if run_id or launched else run_name,
        tags=dict(tags),
    ) as run:
        if launched:
            mlflow.set_tag("mlflow.runName", run_name)
        if run_id:
            yield RunLogger(run.info.run_id)
            return
        params = {
            k: _param_value(v)
            for k, v in flatten(to_dict(cfg)).items()
            if not k.startswith(("presets.", "fusion.presets."))
        }
        items = sorted(params.items())
        for i in range(0, len(items), 100):  # MLflow caps params per batch call
            mlflow.log_params(dict(items[i : i + 100]))
        yield RunLogger(run.info.run_id)


def find_run_id(cfg: Config, run_name: str) -> str | None:
    """The newest finished run with this name (e.g. the aggregate stage's ``fusion-ensemble``)."""
    import mlflow

    connect(cfg)
    runs = mlflow.search_runs(
        filter_string=f"attributes.run_name = '{run_name}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return runs[0].info.run_id if runs else None


def set_alias(
    name: str, version: str, alias: str, tags: Mapping[str, str], description: str
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient()
    for k, v in tags.items():
        client.set_model_version_tag(name, version, k, v)
    client.update_model_version(name, version, description=description)
    client.set_registered_model_alias(name, alias, version)


def _param_value(v: Any) -> str:
    text = str(v)
    return text if len(text) <= 500 else text[:497] + "..."
