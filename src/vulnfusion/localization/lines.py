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
# comments and string/char literals, in one left-to-right pass (a "/*" inside a string is text)
_LEXEMES = re.compile(
    r"//[^\n]*|/\*.*?(?:\*/|\Z)"  # comments (an unclosed one runs to the end)
    r'|"(?:\\.|[^"\\\n])*"?'  # string literals
    r"|'(?:\\.|[^'\\\n])*'?",  # character literals
    re.S,
)


def code_only(text: str) -> str:
    """``text`` with every comment replaced by spaces (its newlines kept, so line numbers
    hold); string and character literals are kept as they are."""

    def blank(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok.startswith(("//", "/*")):
            return re.sub(r"[^\n]", " ", tok)
        return tok

    return _LEXEMES.sub(blank, text)


def candidate_lines(text: str) -> list[int]:
    """The 1-based numbers of the lines a ranking may point at, ascending.

    A candidate holds code of the body: blank lines, comment-only lines (or the comment part
    of nothing else), preprocessor lines (``#if``, ``#endif`` …), lines of punctuation only
    (``{``, ``}``, ``);``) and the signature (every line before the one holding the body's
    first ``{``, and that line too unless code follows the ``{`` on it) are left out, for
    every method and both floors alike, so a ranking is never rewarded or punished for where
    comments and braces sit. A function whose body is on its signature line
    (``int f(void) { return 0; }``) keeps that line; a body with no code gives ``[]``.
    """
    lines = code_only(text).split("\n")
    first_brace = next((i for i, line in enumerate(lines) if "{" in line), None)
    if first_brace is None:
        return []
    after = lines[first_brace].split("{", 1)[1]
    inline = bool(after.strip()) and not _PUNCTUATION_ONLY.match(after)
    body_from = first_brace if inline else first_brace + 1
    return [
        i + 1
        for i in range(body_from, len(lines))
        if lines[i].strip()
        and not _PUNCTUATION_ONLY.match(lines[i] if i != first_brace else after)
        and not lines[i].lstrip().startswith("#")
    ]


# Occlusion costs one scoring of the whole function per candidate line: past this many
# lines a function gets no lines instead of minutes of work (a 2,000-line function took
# 4.5 min). Lines that far down also lie past the Transformer's token window.
MAX_OCCLUSION_LINES = 120


def occlusion_cost(text: str) -> int:
    """How many re-scorings occlusion spends on ``text``: its candidate lines, or 0 when
    there are more than :data:`MAX_OCCLUSION_LINES` (it is then not localised)."""
    n = len(candidate_lines(text))
    return n if n <= MAX_OCCLUSION_LINES else 0


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
