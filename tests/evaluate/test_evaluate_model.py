"""``vulnfusion evaluate`` with the real tiny registered model: it reproduces the aggregate
stage's test figures, logs a readable MLflow run, finds planted training duplicates, reports
pair-wise figures on the held-out demo pairs, and fails in one line with exit code 2."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.evaluate.conftest import RegisteredModel
from tests.helpers import ROOT
from vulnfusion.console import main
from vulnfusion.data.demo.heldout import write_heldout
from vulnfusion.evaluation.figures import Options
from vulnfusion.evaluation.run import Request, evaluate
from vulnfusion.io import read_json, read_jsonl

OPTS = Options(n_boot=200)


def _devign_test_split(ws: Path, dst: Path) -> Path:
    """The workspace's prepared test split, written in Devign's function.json shape."""
    rows = read_jsonl(ws / "data/prepared/test.jsonl")
    records = [
        {"project": "demo", "commit_id": r["id"], "target": r["target"], "func": r["func"]}
        for r in rows
    ]
    dst.write_text(json.dumps(records))
    return dst


def _temperature(ens: dict[str, Any]) -> float:
    """The ensemble's calibration temperature, once aggregate records one (else 1)."""
    calib = ens.get("calibration")
    nested = calib.get("temperature") if isinstance(calib, dict) else None
    return float(ens.get("temperature") or nested or 1.0)


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), prog_name="vulnfusion")
    return result.exit_code, result.stdout, result.stderr


def test_reproduces_the_aggregate_test_figures_and_logs_the_run(
    trained_workspace: Path, registered_model: RegisteredModel, tmp_path: Path, mlflow_env: str
) -> None:
    from mlflow import MlflowClient

    data = _devign_test_split(trained_workspace, tmp_path / "function.json")
    out = tmp_path / "eval"
    req = Request(data, out, "devign-test", str(registered_model.local_dir), options=OPTS)
    report = evaluate(req).report

    # same functions, same scores (to 1e-5) as the aggregate stage's ensemble logits
    ens = read_json(trained_workspace / "outputs/fusion/ensemble_metrics.json")
    logits = read_json(trained_workspace / "outputs/fusion/ensemble/logits.json")["test"]
    preds = read_jsonl(out / "predictions.jsonl")
    assert sorted(p["func_hash"] for p in preds) == sorted(logits)
    t = _temperature(ens)
    for p in preds:
        expected = 1 / (1 + math.exp(-logits[p["func_hash"]] / t))
        assert p["probability"] == pytest.approx(expected, abs=1e-5)
    figs, test = report["all"], ens["test"]
    assert figs["n"] == test["n"] and figs["n_positive"] == test["n_positive"]
    assert figs["roc_auc"]["value"] == pytest.approx(test["roc_auc"], abs=1e-5)
    assert figs["pr_auc"]["value"] == pytest.approx(test["pr_auc"], abs=1e-5)
    at = test["at_valid_threshold"]
    assert report["model"]["threshold"] == pytest.approx(at["threshold"])
    for k in ("accuracy", "precision", "recall", "f1", "balanced_accuracy"):
        assert figs[k]["value"] == pytest.approx(at[k], abs=1e-5), k
        assert figs[k]["low"] <= figs[k]["value"] <= figs[k]["high"], k
    assert [[figs["confusion"][a] for a in r] for r in (("tn", "fp"), ("fn", "tp"))] == at[
        "confusion_matrix"
    ]
    # the prepared splits share no text, so nothing overlaps the training data
    assert report["leakage"]["available"] and report["leakage"]["n_exact"] == 0
    assert {p.name for p in (out / "figures").iterdir()} == {
        "roc.png", "pr.png", "reliability.png", "score_hist.png"
    }  # fmt: skip
    assert read_json(out / "evaluation.json") == json.loads(json.dumps(report))

    # the MLflow run, read back: name, model tags, dataset input with digest, figures, metrics
    client = MlflowClient(mlflow_env)
    run = client.get_run(report["mlflow"]["run_id"])
    assert run.info.run_name == "evaluate-devign-test"
    assert client.get_experiment(run.info.experiment_id).name == "vulnfusion"
    assert run.data.tags["registered_model_name"] == report["model"]["name"]
    assert run.data.tags["registered_model_version"] == report["model"]["version"]
    assert run.data.metrics["f1"] == pytest.approx(figs["f1"]["value"])
    assert {"roc_auc_low", "vd_s", "ece", "brier"} <= run.data.metrics.keys()
    (inp,) = run.inputs.dataset_inputs
    assert inp.dataset.name == "function.json" and inp.dataset.digest == report["data"]["digest"]
    assert {t.key: t.value for t in inp.tags}["mlflow.data.context"] == "evaluation"
    arts = {a.path for a in client.list_artifacts(run.info.run_id, "figures")}
    names = ("roc.png", "pr.png", "reliability.png", "score_hist.png")
    assert arts == {f"figures/{n}" for n in names}
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"evaluation.json", "evaluation.md", "predictions.jsonl"} <= top


def test_registry_uri_names_version_and_alias(
    registered_model: RegisteredModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered_model.tracking_uri)
    data = tmp_path / "pairs.jsonl"
    write_heldout(data, 10)
    out = tmp_path / "eval"
    req = Request(data, out, "pairs", registered_model.registry_uri, options=OPTS)
    report = evaluate(req).report
    assert report["model"]["alias"] == registered_model.alias
    assert report["model"]["version"].isdigit()
    from mlflow import MlflowClient

    tags = MlflowClient(registered_model.tracking_uri).get_run(report["mlflow"]["run_id"]).data.tags
    assert tags["registered_model_alias"] == registered_model.alias
    assert tags["registered_model_version"] == report["model"]["version"]


def test_planted_training_duplicates_are_counted_and_excluded(
    trained_workspace: Path, registered_model: RegisteredModel, tmp_path: Path
) -> None:
    train = read_jsonl(trained_workspace / "data/prepared/train.jsonl")
    test = read_jsonl(trained_workspace / "data/prepared/test.jsonl")
    copies = [{"func": r["func"], "target": r["target"]} for r in train[:6]]
    # whitespace and comment changes only
    edited = [
        {"func": "/* reviewed */\n" + r["func"].replace("\n", "\n\n"), "target": r["target"]}
        for r in train[6:10]
    ]
    fresh = [{"func": r["func"], "target": r["target"]} for r in test]
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in copies + edited + fresh))
    out = tmp_path / "eval"
    model = str(registered_model.local_dir)
    req = Request(data, out, "mixed", model, options=OPTS, log_mlflow=False)
    report = evaluate(req).report
    leak = report["leakage"]
    assert (leak["n_exact"], leak["n_normalized_only"], leak["n_overlap"]) == (6, 4, 10)
    assert leak["warning"].startswith("10 of ")
    assert report["without_overlap"]["n"] == len(fresh)
    assert report["mlflow"] is None
    flags = [p["overlap"] for p in read_jsonl(out / "predictions.jsonl")]
    assert flags == ["exact"] * 6 + ["normalized"] * 4 + [None] * len(fresh)
    assert "Leakage warning" in (out / "evaluation.md").read_text()


def test_heldout_demo_pairs_print_pairwise_figures(
    registered_model: RegisteredModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write_heldout(tmp_path / "pairs.jsonl", 20)
    out = tmp_path / "eval"
    code, stdout, _ = _cli(
        "evaluate", str(data), "--model", str(registered_model.local_dir), "--no-mlflow",
        "--output", str(out), "--n-boot", "100",
    )  # fmt: skip
    assert code == 0
    for label in ("P-C (both correct)", "P-V", "P-B", "P-R (reversed)", "vulnerable twin"):
        assert label in stdout
    report = read_json(out / "evaluation.json")
    pairs = report["all"]["pairs"]
    assert pairs["n_pairs"] == 20 and report["all"]["bootstrap_unit"] == "pair"
    total = sum(pairs[k]["value"] for k in ("p_c", "p_v", "p_b", "p_r"))
    assert total == pytest.approx(1.0)
    assert len(report["groups"]["cwe"]) == 10
    assert all(g["n"] == 4 and g["n_pairs"] == 2 for g in report["groups"]["cwe"].values())

    # `make bench`'s evaluation section reads the same file
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from bench.evaluation import evaluation_summary

    bench = evaluation_summary(report)
    assert bench["n"] == 40 and bench["f1"] == report["all"]["f1"]["value"]
    assert bench["f1_ci"] == [report["all"]["f1"]["low"], report["all"]["f1"]["high"]]
    assert bench["vd_s"] == report["all"]["vd_s"]["vd_s"] and bench["overlap"] == 0
    # and its `ood` section (cvepairs) the pair-wise figures and per-CWE rows of it
    from bench.ood import CWE_MIN_PAIRS, cwe_rows, ood_summary

    ood = ood_summary(report)
    assert ood["n_pairs"] == 20 and ood["p_c"] == pairs["p_c"]["value"]
    assert ood["vulnerable_scores_higher_ci"] == [
        pairs["vulnerable_scores_higher"]["low"],
        pairs["vulnerable_scores_higher"]["high"],
    ]
    assert ood["cwe"] == {}  # every CWE here has 2 pairs, fewer than CWE_MIN_PAIRS
    rows = cwe_rows({"CWE-1": {"n": 2 * CWE_MIN_PAIRS, "n_pairs": CWE_MIN_PAIRS, "p_c": 0.5}})
    assert rows == {
        "CWE-1": {
            "n": 2 * CWE_MIN_PAIRS,
            "n_pairs": CWE_MIN_PAIRS,
            "roc_auc": None,
            "p_c": 0.5,
            "vulnerable_scores_higher": None,
        }
    }


def test_cli_errors_are_one_line_with_exit_2(
    registered_model: RegisteredModel, tmp_path: Path
) -> None:
    model = str(registered_model.local_dir)
    bad = tmp_path / "bad.jsonl"
    good = {"func": "int f(int a) { return a; }", "target": 1}
    bad.write_text(json.dumps(good) + "\n" + json.dumps({"func": "int g() {}", "target": 5}) + "\n")
    code, out, err = _cli("evaluate", str(bad), "--model", model, "--no-mlflow")
    assert (code, out) == (2, "")
    assert err == f"vulnfusion: error: {bad}:2: label is not 0 or 1 (target=5)\n"

    code, out, err = _cli("evaluate", str(tmp_path / "nope.csv"), "--model", model)
    assert (code, out) == (2, "") and err.count("\n") == 1 and "nope.csv" in err

    fine = tmp_path / "fine.jsonl"
    fine.write_text(json.dumps(good) + "\n")
    code, out, err = _cli("evaluate", str(fine), "--model", str(tmp_path / "no-model"))
    assert (code, out) == (2, "")
    missing = tmp_path / "no-model"
    assert err == f"vulnfusion: error: model '{missing}': no such directory and not a model URI\n"

    code, out, err = _cli("evaluate", str(fine), "--name", "a b", "--model", model)
    assert (code, out) == (2, "") and err.count("\n") == 1 and "--name" in err

    code, out, err = _cli("evaluate", str(fine), "--target-fpr", "2", "--model", model)
    assert (code, out) == (2, "") and err.count("\n") == 1 and "--target-fpr" in err

    # an output that can never be written fails before the model loads (it does not exist)
    code, out, err = _cli("evaluate", str(fine), "--model", str(missing), "-o", "/proc/x/y")
    assert (code, out) == (2, "")
    assert err == (  # /proc takes no new file, even from root (ENOENT is what it answers)
        "vulnfusion: error: Invalid value for '-o' / '--output': /proc/x/y: /proc is not "
        "writable (No such file or directory) (see 'vulnfusion evaluate --help')\n"
    )

    # skip: the bad record is counted, the rest is evaluated (one class: AUCs are None)
    code, out, err = _cli(
        "evaluate", str(bad), "--model", model, "--no-mlflow", "--on-bad-record", "skip",
        "--output", str(tmp_path / "o"), "--n-boot", "100",
    )  # fmt: skip
    assert code == 0, err
    assert "skipped 1" in out
    data = read_json(tmp_path / "o" / "evaluation.json")["data"]
    skipped = data["skipped"]
    assert (data["n_read"], data["n_scored"], skipped["total"]) == (
        2,
        1,
        1,
    )  # read = kept + skipped
    assert skipped["by_reason"] == {"label is not 0 or 1": 1}
    assert skipped["examples"]["label is not 0 or 1"] == [f"{bad}:2"]
