"""The grid behind the ``devign`` preset's ``fusion.pairs`` setting (README, "Teaching it to
tell a function from its fix"): fusion heads trained on a finished workspace's cached branch
features, with and without the twin ranking loss, 3 seeds each, ensembled by mean logit.

    python benchmarks/pair_grid.py WORKSPACE [LAMBDA:MARGIN ...] [--augment N] [--cvepairs]

WORKSPACE is a ``dvc repro`` of the ``devign`` preset (``data/features``, ``outputs/{transformer,
gnn}/seed_*``, ``data/cache/fusion``); the default grid is the README's. Printed per setting:
Devign valid and test ROC-AUC and the held-out demo twins' "vulnerable scores higher" (seed 7,
never trained on), then the pick of the rule, which reads only those two: of the settings
whose valid ROC-AUC is within 0.01 of the plain head's, the best on the held-out twins.
``--cvepairs`` also prints the ``cvepairs`` figures — evaluation only: never pick on them.
``--source train`` trains on pairs mined from the train split instead of demo twins
(``fusion.pairs.source: train``; ``--min-similarity``, ``--n-pairs``) and picks on the pairs
mined inside the valid split (``valid_pairs_vulnerable_higher``, printed for every setting).
``--augment N`` trains on the twins with ``fusion.pairs.augment=N`` (N semantics-preserving
edited copies of each: ``vulnfusion.graphs.edits``); every run also prints the held-out twins
with both sides edited once (``heldout_edited_vulnerable_higher``: does the ranking survive
renaming, re-indenting and dead code?).

The heads follow the fusion stage's recipe (MLP 256, dropout 0.25, AdamW lr 1e-3, weight
decay 0.01, 6 epochs of batch 128, warmup 10% then linear decay) and the twin loss is
``vulnfusion.training.pair_loss``, but the loop is this file's own: no valid-F1 epoch choice,
so its figures are close to, not equal to, the stage's (λ 0: test 0.7408 here, 0.7410 there).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from vulnfusion.config import load_config
from vulnfusion.data.demo.heldout import heldout_rows
from vulnfusion.features import load_features
from vulnfusion.graphs.edits import augment_pairs
from vulnfusion.runs.fusion import (
    cached_features,
    embed_rows,
    load_branch,
    mined_pair_rows,
    stage_features,
    twin_features,
)
from vulnfusion.training import pair_loss

CVEPAIRS = Path(__file__).resolve().parents[1].parent / "shared/data/cvepairs/cvepairs.jsonl.gz"
GRID = ["0.1:1", "0.2:1", "0.3:1", "0.5:1", "2:1", "5:1", "0.5:0.5", "0.5:2"]
SEEDS = (0, 1, 2)
HELDOUT_EDIT_SEED = 7  # the edits of the held-out twins (their own generator seed)
MAX_VALID_DROP = 0.01  # the rule: Devign valid ROC-AUC within this of the plain head


def paired_texts(rows: list[dict[str, Any]]) -> list[str]:
    """Vulnerable versions first, then their fixes in the same pair order."""
    by: dict[str, dict[int, str]] = {}
    for r in rows:
        by.setdefault(str(r["pair_id"]), {})[int(r["target"])] = r["func"]
    keep = [p for p in sorted(by) if set(by[p]) == {0, 1}]
    return [by[p][1] for p in keep] + [by[p][0] for p in keep]


def mined_rows(ws: Path, split: str, min_similarity: float, n_pairs: int | None) -> np.ndarray:
    """Row indices into ``split``'s features of the pairs mined from its prepared rows
    (:func:`vulnfusion.runs.fusion.mined_pair_rows`): P vulnerable rows, then their fixes."""
    ids = load_features(ws / "data" / "features").splits[split].ids
    prepared = ws / "data" / "prepared" / f"{split}.jsonl"
    return mined_pair_rows(prepared, ids, min_similarity, n_pairs)[0]


def embeddings(
    ws: Path, with_cve: bool, augment: int = 0, source: str = "demo"
) -> dict[int, dict[str, torch.Tensor]]:
    """Per seed: concatenated branch features of train/valid/test, the training twins (demo
    twins with ``augment`` edited copies; none for ``source`` train, whose twins are train
    rows), the held-out twins, the held-out twins edited once (and cvepairs)."""
    over = ["fusion.pairs.source=demo", "fusion.pairs.weight=1", f"fusion.pairs.augment={augment}"]
    cfg = load_config(ws / "params.yaml", over)
    feats = load_features(ws / "data" / "features")
    extra = {"twins": twin_features(cfg, ws / "data" / "features")} if source == "demo" else {}
    held = paired_texts(heldout_rows())
    extra["heldout"] = stage_features(cfg, ws / "data" / "features", held)
    h = len(held) // 2
    edited = augment_pairs(list(zip(held[:h], held[h:], strict=True)), 1, HELDOUT_EDIT_SEED)[h:]
    extra["heldout_edited"] = stage_features(
        cfg, ws / "data" / "features", [v for v, _ in edited] + [f for _, f in edited]
    )
    if with_cve:
        with gzip.open(CVEPAIRS, "rt", encoding="utf-8") as fh:
            extra["cve"] = stage_features(
                cfg, ws / "data" / "features", paired_texts([json.loads(x) for x in fh])
            )
    cpu = torch.device("cpu")
    out = {}
    for seed in SEEDS:
        parts: dict[str, list[np.ndarray]] = {}
        for track in ("transformer", "gnn"):
            branch = load_branch(track, ws / "outputs" / track / f"seed_{seed}", cfg, feats)
            assert branch is not None, f"{track} seed {seed} missing in {ws}"
            splits = cached_features(branch, feats, ws / "data" / "cache" / "fusion", cpu)
            for name, arr in splits.items():
                parts.setdefault(name, []).append(arr)
            for name, sf in extra.items():
                assert sf is not None
                parts.setdefault(name, []).append(embed_rows(branch, sf, cpu))
        out[seed] = {k: torch.from_numpy(np.concatenate(v, axis=1)) for k, v in parts.items()}
    return out


def train_head(x: dict[str, torch.Tensor], y: torch.Tensor, seed: int, lam: float, margin: float):
    torch.manual_seed(seed)
    head = nn.Sequential(
        nn.Dropout(0.25), nn.Linear(x["train"].shape[1], 256), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(256, 1),
    )  # fmt: skip
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.01)
    epochs, bs, n = 6, 128, len(y)
    steps = epochs * math.ceil(n / bs)
    warm = int(0.1 * steps)

    def factor(s: int) -> float:
        return min((s + 1) / max(warm, 1), max(0.0, (steps - s) / max(steps - warm, 1)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    twins, n_pairs = x["twins"], len(x["twins"]) // 2
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        head.train()
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            logits = head(x["train"][idx]).squeeze(-1)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, y[idx])
            if lam > 0:
                k = torch.randint(0, n_pairs, (32,), generator=gen)
                z_vul, z_fix = head(twins[k]).squeeze(-1), head(twins[k + n_pairs]).squeeze(-1)
                loss = loss + lam * pair_loss(z_vul, z_fix, margin)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    head.eval()
    with torch.no_grad():
        return {k: head(v).squeeze(-1).numpy() for k, v in x.items() if k not in ("train", "twins")}


def pair_figures(z: np.ndarray) -> tuple[float, float]:
    """(ROC-AUC, share of pairs whose vulnerable version scores higher; ties half)."""
    h = len(z) // 2
    auc = roc_auc_score(np.r_[np.ones(h), np.zeros(h)], z)
    return float(auc), float(np.mean((z[:h] > z[h:]) + 0.5 * (z[:h] == z[h:])))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("workspace", type=Path)
    p.add_argument("grid", nargs="*", default=GRID, help="LAMBDA:MARGIN settings")
    p.add_argument("--cvepairs", action="store_true", help="also print (never pick on) cvepairs")
    p.add_argument("--augment", type=int, default=0, help="edited copies per training twin")
    p.add_argument(
        "--source",
        choices=("demo", "train"),
        default="demo",
        help="the twins: the demo generator's, or pairs mined from the train split",
    )
    p.add_argument("--min-similarity", type=float, default=0.9, help="mining threshold")
    p.add_argument("--n-pairs", type=int, default=None, help="mined pairs kept (default all)")
    args = p.parse_args()
    torch.set_num_threads(1)  # tiny matmuls: more threads only wait on each other
    emb = embeddings(args.workspace, args.cvepairs, args.augment, args.source)
    if args.source == "train":
        mined = torch.from_numpy(
            mined_rows(args.workspace, "train", args.min_similarity, args.n_pairs)
        )
        print(f"{len(mined) // 2} pairs mined from the train split", flush=True)
        if not len(mined):
            raise SystemExit(f"{args.workspace}: no pair in the train split to train on")
        for x in emb.values():
            x["twins"] = x["train"][mined]
    # held out: pairs mined inside the valid split (never trained on; Devign's own fixes)
    valid_pairs = mined_rows(args.workspace, "valid", args.min_similarity, None)
    print(f"{len(valid_pairs) // 2} held-out pairs mined from the valid split", flush=True)
    labels = load_features(args.workspace / "data" / "features").splits
    y = torch.tensor(labels["train"].arrays["labels"]).float()
    rows: list[dict[str, Any]] = []
    for lam, margin in [(0.0, 1.0)] + [tuple(map(float, g.split(":"))) for g in args.grid]:
        outs = [train_head(emb[s], y, s, lam, margin) for s in SEEDS]
        ens = {k: np.mean([o[k] for o in outs], axis=0) for k in outs[0]}
        row: dict[str, Any] = {
            "source": args.source,
            "lambda": lam,
            "margin": margin,
            "augment": args.augment,
        }
        for split in ("valid", "test"):
            row[f"devign_{split}_roc_auc"] = round(
                float(roc_auc_score(labels[split].arrays["labels"], ens[split])), 4
            )
        row["valid_pairs_vulnerable_higher"] = round(pair_figures(ens["valid"][valid_pairs])[1], 3)
        row["heldout_twins_vulnerable_higher"] = round(pair_figures(ens["heldout"])[1], 3)
        row["heldout_edited_vulnerable_higher"] = round(pair_figures(ens["heldout_edited"])[1], 3)
        if "cve" in ens:
            auc, higher = pair_figures(ens["cve"])
            row["cvepairs_roc_auc"], row["cvepairs_vulnerable_higher"] = round(auc, 3), higher
        print(json.dumps(row), flush=True)
        rows.append(row)
    base = rows[0]["devign_valid_roc_auc"]
    eligible = [r for r in rows[1:] if r["devign_valid_roc_auc"] >= base - MAX_VALID_DROP]
    # the held-out pairs of the twins' own kind: demo twins, or the valid split's mined pairs
    key = "heldout_twins" if args.source == "demo" else "valid_pairs"
    if eligible:
        pick = max(eligible, key=lambda r: r[f"{key}_vulnerable_higher"])
        print(
            f"picked: lambda {pick['lambda']}, margin {pick['margin']} (valid ROC-AUC "
            f"within {MAX_VALID_DROP} of {base}, best {key.replace('_', ' ')})"
        )


if __name__ == "__main__":
    main()
