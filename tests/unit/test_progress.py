"""ProgressLog: periodic lines on a fake clock, their exact text, the env interval."""

from __future__ import annotations

import logging

import pytest

from vulnfusion.progress import ProgressConfigError, ProgressLog, format_eta, interval_from_env


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_lines_every_interval_and_on_the_last_step(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = logging.getLogger("test.progress")
    p = ProgressLog("train epoch 1/2", 10, "ex", log, interval_s=30, clock=clock)
    logged = []
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for step in range(1, 11):
            clock.t += 10  # 10 s per step
            logged.append(p.update(step, step * 8, loss=0.5))
    # due at 30 s, 60 s, 90 s after the start, and on step 10 (the last)
    assert [i + 1 for i, x in enumerate(logged) if x] == [3, 6, 9, 10]
    assert caplog.messages[0] == (
        "train epoch 1/2: step 3/10 (30%)  loss 0.5000  0.8 ex/s  ETA 1m10s"
    )
    last = "train epoch 1/2: step 10/10 (100%)  loss 0.5000  0.8 ex/s  ETA 0s"
    assert caplog.messages[-1] == last


def test_zero_interval_logs_every_step_negative_never() -> None:
    log = logging.getLogger("test.progress")
    every = ProgressLog("x", 5, "fn", log, interval_s=0, clock=Clock())
    assert all(every.update(i, i) for i in range(1, 6)) and every.lines == 5
    never = ProgressLog("x", 5, "fn", log, interval_s=-1, clock=Clock())
    assert not any(never.update(i, i) for i in range(1, 6)) and never.lines == 0


def test_unknown_total_has_no_eta() -> None:
    p = ProgressLog("featurize", 0, "fn", logging.getLogger("t"), interval_s=0, clock=Clock())
    assert p.line(7, 7, 2.0, {}) == "featurize: step 7/0  3.5 fn/s"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (42.4, "42s"), (75.4, "1m15s"), (3725, "1h02m")]
)
def test_format_eta(seconds: float, text: str) -> None:
    assert format_eta(seconds) == text


def test_interval_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VULNFUSION_PROGRESS_S", raising=False)
    assert interval_from_env() == 30.0
    monkeypatch.setenv("VULNFUSION_PROGRESS_S", "2.5")
    assert interval_from_env() == 2.5
    monkeypatch.setenv("VULNFUSION_PROGRESS_S", "soon")
    with pytest.raises(ProgressConfigError, match="VULNFUSION_PROGRESS_S='soon'"):
        interval_from_env()


def test_featurize_graphs_log_progress(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import tiny_params
    from vulnfusion.config import resolve
    from vulnfusion.featurize import build_graphs

    monkeypatch.setenv("VULNFUSION_PROGRESS_S", "0")
    with caplog.at_level(logging.INFO, logger="vulnfusion.featurize"):
        graphs = build_graphs(["int f(int a) { return a + 1; }"] * 3, resolve(tiny_params()), "g")
    assert len(graphs) == 3
    steps = [m.split("  ")[0] for m in caplog.messages if m.startswith("featurize g:")]
    assert steps == ["featurize g: step 1/3 (33%)", "featurize g: step 2/3 (67%)",
                     "featurize g: step 3/3 (100%)"]  # fmt: skip
