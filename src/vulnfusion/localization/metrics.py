"""LineVul's line-level metrics (Fu & Tantithamthavorn, MSR 2022) and the random floor.

* **Top-k accuracy**: the fraction of flawed functions with at least one flawed line among
  the ``k`` best-ranked lines (LineVul reports k = 10: 0.65 on Big-Vul).
* **IFA** (initial false alarm): the clean lines a reviewer inspects, in ranked order, before
  the first flawed one (0 = the top line is flawed; LineVul: mean 4.56 on Big-Vul).

For a ranking drawn uniformly at random over ``n`` candidate lines of which ``m`` are
flawed, both have closed forms: P(a flawed line in the top k) = 1 − C(n−m, k) / C(n, k),
and E[IFA] = (n − m) / (m + 1) (the ``n − m`` clean lines each precede all ``m`` flawed
ones with probability 1 / (m + 1)).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb
from statistics import mean, median
from typing import Any


def ifa(ranking: Sequence[int], flawed: set[int] | frozenset[int]) -> int:
    """Clean lines before the first flawed line of ``ranking`` (all of them if none is).

    Raises:
        ValueError: ``flawed`` is empty.
    """
    if not flawed:
        raise ValueError("IFA needs at least one flawed line")
    for i, line in enumerate(ranking):
        if line in flawed:
            return i
    return len(ranking)


def hit_at(ranking: Sequence[int], flawed: set[int] | frozenset[int], k: int) -> bool:
    """Whether a flawed line is among the first ``k`` of ``ranking``."""
    return any(line in flawed for line in ranking[:k])


def random_hit_probability(n: int, m: int, k: int) -> float:
    """P(a flawed line in the top ``k``) for a uniform random order of ``n`` lines, ``m``
    flawed (exact, hypergeometric)."""
    if m <= 0:
        return 0.0
    return 1.0 - comb(n - m, k) / comb(n, k) if k < n else 1.0


def random_expected_ifa(n: int, m: int) -> float:
    """E[IFA] for a uniform random order of ``n`` lines with ``m`` flawed: (n − m)/(m + 1)."""
    if m <= 0:
        raise ValueError("IFA needs at least one flawed line")
    return (n - m) / (m + 1)


def summarize(
    rankings: Sequence[Sequence[int]], truths: Sequence[set[int]], k: int = 10
) -> dict[str, Any]:
    """Top-``k`` accuracy, Top-1 and Top-5 accuracy, and mean/median IFA over functions.

    ``rankings[i]`` ranks function i's candidate lines (best first); ``truths[i]`` its
    flawed lines (non-empty; a flawed line outside the ranking is never found).
    """
    if len(rankings) != len(truths):
        raise ValueError(f"{len(rankings)} rankings for {len(truths)} functions")
    if not rankings:
        raise ValueError("no function to evaluate")
    ifas = [ifa(r, t) for r, t in zip(rankings, truths, strict=True)]
    out: dict[str, Any] = {"functions": len(rankings)}
    for kk in sorted({1, 5, k}):
        hits = [hit_at(r, t, kk) for r, t in zip(rankings, truths, strict=True)]
        out[f"top{kk}_accuracy"] = round(mean(hits), 4)
    out["ifa_mean"] = round(mean(ifas), 4)
    out["ifa_median"] = float(median(ifas))
    return out


def random_floor_exact(
    candidates: Sequence[int], truths: Sequence[set[int]], k: int = 10
) -> dict[str, Any]:
    """The random floor's expected Top-``k`` accuracy and mean IFA (closed forms).

    ``candidates[i]`` is the number of candidate lines of function i.
    """
    ms = [len(t) for t in truths]
    return {
        f"top{k}_accuracy": round(
            mean(random_hit_probability(n, m, k) for n, m in zip(candidates, ms, strict=True)), 4
        ),
        "ifa_mean": round(
            mean(random_expected_ifa(n, m) for n, m in zip(candidates, ms, strict=True)), 4
        ),
    }
