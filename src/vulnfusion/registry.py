"""The ``register`` stage: log the fusion seed ensemble as a pyfunc and register it.

Alias ``champion`` when both acceptance targets of the comparison pass, else ``candidate``.
The version carries its test metrics as tags and a description saying how it was made.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from vulnfusion.config import Config
from vulnfusion.io import read_json, write_json
from vulnfusion.metrics import Headline
from vulnfusion.serving import SPEC_FILE, ServingSpec

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
    "torch-geometric",
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
    graph vocabulary and ``serving.json`` (:class:`~vulnfusion.serving.ServingSpec`)."""
    from vulnfusion.checkpoints import META, WEIGHTS

    for s in ensemble["seeds"]:
        seed_out = dest / "seeds" / f"seed_{s}"
        seed_out.mkdir(parents=True)
        for name in (WEIGHTS, META):
            shutil.copy2(fusion_dir / f"seed_{s}" / name, seed_out / name)
    shutil.copytree(features_dir / "tokenizer", dest / "tokenizer")
    shutil.copy2(features_dir / "graph_vocab.json", dest / "graph_vocab.json")
    serving_spec(cfg, ensemble).to_json(dest / SPEC_FILE)
    return dest


def serving_spec(cfg: Config, ensemble: dict[str, Any]) -> ServingSpec:
    """The served model's spec: the ensemble's valid-chosen threshold and the limits in force."""
    return ServingSpec(
        threshold=Headline.from_report(ensemble).threshold,
        max_length=cfg.transformer.max_length,
        max_nodes=cfg.featurize.max_nodes,
        max_chars_parse=cfg.featurize.max_chars,
        max_input_chars=cfg.register.max_chars,
        max_rows=cfg.register.max_rows,
        seeds=tuple(int(s) for s in ensemble["seeds"]),
        test=dict(ensemble["test"]),
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


def version_tags(ensemble: dict[str, Any], comparison: dict[str, Any]) -> dict[str, str]:
    """The model version's tags: headline test metrics, threshold, seeds, target verdict."""
    h = Headline.from_report(ensemble)
    tags = {
        "test_f1": h.test_f1,
        "test_accuracy_at_0_5": h.test_accuracy_at_0_5,
        "test_roc_auc": h.test_roc_auc,
        "test_pr_auc": h.test_pr_auc,
        "threshold": h.threshold,
        "seeds": ensemble["seeds"],
        "all_targets_pass": comparison["all_targets_pass"],
        "degraded": ensemble.get("degraded"),
    }
    return {k: str(v) for k, v in tags.items()}


def description(ensemble: dict[str, Any], comparison: dict[str, Any], alias: str) -> str:
    """The model version's description: how it was made, its test figures, why this alias."""
    h = Headline.from_report(ensemble)
    targets = ", ".join(
        f"{k}={'pass' if v['pass'] else 'fail'}" for k, v in comparison["targets"].items()
    )
    return (
        f"vulnfusion fusion ensemble of seeds {ensemble['seeds']} (logits averaged); threshold "
        f"{h.threshold:.2f} chosen on valid. Test: F1 "
        f"{h.test_f1:.4f}, accuracy@0.5 {h.test_accuracy_at_0_5:.4f}, "
        f"ROC-AUC {h.test_roc_auc}. Targets: {targets} → alias '{alias}'. "
        "Input: DataFrame column 'func' (C source); output: probability, label."
    )


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
    """Log + register the model; write ``output`` (name, version, alias, URIs)."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from vulnfusion import tracking

    ensemble = read_json(fusion_dir / "ensemble_metrics.json")
    comparison = read_json(comparison_path)
    alias = "champion" if comparison["all_targets_pass"] else "candidate"
    name = cfg.register.model_name
    example = pd.DataFrame({"func": EXAMPLE})
    signature = infer_signature(example, pd.DataFrame({"probability": [0.5, 0.5], "label": [1, 0]}))
    tags = tracking.run_tags(
        cfg,
        "fusion",
        None,
        stage,
        ensemble.get("data_hash", "unknown"),
        bool(ensemble.get("degraded")),
    )
    run_id = ensemble_run_id(cfg, fusion_dir)
    with (
        tempfile.TemporaryDirectory() as tmp,
        tracking.start_run(cfg, "fusion-ensemble", tags, run_id),
    ):
        bundle = build_bundle(cfg, fusion_dir, features_dir, ensemble, Path(tmp) / "bundle")
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
    version = str(info.registered_model_version)
    tracking.set_alias(
        name,
        version,
        alias,
        version_tags(ensemble, comparison),
        description(ensemble, comparison, alias),
    )
    result = {
        "name": name,
        "version": version,
        "alias": alias,
        "model_uri": info.model_uri,
        "registry_uri": f"models:/{name}@{alias}",
        "threshold": Headline.from_report(ensemble).threshold,
    }
    write_json(output, result)
    return result
