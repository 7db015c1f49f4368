"""How much the fusion head buys over simply combining scores: the seed ensembles of a
finished workspace, and the TF-IDF floor, combined at the logit level.

    python benchmarks/late_combinations.py WORKSPACE [--json OUT]

WORKSPACE is a ``dvc repro`` of a preset (``data/prepared``, ``outputs/{transformer,gnn,
fusion}/seed_*/logits.json``). Each track's ensemble is the mean of its seeds' logits (as the
aggregate stage computes it); every score is standardised with its own valid mean and
standard deviation, so a combination is a weighted sum of comparable numbers. Printed, with
valid and test ROC-AUC (test with a 95% percentile bootstrap interval, 1,000 resamples):

* each ensemble and the TF-IDF + logistic-regression floor (``baselines.tfidf_lr_logits``);
* equal-weight sums (no choice made);
* the weights (step 0.1, summing to 1) with the best **valid** ROC-AUC (ties: the first in
  grid order, the last name's weight falling): nothing is chosen on test.

A fusion head that learned something beyond its branches beats the equal-weight sum of the
Transformer and GNN ensembles; one that did not, does not.

Measured on the ``devign`` preset (README "Run on Devign"): the fusion head equals the
equal-weight Transformer + GNN sum on both splits (stratified test 0.734 / 0.734,
cross-project 0.574 / 0.577); TF-IDF adds 0.01 on the stratified split and costs 0.01 across
projects.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from vulnfusion.baselines import tfidf_lr_logits
from vulnfusion.io import read_jsonl, write_json
from vulnfusion.metrics import bootstrap_ci, roc_auc, sigmoid
from vulnfusion.paths import EVAL_SPLITS

TRACKS = ("transformer", "gnn", "fusion")
WEIGHTED = (("transformer", "gnn"), ("fusion", "tfidf"), ("transformer", "gnn", "tfidf"))


def ensemble_logits(
    workspace: Path, track: str, ids: dict[str, list[str]]
) -> dict[str, np.ndarray]:
    """Mean logit over ``outputs/<track>/seed_*`` per split, in ``ids`` order, shape (N,)."""
    seeds = sorted((workspace / "outputs" / track).glob("seed_*/logits.json"))
    if not seeds:
        raise SystemExit(f"{workspace}/outputs/{track}: no seed_*/logits.json")
    per = [json.loads(p.read_text()) for p in seeds]
    return {s: np.mean([[z[s][i] for i in ids[s]] for z in per], axis=0) for s in EVAL_SPLITS}


def summary(y: dict[str, np.ndarray], z: dict[str, np.ndarray]) -> dict[str, Any]:
    """Valid and test ROC-AUC, and the test interval."""
    ci = bootstrap_ci(y["test"], sigmoid(z["test"]), 0.5, "roc_auc")
    return {
        "valid_roc_auc": roc_auc(y["valid"], sigmoid(z["valid"])),
        "test_roc_auc": roc_auc(y["test"], sigmoid(z["test"])),
        "test_roc_auc_ci": [ci["low"], ci["high"]],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args()
    prepared = args.workspace / "data" / "prepared"
    rows = {s: read_jsonl(prepared / f"{s}.jsonl") for s in EVAL_SPLITS}
    ids = {s: [r["id"] for r in rows[s]] for s in EVAL_SPLITS}
    y = {s: np.asarray([r["target"] for r in rows[s]]) for s in EVAL_SPLITS}
    raw = {t: ensemble_logits(args.workspace, t, ids) for t in TRACKS}
    tfidf = tfidf_lr_logits(prepared)
    raw["tfidf"] = {s: tfidf[s] for s in EVAL_SPLITS}
    std = {
        k: {s: (v[s] - v["valid"].mean()) / v["valid"].std() for s in EVAL_SPLITS}
        for k, v in raw.items()
    }

    def combine(weights: dict[str, float]) -> dict[str, np.ndarray]:
        return {s: sum(w * std[k][s] for k, w in weights.items()) for s in EVAL_SPLITS}

    out: list[dict[str, Any]] = []
    for k in raw:
        out.append({"combination": k, "weights": {k: 1.0}, **summary(y, std[k])})
    for names in WEIGHTED:
        weights = {n: 1.0 / len(names) for n in names}
        row = {"combination": " + ".join(names), "weights": weights}
        out.append({**row, **summary(y, combine(weights))})
    grid = np.round(np.arange(0.0, 1.0001, 0.1), 1)
    for names in WEIGHTED:
        best: tuple[float, dict[str, float]] | None = None
        for w in itertools.product(grid, repeat=len(names)):
            if abs(sum(w) - 1.0) > 1e-6:
                continue
            weights = dict(zip(names, map(float, w), strict=True))
            a = roc_auc(y["valid"], sigmoid(combine(weights)["valid"])) or 0.0
            if best is None or a > best[0]:
                best = (a, weights)
        assert best is not None
        label = " + ".join(names) + " (valid-chosen weights)"
        out.append({"combination": label, "weights": best[1], **summary(y, combine(best[1]))})
    for r in out:
        lo, hi = r["test_roc_auc_ci"]
        w = ", ".join(f"{k} {v:.1f}" for k, v in r["weights"].items())
        print(
            f"{r['combination']:55s} valid {r['valid_roc_auc']:.4f}  test {r['test_roc_auc']:.4f}"
            f" [{lo:.3f}, {hi:.3f}]  ({w})"
        )
    if args.json:
        write_json(args.json, {"workspace": str(args.workspace), "rows": out})


if __name__ == "__main__":
    main()
