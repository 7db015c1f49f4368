"""Vulnerable/fixed pairs mined from a labelled training split (``fusion.pairs.source: train``).

Devign-style datasets label functions taken from both sides of security-fix commits, so a
training split often holds a function's vulnerable version *and* a later, fixed version of the
same function (same project, same name, nearly the same text, opposite labels). Those are the
pairs a pair-wise ranking loss needs, and they come from the training data itself: no outside
corpus, nothing from the evaluation sets.

Matching: functions are grouped by (project, function name); inside a group every
vulnerable × non-vulnerable pair is scored by the cosine similarity of their TF-IDF vectors
(sublinear tf over the split's code tokens; Salton & Buckley 1988; rounded to 6 places), and
pairs at or above ``min_similarity`` are matched greedily one-to-one, most similar first, so a
function appears in at most one pair. The result is deterministic (ties broken by the ids).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vulnfusion.data.formats import DataError

# the code tokens TF-IDF reads: identifiers/numbers, and each other non-space character
TOKEN_PATTERN = r"\w+|[^\w\s]"
# a definition's name: the first identifier before a "(" in its header that is not a keyword
# (``int (*pick(int k))(int)`` defines ``pick``)
_NAME = re.compile(r"([A-Za-z_]\w*)\s*\(")
_KEYWORDS = frozenset(
    [
        "auto",
        "char",
        "const",
        "double",
        "enum",
        "extern",
        "float",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "_Bool",
    ]
)


@dataclass(frozen=True)
class FixPair:
    """One mined pair: the vulnerable row's id, the fixed row's id, their TF-IDF cosine."""

    vul_id: str
    fix_id: str
    similarity: float


def function_name(code: str) -> str | None:
    """The defined function's name: the first identifier right before a ``(`` in the text
    before its body that is not a C keyword (``None`` when there is none, e.g. a fragment)."""
    head = code.split("{", 1)[0]
    for match in _NAME.finditer(head):
        if match.group(1) not in _KEYWORDS:
            return match.group(1)
    return None


def mine_fix_pairs(
    rows: Sequence[Mapping[str, Any]],
    min_similarity: float = 0.9,
    max_pairs: int | None = None,
) -> list[FixPair]:
    """Vulnerable/fixed pairs among ``rows`` (dicts with ``id``, ``func``, ``target`` 0/1 and
    ``project``; a missing project counts as one project), most similar first.

    Args:
        rows: the training split's records (``data/prepared/train.jsonl`` rows).
        min_similarity: the least TF-IDF cosine in [0, 1] for two functions to count as
            versions of one another.
        max_pairs: keep the most similar this many; ``None`` keeps all.

    Raises:
        DataError: a row without ``id``, ``func`` or a 0/1 ``target`` (named by its index).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        for key in ("id", "func", "target"):
            if key not in row:
                raise DataError(f"row {i}: no {key!r} field")
        if row["target"] not in (0, 1):
            raise DataError(f"row {i} ({row['id']}): target {row['target']!r} is not 0 or 1")
        name = function_name(str(row["func"]))
        if name is not None:
            groups[(str(row.get("project") or ""), name)].append(i)
    members = sorted(
        i for idx in groups.values() if len({rows[i]["target"] for i in idx}) == 2 for i in idx
    )
    if not members:
        return []
    vec = TfidfVectorizer(
        token_pattern=TOKEN_PATTERN, lowercase=False, sublinear_tf=True, dtype=np.float64
    )
    matrix = vec.fit_transform([str(rows[i]["func"]) for i in members])
    where = {row: k for k, row in enumerate(members)}
    candidates: list[tuple[float, str, str, int, int]] = []
    for idx in groups.values():
        vul = [i for i in idx if rows[i]["target"] == 1]
        fix = [i for i in idx if rows[i]["target"] == 0]
        if not vul or not fix:
            continue
        sims = (
            (matrix[[where[i] for i in vul]] @ matrix[[where[j] for j in fix]].T).toarray().round(6)
        )  # 6 places: an exact copy is 1.0, not 1 - 1e-16
        for a, b in zip(*np.nonzero(sims >= min_similarity), strict=True):
            i, j = vul[a], fix[b]
            candidates.append((-float(sims[a, b]), str(rows[i]["id"]), str(rows[j]["id"]), i, j))
    candidates.sort()
    used: set[int] = set()
    pairs: list[FixPair] = []
    for neg_sim, vul_id, fix_id, i, j in candidates:
        if i in used or j in used:
            continue
        used.update((i, j))
        pairs.append(FixPair(vul_id, fix_id, -neg_sim))
        if max_pairs is not None and len(pairs) >= max_pairs:
            break
    return pairs
