"""Localisation measured on labelled rows (the demo's ``flaw_lines``), beside two floors.

Every method and floor ranks the same candidate lines (the non-blank lines) of the same
flawed functions; :mod:`~vulnfusion.localization.metrics` turns rankings into LineVul's
Top-10 accuracy and IFA. The random floor is the exact expectation (closed forms) plus the
median IFA of a fixed-seed shuffle averaged over rounds; the keyword floor ranks lines
with ``memcpy``/``strcpy``/``strcat``/``sprintf``/``free``/indexing first.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from statistics import mean, median
from typing import Any

import numpy as np

from vulnfusion.io import read_jsonl, write_json
from vulnfusion.localization.attribution import DEFAULT_METHOD, LineScorer, line_scores
from vulnfusion.localization.lines import candidate_lines, keyword_ranking, random_ranking, rank
from vulnfusion.localization.metrics import ifa, random_floor_exact, summarize

TOP_K = 10
RANDOM_ROUNDS = 100
RANDOM_SEED = 0
FLAW_KEY = "flaw_lines"


def flawed_rows(rows: Iterable[dict[str, Any]]) -> list[tuple[str, set[int]]]:
    """``(func, flawed lines)`` of the rows that carry ``flaw_lines`` (non-empty)."""
    return [(str(r["func"]), set(r[FLAW_KEY])) for r in rows if r.get(FLAW_KEY)]


def floors(samples: Sequence[tuple[str, set[int]]], k: int = TOP_K) -> dict[str, Any]:
    """The random floor (exact expectation; median IFA averaged over seeded shuffles) and
    the keyword floor, on ``samples``."""
    texts, truths = [s[0] for s in samples], [s[1] for s in samples]
    n_cands = [len(candidate_lines(t)) for t in texts]
    rand = random_floor_exact(n_cands, truths, k)
    rng = np.random.default_rng(RANDOM_SEED)
    medians = []
    for _ in range(RANDOM_ROUNDS):
        medians.append(median(ifa(random_ranking(t, rng), f) for t, f in samples))
    rand["ifa_median"] = round(mean(medians), 4)
    rand["how"] = (
        "exact expectation; ifa_median: mean over "
        f"{RANDOM_ROUNDS} seeded shuffles (seed {RANDOM_SEED})"
    )
    keyword = summarize([keyword_ranking(t) for t in texts], truths, k)
    return {"random": rand, "keyword": keyword}


class _Memo:
    """One occlusion pass per text shared by ``occlusion`` and ``occlusion_signed`` (the two
    differ only in how the same logit drops are read)."""

    def __init__(self, scorer: LineScorer) -> None:
        self.scorer = scorer
        self.signed: dict[str, dict[int, float]] = {}

    def __call__(self, text: str, method: str) -> dict[int, float]:
        if method not in ("occlusion", "occlusion_signed"):
            return line_scores(self.scorer, text, method)
        if text not in self.signed:
            self.signed[text] = line_scores(self.scorer, text, "occlusion_signed")
        scores = self.signed[text]
        return {ln: abs(v) for ln, v in scores.items()} if method == "occlusion" else scores


def evaluate_method(
    scorer: LineScorer | _Memo,
    samples: Sequence[tuple[str, set[int]]],
    method: str,
    k: int = TOP_K,
) -> dict[str, Any]:
    """``summarize`` of ``method``'s rankings, plus ``ms_per_function`` (wall time; for the
    second occlusion reading, the time of re-reading the shared pass)."""
    memo = scorer if isinstance(scorer, _Memo) else _Memo(scorer)
    start = time.perf_counter()
    rankings = [rank(memo(t, method), candidate_lines(t)) for t, _ in samples]
    elapsed = time.perf_counter() - start
    out = summarize(rankings, [f for _, f in samples], k)
    out["ms_per_function"] = round(1000 * elapsed / max(1, len(samples)), 1)
    return out


def evaluate_localization(
    scorer: LineScorer,
    rows: Iterable[dict[str, Any]],
    methods: Sequence[str] = (DEFAULT_METHOD,),
    k: int = TOP_K,
) -> dict[str, Any]:
    """Every method in ``methods`` and both floors on the flawed ``rows``.

    Returns ``{"functions", "k", "methods": {name: summary}, "floors": {...}}``; with no
    flawed row, ``{"functions": 0, ...}`` and no metric (nothing is invented).
    """
    samples = flawed_rows(rows)
    out: dict[str, Any] = {"functions": len(samples), "k": k, "methods": {}, "floors": {}}
    if not samples:
        return out
    out["floors"] = floors(samples, k)
    memo = _Memo(scorer)
    for m in methods:
        out["methods"][m] = evaluate_method(memo, samples, m, k)
    out["chosen"] = methods[0]
    return out


# the default first (the report's "chosen"); one occlusion pass serves both of its readings
STAGE_METHODS = ("occlusion", "occlusion_signed", "gradient_x_input")


def localization_report(
    scorer: LineScorer, test_jsonl: Path, output: Path, methods: Sequence[str] = STAGE_METHODS
) -> dict[str, Any]:
    """Evaluate on the prepared test split ``test_jsonl`` and write ``output`` (JSON)."""
    result = evaluate_localization(scorer, read_jsonl(test_jsonl), methods)
    result["split"] = "test"
    write_json(output, result)
    return result
