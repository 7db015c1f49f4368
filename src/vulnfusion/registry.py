"""The ``register`` stage: log the fusion seed ensemble as a pyfunc and register it.

Alias ``champion`` when both acceptance targets of the comparison pass, else ``candidate``.
The version carries its provenance (training data: source, path or ``demo``, content hash,
preset, split strategy), the evaluation it passed and its test metrics as tags, and a
description saying the same in words. The model is logged into the aggregate stage's
``fusion-ensemble`` run without touching that run's tags. A bundle whose content digest
(:func:`bundle_digest`) equals that of any version (``bundle_digest`` tag) is not registered
again: that version gets the alias instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vulnfusion.checkpoints import META, WEIGHTS
from vulnfusion.config import Config
from vulnfusion.data.fingerprint import TRAINING_HASHES_FILE, Fingerprints
from vulnfusion.errors import VulnfusionError
from vulnfusion.io import read_json, read_jsonl, sha256_file, write_json
from vulnfusion.metrics import Headline
from vulnfusion.serving import SPEC_FILE, ServingSpec, request_signature
from vulnfusion.thresholds import decision_threshold

log = logging.getLogger(__name__)

PKG_DIR = Path(__file__).resolve().parent
ENTRY = PKG_DIR / "serving_entry.py"  # the pyfunc entry ships inside the package
EXAMPLE = [
    "int copy(char *dst, const char *src) { strcpy(dst, src); return 0; }",
    "int get(int *a, int n, int i) { if (i < 0 || i >= n) return -1; return a[i]; }",
]
REQUIREMENTS = (
    "torch",
    "transformers",
    "tree-sitter",
    "tree-sitter-c",
    "tokenizers",
    "safetensors",
    "numpy",
    "pandas",
    "mlflow",
)


def build_bundle(
    cfg: Config, fusion_dir: Path, features_dir: Path, ensemble: dict[str, Any], dest: Path
) -> Path:
    """Everything the pyfunc needs, in one directory ``dest``: the seed checkpoints, tokenizer,
    graph vocabulary and ``serving.json`` (:class:`~vulnfusion.serving.ServingSpec`), and the
    fingerprints of the training texts (``training_hashes.json``, read by ``evaluate``)."""

    for s in ensemble["seeds"]:
        seed_out = dest / "seeds" / f"seed_{s}"
        seed_out.mkdir(parents=True)
        for name in (WEIGHTS, META):
            shutil.copy2(fusion_dir / f"seed_{s}" / name, seed_out / name)
    shutil.copytree(features_dir / "tokenizer", dest / "tokenizer")
    shutil.copy2(features_dir / "graph_vocab.json", dest / "graph_vocab.json")
    serving_spec(cfg, ensemble).to_json(dest / SPEC_FILE)
    train = features_dir.parent / "prepared" / "train.jsonl"  # prepare's layout
    if train.exists():
        texts = (str(row["func"]) for row in read_jsonl(train))
        Fingerprints.of(texts).write(dest / TRAINING_HASHES_FILE)
    return dest


def temperature(ensemble: dict[str, Any]) -> float:
    """The ensemble's valid-fitted temperature (1.0 for metrics written before calibration)."""
    return float(ensemble.get("calibration", {}).get("temperature", 1.0))


def threshold_policy(ensemble: dict[str, Any]) -> dict[str, Any]:
    """How the decision threshold was chosen (``ensemble_metrics.json["threshold"]``); for
    metrics written before threshold policies: max_f1 at ``best_threshold_by_f1``."""
    block = ensemble.get("threshold")
    if isinstance(block, dict):
        return dict(block)
    return {"policy": "max_f1", "target": None, "value": decision_threshold(ensemble)}


class StalePolicyError(VulnfusionError, ValueError):
    """The ensemble's threshold was chosen by another policy than params.yaml asks for."""


def check_threshold_policy(cfg: Config, ensemble: dict[str, Any], where: Path) -> None:
    """``StalePolicyError`` (one line) when ``ensemble_metrics.json`` (``where``) chose its
    threshold by another ``register.threshold_policy``/``threshold_target`` than ``cfg``:
    the aggregate stage ran before the policy changed (``dvc repro`` reruns it)."""
    got = threshold_policy(ensemble)
    want = (cfg.register.threshold_policy, cfg.register.threshold_target)
    if (got["policy"], got.get("target")) != want:
        raise StalePolicyError(
            f"{where}: threshold chosen by policy {got['policy']} (target {got.get('target')}) "
            f"but register.threshold_policy is {want[0]} (target {want[1]}); rerun the "
            "aggregate stage (dvc repro)"
        )


def serving_spec(cfg: Config, ensemble: dict[str, Any]) -> ServingSpec:
    """The served model's spec: the ensemble's valid-chosen threshold, its temperature (both
    on the calibrated scale the aggregate stage reported) and the limits in force."""
    return ServingSpec(
        threshold=decision_threshold(ensemble),
        max_length=cfg.transformer.max_length,
        max_tokens=cfg.transformer.max_tokens,
        normalize_identifiers=cfg.featurize.normalize_identifiers,
        dataflow_features=cfg.featurize.dataflow_features,
        max_nodes=cfg.featurize.max_nodes,
        max_chars_parse=cfg.featurize.max_chars,
        max_input_chars=cfg.register.max_chars,
        max_rows=cfg.register.max_rows,
        max_request_chars=cfg.register.max_request_chars,
        seeds=tuple(int(s) for s in ensemble["seeds"]),
        test=dict(ensemble["test"]),
        temperature=temperature(ensemble),
        threshold_policy=threshold_policy(ensemble),
    )


def requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in REQUIREMENTS:
        try:
            out.append(f"{name}=={version(name).split('+')[0]}")
        except PackageNotFoundError:
            out.append(name)
    return out


def provenance(cfg: Config, features_dir: Path) -> dict[str, str]:
    """What the model was trained on: ``data_source``, ``data_path`` (``demo`` for the
    generated corpus), ``data_hash`` (content hash of the raw data, from ``prepare``'s
    ``stats.json`` beside the features), ``preset``, ``fusion_preset``, ``split_strategy``
    (the one ``prepare`` used, ``auto`` resolved), the DVC experiment and the commit."""
    from vulnfusion import tracking

    stats_path = features_dir.parent / "prepared" / "stats.json"
    stats = read_json(stats_path) if stats_path.exists() else {}
    source = str(stats.get("source") or cfg.data.source)
    tags = tracking.run_tags(cfg, "fusion", None, "register", str(stats.get("data_hash")))
    return {
        "data_source": source,
        "data_path": "demo" if source == "demo" else str(cfg.data.path),
        "data_hash": str(stats.get("data_hash", "unknown")),
        "preset": cfg.preset,
        "fusion_preset": cfg.fusion.preset,
        "split_strategy": str(stats.get("strategy") or cfg.split.strategy),
        "dvc_exp_name": tags["dvc_exp_name"],
        "git_commit": tags["git_commit"],
    }


def version_tags(
    ensemble: dict[str, Any], comparison: dict[str, Any], prov: dict[str, str], digest: str
) -> dict[str, str]:
    """The model version's tags: provenance, the evaluation (each acceptance target and the
    verdict), headline test metrics, the threshold and the policy (``threshold_policy``,
    ``threshold_target``, ``threshold_policy_met``) that chose it, the ``temperature``, test
    ECE/Brier after calibration, seeds, and the model digest (:func:`model_digest`: bundle
    and serving code; the tag keeps its name ``bundle_digest``)."""
    h = Headline.from_report(ensemble)
    policy = threshold_policy(ensemble)
    cal = ensemble.get("calibration", {}).get("test", {})
    tags: dict[str, Any] = {
        **prov,
        "evaluation": f"test split of {prov['data_path']} ({prov['split_strategy']})",
        "test_f1": h.test_f1,
        "test_accuracy_at_0_5": h.test_accuracy_at_0_5,
        "test_roc_auc": h.test_roc_auc,
        "test_pr_auc": h.test_pr_auc,
        "threshold": decision_threshold(ensemble),
        "threshold_policy": policy["policy"],
        "threshold_target": policy.get("target"),
        "threshold_policy_met": policy.get("policy_met", True),
        "temperature": temperature(ensemble),
        "test_ece": cal.get("ece_after"),
        "test_brier": cal.get("brier_after"),
        "seeds": ensemble["seeds"],
        "all_targets_pass": comparison["all_targets_pass"],
        "degraded": ensemble.get("degraded"),
        "bundle_digest": digest,
    }
    for k, v in comparison["targets"].items():
        tags[f"target/{k}"] = "pass" if v["pass"] else "fail"
    return {k: str(v) for k, v in tags.items()}


def description(
    ensemble: dict[str, Any], comparison: dict[str, Any], alias: str, prov: dict[str, str]
) -> str:
    """The model version's description: what it was trained and evaluated on, its test
    figures, why this alias. A model trained on the generated corpus says so first."""
    h = Headline.from_report(ensemble)
    policy = threshold_policy(ensemble)
    target = "" if policy.get("target") is None else f" (target {policy['target']})"
    unmet = "" if policy.get("policy_met", True) else ", NOT MET: max_f1 fallback"
    targets = ", ".join(
        f"{k}={'pass' if v['pass'] else 'fail'}" for k, v in comparison["targets"].items()
    )
    demo = (
        "DEMO MODEL — trained on the synthetic demo corpus, not on real code; its figures say "
        "nothing about real vulnerabilities. "
        if prov["data_source"] == "demo"
        else ""
    )
    return (
        f"{demo}vulnfusion fusion ensemble of seeds {ensemble['seeds']} (logits averaged). "
        f"Training data: source {prov['data_source']}, path {prov['data_path']}, hash "
        f"{prov['data_hash']}, preset {prov['preset']} (fusion {prov['fusion_preset']}), split "
        f"{prov['split_strategy']}; probabilities calibrated by temperature "
        f"{temperature(ensemble):.4f} (fitted on valid); decision threshold "
        f"{decision_threshold(ensemble):.4f} chosen on valid by policy "
        f"{policy['policy']}{target}{unmet}. "
        f"Evaluated on the test split of the same data: F1 {h.test_f1:.4f}, accuracy@0.5 "
        f"{h.test_accuracy_at_0_5:.4f}, ROC-AUC {h.test_roc_auc}. Targets: {targets} → alias "
        f"'{alias}'. Input: DataFrame column 'func' (C source); output: probability, label."
    )


def bundle_digest(bundle: Path) -> str:
    """SHA-256 over what decides the served scores, file by file (relative path + content,
    sorted by path): equal digests mean identical weights, model specs, tokenizer, vocabulary
    and serving spec. A checkpoint's ``checkpoint.json`` counts by its ``track``, ``seed`` and
    ``model`` spec only: its time stamp, commit and input hashes change on every re-run
    without changing a single weight."""
    h = hashlib.sha256()
    for f in sorted(p for p in bundle.rglob("*") if p.is_file()):
        h.update(f.relative_to(bundle).as_posix().encode() + b"\0")
        if f.name == META:
            meta = read_json(f)
            kept = {k: meta.get(k) for k in ("track", "seed", "model")}
            h.update(hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest().encode())
        else:
            h.update(sha256_file(f).encode())
    return h.hexdigest()


def code_digest(package: Path = PKG_DIR) -> str:
    """SHA-256 over the package's Python sources (relative path + content, sorted): the code
    the logged pyfunc ships (``code_paths``) and runs — its request checks, signature and
    scoring."""
    h = hashlib.sha256()
    for f in sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts):
        h.update(f.relative_to(package).as_posix().encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


def model_digest(bundle: Path) -> str:
    """What makes two registered versions the same model: the bundle (:func:`bundle_digest`)
    *and* the code that serves it (:func:`code_digest`). Same weights under new serving code
    are a new version, so an alias never moves back to a version whose pyfunc answers
    requests the old way; re-runs of unchanged code reuse the version."""
    both = f"{bundle_digest(bundle)}:{code_digest()}"
    return hashlib.sha256(both.encode()).hexdigest()


def version_with_digest(name: str, digest: str) -> Any | None:
    """The newest version of registered model ``name`` whose ``bundle_digest`` tag is
    ``digest`` (``None`` when there is none), so switching back to an earlier experiment's
    weights reuses its version instead of registering a copy."""
    from mlflow import MlflowClient

    versions = MlflowClient().search_model_versions(
        f"name = '{name}'", order_by=["version_number DESC"], max_results=10_000
    )
    return next((v for v in versions if v.tags.get("bundle_digest") == digest), None)


def ensemble_run_id(cfg: Config, fusion_dir: Path) -> str | None:
    """The aggregate stage's ``fusion-ensemble`` run, when it was logged to this same store."""
    from vulnfusion import tracking

    ref = fusion_dir / "ensemble" / "mlflow_run.json"
    if ref.exists():
        data = read_json(ref)
        if data.get("tracking_uri") == tracking.tracking_uri(cfg):
            return str(data["run_id"])
    return tracking.find_run_id(cfg, "fusion-ensemble")


def register_ensemble(
    cfg: Config,
    fusion_dir: Path,
    features_dir: Path,
    comparison_path: Path,
    output: Path,
    stage: str,
) -> dict[str, Any]:
    """Log + register the model (unless a version has the same bundle digest); tag
    it with provenance and evaluation, point ``alias`` at it; write ``output`` (name, version,
    alias, URIs). ``stage`` tags a run made here when the aggregate run cannot be found."""
    import pandas as pd

    from vulnfusion import tracking

    ensemble = read_json(fusion_dir / "ensemble_metrics.json")
    check_threshold_policy(cfg, ensemble, fusion_dir / "ensemble_metrics.json")
    comparison = read_json(comparison_path)
    alias = "champion" if comparison["all_targets_pass"] else "candidate"
    name = cfg.register.model_name
    example = pd.DataFrame({"func": EXAMPLE})
    signature = request_signature()  # loose: validate_frame names what is wrong
    prov = provenance(cfg, features_dir)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_bundle(cfg, fusion_dir, features_dir, ensemble, Path(tmp) / "bundle")
        digest = model_digest(bundle)
        tracking.connect(cfg)
        same = version_with_digest(name, digest)
        if same is not None:
            log.info("same weights as version %s: no new version", same.version)
            version, model_uri = str(same.version), f"models:/{name}/{same.version}"
        else:
            io = (example, signature)
            version, model_uri = _log_model(cfg, fusion_dir, bundle, name, io, stage)
    if same is None:  # a new version: its provenance, evaluation and lineage, once
        tracking.set_alias(
            name,
            version,
            alias,
            version_tags(ensemble, comparison, prov, digest),
            description(ensemble, comparison, alias, prov),
        )
    else:  # the same model again: its provenance stays as it was registered
        tracking.point_alias(name, version, alias)
    result = {
        "name": name,
        "version": version,
        "alias": alias,
        "model_uri": model_uri,
        "registry_uri": f"models:/{name}@{alias}",
        "threshold": decision_threshold(ensemble),
        "threshold_policy": threshold_policy(ensemble),
        "temperature": temperature(ensemble),
    }
    write_json(output, result)
    return result


def _log_model(
    cfg: Config, fusion_dir: Path, bundle: Path, name: str, io: tuple[Any, Any], stage: str
) -> tuple[str, str]:
    """Log ``bundle`` as a pyfunc into the aggregate stage's run (reopened: its tags stay) and
    register it; returns (version, model URI)."""
    import mlflow

    from vulnfusion import tracking

    run_id = ensemble_run_id(cfg, fusion_dir)
    example, signature = io
    tags = {} if run_id else {"track": "fusion", "seed": "ensemble", "dvc_stage": stage}
    with tracking.start_run(cfg, "fusion-ensemble", tags, run_id):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(ENTRY),
            artifacts={"bundle": str(bundle)},
            code_paths=[str(PKG_DIR)],
            signature=signature,
            input_example=example,
            pip_requirements=requirements(),
            registered_model_name=name,
        )
    return str(info.registered_model_version), str(info.model_uri)
