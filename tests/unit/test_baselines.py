"""Baselines: the all-positive floor is exact; TF-IDF + LR learns a separable toy task."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vulnfusion.baselines import all_positive, run_baselines, summary


def test_all_positive_floor_is_the_positive_rate() -> None:
    y = np.array([1, 0, 0, 1, 1, 0, 0, 0])
    s = summary(all_positive(y, y))
    assert s["accuracy"] == pytest.approx(3 / 8)
    assert s["f1"] == pytest.approx(2 * 3 / (3 + 8))  # precision 3/8, recall 1


def test_tfidf_lr_separates_a_token_level_signal(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
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
    res = run_baselines(tmp_path)
    # one token (strcpy vs strncpy) decides the label: TF-IDF + LR gets every test row right
    assert summary(res["tfidf_lr"]) == {"accuracy": 1.0, "f1": 1.0, "roc_auc": 1.0, "pr_auc": 1.0}
    lines = (tmp_path / "test.jsonl").read_text().splitlines()
    positives = sum(json.loads(line)["target"] for line in lines)
    assert positives == 33  # of 60: all-positive is right on exactly those
    assert summary(res["all_positive"])["accuracy"] == pytest.approx(33 / 60)
