"""Candidate lines of a function, token → line mapping, and the keyword ranking floor.

Lines are 1-based lines of the function text (``text.split("\\n")``), the numbering the
demo generator's ``flaw_lines`` and the pyfunc's ``top_lines`` use. Blank lines are never
candidates: no method, floor included, can point at one.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

import numpy as np

# Lines a reviewer greps for first: unbounded copies, formatted writes, releases, indexing.
KEYWORD_PATTERN = re.compile(r"\b(?:memcpy|strcpy|strcat|sprintf|\w*free)\s*\(|\w\s*\[")


# A line of nothing but braces, parentheses, commas and semicolons holds no statement.
_PUNCTUATION_ONLY = re.compile(r"^[\s{}();,]*$")


def candidate_lines(text: str) -> list[int]:
    """The 1-based numbers of the lines a ranking may point at, ascending.

    A candidate holds a statement: blank lines, lines of punctuation only (``{``, ``}``,
    ``);``) and the signature (every line before the one holding the body's first ``{``,
    and that line too unless code follows the ``{`` on it) are left out, for every method
    and both floors alike, so a ranking is never rewarded or punished for where the braces
    sit. A function whose body is on its signature line (``int f(void) { return 0; }``)
    keeps its non-blank lines.
    """
    lines = text.split("\n")
    nonblank = [i + 1 for i, line in enumerate(lines) if line.strip()]
    first_brace = next((i for i, line in enumerate(lines) if "{" in line), None)
    if first_brace is None:
        return nonblank
    after = lines[first_brace].split("{", 1)[1]
    body_from = (
        first_brace if after.strip() and not _PUNCTUATION_ONLY.match(after) else (first_brace + 1)
    )
    body = [
        i + 1
        for i in range(body_from, len(lines))
        if lines[i].strip() and not _PUNCTUATION_ONLY.match(lines[i])
    ]
    if body_from == first_brace and first_brace < len(lines):
        body = [first_brace + 1, *(ln for ln in body if ln != first_brace + 1)]
    return sorted(set(body)) or nonblank


def line_starts(text: str) -> list[int]:
    """Character offset where each line of ``text`` starts (``[0, ...]``, one per line)."""
    starts = [0]
    for m in re.finditer("\n", text):
        starts.append(m.end())
    return starts


def char_to_line(starts: Sequence[int], offset: int) -> int:
    """The 1-based line holding character ``offset`` (``starts`` from :func:`line_starts`)."""
    return bisect.bisect_right(starts, offset)


def spans_to_lines(
    text: str, spans: Sequence[tuple[int, int]], scores: Sequence[float]
) -> dict[int, float]:
    """Sum token scores per line: a token counts for the line its first character is on.

    ``spans``: (start, end) character offsets per token, ``(0, 0)`` for special tokens
    (skipped); ``scores``: one per token. Returns ``{line: summed score}`` for the lines
    that hold at least one token.
    """
    starts = line_starts(text)
    out: dict[int, float] = {}
    for (a, b), s in zip(spans, scores, strict=True):
        if b <= a:
            continue
        # byte-level BPE often glues the leading space or newline to the next word
        while a < b and text[a].isspace():
            a += 1
        if a < b:
            line = char_to_line(starts, a)
            out[line] = out.get(line, 0.0) + float(s)
    return out


def rank(scores: dict[int, float], candidates: Sequence[int]) -> list[int]:
    """``candidates`` by descending score (missing = 0), ties in source order."""
    return sorted(candidates, key=lambda ln: (-scores.get(ln, 0.0), ln))


def keyword_ranking(text: str) -> list[int]:
    """The keyword floor: lines with ``memcpy``/``strcpy``/``strcat``/``sprintf``/a
    ``*free`` call or an indexing ``x[`` first, then the rest; source order within each."""
    lines = text.split("\n")
    cands = candidate_lines(text)
    hits = [ln for ln in cands if KEYWORD_PATTERN.search(lines[ln - 1])]
    return hits + [ln for ln in cands if ln not in set(hits)]


def random_ranking(text: str, rng: np.random.Generator) -> list[int]:
    """The candidate lines in a random order drawn from ``rng``."""
    cands = candidate_lines(text)
    return [cands[i] for i in rng.permutation(len(cands))]
