"""What a registered model keys on, measured (issue 18, "why"), for the ``ood`` section.

Three probes of one model (its :class:`~vulnfusion.serving.EnsembleScorer`), none of which
trains or chooses anything:

* ``visibility`` — for each cvepairs pair, the lines the fix changed (``difflib`` on lines of
  the vulnerable version) against what the model reads: the Transformer's token window
  (``max_length`` tokens from the top) and the code graph (``max_nodes`` nodes). Keys:
  ``n_pairs``, ``tokens_identical`` (share of pairs whose two versions give the *same* token
  ids: the Transformer cannot tell them apart), ``graphs_identical`` (same node types, tokens
  and edges: nor can the GNN), ``both_identical``, ``changed_lines_in_window`` (mean share of a
  pair's changed lines inside the token window), ``graph_truncated`` (share of vulnerable
  versions cut at ``max_nodes``).
* ``attribution`` — for the first ``ATTRIBUTION_PAIRS`` pairs (in file order, not picked), the
  model's top-5 lines of the vulnerable version by occlusion (the scan's default method):
  ``hits`` (pairs where one of them is a changed line), ``expected_random_hits`` (the same
  count for a random top-5, exact), ``mean_score_gap`` (p(vulnerable) − p(fixed)), and per
  pair its id, CWE, changed lines, top lines and gap.
* ``edits`` — score changes under semantics-preserving edits of functions (Devign test and
  demo test functions, ``EDIT_FUNCTIONS`` each): ``rename`` (every parameter and local to
  ``v0, v1, …``), ``reindent`` (leading spaces to tabs), ``dead_code`` (an ``if (0)`` block at
  the top of the body). Per edit and corpus: ``n``, ``mean_abs_delta``, ``median_abs_delta``,
  ``mean_delta`` (probability units) and ``label_flips`` (share whose label at the model's
  threshold changes).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from vulnfusion.graphs import edits as edit_library

ATTRIBUTION_PAIRS = 10
EDIT_FUNCTIONS = 200
TOP_K = 5


# ----------------------------------------------------------------------------- visibility


def changed_lines(vulnerable: str, fixed: str) -> set[int]:
    """1-based lines of ``vulnerable`` that the fix replaced or deleted; for a pure
    insertion, the line before the insertion point (where the missing check belongs)."""
    a, b = vulnerable.split("\n"), fixed.split("\n")
    out: set[int] = set()
    for tag, i1, i2, _, _ in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            out.update(range(i1 + 1, i2 + 1))
        elif tag == "insert":
            out.add(max(i1, 1))
    return out


def window_last_line(scorer: Any, text: str) -> int:
    """The last 1-based line of ``text`` with a token inside the model's token window."""
    from vulnfusion.localization.attribution import token_spans

    text = scorer.prepare([text])[0]  # what the model reads (same lines)
    ids = scorer.encode([text], prepared=True)[0]
    spans = token_spans(scorer, text, ids)
    if spans is None:
        return text.count("\n") + 1
    end = max((b for a, b in spans if b > a), default=0)
    return text.count("\n", 0, end) + 1


def _graph_key(scorer: Any, text: str) -> tuple[Any, ...]:
    from vulnfusion.graphs import build_graph

    spec = scorer.spec
    text = scorer.prepare([text])[0]
    g = build_graph(text, spec.max_nodes, spec.max_chars_parse, spec.dataflow_features)
    return (
        tuple(g.node_type),
        tuple(g.node_token),
        g.src.tobytes(),
        g.dst.tobytes(),
        g.etype.tobytes(),
        g.truncated,
    )


def visibility(scorer: Any, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The ``visibility`` block (module doc) over ``pairs`` of (vulnerable, fixed) texts."""
    tok_same, graph_same, both, in_window, truncated = [], [], [], [], []
    for vul, fix in pairs:
        ids_v, ids_f = scorer.encode([vul, fix])
        gv, gf = _graph_key(scorer, vul), _graph_key(scorer, fix)
        tok_same.append(ids_v == ids_f)
        graph_same.append(gv == gf)
        both.append(tok_same[-1] and graph_same[-1])
        changed = changed_lines(vul, fix)
        last = window_last_line(scorer, vul)
        in_window.append(sum(ln <= last for ln in changed) / max(len(changed), 1))
        truncated.append(gv[-1])
    n = len(pairs)
    return {
        "n_pairs": n,
        "tokens_identical": float(np.mean(tok_same)) if n else None,
        "graphs_identical": float(np.mean(graph_same)) if n else None,
        "both_identical": float(np.mean(both)) if n else None,
        "changed_lines_in_window": float(np.mean(in_window)) if n else None,
        "graph_truncated": float(np.mean(truncated)) if n else None,
    }


# ----------------------------------------------------------------------------- attribution


def attribution(
    scorer: Any, pairs: Sequence[tuple[str, str | None, str, str]], probs: dict[str, float]
) -> dict[str, Any]:
    """The ``attribution`` block: ``pairs`` are (pair_id, cwe, vulnerable, fixed) texts,
    ``probs`` the model's probability of each text (keyed by text)."""
    from vulnfusion.localization.attribution import top_lines
    from vulnfusion.localization.lines import candidate_lines
    from vulnfusion.localization.metrics import random_hit_probability

    rows, hits, expected = [], 0, 0.0
    for pid, cwe, vul, fix in pairs[:ATTRIBUTION_PAIRS]:
        changed = changed_lines(vul, fix)
        (top,) = top_lines(scorer, [vul], TOP_K)
        lines = [ln for ln, _ in top]
        hit = bool(changed & set(lines))
        hits += hit
        cands = candidate_lines(vul)
        m = len(changed & set(cands))
        expected += random_hit_probability(len(cands), m, TOP_K) if cands else 0.0
        rows.append(
            {
                "pair_id": pid,
                "cwe": cwe,
                "changed_lines": sorted(changed),
                "top_lines": lines,
                "hit": hit,
                "score_gap": probs[vul] - probs[fix],
            }
        )
    return {
        "n_pairs": len(rows),
        "hits": hits,
        "expected_random_hits": round(expected, 2),
        "mean_score_gap": float(np.mean([r["score_gap"] for r in rows])) if rows else None,
        "pairs": rows,
    }


# ----------------------------------------------------------------------------- edits

# the library's semantics-preserving edits (also what ``fusion.pairs.augment`` composes)
EDITS = edit_library.EDITS


def edits(predict: Callable[[list[str]], list[float]], funcs: Sequence[str], thr: float) -> dict:
    """The ``edits`` block for one corpus: ``predict`` maps texts to probabilities."""
    funcs = list(funcs[:EDIT_FUNCTIONS])
    base = np.asarray(predict(funcs))
    out: dict[str, Any] = {}
    for name, edit in EDITS.items():
        edited = [edit(f) for f in funcs]
        changed = np.array([e != f for e, f in zip(edited, funcs, strict=True)])
        p = np.asarray(predict(edited))
        delta = (p - base)[changed]
        flips = ((p >= thr) != (base >= thr))[changed]
        out[name] = {
            "n": int(changed.sum()),
            "mean_abs_delta": float(np.abs(delta).mean()) if delta.size else None,
            "median_abs_delta": float(np.median(np.abs(delta))) if delta.size else None,
            "mean_delta": float(delta.mean()) if delta.size else None,
            "label_flips": float(flips.mean()) if flips.size else None,
        }
    return out
