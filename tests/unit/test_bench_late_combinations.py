"""benchmarks/late_combinations.py on a hand-made workspace (real files, a real run of the
script): seed logits averaged per track, scores combined after valid standardisation,
weights chosen on valid only, exact ROC-AUCs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

LABELS = [0, 1, 0, 1, 0, 1, 0, 1]
SIGN = [1.0 if y else -1.0 for y in LABELS]


def _workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    prepared = ws / "data" / "prepared"
    prepared.mkdir(parents=True)
    for split, n in (("train", 20), ("valid", 8), ("test", 8)):
        labels = (LABELS * 3)[:n]
        rows = [
            {
                "id": f"{split}{i}",
                # the TF-IDF floor can read the label off the called function
                "func": f"void f{i}(char *d) {{ {'strcpy' if y else 'strncpy'}(d, s); }}",
                "target": y,
            }
            for i, y in enumerate(labels)
        ]
        (prepared / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # (track, seed) -> logit of row i, as a multiple of its sign (+ for label 1)
    scale = {
        ("transformer", 0): lambda i: 1.0 + i / 10,
        ("transformer", 1): lambda i: 1.0,
        ("gnn", 0): lambda i: -(1.0 + i / 10),  # exactly the Transformer's, negated
        ("gnn", 1): lambda i: -1.0,
        # the mean (0.5 x sign) separates; seed 1 alone would rank every row backwards
        ("fusion", 0): lambda i: 2.0,
        ("fusion", 1): lambda i: -1.0,
    }
    for (track, seed), f in scale.items():
        out = ws / "outputs" / track / f"seed_{seed}"
        out.mkdir(parents=True)
        logits = {s: {f"{s}{i}": f(i) * SIGN[i] for i in range(8)} for s in ("valid", "test")}
        (out / "logits.json").write_text(json.dumps(logits))
    return ws


def test_combinations_exact(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    out = tmp_path / "rows.json"
    script = ROOT / "benchmarks" / "late_combinations.py"
    proc = subprocess.run(
        [sys.executable, str(script), str(ws), "--json", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {r["combination"]: r for r in json.loads(out.read_text())["rows"]}
    assert "fusion" in proc.stdout
    auc = {k: (r["valid_roc_auc"], r["test_roc_auc"]) for k, r in rows.items()}
    assert auc["transformer"] == (1.0, 1.0)
    assert auc["gnn"] == (0.0, 0.0)
    assert auc["fusion"] == (1.0, 1.0)  # the seeds' mean, not one seed
    assert auc["tfidf"] == (1.0, 1.0)
    # standardised, the GNN cancels the Transformer exactly: a constant score
    assert auc["transformer + gnn"] == (0.5, 0.5)
    chosen = rows["transformer + gnn (valid-chosen weights)"]
    # the first weights in grid order (GNN weight falling) with the best valid ROC-AUC
    assert chosen["weights"] == {"transformer": 0.6, "gnn": 0.4}
    assert (chosen["valid_roc_auc"], chosen["test_roc_auc"]) == (1.0, 1.0)
    assert set(rows) == {
        "transformer",
        "gnn",
        "fusion",
        "tfidf",
        "transformer + gnn",
        "fusion + tfidf",
        "transformer + gnn + tfidf",
        "transformer + gnn (valid-chosen weights)",
        "fusion + tfidf (valid-chosen weights)",
        "transformer + gnn + tfidf (valid-chosen weights)",
    }


def test_a_track_without_seeds_is_one_line(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    for p in (ws / "outputs" / "gnn").glob("seed_*/logits.json"):
        p.unlink()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "late_combinations.py"), str(ws)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{ws}/outputs/gnn: no seed_*/logits.json"
