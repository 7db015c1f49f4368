"""Baselines: the all-positive floor is exact; TF-IDF + LR learns a separable toy task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vulnfusion.baselines import all_positive, run_baselines
from vulnfusion.metrics import Headline


def test_all_positive_floor_is_the_positive_rate() -> None:
    y = np.array([1, 0, 0, 1, 1, 0, 0, 0])
    h = Headline.from_report(all_positive(y, y))
    assert h.test_accuracy_at_0_5 == pytest.approx(3 / 8)
    assert h.test_f1 == pytest.approx(2 * 3 / (3 + 8))  # precision 3/8, recall 1
    assert (h.test_precision, h.test_recall) == (pytest.approx(3 / 8), 1.0)


def test_tfidf_lr_separates_a_token_level_signal(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    test_y = []
    for split, n in (("train", 200), ("valid", 60), ("test", 60)):
        rows = []
        for i in range(n):
            y = int(rng.integers(0, 2))
            call = "strcpy(dst, src);" if y else "strncpy(dst, src, n);"
            rows.append(
                {
                    "func": f"int f{i}(char *dst, char *src, int n) {{ {call} return {i}; }}",
                    "target": y,
                }
            )
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        test_y = [r["target"] for r in rows]
    res = run_baselines(tmp_path)
    tfidf = Headline.from_report(res["tfidf_lr"])
    # one token (strcpy vs strncpy) decides the label: TF-IDF + LR gets every test row right
    assert (tfidf.test_roc_auc, tfidf.test_pr_auc) == (1.0, 1.0)
    assert (tfidf.test_accuracy_at_0_5, tfidf.test_f1) == (1.0, 1.0)
    assert sum(test_y) == 33  # of 60: all-positive is right on exactly those
    floor = Headline.from_report(res["all_positive"])
    assert floor.test_accuracy_at_0_5 == pytest.approx(33 / 60)
