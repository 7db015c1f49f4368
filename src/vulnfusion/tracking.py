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
import socket
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from vulnfusion import lineage
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
# MLflow 3's experiment kind: the UI opens a "custom_model_development" experiment on its
# training runs, not on the GenAI traces overview (the UI's own enum of kinds).
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# Which run a stage wants back (the display name also carries the DVC experiment or a short id).
RUN_KEY_TAG = "run_key"
# The parent run of one pipeline execution carries this (lineage.pipeline_key); its children
# carry MLflow's own mlflow.parentRunId, which the UI nests on.
PIPELINE_KEY_TAG = "pipeline_key"


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
    """The id of experiment ``name``, created if missing, tagged with its kind. Parallel stages
    (``dvc queue start -j N``) may race to create it: the loser reads the winner's. With a
    local sqlite store, artifacts stay beside the database (not in the cwd, which is a
    throwaway directory for queued DVC experiments)."""
    import mlflow

    found = mlflow.get_experiment_by_name(name)
    if found is None:
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri[len("sqlite:///") :]).parent / "mlruns").as_uri()
        try:
            return str(
                mlflow.create_experiment(
                    name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
                )
            )
        except mlflow.exceptions.MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = mlflow.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":  # before tagging: a deleted one cannot be changed
        raise TrackingError(
            f"cannot use the deleted experiment '{name}' (id {found.experiment_id}): restore it "
            f"(mlflow experiments restore --experiment-id {found.experiment_id}) or set "
            "mlflow.experiment to another name"
        )
    if found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:  # made before the kind was set
        mlflow.MlflowClient().set_experiment_tag(
            found.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
        )
    return str(found.experiment_id)


def run_tags(
    cfg: Config, track: str, seed: int | None, stage: str, data_hash: str, degraded: bool = False
) -> dict[str, str]:
    """The tags every run of a stage carries: track, seed, preset, stage, data, and where it
    ran — the DVC experiment (``dvc_exp_name``, ``workspace`` outside ``dvc exp run``) and
    the commit it started from (``dvc_exp_baseline_rev``; the experiment's own commit is
    made by DVC only after every stage ran)."""
    commit = git_commit(project_root())
    exp = dvc_experiment()
    return {
        "track": track,
        "seed": "ensemble" if seed is None else str(seed),
        "preset": cfg.preset,
        "fusion_preset": cfg.fusion.preset,
        "dvc_stage": stage,
        "git_commit": commit,
        "data_hash": data_hash,
        "degraded": str(degraded).lower(),
        "dvc_exp_name": exp or "workspace",
        "dvc_exp_baseline_rev": os.environ.get("DVC_EXP_BASELINE_REV") or commit,
    }


def dvc_experiment() -> str | None:
    """The DVC experiment this process runs in (``DVC_EXP_NAME``, set by ``dvc exp run``)."""
    return os.environ.get("DVC_EXP_NAME") or None


def display_name(run_key: str, run_id: str) -> str:
    """``gnn-seed0@<dvc experiment>``, or ``gnn-seed0@<run id[:8]>`` outside an experiment:
    names the UI can tell apart across experiments and repeated ``dvc repro``."""
    return f"{run_key}@{dvc_experiment() or run_id[:8]}"


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
    cfg: Config, run_key: str, tags: Mapping[str, str], run_id: str | None = None
) -> Iterator[RunLogger]:
    """One MLflow run per stage execution, with the resolved config as params; or reopen
    ``run_id`` to add artifacts to it, leaving its tags and params untouched.

    A new run is named :func:`display_name` and tagged ``run_key`` (what :func:`find_run_id`
    looks up), ``host`` and ``pid``; before it starts, RUNNING runs of this experiment whose
    process on this host is gone are closed as KILLED (:func:`close_stale_runs`). The run
    ends FAILED on an error and KILLED on Ctrl-C or SIGTERM (the stage CLI turns it into
    ``SystemExit``); a reopened run keeps the status it had.
    """
    import mlflow

    connect(cfg)
    # Launched by `mlflow run`: log into the run MLflow made for this execution.
    launched = os.environ.get("MLFLOW_RUN_ID") if run_id is None else None
    if run_id:
        with _reopened(run_id) as run:
            yield RunLogger(run.info.run_id)
        return
    parent = None
    if not launched:
        close_stale_runs(cfg.mlflow.experiment)
        parent = pipeline_parent_run(cfg, tags)
    own = {**tags, RUN_KEY_TAG: run_key, "host": socket.gethostname(), "pid": str(os.getpid())}
    outcome = "FAILED"  # what the parent shows if this stage does not finish
    try:
        with mlflow.start_run(run_id=launched, tags=own, parent_run_id=parent) as run:
            try:
                mlflow.set_tag("mlflow.runName", display_name(run_key, run.info.run_id))
                _log_config(cfg, launched)
                lineage.log_prepared_inputs()
                yield RunLogger(run.info.run_id)
                outcome = "FINISHED"
            except (KeyboardInterrupt, SystemExit):  # Ctrl-C; SIGTERM via the CLI's handler
                outcome = "KILLED"
                mlflow.end_run("KILLED")
                raise
    finally:
        if parent:  # the parent's end time and status follow its last child
            try:
                mlflow.MlflowClient().set_terminated(parent, outcome)
            except Exception as exc:  # cosmetic: never mask the stage's own outcome
                log.warning("could not update the parent run %s: %s", parent, exc)


@contextlib.contextmanager
def _reopened(run_id: str) -> Iterator[Any]:
    """Reopen a finished run without touching its tags; restore its status however we leave."""
    import mlflow

    status = mlflow.MlflowClient().get_run(run_id).info.status
    with mlflow.start_run(run_id=run_id) as run:
        try:
            yield run
        finally:
            mlflow.end_run(status)


def pipeline_parent_run(cfg: Config, tags: Mapping[str, str]) -> str | None:
    """The id of this execution's parent run (created, FINISHED, on first use), or ``None``
    outside a DVC execution (``lineage.pipeline_key``). Named ``pipeline@<DVC experiment>`` (or
    ``pipeline@<its short id>`` for a plain ``dvc repro``); tagged with the key, the DVC
    experiment, its baseline commit, the commit and the presets. It is a container: every
    stage run of the execution is nested under it (``mlflow.parentRunId``), so the UI shows
    one expandable row per experiment."""
    import mlflow

    key = lineage.pipeline_key()
    if key is None:
        return None
    client = mlflow.MlflowClient()
    exp = client.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is None:
        return None
    quoted = key.replace("'", "")
    with _sqlite_init_lock(tracking_uri(cfg)):  # parallel stages must not make two parents
        found = client.search_runs(
            [exp.experiment_id], f"tags.{PIPELINE_KEY_TAG} = '{quoted}'", max_results=1
        )
        if found:
            return str(found[0].info.run_id)
        keep = ("preset", "fusion_preset", "git_commit", "dvc_exp_name", "dvc_exp_baseline_rev")
        run = client.create_run(
            exp.experiment_id,
            tags={
                **{k: tags[k] for k in keep if k in tags},
                PIPELINE_KEY_TAG: quoted,
                RUN_KEY_TAG: "pipeline",
                "host": socket.gethostname(),
            },
        )
        run_id = run.info.run_id
        client.set_tag(run_id, "mlflow.runName", display_name("pipeline", run_id))
        client.set_terminated(run_id, "FINISHED")
        log.info("MLflow parent run %s for this pipeline execution", run_id)
        return str(run_id)


def _log_config(cfg: Config, launched: str | None) -> None:
    """The resolved config as params (presets themselves left out). Under ``mlflow run`` the
    entry point's own parameters are already logged: a key already there is not logged again
    (MLflow refuses to change a param's value)."""
    import mlflow

    params = {
        k: _param_value(v)
        for k, v in flatten(to_dict(cfg)).items()
        if not k.startswith(("presets.", "fusion.presets."))
    }
    if launched:
        existing = mlflow.MlflowClient().get_run(launched).data.params
        params = {k: v for k, v in params.items() if k not in existing}
    items = sorted(params.items())
    for i in range(0, len(items), 100):  # MLflow caps params per batch call
        mlflow.log_params(dict(items[i : i + 100]))


def close_stale_runs(experiment: str) -> list[str]:
    """End as KILLED the RUNNING runs of ``experiment`` whose process (tags ``host``, ``pid``)
    no longer exists on this host — what a SIGKILLed stage leaves. Returns their ids."""
    from mlflow import MlflowClient

    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return []
    host = socket.gethostname().replace("'", "")
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"attributes.status = 'RUNNING' and tags.host = '{host}'",
        max_results=500,
    )
    closed = []
    for r in runs:
        pid = r.data.tags.get("pid", "")
        if pid.isdigit() and not _alive(int(pid)):
            client.set_terminated(r.info.run_id, "KILLED")
            closed.append(r.info.run_id)
            log.warning(
                "closed stale run %s (%s): its process %s is gone",
                r.info.run_id,
                r.data.tags.get("mlflow.runName", "?"),
                pid,
            )
    return closed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def find_run_id(cfg: Config, run_key: str) -> str | None:
    """The newest finished run started with this key (e.g. the aggregate stage's
    ``fusion-ensemble``), in this DVC experiment when there is one."""
    import mlflow

    connect(cfg)
    where = f"tags.{RUN_KEY_TAG} = '{run_key}' and attributes.status = 'FINISHED'"
    exp = dvc_experiment()
    if exp:
        where += f" and tags.dvc_exp_name = '{exp}'"
    runs = mlflow.search_runs(
        filter_string=where,
        order_by=["attributes.start_time DESC"],
        max_results=1,
        output_format="list",
    )
    return runs[0].info.run_id if runs else None


def set_alias(
    name: str, version: str, alias: str, tags: Mapping[str, str], description: str
) -> None:
    """Tag model version ``version`` of ``name`` (``tags`` + ``lineage.lineage_tags``), set its
    description and point ``alias`` at it."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for k, v in {**tags, **lineage.lineage_tags(name, version)}.items():
        client.set_model_version_tag(name, version, k, v)
    client.update_model_version(name, version, description=description)
    point_alias(name, version, alias)


ALIASED_BY_TAG = "last_aliased_by"


def point_alias(name: str, version: str, alias: str) -> None:
    """Point ``alias`` of ``name`` at ``version`` and record which execution did it (tag
    ``last_aliased_by``: the DVC experiment, or ``workspace``), leaving every other tag of
    the version — its provenance — as it was registered."""
    from mlflow import MlflowClient

    client = MlflowClient()
    client.set_model_version_tag(name, version, ALIASED_BY_TAG, dvc_experiment() or "workspace")
    client.set_registered_model_alias(name, alias, version)


def _param_value(v: Any) -> str:
    text = str(v)
    return text if len(text) <= 500 else text[:497] + "..."
