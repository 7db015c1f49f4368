"""VD-S, the pair-wise figures and the pair-aware bootstrap against hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest

from vulnfusion.evaluation.measures import (
    _weighted_metrics,
    find_pairs,
    intervals,
    pairwise,
    units_of,
    vd_score,
)
from vulnfusion.metrics import BOOTSTRAP_METRICS, binary_report, pr_auc, roc_auc

# four vulnerable, four benign; scores chosen so each FPR target lands on a different threshold
Y = [1, 1, 1, 1, 0, 0, 0, 0]
P = [0.95, 0.8, 0.5, 0.25, 0.9, 0.3, 0.2, 0.1]


@pytest.mark.parametrize(
    ("target", "vd_s", "threshold", "fpr", "recall"),
    [
        # FPR <= 25%: 0.3 still flags two benign (50%); 0.5 flags one (0.9): recall 3/4
        (0.25, 0.25, 0.5, 0.25, 0.75),
        # FPR 0: only 0.95 is above every benign score
        (0.0, 0.75, 0.95, 0.0, 0.25),
        # FPR <= 50%: 0.25 flags 0.9 and 0.3 (2/4) and every vulnerable function
        (0.5, 0.0, 0.25, 0.5, 1.0),
    ],
)
def test_vd_s_hand_computed(
    target: float, vd_s: float, threshold: float, fpr: float, recall: float
) -> None:
    got = vd_score(Y, P, target)
    assert got == pytest.approx(
        {"vd_s": vd_s, "threshold": threshold, "fpr": fpr, "recall": recall, "target_fpr": target}
    )


def test_vd_s_when_nothing_can_be_flagged_and_one_class() -> None:
    # the benign function outscores the vulnerable one: at FPR 0 nothing is flagged
    assert vd_score([1, 0], [0.1, 0.9], 0.0) == {
        "vd_s": 1.0, "threshold": None, "fpr": 0.0, "recall": 0.0, "target_fpr": 0.0
    }  # fmt: skip
    assert vd_score([1, 1], [0.1, 0.9])["vd_s"] is None
    with pytest.raises(ValueError, match="target_fpr"):
        vd_score(Y, P, 1.5)


def test_vd_s_default_target_is_half_a_percent() -> None:
    # 1000 benign scores 0..0.999; the 5 highest benign may be flagged: threshold 0.995
    neg = np.arange(1000) / 1000
    pos = np.array([0.9995, 0.996, 0.9955, 0.5])
    y = np.r_[np.ones(4), np.zeros(1000)]
    got = vd_score(y, np.r_[pos, neg])
    assert got["threshold"] == pytest.approx(0.995)
    assert got["fpr"] == pytest.approx(0.005)
    assert got["vd_s"] == pytest.approx(0.25)


# pairs a: P-C, b: P-V, c: P-B, d: P-R (vulnerable twin second), e: P-V with a tied score;
# s is a singleton, t two benign functions, u three functions: not pairs
PAIR_IDS = ["a", "a", "b", "b", "c", "c", "d", "d", "e", "e", "s", None, "t", "t", "u", "u", "u"]
PAIR_Y = [1, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 0, 0]
PAIR_P = [0.9, 0.2, 0.8, 0.7, 0.3, 0.1, 0.6, 0.4, 0.6, 0.6, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4]


def test_pair_categories_hand_computed() -> None:
    pairs = find_pairs(PAIR_Y, PAIR_IDS)
    assert pairs.ids == ("a", "b", "c", "d", "e")
    assert pairs.malformed == {
        "singleton": 1, "same_label": 1, "more_than_two": 1, "identical": 0
    }  # fmt: skip
    assert pairs.vulnerable.tolist() == [0, 2, 4, 7, 8]  # d's vulnerable twin comes second
    got = pairwise(pairs, PAIR_P, 0.5)
    values = {k: got[k]["value"] for k in ("p_c", "p_v", "p_b", "p_r")}
    assert values == pytest.approx({"p_c": 0.2, "p_v": 0.4, "p_b": 0.2, "p_r": 0.2})
    # a, b, c higher; d lower; e a tie counting one half: (3 + 0.5) / 5
    assert got["vulnerable_scores_higher"]["value"] == pytest.approx(0.7)
    assert got["n_pairs"] == 5


def test_pairwise_bootstrap_contains_point_and_no_pairs() -> None:
    rng = np.random.default_rng(1)
    n = 60
    y = np.tile([1, 0], n)
    p = np.clip(rng.normal(0.5 + 0.2 * (y - 0.5), 0.2), 0, 1)
    ids = [f"p{i // 2}" for i in range(2 * n)]
    got = pairwise(find_pairs(y, ids), p, 0.5, n_boot=400, seed=3)
    for k in ("p_c", "p_v", "p_b", "p_r", "vulnerable_scores_higher"):
        assert got[k]["low"] <= got[k]["value"] <= got[k]["high"], k
    empty = pairwise(find_pairs([1, 0], [None, None]), [0.1, 0.2], 0.5)
    assert empty["n_pairs"] == 0 and empty["p_c"]["value"] is None


def test_units_keep_twins_together() -> None:
    pairs = find_pairs([1, 0, 1, 0, 1], ["x", None, None, "x", None])
    assert units_of(5, pairs).tolist() == [0, 1, 2, 0, 3]
    assert units_of(3, None).tolist() == [0, 1, 2]


def test_weighted_metrics_with_unit_weights_equal_the_point_estimates() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300).astype(bool)
    p = np.round(rng.random(300), 2)  # ties on purpose
    got = _weighted_metrics(y, p, 0.4, np.ones((1, 300)))
    at = binary_report(y, p, 0.4)
    assert got["roc_auc"][0] == pytest.approx(roc_auc(y, p), abs=1e-12)
    assert got["pr_auc"][0] == pytest.approx(pr_auc(y, p), abs=1e-12)
    for k in ("accuracy", "precision", "recall", "f1", "balanced_accuracy"):
        assert got[k][0] == pytest.approx(at[k], abs=1e-12), k
    # weight 2 on every row is the same data twice: same figures
    twice = _weighted_metrics(y, p, 0.4, np.full((1, 300), 2.0))
    assert twice["roc_auc"][0] == pytest.approx(got["roc_auc"][0])


@pytest.mark.parametrize("paired", [False, True])
def test_intervals_contain_the_point_estimate(paired: bool) -> None:
    rng = np.random.default_rng(7)
    n = 400
    y = np.tile([1, 0], n // 2)
    p = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.2 * (y - 0.5))))
    pairs = find_pairs(y, [f"q{i // 2}" for i in range(n)]) if paired else None
    cis = intervals(y, p, 0.5, pairs, n_boot=300, seed=0)
    at = binary_report(y, p, 0.5)
    point = {k: at[k] for k in BOOTSTRAP_METRICS if k in at}
    point.update(roc_auc=roc_auc(y, p), pr_auc=pr_auc(y, p))
    for k in BOOTSTRAP_METRICS:
        assert cis[k]["low"] <= point[k] <= cis[k]["high"], (k, cis[k], point[k])
        assert cis[k]["high"] - cis[k]["low"] < 0.25, k


def test_group_rows_carry_pair_figures_hand_computed() -> None:
    """Per-CWE rows (issue 18's table): CWE-A has a correct pair (0.9 vs 0.2) and a tied one
    (0.3 vs 0.3: half a win, both benign at 0.5); CWE-B one reversed pair; CWE-C no pairs."""
    from vulnfusion.evaluation.figures import Scored, groups

    data = Scored(
        np.array([1, 0, 1, 0, 1, 0, 1, 0]),
        np.array([0.9, 0.2, 0.3, 0.3, 0.4, 0.6, 0.7, 0.1]),
        ["a1", "a1", "a2", "a2", "b1", "b1", None, None],
        [None] * 8,
        ["CWE-A", "CWE-A", "CWE-A", "CWE-A", "CWE-B", "CWE-B", "CWE-C", "CWE-C"],
        [f"int f{i}(void) {{ return {i}; }}" for i in range(8)],
    )
    table = groups(data, 0.5)["cwe"]
    got = {
        c: (r["n"], r["n_pairs"], r["p_c"], r["vulnerable_scores_higher"]) for c, r in table.items()
    }
    assert got == {
        "CWE-A": (4, 2, 0.5, 0.75),
        "CWE-B": (2, 1, 0.0, 0.0),
        "CWE-C": (2, None, None, None),  # no pair_id in the group: no pair figures
    }
