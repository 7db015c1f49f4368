"""Floors every claim stands on, computed on the same prepared split as the models.

* ``all_positive``: predicts "vulnerable" for every function (accuracy = positive rate);
* ``tfidf_lr``: TF-IDF over identifier and punctuation uni- and bigrams + logistic
  regression, its threshold chosen on valid like the models'.

Both report through ``metrics.evaluation_report`` (logits in, the same keys out), so accuracy
is at 0.5 and F1 at the valid-chosen threshold, exactly as for the three tracks; read the
headline figures with ``metrics.Headline.from_report``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vulnfusion.io import read_jsonl
from vulnfusion.metrics import evaluation_report

# identifiers/keywords, or any single non-space, non-alphanumeric character (punctuation)
TOKEN_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*|[^\sA-Za-z0-9_]"


def _split(prepared: Path, name: str) -> tuple[list[str], np.ndarray]:
    rows = read_jsonl(prepared / f"{name}.jsonl")
    return [r["func"] for r in rows], np.asarray([r["target"] for r in rows], dtype=np.int64)


def all_positive_logits(n_valid: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    big = 20.0  # sigmoid(20) ≈ 1: "vulnerable" at every threshold of the sweep
    return np.full(n_valid, big), np.full(n_test, big)


def all_positive(valid_y: np.ndarray, test_y: np.ndarray) -> dict[str, Any]:
    z_va, z_te = all_positive_logits(len(valid_y), len(test_y))
    return evaluation_report(valid_y, z_va, test_y, z_te)


def tfidf_lr_logits(
    prepared: Path,
    max_features: int = 200_000,
    c: float = 1.0,
    seed: int = 0,
    extra: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, np.ndarray]:
    """Fit on train; the ``valid`` and ``test`` logits (aligned with the split files), and
    those of each ``extra`` named list of texts (e.g. an out-of-distribution set)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    (x_tr, y_tr), (x_va, _), (x_te, _) = (_split(prepared, s) for s in ("train", "valid", "test"))
    vec = TfidfVectorizer(
        token_pattern=TOKEN_PATTERN,
        ngram_range=(1, 2),
        lowercase=False,
        min_df=2,
        max_features=max_features,
        sublinear_tf=True,
        dtype=np.float32,
    )
    clf = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    clf.fit(vec.fit_transform(x_tr), y_tr)
    texts = {"valid": x_va, "test": x_te, **(extra or {})}
    return {s: clf.decision_function(vec.transform(list(x))) for s, x in texts.items()}


def tfidf_lr(prepared: Path, **kwargs: Any) -> dict[str, Any]:
    """Fit on train, choose the threshold on valid, report test."""
    _, y_va = _split(prepared, "valid")
    _, y_te = _split(prepared, "test")
    z = tfidf_lr_logits(prepared, **kwargs)
    return evaluation_report(y_va, z["valid"], y_te, z["test"])


def run_baselines(prepared_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Both baselines on ``prepared_dir``'s split."""
    prepared = Path(prepared_dir)
    _, y_va = _split(prepared, "valid")
    _, y_te = _split(prepared, "test")
    return {"all_positive": all_positive(y_va, y_te), "tfidf_lr": tfidf_lr(prepared)}
