"""Threshold policies on a hand-computed valid set, their config keys, and the spec fields.

The valid set (15 functions): positives score 0.9, 0.8, 0.6, 0.4, 0.35; negatives 0.85, 0.7,
0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.0. Predicted positive iff p >= t.

* max_f1: F1 is 10/13 for every t in 0.31..0.35 (TP 5, FP 3), lower elsewhere; the tie rule
  (closest to 0.5) gives 0.35.
* target_fpr: at each positive's score, the negatives at or above it are 3 (0.35, 0.4), 2
  (0.6), 1 (0.8), 0 (0.9) out of 10.
* target_recall: the k-th highest positive score with k = ceil(r · 5).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from vulnfusion.config import ConfigError, load_config
from vulnfusion.thresholds import choose_threshold, decision_threshold

ROOT = Path(__file__).resolve().parents[2]
POS = [0.9, 0.8, 0.6, 0.4, 0.35]
NEG = [0.85, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.0]
Y = np.array([1] * len(POS) + [0] * len(NEG))
P = np.array(POS + NEG)


def test_max_f1_is_todays_sweep_choice() -> None:
    c = choose_threshold(Y, P)
    assert (c.policy, c.target, c.value, c.policy_met) == ("max_f1", None, 0.35, True)
    assert (c.valid_recall, c.valid_fpr) == (1.0, 0.3)


@pytest.mark.parametrize(
    ("target", "value", "recall", "fpr"),
    [
        (0.0, 0.9, 0.2, 0.0),  # no false positive at all: only the top positive
        (0.1, 0.8, 0.4, 0.1),  # one negative (0.85) allowed
        (0.15, 0.8, 0.4, 0.1),  # 0.6 would cost 2 negatives (0.2 > 0.15)
        (0.25, 0.6, 0.6, 0.2),
        (0.3, 0.35, 1.0, 0.3),  # 0.4 and 0.35 both cost 3: 0.35 keeps every positive
        (0.99, 0.35, 1.0, 0.3),
    ],
)
def test_target_fpr_picks_the_largest_recall_within_the_fpr(
    target: float, value: float, recall: float, fpr: float
) -> None:
    c = choose_threshold(Y, P, "target_fpr", target)
    assert (c.value, c.valid_recall, c.valid_fpr, c.policy_met) == (value, recall, fpr, True)


@pytest.mark.parametrize(
    ("target", "value", "recall"),
    [
        (0.2, 0.9, 0.2),
        (0.21, 0.8, 0.4),
        (0.5, 0.6, 0.6),  # ceil(2.5) = 3 positives
        (0.6, 0.6, 0.6),  # 0.6 · 5 = 3.0000000000000004 in floats: still 3, not 4
        (0.61, 0.4, 0.8),
        (1.0, 0.35, 1.0),
    ],
)
def test_target_recall_picks_the_highest_threshold_reaching_it(
    target: float, value: float, recall: float
) -> None:
    c = choose_threshold(Y, P, "target_recall", target)
    assert (c.value, c.valid_recall, c.policy_met) == (value, recall, True)


def test_unreachable_target_falls_back_to_max_f1_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a negative above every positive: no positive is reachable without a false positive
    y, p = np.append(Y, 0), np.append(P, 0.95)
    with caplog.at_level(logging.WARNING, logger="vulnfusion.thresholds"):
        c = choose_threshold(y, p, "target_fpr", 0.0)
    assert (c.policy, c.target, c.value, c.policy_met) == ("target_fpr", 0.0, 0.35, False)
    assert len(caplog.records) == 1
    msg = caplog.records[0].getMessage()
    assert "\n" not in msg
    assert msg.startswith("threshold policy target_fpr=0.0 cannot be met on valid")
    assert "falling back to the max_f1 threshold 0.3500" in msg


def test_target_recall_without_valid_positives_falls_back() -> None:
    c = choose_threshold(np.zeros(4, dtype=int), [0.1, 0.2, 0.3, 0.4], "target_recall", 0.9)
    assert (c.value, c.policy_met, c.valid_recall) == (0.5, False, 0.0)


@pytest.mark.parametrize(
    ("policy", "target", "fragment"),
    [
        ("max_auc", None, "unknown threshold policy 'max_auc'"),
        ("max_f1", 0.1, "max_f1 takes no target"),
        ("target_fpr", None, "needs a numeric target"),
        ("target_fpr", 1.0, "target_fpr target must lie in [0, 1)"),
        ("target_recall", 0.0, "target_recall target must lie in (0, 1]"),
    ],
)
def test_bad_policy_arguments_raise(policy: str, target: float | None, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        choose_threshold(Y, P, policy, target)
    assert fragment in str(err.value)


def test_decision_threshold_prefers_the_policy_block() -> None:
    assert decision_threshold({"best_threshold_by_f1": 0.4}) == 0.4
    assert decision_threshold({"best_threshold_by_f1": 0.4, "threshold": {"value": 0.62}}) == 0.62


# ----------------------------------------------------------------------------- config


def test_default_policy_is_max_f1_without_target() -> None:
    reg = load_config(ROOT / "params.yaml").register
    assert (reg.threshold_policy, reg.threshold_target) == ("max_f1", None)


@pytest.mark.parametrize(
    ("policy", "text", "target"),
    [("target_fpr", "5e-3", 0.005), ("target_fpr", "0", 0.0), ("target_recall", "1", 1.0)],
)
def test_policy_and_target_are_read(policy: str, text: str, target: float) -> None:
    overrides = [f"register.threshold_policy={policy}", f"register.threshold_target={text}"]
    reg = load_config(ROOT / "params.yaml", overrides).register
    assert (reg.threshold_policy, reg.threshold_target) == (policy, target)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["register.threshold_policy=max_auc"],
            "register.threshold_policy: 'max_auc' is not one of max_f1, target_fpr, target_recall",
        ),
        (
            ["register.threshold_policy=target_fpr"],
            "register.threshold_target: required when register.threshold_policy is target_fpr",
        ),
        (
            ["register.threshold_policy=target_fpr", "register.threshold_target=1.0"],
            "register.threshold_target: a false-positive rate in [0, 1) for target_fpr, got 1.0",
        ),
        (
            ["register.threshold_policy=target_recall", "register.threshold_target=0"],
            "register.threshold_target: a recall in (0, 1] for target_recall, got 0.0",
        ),
        (
            ["register.threshold_policy=target_recall", "register.threshold_target=high"],
            "register.threshold_target: expected a number, got 'high'",
        ),
        (
            ["register.threshold_target=0.9"],
            "register.threshold_target: threshold_policy max_f1 takes no target (got 0.9); "
            "leave it out (or null), or choose target_fpr / target_recall",
        ),
        (
            ["register.threshold=0.5"],
            "register.threshold: unknown key (allowed: max_chars, max_request_chars, max_rows, "
            "model_name, threshold_policy, threshold_target)",
        ),
    ],
)
def test_bad_policy_config_is_one_line_naming_the_key(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "params.yaml", overrides)
    assert str(err.value) == message


# ----------------------------------------------------------------------------- serving spec


def _spec_dict(**extra: object) -> dict[str, object]:
    return {
        "threshold": 0.62,
        "max_length": 64,
        "max_nodes": 100,
        "max_chars_parse": 1000,
        "max_input_chars": 1000,
        "max_rows": 10,
        "seeds": [0, 1],
        **extra,
    }


def test_spec_carries_temperature_and_policy(tmp_path: Path) -> None:
    from vulnfusion.serving import ServingSpec

    policy = {"policy": "target_recall", "target": 0.9, "value": 0.62, "policy_met": True}
    path = tmp_path / "serving.json"
    path.write_text(json.dumps(_spec_dict(temperature=1.75, threshold_policy=policy)))
    spec = ServingSpec.from_json(path)
    assert (spec.temperature, spec.threshold_policy) == (1.75, policy)
    assert ServingSpec.from_json(spec.to_json(tmp_path / "again.json")) == spec
    path.write_text(json.dumps(_spec_dict()))  # written before calibration: uncalibrated
    assert ServingSpec.from_json(path).temperature == 1.0


@pytest.mark.parametrize("bad", [0, -1.0, "2", True, None])
def test_spec_rejects_a_bad_temperature(tmp_path: Path, bad: object) -> None:
    from vulnfusion.serving import ServingSpec, ServingSpecError

    path = tmp_path / "serving.json"
    path.write_text(json.dumps(_spec_dict(temperature=bad)))
    with pytest.raises(ServingSpecError) as err:
        ServingSpec.from_json(path)
    assert str(err.value) == f"{path}: 'temperature' must be a finite number > 0, got {bad!r}"
