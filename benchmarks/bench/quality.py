"""Section ``quality``: the quality of the two ``pipeline`` workspaces (``dvc repro`` done),
per split.

  quality.<split>.<track>.ensemble.{accuracy,f1,roc_auc,pr_auc,threshold,precision,recall,
  <metric>_ci,minus_best_seed_f1,minus_best_seed_f1_ci,best_seed}
  quality.<split>.<track>.seeds  (a list of the same per seed), .seed_mean, .seed_std
  quality.<split>.baselines.{all_positive,tfidf_lr}.{accuracy,f1,roc_auc,pr_auc,...,_ci}
  quality.<split>.lifts (fusion over the best branch, ensemble over the best seed, from
  ``compare``), quality.<split>.data (split sizes, truncation and parse-error rates),
  quality.<split>.goal (issue 6's quality goal, measured)

For every track (transformer, gnn, fusion) the seed ensemble and each seed, and for the two
baselines fitted on the *same* prepared split: test accuracy at 0.5 (the leaderboard
convention), F1 at the valid-chosen threshold, ROC-AUC and PR-AUC, each with a percentile
bootstrap 95% interval over the test set (``<metric>_ci``: [low, high], 1,000 resamples).
Thresholds are chosen on valid only; nothing here looks at test to choose anything. Plus the
two lifts the ``compare`` stage measures (fusion over the best single branch, ensemble over
the best seed) and what the models could see (truncation of long functions at ``max_length``).

:func:`quality_summary` is a pure function of a workspace directory; :func:`run` applies it
to the workspaces that ``bench.pipeline`` ran (running them first if needed).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.context import Ctx, dig
from bench.pipeline import devign_pipelines
from bench.report import fmt
from vulnfusion.baselines import all_positive_logits, tfidf_lr_logits
from vulnfusion.config import load_config
from vulnfusion.ensemble import align
from vulnfusion.io import read_json, read_jsonl
from vulnfusion.metrics import bootstrap_ci, evaluation_report, roc_auc, sigmoid

TRACKS = ("transformer", "gnn", "fusion")
METRICS = ("accuracy", "f1", "roc_auc", "pr_auc")


def _labels(prepared: Path, split: str) -> tuple[list[str], np.ndarray]:
    rows = read_jsonl(prepared / f"{split}.jsonl")
    return [r["id"] for r in rows], np.asarray([r["target"] for r in rows], dtype=np.int64)


def scored(
    y_va: np.ndarray,
    z_va: np.ndarray,
    y_te: np.ndarray,
    z_te: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Headline test metrics (threshold chosen on valid) with bootstrap 95% intervals."""
    m = evaluation_report(y_va, z_va, y_te, z_te)
    t, thr = m["test"], m["best_threshold_by_f1"]
    out: dict[str, Any] = {
        "accuracy": t["at_0_5"]["accuracy"],
        "f1": t["at_valid_threshold"]["f1"],
        "roc_auc": t["roc_auc"],
        "pr_auc": t["pr_auc"],
        "threshold": thr,
        "precision": t["at_valid_threshold"]["precision"],
        "recall": t["at_valid_threshold"]["recall"],
    }
    prob = sigmoid(z_te)
    for metric in METRICS:
        ci = bootstrap_ci(
            y_te, prob, 0.5 if metric == "accuracy" else thr, metric, n_boot=n_boot, seed=seed
        )
        out[f"{metric}_ci"] = [ci["low"], ci["high"]]
    return out


def track_quality(
    workspace: Path, track: str, seeds: list[int], labels: dict[str, Any], n_boot: int
) -> dict[str, Any]:
    """``{"ensemble": {...}, "seeds": [{...}, ...]}`` for one track."""
    (ids_va, y_va), (ids_te, y_te) = labels["valid"], labels["test"]
    track_dir = workspace / "outputs" / track
    seed_z = []
    rows = []
    for s in seeds:
        path = track_dir / f"seed_{s}" / "logits.json"
        logits = read_json(path)
        z = (
            align(logits.get("valid", {}), ids_va, f"{path} (valid)"),
            align(logits.get("test", {}), ids_te, f"{path} (test)"),
        )
        seed_z.append(z)
        rows.append({"seed": s, **scored(y_va, z[0], y_te, z[1], n_boot)})
    ens_va = np.mean([z[0] for z in seed_z], axis=0)
    ens_te = np.mean([z[1] for z in seed_z], axis=0)
    recorded = read_json(track_dir / "ensemble_metrics.json")
    # the ensemble reports on its calibrated scale, sigmoid(mean logit / T), T fitted on valid
    temp = float(recorded.get("calibration", {}).get("temperature", 1.0))
    ensemble = scored(y_va, ens_va / temp, y_te, ens_te / temp, n_boot)
    # the aggregate stage's own numbers must be the ones recomputed here
    if abs(recorded["test"]["at_valid_threshold"]["f1"] - ensemble["f1"]) > 1e-9:
        raise ValueError(f"{track_dir}: ensemble F1 differs from ensemble_metrics.json")
    d = recorded["ensemble_minus_best_seed_test_f1"]
    ensemble["minus_best_seed_f1"] = d["diff"]
    ensemble["minus_best_seed_f1_ci"] = [d["low"], d["high"]]
    ensemble["best_seed"] = recorded["best_single_seed"]["seed"]
    return {
        "ensemble": ensemble,
        "seeds": rows,
        "seed_mean": {m: float(np.mean([r[m] for r in rows])) for m in METRICS},
        "seed_std": {
            m: float(np.std([r[m] for r in rows], ddof=1)) if len(rows) > 1 else 0.0
            for m in METRICS
        },
    }


def baselines_quality(workspace: Path, labels: dict[str, Any], n_boot: int) -> dict[str, Any]:
    prepared = workspace / "data" / "prepared"
    y_va, y_te = labels["valid"][1], labels["test"][1]
    z_va, z_te = all_positive_logits(len(y_va), len(y_te))
    out = {"all_positive": scored(y_va, z_va, y_te, z_te, n_boot)}
    z = tfidf_lr_logits(prepared)  # fitted on train, its threshold chosen on valid
    out["tfidf_lr"] = scored(y_va, z["valid"], y_te, z["test"], n_boot)
    return out


def truncation(workspace: Path) -> dict[str, Any]:
    """What the models saw of the test functions (the features' stats.json): the share of
    token sequences cut at ``max_length``, graphs cut at ``max_nodes``, parse errors."""
    stats_path = workspace / "data" / "features" / "stats.json"
    if not stats_path.exists():
        return {}
    test = read_json(stats_path).get("splits", {}).get("test", {})
    n = max(int(test.get("functions", 0)), 1)
    return {
        "test_token_truncated_rate": test.get("token_truncated_rate"),
        "test_graph_truncated_rate": round(int(test.get("truncated", 0)) / n, 4),
        "test_parse_error_rate": test.get("parse_error_rate"),
        "test_mean_nodes": test.get("mean_nodes"),
    }


def by_length(workspace: Path, labels: dict[str, Any], max_length: int) -> dict[str, Any]:
    """Test ROC-AUC and accuracy of each ensemble (and TF-IDF) on functions the Transformer saw
    whole vs those cut at ``max_length`` tokens, and by graph size: where the signal is lost."""
    from vulnfusion.features import load_split  # pulls in the tokenizer: see bench/__init__

    test = load_split(workspace / "data" / "features" / "test.safetensors")
    ids_te, y_te = labels["test"]
    pos = {i: k for k, i in enumerate(test.ids)}
    order = np.asarray([pos[i] for i in ids_te])
    tok_len = np.diff(test.arrays["tok_ptr"])[order]
    nodes = np.diff(test.arrays["node_ptr"])[order] if "node_ptr" in test.arrays else None
    groups = {"whole": tok_len < max_length, "truncated": tok_len >= max_length}
    if nodes is not None:
        med = float(np.median(nodes))
        groups.update({"small_graph": nodes <= med, "large_graph": nodes > med})
    scores = {
        t: np.mean(
            [
                align(
                    read_json(workspace / "outputs" / t / f"seed_{s}" / "logits.json").get(
                        "test", {}
                    ),
                    ids_te,
                    t,
                )
                for s in _seeds(workspace)
            ],
            axis=0,
        )
        for t in TRACKS
    }
    out: dict[str, Any] = {}
    for g, mask in groups.items():
        row: dict[str, Any] = {"n": int(mask.sum()), "positive_rate": float(y_te[mask].mean())}
        for t, z in scores.items():
            row[t] = {
                "roc_auc": roc_auc(y_te[mask], sigmoid(z[mask])),
                "accuracy": float(((z[mask] >= 0) == (y_te[mask] == 1)).mean()),
            }
        out[g] = row
    return out


def _seeds(workspace: Path) -> list[int]:
    return sorted(
        int(p.name.split("_")[1])
        for p in (workspace / "outputs" / "fusion").glob("seed_*")
        if p.is_dir()
    )


def learning_curves(workspace: Path) -> dict[str, Any]:
    """Per track and seed: train loss, valid loss and valid F1 per epoch (history.csv)."""
    out: dict[str, Any] = {}
    for t in TRACKS:
        for s in _seeds(workspace):
            path = workspace / "outputs" / t / f"seed_{s}" / "history.csv"
            if path.exists():
                rows = list(csv.DictReader(path.open()))
                out.setdefault(t, {})[f"seed_{s}"] = {
                    k: [round(float(r[k]), 4) for r in rows]
                    for k in ("train_loss", "valid_loss", "valid_f1")
                }
    return out


def quality_summary(workspace: Path, n_boot: int = 1000) -> dict[str, Any]:
    """``quality.<split>`` for the pipeline run in ``workspace``."""
    prepared = workspace / "data" / "prepared"
    labels = {s: _labels(prepared, s) for s in ("valid", "test")}
    seeds = _seeds(workspace)
    out: dict[str, Any] = {t: track_quality(workspace, t, seeds, labels, n_boot) for t in TRACKS}
    out["baselines"] = baselines_quality(workspace, labels, n_boot)
    comparison = read_json(workspace / "reports" / "comparison.json")
    out["lifts"] = {
        k: comparison[k] for k in ("fusion_vs_best_branch", "targets") if k in comparison
    }
    prep_stats = read_json(prepared / "stats.json")
    out["data"] = {
        "splits": {
            k: {"count": v.get("count"), "positive_rate": v.get("positive_rate")}
            for k, v in prep_stats.get("splits", {}).items()
        },
        **truncation(workspace),
    }
    cfg = load_config(workspace / "params.yaml")
    out["by_length"] = by_length(workspace, labels, cfg.transformer.max_length)
    out["learning_curves"] = learning_curves(workspace)
    out["preset"] = yaml.safe_load((workspace / "params.yaml").read_text()).get("preset")
    fus, tf = out["fusion"]["ensemble"], out["baselines"]["tfidf_lr"]
    best_branch = comparison["fusion_vs_best_branch"]["best_branch"]  # chosen on valid
    out["goal"] = {  # issue 6's quality goal, measured on test (nothing chosen on it)
        "fusion_beats_tfidf_accuracy": fus["accuracy"] > tf["accuracy"],
        "fusion_beats_tfidf_roc_auc": (fus["roc_auc"] or 0) > (tf["roc_auc"] or 0),
        "fusion_beats_both_branches_f1": all(
            fus["f1"] > out[t]["ensemble"]["f1"] for t in ("transformer", "gnn")
        ),
        "best_branch_by_valid": best_branch,
    }
    return out


def _ci(row: dict[str, Any], metric: str) -> str:
    v, ci = row.get(metric), row.get(f"{metric}_ci") or [None, None]
    if v is None:
        return "n/a"
    if ci[0] is None:
        return f"{v:.3f}"
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def quality_md(quality: dict[str, Any]) -> list[str]:
    """Readable tables of the ``quality`` section for bench.md."""
    out: list[str] = []
    for split, q in quality.items():
        if not isinstance(q, dict) or "fusion" not in q:
            continue
        sizes = ", ".join(
            f"{k} {v['count']}" for k, v in q.get("data", {}).get("splits", {}).items()
        )
        out += [
            "",
            f"### {split} (preset `{q.get('preset')}`; {sizes})",
            "",
            "Test split; accuracy at 0.5, F1 at the threshold chosen on valid; [bootstrap 95% CI].",
            "",
            "| model | accuracy | F1 | ROC-AUC | PR-AUC |",
            "|---|---|---|---|---|",
        ]
        for t in TRACKS:
            e = q[t]["ensemble"]
            out.append(
                f"| {t} ensemble | {_ci(e, 'accuracy')} | {_ci(e, 'f1')} | "
                f"{_ci(e, 'roc_auc')} | {_ci(e, 'pr_auc')} |"
            )
            mean, std = q[t]["seed_mean"], q[t]["seed_std"]
            out.append(
                f"| {t} seeds (mean ± std) | "
                + " | ".join(f"{mean[m]:.3f} ± {std[m]:.3f}" for m in METRICS)
                + " |"
            )
        for b in ("all_positive", "tfidf_lr"):
            r = q["baselines"][b]
            out.append(
                f"| baseline: {b} | {_ci(r, 'accuracy')} | {_ci(r, 'f1')} | "
                f"{_ci(r, 'roc_auc')} | {_ci(r, 'pr_auc')} |"
            )
        fv = q.get("lifts", {}).get("fusion_vs_best_branch", {})
        e = q["fusion"]["ensemble"]
        out += [
            "",
            f"- fusion vs best branch ({fv.get('best_branch')}, by valid): "
            f"Δ F1 {fv.get('delta_f1', float('nan')):+.4f}",
            f"- fusion ensemble vs its best seed: Δ F1 {e['minus_best_seed_f1']:+.4f} "
            f"[{e['minus_best_seed_f1_ci'][0]:+.4f}, {e['minus_best_seed_f1_ci'][1]:+.4f}]",
            f"- goal: {q['goal']}",
            f"- what the models saw: { {k: v for k, v in q['data'].items() if k != 'splits'} }",
        ]
        bl = q.get("by_length", {})
        if bl:
            out += [
                "",
                "| test subset | n | positive rate | "
                + " | ".join(f"{t} ROC-AUC" for t in TRACKS)
                + " |",
                "|---|---|---|" + "---|" * len(TRACKS),
            ]
            for g, row in bl.items():
                cells = " | ".join(
                    "n/a" if row[t]["roc_auc"] is None else f"{row[t]['roc_auc']:.3f}"
                    for t in TRACKS
                )
                out.append(f"| {g} | {row['n']} | {row['positive_rate']:.3f} | {cells} |")
    return out


def run(ctx: Ctx) -> dict[str, Any]:
    return {split: quality_summary(ws) for split, (ws, _) in devign_pipelines(ctx).items()}


def headline(r: dict[str, Any]) -> str:
    return "; ".join(
        f"{sp}: fusion acc {fmt(dig(r, sp, 'fusion', 'ensemble', 'accuracy'))} "
        f"ROC {fmt(dig(r, sp, 'fusion', 'ensemble', 'roc_auc'))} vs tfidf acc "
        f"{fmt(dig(r, sp, 'baselines', 'tfidf_lr', 'accuracy'))} "
        f"ROC {fmt(dig(r, sp, 'baselines', 'tfidf_lr', 'roc_auc'))}"
        for sp in r
    )


def markdown(r: dict[str, Any]) -> list[str]:
    """The section's bench.md body (below its heading and blank line)."""
    return quality_md(r)[1:]
