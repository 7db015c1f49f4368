"""The diff probe of `make bench`'s `ood` section (benchmarks/bench/why.py) and the edits it
uses (vulnfusion.graphs.edits: tested in tests/unit/test_edits.py)."""

from __future__ import annotations

import pytest

from tests.helpers import ROOT


@pytest.fixture(autouse=True)
def _bench_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))


def test_why_measures_the_library_edits() -> None:
    from bench.why import EDITS
    from vulnfusion.graphs import edits

    assert EDITS == edits.EDITS


@pytest.mark.parametrize(
    ("vulnerable", "fixed", "changed"),
    [
        ("a\nb\nc\nd", "a\nB\nc\nX\nd", {2, 3}),  # a replaced line, an insertion after c
        ("a\nb\nc", "a\nb\nif (x)\nc", {2}),  # a check inserted: the line before it
        ("a\nb\nc", "a\nc", {2}),  # a deleted line
        ("x\ny", "if (n) return;\nx\ny", {1}),  # inserted at the top: line 1
    ],
)
def test_changed_lines(vulnerable: str, fixed: str, changed: set[int]) -> None:
    from bench.why import changed_lines

    assert changed_lines(vulnerable, fixed) == changed
