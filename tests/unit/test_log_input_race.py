"""``lineage.log_input``: two runs logging the same new dataset at once (parallel ``dvc queue``
workers on one sqlite store) — the loser's insert hits the unique key and is retried."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


def _dataset() -> object:
    from mlflow.data.pandas_dataset import from_pandas

    frame = pd.DataFrame({"func": ["int f(void) { return 0; }"], "target": [0]})
    return from_pandas(frame, source="x.jsonl", targets="target", name="demo-train", digest="d1")


def test_a_lost_race_is_retried_and_the_input_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    from vulnfusion.lineage import log_input

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("race")  # not the process's active one: left alone
    real, calls = mlflow.log_input, []

    def racing(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 1:  # what the loser of the race saw (sqlite's own message)
            raise MlflowException(
                "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, "
                "datasets.name, datasets.digest"
            )
        real(*args, **kwargs)

    monkeypatch.setattr(mlflow, "log_input", racing)
    with mlflow.start_run(experiment_id=experiment) as run:
        log_input(_dataset(), "training")
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(calls) == 2
    assert [(i.dataset.name, i.dataset.digest) for i in inputs] == [("demo-train", "d1")]


def test_any_other_failure_is_raised_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.exceptions import MlflowException

    from vulnfusion.lineage import log_input

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("race")
    calls = []

    def broken(*args: object, **kwargs: object) -> None:
        calls.append(1)
        raise MlflowException("RESOURCE_DOES_NOT_EXIST: no such run")

    monkeypatch.setattr(mlflow, "log_input", broken)
    with (
        mlflow.start_run(experiment_id=experiment),
        pytest.raises(MlflowException, match="no such run"),
    ):
        log_input(_dataset(), "training")
    assert len(calls) == 1
