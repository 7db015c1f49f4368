"""MLflow lineage of a pipeline execution (issue 16, deliverable 5).

* Which DVC execution (``dvc repro``, ``dvc exp run``, a queued or ``--temp`` experiment) a
  stage process belongs to: :func:`pipeline_key`. ``tracking.pipeline_parent_run`` makes one
  parent run per key and ``tracking.start_run`` nests every stage run under it, so the UI
  shows one expandable row per experiment.
* The prepared splits a stage run was computed from, as ``mlflow.data`` datasets logged with
  ``mlflow.log_input`` (:func:`use_prepared_data`, :func:`log_prepared_inputs`).
* Where a registered model version came from, as version tags (:func:`lineage_tags`).

``mlflow`` is imported inside the functions, as in :mod:`vulnfusion.tracking` (which imports
this module; this one imports no MLflow-facing module of the package).
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

# A prepared split as logged through mlflow.log_input: split → MLflow dataset context
DATASET_CONTEXTS = {"train": "training", "valid": "validation", "test": "testing"}


def pipeline_key() -> str | None:
    """Which pipeline execution this process belongs to, or ``None`` outside DVC.

    DVC runs each stage as its own process (``DVC_STAGE`` set), so "one execution" is the
    ``dvc`` process that runs them — ``dvc repro``, ``dvc exp run``, or the ``dvc exp
    exec-run`` a queued / ``--temp`` experiment gets: its host, PID and start time, plus the
    DVC experiment name when there is one. Stages of one ``dvc repro`` share the key; two
    executions never do (a PID is reused only with another start time).
    """
    if not os.environ.get("DVC_STAGE"):
        return None
    proc = _dvc_process()
    if proc is None:
        return None
    pid, started = proc
    exp = os.environ.get("DVC_EXP_NAME") or "workspace"
    return f"{exp}:{socket.gethostname()}:{pid}:{started}"


def _dvc_process() -> tuple[int, int] | None:
    """(PID, start time in whole seconds) of the nearest ancestor process that is ``dvc``."""
    import psutil

    try:
        for proc in psutil.Process().parents():
            argv = proc.cmdline()
            if any(Path(a).name == "dvc" for a in argv[:2]) or argv[1:3] == ["-m", "dvc"]:
                return proc.pid, int(proc.create_time())
    except psutil.Error:  # a parent exited or is not ours to read: no grouping
        return None
    return None


_PREPARED: dict[str, Path | None] = {"dir": None}


def use_prepared_data(prepared_dir: str | Path | None) -> None:
    """Declare the prepared splits (``prepare``'s output directory) the runs this process
    starts were computed from: :func:`start_run` logs them as the run's dataset inputs."""
    _PREPARED["dir"] = None if prepared_dir is None else Path(prepared_dir)


def use_features_dir(features_dir: str | Path) -> None:
    """:func:`use_prepared_data` for the splits a ``featurize`` output was built from:
    ``prepared/`` beside it (the layout ``dvc.yaml`` uses, as ``load_features`` assumes)."""
    use_prepared_data(Path(features_dir).parent / "prepared")


def prepared_datasets(prepared_dir: Path) -> dict[str, Any]:
    """split → an ``mlflow.data`` PandasDataset of ``<prepared_dir>/<split>.jsonl``: its rows'
    ``id`` and ``target`` (the code itself stays in the file), named ``<source>-<split>``
    (``demo-train``, ``devign-test``…), with the file's SHA-256 (first 32 hex digits, MLflow
    keeps 36) as digest, so equal digests mean byte-identical splits. Missing splits are
    left out."""
    import pandas as pd
    from mlflow.data.pandas_dataset import from_pandas

    from vulnfusion.io import read_json, read_jsonl, sha256_file

    stats_path = prepared_dir / "stats.json"
    stats = read_json(stats_path) if stats_path.exists() else {}
    source = str(stats.get("source") or "data")
    out = {}
    for split in DATASET_CONTEXTS:
        path = prepared_dir / f"{split}.jsonl"
        if not path.exists():
            continue
        rows = [{"id": str(r["id"]), "target": int(r["target"])} for r in read_jsonl(path)]
        with warnings.catch_warnings():  # two equal local sources; labels have no missing values
            warnings.filterwarnings("ignore", "The specified dataset source can be interpreted")
            warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer")
            out[split] = from_pandas(
                pd.DataFrame(rows, columns=["id", "target"]),
                source=str(path.resolve()),
                targets="target",
                name=f"{source}-{split}",
                digest=sha256_file(path)[:32],
            )
    return out


def log_prepared_inputs() -> None:
    """Log the declared prepared splits (:func:`use_prepared_data`) as the active run's
    dataset inputs (context ``training`` / ``validation`` / ``testing``); nothing when none
    was declared or the directory is gone."""

    prepared = _PREPARED["dir"]
    if prepared is None or not prepared.is_dir():
        return
    for split, ds in prepared_datasets(prepared).items():
        log_input(ds, DATASET_CONTEXTS[split])


# a race between runs logging the same new dataset at once: the loser's INSERT hits the
# datasets table's unique key; on retry the dataset exists and only the input link is written
_RACE = ("UNIQUE constraint failed", "IntegrityError", "duplicate key value")
_RACE_ATTEMPTS = 5


def log_input(dataset: Any, context: str, tags: dict[str, str] | None = None) -> None:
    """``mlflow.log_input`` for the active run, retried when another process created the same
    dataset (experiment, name, digest) between MLflow's lookup and its insert — seen with
    parallel ``dvc queue`` workers on one sqlite store.

    Raises:
        mlflow.exceptions.MlflowException: any other failure, or the race on every attempt.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    for attempt in range(_RACE_ATTEMPTS):
        try:
            mlflow.log_input(dataset, context=context, tags=tags)
            return
        except MlflowException as exc:
            if attempt == _RACE_ATTEMPTS - 1 or not any(m in str(exc) for m in _RACE):
                raise
            time.sleep(0.05 * (attempt + 1))


def lineage_tags(name: str, version: str) -> dict[str, str]:
    """Where model version ``version`` came from, as tags: ``source_run_id`` (the run the
    model was logged in: the fusion ensemble's), ``pipeline_run_id`` (that run's parent, the
    pipeline execution that built it; absent outside DVC) and per dataset input of the
    source run ``dataset/<context>`` = ``<name>@<digest>`` (e.g. ``dataset/training`` =
    ``demo-train@3f…``)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    run_id = client.get_model_version(name, version).run_id
    if not run_id:
        return {}
    run = client.get_run(run_id)
    out = {"source_run_id": run_id}
    parent = run.data.tags.get("mlflow.parentRunId")
    if parent:
        out["pipeline_run_id"] = parent
    for di in run.inputs.dataset_inputs if run.inputs else []:
        context = next((t.value for t in di.tags if t.key == "mlflow.data.context"), "input")
        out[f"dataset/{context}"] = f"{di.dataset.name}@{di.dataset.digest}"
    return out
