"""Section ``ood``: out-of-distribution transfer to real CVE fixes. Every registered model this
benchmark trains — the demo preset (what ``make run`` registers) and the ``devign`` preset on
both splits — scored on ``../shared/data/cvepairs`` (504 vulnerable/fixed function pairs from
108 projects none of them saw: **evaluation only**, nothing here is chosen on it) with
``vulnfusion evaluate``, exactly as a user runs it, beside two floors scored by the same code:

* ``all_positive``: every function called vulnerable (ROC-AUC 0.5, P-V 1, ties in every pair);
* ``tfidf_lr``: TF-IDF + logistic regression fitted on the Devign stratified **train** split,
  its threshold the max-F1 one on that split's **valid** (``vulnfusion.baselines``).

  ood.models.<name>.{n, n_pairs, roc_auc, pr_auc, f1, p_c, p_v, p_b, p_r,
  vulnerable_scores_higher, vd_s, ece, brier, threshold, model, wall_s} (bootstrapped figures
  with ``<metric>_ci``: [low, high], pairs resampled as units, 1,000 draws);
  ood.models.<name>.cwe.<CWE>.{n, n_pairs, roc_auc, p_c, vulnerable_scores_higher};
  ood.data.{path, sha256, n, n_pairs}

``<name>`` is ``demo``, ``devign_stratified``, ``devign_cross_project``, ``all_positive``,
``tfidf_lr``.

  ood.why.<model>.{visibility, attribution, edits.<corpus>.<edit>} for ``demo`` and
  ``devign_stratified``: what the model keys on (:mod:`bench.why`; corpora ``devign`` and
  ``demo`` test functions).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from bench.context import ROOT, Ctx, dig
from bench.evaluation import run_evaluate, with_intervals
from bench.pipeline import demo_pipeline, devign_pipelines
from bench.report import fmt
from vulnfusion.io import read_json

CVEPAIRS = (ROOT.parent / "shared" / "data" / "cvepairs" / "cvepairs.jsonl.gz").resolve()
FIGURES = ("roc_auc", "pr_auc", "f1")
PAIR_FIGURES = ("p_c", "p_v", "p_b", "p_r", "vulnerable_scores_higher")
TOP_LINES = 5  # bench.why.TOP_K
CWE_MIN_PAIRS = 10  # per-CWE rows for CWEs with at least this many pairs (the rest: "other")


def ood_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The bench keys of one ``evaluation.json`` on cvepairs (module doc)."""
    figs = report["all"]
    out: dict[str, Any] = {"n": figs["n"], "threshold": figs["threshold"]}
    out.update(with_intervals(figs, FIGURES))
    pairs = figs["pairs"] or {}
    out["n_pairs"] = pairs.get("n_pairs", 0)
    out.update(with_intervals(pairs, PAIR_FIGURES))
    out["vd_s"] = figs["vd_s"]["vd_s"]
    out["ece"] = figs["calibration"]["ece"]
    out["brier"] = figs["calibration"]["brier"]
    out["cwe"] = cwe_rows(report.get("groups", {}).get("cwe", {}))
    return out


def cwe_rows(table: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-CWE rows (the evaluation's ``groups.cwe``) for CWEs with >= CWE_MIN_PAIRS pairs."""
    keep = ("n", "n_pairs", "roc_auc", "p_c", "vulnerable_scores_higher")
    return {
        cwe: {k: row.get(k) for k in keep}
        for cwe, row in sorted(table.items(), key=lambda kv: -(kv[1].get("n_pairs") or 0))
        if (row.get("n_pairs") or 0) >= CWE_MIN_PAIRS
    }


def evaluate_model(ctx: Ctx, ws: Path, name: str) -> dict[str, Any]:
    """``vulnfusion evaluate cvepairs`` with ``ws``'s registered model (its own code/store)."""
    report, _, wall_s = run_evaluate(ctx, ws, CVEPAIRS, f"cvepairs-{name}")
    out = ood_summary(report)
    out["model"] = f"{report['model']['name']} {report['model']['version']}"
    out["wall_s"] = wall_s
    return out


def floors(prepared: Path) -> dict[str, dict[str, Any]]:
    """The two floors on cvepairs, through the evaluation's own figure code (in-process)."""
    from vulnfusion.baselines import tfidf_lr_logits
    from vulnfusion.evaluation.dataset import read_eval_data
    from vulnfusion.evaluation.figures import Options, Scored, figure_set, groups
    from vulnfusion.io import read_jsonl
    from vulnfusion.metrics import best_threshold, sigmoid, threshold_sweep

    data = read_eval_data(CVEPAIRS)
    rows = data.rows

    def report(prob: np.ndarray, thr: float) -> dict[str, Any]:
        scored = Scored(
            np.array([r.label for r in rows], dtype=np.int64),
            prob.astype(np.float64),
            [r.pair_id for r in rows],
            [r.project for r in rows],
            [r.cwe for r in rows],
            [r.func for r in rows],
        )
        return {"all": figure_set(scored, thr, Options()), "groups": groups(scored, thr)}

    out = {"all_positive": ood_summary(report(np.ones(len(rows)), 0.5))}
    z = tfidf_lr_logits(prepared, extra={"cvepairs": [r.func for r in rows]})
    valid_y = np.array([r["target"] for r in read_jsonl(prepared / "valid.jsonl")])
    thr = best_threshold(threshold_sweep(valid_y, sigmoid(z["valid"])))
    out["tfidf_lr"] = ood_summary(report(sigmoid(z["cvepairs"]), thr))
    return out


def workspace_model(ws: Path) -> Any:
    """``ws``'s registered model loaded in this process (a ``ScanModel``: the pyfunc, and
    through it the ensemble scorer the probes need)."""
    import mlflow

    from vulnfusion.scan.model import load_scan_model

    uri = f"sqlite:///{ws / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)  # models:/ resolves through the process-wide registry URI
    return load_scan_model(read_json(ws / "reports" / "registered_model.json")["registry_uri"])


def why_block(ws: Path, corpora: dict[str, list[str]]) -> dict[str, Any]:
    """The three probes of :mod:`bench.why` for ``ws``'s registered model on cvepairs."""
    from bench import why
    from vulnfusion.evaluation.dataset import read_eval_data
    from vulnfusion.evaluation.measures import find_pairs

    model = workspace_model(ws)
    scorer = model.pyfunc.unwrap_python_model().scorer
    rows = read_eval_data(CVEPAIRS).rows
    y = np.array([r.label for r in rows])
    pairs = find_pairs(y, [r.pair_id for r in rows], [r.func for r in rows])
    vul = [rows[int(i)] for i in pairs.vulnerable]
    fix = [rows[int(i)] for i in pairs.fixed]
    texts = [r.func for r in vul[: why.ATTRIBUTION_PAIRS] + fix[: why.ATTRIBUTION_PAIRS]]
    probs = dict(zip(texts, model.predict(texts), strict=True))
    thr = model.spec.threshold
    both = list(zip(vul, fix, strict=True))
    return {
        "visibility": why.visibility(scorer, [(v.func, f.func) for v, f in both]),
        "attribution": why.attribution(
            scorer,
            [(str(v.pair_id), v.cwe, v.func, f.func) for v, f in both],
            probs,
        ),
        "edits": {name: why.edits(model.predict, funcs, thr) for name, funcs in corpora.items()},
    }


def _test_funcs(ws: Path) -> list[str]:
    from vulnfusion.io import read_jsonl

    return [r["func"] for r in read_jsonl(ws / "data" / "prepared" / "test.jsonl")]


def run(ctx: Ctx) -> dict[str, Any]:
    if not CVEPAIRS.exists():
        raise FileNotFoundError(f"{CVEPAIRS} not found")
    spaces = devign_pipelines(ctx)
    if "stratified" not in spaces:  # the TF-IDF floor and the probes use its splits
        raise ValueError("the ood section needs the stratified Devign workspace")
    demo_ws = demo_pipeline(ctx)
    models: dict[str, Any] = {"demo": evaluate_model(ctx, demo_ws, "demo")}
    for split, (ws, _) in spaces.items():
        models[f"devign_{split}"] = evaluate_model(ctx, ws, f"devign_{split}")
    models.update(floors(spaces["stratified"][0] / "data" / "prepared"))
    first = next(iter(models.values()))
    data = {
        "path": str(CVEPAIRS),
        "sha256": hashlib.sha256(CVEPAIRS.read_bytes()).hexdigest(),
        "n": first["n"],
        "n_pairs": first["n_pairs"],
    }
    strat = spaces["stratified"][0]
    corpora = {"devign": _test_funcs(strat), "demo": _test_funcs(demo_ws)}
    why = {"demo": why_block(demo_ws, corpora), "devign_stratified": why_block(strat, corpora)}
    return {"data": data, "models": models, "why": why}


def headline(r: dict[str, Any]) -> str:
    parts = []
    for name in ("demo", "devign_stratified", "devign_cross_project", "tfidf_lr"):
        parts.append(
            f"{name}: ROC-AUC {fmt(dig(r, 'models', name, 'roc_auc'))}, "
            f"vuln>fix {fmt(dig(r, 'models', name, 'vulnerable_scores_higher'))}, "
            f"P-C {fmt(dig(r, 'models', name, 'p_c'))}"
        )
    return "; ".join(parts)


def markdown(r: dict[str, Any]) -> list[str]:
    """One table of every model and floor, then the per-CWE rows of each model."""

    def ci(m: dict[str, Any], k: str) -> str:
        lo, hi = m.get(f"{k}_ci") or (None, None)
        tail = f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None else ""
        return f"{fmt(m.get(k))}{tail}"

    d = r.get("data", {})
    lines = [
        f"`cvepairs` ({d.get('n')} functions, {d.get('n_pairs')} pairs; evaluation only, "
        "nothing chosen on it). Bootstrap 95% intervals resample pairs.",
        "",
        "| model | ROC-AUC | PR-AUC | vulnerable scores higher | P-C | P-V | P-B | P-R "
        "| VD-S | ECE | threshold |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    models = r.get("models", {})
    for name, m in models.items():
        lines.append(
            f"| {name} | {ci(m, 'roc_auc')} | {ci(m, 'pr_auc')} | "
            f"{ci(m, 'vulnerable_scores_higher')} | {ci(m, 'p_c')} | {fmt(m.get('p_v'))} | "
            f"{fmt(m.get('p_b'))} | {fmt(m.get('p_r'))} | {fmt(m.get('vd_s'))} | "
            f"{fmt(m.get('ece'))} | {fmt(m.get('threshold'))} |"
        )
    lines += [
        "",
        f"Per CWE (CWEs with at least {CWE_MIN_PAIRS} pairs): ROC-AUC / vulnerable scores "
        "higher / P-C.",
        "",
    ]
    cwes = sorted({c for m in models.values() for c in m.get("cwe", {})})
    if cwes:
        lines.append("| CWE | pairs | " + " | ".join(models) + " |")
        lines.append("|---|---:|" + "---:|" * len(models))
        for c in cwes:
            n_pairs = next(
                (m["cwe"][c]["n_pairs"] for m in models.values() if c in m.get("cwe", {})), None
            )
            cells = []
            for m in models.values():
                row = m.get("cwe", {}).get(c, {})
                cells.append(
                    f"{fmt(row.get('roc_auc'))} / {fmt(row.get('vulnerable_scores_higher'))} / "
                    f"{fmt(row.get('p_c'))}"
                )
            lines.append(f"| {c} | {n_pairs} | " + " | ".join(cells) + " |")
    for name, w in r.get("why", {}).items():
        lines += ["", f"What `{name}` keys on (`bench/why.py`):", ""]
        v, a = w.get("visibility", {}), w.get("attribution", {})
        lines.append(
            f"- of {v.get('n_pairs')} pairs, the two versions give identical token ids in "
            f"{fmt(v.get('tokens_identical'))}, identical graphs in "
            f"{fmt(v.get('graphs_identical'))}, both in {fmt(v.get('both_identical'))}; "
            f"{fmt(v.get('changed_lines_in_window'))} of the changed lines (mean per pair) lie "
            f"in the token window; {fmt(v.get('graph_truncated'))} of the graphs are cut"
        )
        lines.append(
            f"- top-{TOP_LINES} occlusion lines touch the fix in {a.get('hits')} of "
            f"{a.get('n_pairs')} pairs (a random top-{TOP_LINES}: "
            f"{a.get('expected_random_hits')}); mean p(vulnerable) − p(fixed) "
            f"{fmt(a.get('mean_score_gap'))}"
        )
        for corpus, table in w.get("edits", {}).items():
            text = ", ".join(
                f"{e} |Δp| {fmt(x.get('mean_abs_delta'))} (flips {fmt(x.get('label_flips'))})"
                for e, x in table.items()
            )
            lines.append(f"- semantics-preserving edits on {corpus} test functions: {text}")
    return lines
