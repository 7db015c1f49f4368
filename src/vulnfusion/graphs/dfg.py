"""Pass 3: reaching definitions over the control flow, emitted as def -> use edges.

Two implementations: the C one in ``vulnfusion.graphs._cwalk`` (``_reaching.c``; dense
bitsets, ~10x faster) and the pure-Python reference below, which runs where the extension is
not built, for bitsets over its size limit, and with ``VULNFUSION_PURE_PYTHON_WALK=1``.
Their edges are equal (``tests/unit/test_native_walk.py``).
"""

from __future__ import annotations

import functools
import heapq
import os
from typing import Any

from vulnfusion.graphs.schema import ENTRY
from vulnfusion.graphs.walk import Walk, native_walk


def _gen_kill(
    defs: list[tuple[int, str, int, bool]],
) -> tuple[dict[str, int], dict[int, int], dict[int, int]]:
    """Bitsets (Python ints, bit d = definition d): per variable, gen and kill per unit."""
    var_mask: dict[str, int] = {}
    last: dict[tuple[int, str], int] = {}
    for d, (_, var, unit, _) in enumerate(defs):
        var_mask[var] = var_mask.get(var, 0) | (1 << d)
        last[(unit, var)] = d  # the last definition in a program point wins
    gen: dict[int, int] = {}
    kill: dict[int, int] = {}
    for (unit, var), d in last.items():
        gen[unit] = gen.get(unit, 0) | (1 << d)
        kill[unit] = kill.get(unit, 0) | var_mask[var]
    return var_mask, gen, kill


def _reaching(
    edges: list[tuple[int, int]], gen: dict[int, int], kill: dict[int, int]
) -> dict[int, int]:
    """IN set of every program point: worklist, in source order (close to RPO).

    Points are renumbered densely; a point is revisited only when the OUT set of
    one of its predecessors changed, so loop-free code is a single sweep.
    """
    units = sorted({ENTRY, *(a for a, _ in edges), *(b for _, b in edges)})
    pos = {u: i for i, u in enumerate(units)}
    n = len(units)
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges:
        preds[pos[b]].append(pos[a])
        succs[pos[a]].append(pos[b])
    g = [gen.get(u, 0) for u in units]
    keep = [~kill.get(u, 0) for u in units]
    out, ins = g[:], [0] * n
    heap, queued = list(range(n)), [True] * n  # a sorted list is a valid heap
    while heap:
        i = heapq.heappop(heap)
        queued[i] = False
        m = 0
        for p in preds[i]:
            m |= out[p]
        ins[i] = m
        o = g[i] | (m & keep[i])
        if o != out[i]:
            out[i] = o
            for s in succs[i]:
                if not queued[s]:
                    queued[s] = True
                    heapq.heappush(heap, s)
    return dict(zip(units, ins, strict=True))


def dfg_edges(w: Walk, edges: list[tuple[int, int]], cap: int) -> list[tuple[int, int]]:
    """def -> use edges for every definition reaching a use's program point.

    Only edges between the first ``cap`` nodes are produced (the rest would be
    cut by the node cap anyway), which also bounds the output: reaching
    definitions can be quadratic in function size.  Definitions beyond the cap
    still take part in the analysis, since they kill earlier ones. Edges come
    uses first (pre-order), then the definitions reaching each (pre-order).
    """
    if os.environ.get("VULNFUSION_PURE_PYTHON_WALK") != "1":  # read per call: set any time
        native = _native()
        if native is not None:
            out: list[tuple[int, int]] | None = native.dfg_edges(w.defs, w.uses, edges, cap)
            if out is not None:  # None: bitsets over the C size limit
                return out
    return dfg_edges_py(w, edges, cap)


@functools.lru_cache(maxsize=1)
def _native() -> Any | None:
    """The C module (once per process: ``native_walk`` reads package metadata)."""
    return native_walk()


def dfg_edges_py(w: Walk, edges: list[tuple[int, int]], cap: int) -> list[tuple[int, int]]:
    """:func:`dfg_edges` in Python: the reference the C version reproduces."""
    declared = {name for _, name, _, is_decl in w.defs if is_decl}
    defs = [d for d in w.defs if d[1] in declared]
    if not defs:
        return []
    var_mask, gen, kill = _gen_kill(defs)
    ins = _reaching(edges, gen, kill)
    live = (1 << sum(1 for d in defs if d[0] < cap)) - 1  # defs are in pre-order
    out: list[tuple[int, int]] = []
    for node, var, unit in w.uses:
        if node >= cap:
            break  # uses are in pre-order too
        m = ins.get(unit, 0) & var_mask.get(var, 0) & live
        while m:
            low = m & -m
            out.append((defs[low.bit_length() - 1][0], node))
            m ^= low
    return out
