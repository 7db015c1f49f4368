"""Fixes from the review of ``vulnfusion evaluate``: each test pins one kind of defect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vulnfusion.data.sources import DataError
from vulnfusion.evaluation.dataset import read_eval_data

F = "int f(void) { return 0; }"
G = "int g(void) { return 1; }"


# --------------------------------------------------------------- 1. duplicate names


def test_csv_header_naming_a_column_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f'func,target,target\n"{F}",1,0\n')
    with pytest.raises(DataError) as err:
        read_eval_data(path)
    assert str(err.value) == f"{path}:1: CSV header names column 'target' more than once"


def test_json_object_with_a_key_twice_is_a_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    good = json.dumps({"func": G, "target": 0})
    path.write_text(good + "\n" + f'{{"func": "{F}", "target": 1, "target": 0}}\n')
    with pytest.raises(DataError) as err:
        read_eval_data(path)
    assert str(err.value) == f"{path}:2: duplicate key 'target' in a JSON object"
    data = read_eval_data(path, skip_bad=True)
    assert [r.func for r in data.rows] == [G]
    assert data.rejects.examples == {"duplicate key 'target' in a JSON object": [f"{path}:2"]}
    array = tmp_path / "function.json"
    array.write_text(f'[{good}, {{"func": "{F}", "func": "{G}", "target": 1}}]')
    with pytest.raises(DataError) as err:
        read_eval_data(array)
    assert str(err.value) == f"{array}[1]: duplicate key 'func' in a JSON object"


# --------------------------------------------------------------- 2. invalid UTF-8 in CSV


def test_csv_record_with_invalid_utf8_is_one_bad_record_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    body = b'func,target\n"' + F.encode() + b'",1\n"int h(void)\n{ /* \xff */ }",0\n"'
    path.write_bytes(body + G.encode() + b'",0\n')
    with pytest.raises(DataError) as err:
        read_eval_data(path)
    # the bad byte is on the record's second physical line (line 4), at 0-based byte 5 of it
    assert str(err.value) == f"{path}:4: not valid UTF-8 (byte 5)"
    data = read_eval_data(path, skip_bad=True)
    assert [(r.func, r.row_id) for r in data.rows] == [(F, "row:2"), (G, "row:5")]
    assert data.rejects.counts == {"not valid UTF-8": 1}


# --------------------------------------------------------------- 10. float labels


@pytest.mark.parametrize(("cell", "label"), [("1.0", 1), ("0.0", 0), ("1", 1), ("True", 1)])
def test_csv_float_labels_equal_to_0_or_1_are_accepted(
    tmp_path: Path, cell: str, label: int
) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f'func,target\n"{F}",{cell}\n')
    assert [r.label for r in read_eval_data(path).rows] == [label]


def test_other_numbers_are_rejected_with_the_label_error(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f'func,target\n"{F}",0.5\n')
    with pytest.raises(DataError) as err:
        read_eval_data(path)
    assert str(err.value) == f"{path}:2: label is not 0 or 1 (target='0.5')"
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(json.dumps({"func": F, "target": 1.0}) + "\n")
    assert [r.label for r in read_eval_data(jsonl).rows] == [1]
    jsonl.write_text(json.dumps({"func": F, "target": 0.5}) + "\n")
    with pytest.raises(DataError) as err:
        read_eval_data(jsonl)
    assert str(err.value) == f"{jsonl}:1: label is not 0 or 1 (target=0.5)"


# the kind (session 21 trial): a label means the same in every format evaluate reads — a
# JSON string label is read as a CSV cell is; anything not exactly 0 or 1 is refused by name
@pytest.mark.parametrize(
    ("target", "label"),
    [("1", 1), ("0", 0), ("true", 1), ("FALSE", 0), (" 1 ", 1), ("1.0", 1), ("0e0", 0),
     (1, 1), (0, 0), (True, 1), (False, 0), (1.0, 1), (0.0, 0)],
)  # fmt: skip
def test_json_labels_read_as_csv_cells_are(tmp_path: Path, target: object, label: int) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"func": F, "target": target}) + "\n")
    assert [r.label for r in read_eval_data(path).rows] == [label]


@pytest.mark.parametrize(
    ("target", "shown"),
    [("0.5", "'0.5'"), ("yes", "'yes'"), ("", "''"), (2, "2"), (-1, "-1"), (0.5, "0.5"),
     (None, "None"), ([1], "[1]")],
)  # fmt: skip
def test_labels_that_are_not_0_or_1_are_refused_by_name(
    tmp_path: Path, target: object, shown: str
) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"func": F, "target": target}) + "\n")
    with pytest.raises(DataError) as err:
        read_eval_data(path)
    assert str(err.value) == f"{path}:1: label is not 0 or 1 (target={shown})"


@pytest.mark.parametrize("name", ["d.jsonl.gz", "d.json.gz", "d.csv.gz"])
def test_a_gz_name_over_bytes_that_are_not_gzip_says_so(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(json.dumps({"func": F, "target": 1}) + "\n")
    with pytest.raises(DataError) as err:
        read_eval_data(path)
    assert str(err.value) == f"{path}: not a gzip file (its name ends in .gz)"


def test_precision_without_a_predicted_positive_is_undefined_not_zero() -> None:
    """sklearn's ``zero_division=0`` would report 0 — "every alert was wrong" — for a model
    that raised none; recall is a real 0 there, and F1 too (positives were missed)."""
    import numpy as np

    from vulnfusion.evaluation.figures import Options, Scored, figure_set

    y = np.array([1, 1, 0, 0])
    scored = Scored(y, np.array([0.1, 0.2, 0.3, 0.4]), [None] * 4, [None] * 4, [None] * 4, None)
    figs = figure_set(scored, 0.5, Options(n_boot=100))
    assert figs["precision"]["value"] is None
    assert (figs["recall"]["value"], figs["f1"]["value"]) == (0.0, 0.0)
    negatives = Scored(np.array([0, 0]), np.array([0.1, 0.2]), [None] * 2, [None] * 2,
                       [None] * 2, None)  # fmt: skip
    figs = figure_set(negatives, 0.5, Options(n_boot=100))
    assert [figs[k]["value"] for k in ("precision", "recall", "f1", "accuracy")] == [
        None, None, None, 1.0]  # fmt: skip


# --------------------------------------------------------------- 3, 4. directory splits


def _dir(tmp_path: Path, names: tuple[str, ...]) -> Path:
    d = tmp_path / "codexglue"
    d.mkdir()
    for i, name in enumerate(names):
        rows = [{"func": f"int f{i}_{k}(void) {{ return {k}; }}", "target": k, "idx": 10 * i + k}
                for k in (0, 1)]  # fmt: skip
        (d / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def test_a_directory_needs_only_the_split_evaluated(tmp_path: Path) -> None:
    d = _dir(tmp_path, ("test",))
    data = read_eval_data(d)
    assert (data.split, [r.row_id for r in data.rows]) == ("test", ["idx:0", "idx:1"])
    assert read_eval_data(d, split="test").notice is None
    with pytest.raises(DataError) as err:
        read_eval_data(d, split="valid")
    assert str(err.value) == (
        f"{d}: directory lacks valid.jsonl or validation.jsonl "
        "(CodeXGLUE layout: train, valid or validation, test)"
    )


def test_a_directory_defaults_to_its_test_split_with_a_notice(tmp_path: Path) -> None:
    d = _dir(tmp_path, ("train", "valid", "test"))
    data = read_eval_data(d)
    assert [r.row_id for r in data.rows] == ["idx:20", "idx:21"]
    assert data.notice == (
        f"{d} is a train/valid/test directory: evaluating its test split only "
        "(--split all for every split)"
    )
    every = read_eval_data(d, split="all")
    assert (every.split, every.notice, len(every.rows)) == ("all", None, 6)
    assert every.digest != data.digest  # the digest covers the files read
    assert read_eval_data(d, split="test").digest == data.digest


def test_split_help_names_the_default_and_all() -> None:
    from click.testing import CliRunner

    from vulnfusion.console import main

    out = CliRunner().invoke(main, ["evaluate", "--help"], terminal_width=200).output
    assert "[train|valid|test|all]" in out
    assert "default: test for a train/valid/test directory" in " ".join(out.split())


# --------------------------------------------------------------- 8, 9. bootstrap intervals


def test_intervals_contain_the_point_estimate_for_every_metric() -> None:
    import numpy as np

    from vulnfusion.evaluation.figures import Options, Scored, figure_set

    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.35 * y + rng.random(300) * 0.65, 0, 1)
    pair_id: list[str | None] = [None] * 300
    for k in range(40):  # some pairs too: the unit bootstrap
        pair_id[2 * k], pair_id[2 * k + 1] = f"p{k}", f"p{k}"
        y[2 * k], y[2 * k + 1] = 1, 0
    for pairs in (None, pair_id):
        ids = pairs or [None] * 300
        figs = figure_set(Scored(y, p, ids, [None] * 300, [None] * 300), 0.5, Options(n_boot=200))
        for m in ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1",
                  "balanced_accuracy"):  # fmt: skip
            e = figs[m]
            assert e["low"] <= e["value"] <= e["high"], (m, e)
            assert e["low"] < e["high"]


def test_too_few_resamples_are_refused() -> None:
    import numpy as np

    from vulnfusion.evaluation.measures import intervals

    with pytest.raises(ValueError, match=r"^n_boot must be at least 100; got 1$"):
        intervals(np.array([0, 1]), np.array([0.2, 0.8]), 0.5, n_boot=1)


def test_cli_refuses_n_boot_below_100(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from vulnfusion.console import main

    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"func": F, "target": 1}) + "\n")
    res = CliRunner().invoke(main, ["evaluate", str(path), "--n-boot", "1", "--no-mlflow"])
    assert res.exit_code == 2
    assert "Invalid value for '--n-boot': 1 is not in the range x>=100." in res.output


def test_resamples_with_no_predicted_positive_leave_the_precision_interval() -> None:
    import numpy as np

    from vulnfusion.evaluation.measures import intervals

    # one function of 20 is flagged (a true positive): precision is 1 on every resample that
    # draws it and undefined on the others (about a third) — never 0
    y = np.array([1] * 10 + [0] * 10)
    p = np.array([0.9] + [0.1] * 19)
    ci = intervals(y, p, 0.5, n_boot=500, seed=1)
    assert ci["precision"] == {"low": 1.0, "high": 1.0}
    assert ci["recall"]["low"] == 0.0 and ci["f1"]["low"] == 0.0  # defined: real zeros


# --------------------------------------------------------------- 5. no store, no side effect


@pytest.fixture
def restore_mlflow_uris() -> Any:
    import mlflow

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    yield
    mlflow.set_tracking_uri(before[0])
    mlflow.set_registry_uri(before[1])


@pytest.mark.usefixtures("restore_mlflow_uris")
def test_evaluate_outside_a_project_names_the_missing_store_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from vulnfusion.console import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    (tmp_path / "d.jsonl").write_text(json.dumps({"func": F, "target": 1}) + "\n")
    args = ["evaluate", "d.jsonl", "--model", "models:/m@champion", "--no-mlflow"]
    res = CliRunner().invoke(main, args)
    store = f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert res.exit_code == 2, res.output
    assert res.output.strip().endswith(
        f"cannot load model 'models:/m@champion': no tracking store at {store}; "
        "set MLFLOW_TRACKING_URI or pass a model directory"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl"]


@pytest.mark.usefixtures("restore_mlflow_uris")
def test_scan_loader_names_the_store_it_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vulnfusion.scan.model import ModelLoadError, load_scan_model

    missing = f"sqlite:///{tmp_path / 'none.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", missing)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with pytest.raises(ModelLoadError) as err:
        load_scan_model("runs:/0123/model")
    assert str(err.value) == (
        f"cannot load model 'runs:/0123/model': no tracking store at {missing}; "
        "set MLFLOW_TRACKING_URI or pass a model directory"
    )
    assert not (tmp_path / "none.db").exists()


@pytest.mark.usefixtures("restore_mlflow_uris")
def test_a_load_failure_in_an_existing_store_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vulnfusion.scan.model import ModelLoadError, load_scan_model

    store = f"file://{tmp_path}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with pytest.raises(ModelLoadError) as err:
        load_scan_model("models:/m@x")
    assert str(err.value).startswith(f"cannot load model 'models:/m@x' (tracking store {store}): ")


# --------------------------------------------------------------- 6, 7. malformed pairs, duplicates


def test_malformed_pairs_and_duplicate_rows_are_counted_and_warned() -> None:
    import numpy as np

    from vulnfusion.evaluation.figures import (
        Options,
        Scored,
        data_warnings,
        duplicates,
        figure_set,
    )
    from vulnfusion.evaluation.outputs import summary_text

    funcs = ["v1", "f1", "same", "same", "a", "b", "c", "d", "e", "x", "x"]
    y = np.array([1, 0, 1, 0, 1, 1, 1, 0, 0, 1, 1])
    ids = ["ok", "ok", "twin", "twin", "three", "three", "three", "lab", "lab", None, None]
    prob = np.linspace(0.05, 0.95, y.size)
    data = Scored(y, prob, ids, [None] * y.size, [None] * y.size, funcs)
    figs = figure_set(data, 0.5, Options(n_boot=100))
    assert figs["pairs"]["n_pairs"] == 1  # only "ok": "twin" has one text for both labels
    assert figs["pairs"]["malformed"] == {
        "singleton": 0, "same_label": 1, "more_than_two": 1, "identical": 1
    }  # fmt: skip
    dups = duplicates(funcs, y.tolist())
    assert dups == {"n_rows": 1, "n_texts": 1}  # "x"/1 twice; "same" differs in label
    warnings = data_warnings(figs, dups)
    assert warnings == [
        "1 rows repeat another row exactly (text and label; 1 texts): they are scored and "
        "counted like the others",
        "1 pair_id groups have more than two rows: left out of the pair-wise figures",
        "1 pair_id groups have the same label twice: left out of the pair-wise figures",
        "1 pairs have byte-identical twins (vulnerable and fixed text the same): left out of "
        "the pair-wise figures",
    ]
    report = {
        "data": {"path": "d", "skipped": {"total": 0}},
        "model": {"name": "m", "version": "1", "threshold": 0.5},
        "all": figs,
        "leakage": {"warning": None},
        "warnings": warnings,
    }
    printed = [line for line in summary_text(report).splitlines() if "WARNING" in line]
    assert printed == [f"WARNING: {w}" for w in warnings]


# --------------------------------------------------------------- 12. one digest


@pytest.mark.usefixtures("restore_mlflow_uris")
def test_mlflow_dataset_carries_the_reports_data_digest(tmp_path: Path) -> None:
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    from vulnfusion.evaluation.tracking import log_dataset

    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"func": F, "target": 1}) + "\n")
    digest = read_eval_data(path).digest
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(store)
    experiment = MlflowClient(store).create_experiment("digest")
    with mlflow.start_run(experiment_id=experiment) as run:
        log_dataset(pd.DataFrame({"func": [F], "target": [1]}), path, path.name, digest)
    (inp,) = MlflowClient(store).get_run(run.info.run_id).inputs.dataset_inputs
    assert inp.dataset.digest == digest


# --------------------------------------------------------------- 11. row_id


def test_row_ids_are_one_based_record_numbers_in_every_format(tmp_path: Path) -> None:
    recs = [{"func": F, "target": 1}, {"func": G, "target": 0}]
    array = tmp_path / "function.json"
    array.write_text(json.dumps(recs))
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text("\n" + "".join(json.dumps(r) + "\n" for r in recs))  # a blank line 1
    csv = tmp_path / "d.csv"
    csv.write_text(f'func,target\n"{F}",1\n"int g(void)\n{{ return 1; }}",0\n"{F}x",0\n')
    d = tmp_path / "dir"
    d.mkdir()
    (d / "test.jsonl").write_text(jsonl.read_text())
    ids = {p.name: [r.row_id for r in read_eval_data(p).rows] for p in (array, jsonl, csv, d)}
    assert ids == {
        "function.json": ["row:1", "row:2"],
        "d.jsonl": ["row:2", "row:3"],
        "d.csv": ["row:2", "row:3", "row:5"],  # the second record spans lines 3-4
        "dir": ["test/row:2", "test/row:3"],
    }


# --------------------------------------------------------------- 13. one class, NaN groups


def test_one_class_roc_and_pr_draw_no_curve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from vulnfusion.evaluation import plots

    saved: list[Any] = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: saved.append(fig) or path)
    y, p = np.zeros(5, dtype=np.int64), np.linspace(0.1, 0.9, 5)
    plots.plot_roc(y, p, None, tmp_path / "roc.png")
    plots.plot_pr(y, p, None, tmp_path / "pr.png")
    for fig, text in zip(saved, ("one class: no AUC", "one class: no AP"), strict=True):
        (ax,) = fig.axes
        assert len(ax.lines) == 0 and [t.get_text() for t in ax.texts] == [text]
    saved.clear()
    plots.plot_roc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.4, 0.6]), 1.0, tmp_path / "r")
    assert len(saved[0].axes[0].lines) == 2  # the model and chance


def test_nan_or_blank_project_and_cwe_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(f'func,target,project,cwe,pair_id\n"{F}",1,NaN,nan,<NA>\n"{G}",0, ,CWE-787,\n')
    rows = read_eval_data(path).rows
    assert [(r.project, r.cwe, r.pair_id) for r in rows] == [
        (None, None, None), (None, "CWE-787", None)
    ]  # fmt: skip
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(f'{{"func": "{F}", "target": 1, "project": NaN, "cwe": "NaN"}}\n')
    (row,) = read_eval_data(jsonl).rows
    assert (row.project, row.cwe) == (None, None)


def test_function_json_record_with_invalid_utf8_is_one_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "function.json"
    bad = b'{"func": "int h(void) { /* \xff */ }", "target": 0}'
    good = json.dumps({"func": F, "target": 1}).encode()
    path.write_bytes(b"[" + good + b", " + bad + b"]")
    with pytest.raises(DataError) as err:
        read_eval_data(path)
    assert str(err.value) == f"{path}[1]: not valid UTF-8"
    data = read_eval_data(path, skip_bad=True)
    assert [r.func for r in data.rows] == [F]
    assert data.rejects.counts == {"not valid UTF-8": 1}


@pytest.mark.usefixtures("restore_mlflow_uris")
@pytest.mark.parametrize("model_args", [[], ["--model", ""]])
def test_default_model_without_a_store_names_the_default_alias(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_args: list[str]
) -> None:
    """No --model (or an empty one: MLproject's ``evaluate`` default) and no store: the error
    names @champion, the default the user relied on, not the @candidate fallback (which
    cannot load from a missing store either)."""
    import yaml

    from tests.helpers import ROOT

    entry = yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"]["evaluate"]
    assert entry["parameters"]["model"]["default"] == ""
    assert "--model {model}" in entry["command"]
    from click.testing import CliRunner

    from vulnfusion.console import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    (tmp_path / "d.jsonl").write_text(json.dumps({"func": F, "target": 1}) + "\n")
    res = CliRunner().invoke(main, ["evaluate", "d.jsonl", "--no-mlflow", *model_args])
    store = f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"
    assert res.exit_code == 2, res.output
    assert res.output.strip().endswith(
        f"cannot load model 'models:/vulnfusion-ensemble@champion': no tracking store at "
        f"{store}; set MLFLOW_TRACKING_URI or pass a model directory"
    )


@pytest.mark.usefixtures("restore_mlflow_uris")
@pytest.mark.parametrize("params_name", ["params.yaml", "custom.yaml"])
def test_params_of_another_project_choose_its_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, params_name: str
) -> None:
    """``--params DIR/params.yaml`` from elsewhere: a null tracking_uri means DIR's mlflow.db
    (here absent, so the one-line error names it and nothing is created anywhere)."""
    import shutil

    from click.testing import CliRunner

    from tests.helpers import ROOT
    from vulnfusion.console import main

    project, elsewhere = tmp_path / "proj", tmp_path / "cwd"
    project.mkdir()
    elsewhere.mkdir()
    shutil.copy2(ROOT / "params.yaml", project / params_name)
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    (elsewhere / "d.jsonl").write_text(json.dumps({"func": F, "target": 1}) + "\n")
    args = ["evaluate", "d.jsonl", "--params", str(project / params_name), "--no-mlflow"]
    res = CliRunner().invoke(main, args)
    store = f"sqlite:///{project.resolve() / 'mlflow.db'}"
    assert res.exit_code == 2, res.output
    assert f"no tracking store at {store};" in res.output.strip().splitlines()[-1]
    assert sorted(p.name for p in elsewhere.iterdir()) == ["d.jsonl"]
    assert sorted(p.name for p in project.iterdir()) == [params_name]


@pytest.mark.parametrize(
    ("output", "culprit"),
    [("afile", "afile"), ("afile/sub", "afile"), ("afile/sub/deeper", "afile")],
)
def test_an_output_under_a_file_fails_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, output: str, culprit: str
) -> None:
    """-o naming a file, or a path under one, stops at once with the option named (the
    model URI here does not exist: the output error comes first, before loading it)."""
    from click.testing import CliRunner

    from vulnfusion.console import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("keep me\n")
    (tmp_path / "d.jsonl").write_text(json.dumps({"func": F, "target": 1}) + "\n")
    args = ["evaluate", "d.jsonl", "--model", "no/such/dir", "--no-mlflow", "-o", output]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    last = res.output.strip().splitlines()[-1]
    assert "'-o' / '--output'" in last and culprit in last, last
    assert "no/such/dir" not in res.output
    assert (tmp_path / "afile").read_text() == "keep me\n"
