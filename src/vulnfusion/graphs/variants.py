"""Control and data flow of code whose ``#if`` lines split an if/else: one parse per
configuration, mapped back onto the nodes of the graph.

A conditional whose directive lines sit next to an ``else`` (``if (a) {..}`` ``#ifdef X``
``else {..}`` ``#else`` ``else {..}`` ``#endif``, or ``} else`` ``#ifdef X`` ``if (b) {..}
else`` ``#endif`` ``{..}``) has no single tree: tree-sitter chains the elses, or reads the
second as a declaration.  Each configuration (one branch per such conditional, or none
when it has no ``#else``) is plain C once the other branches are blanked; its cfg/dfg
edges are computed on its own parse and mapped onto the graph's nodes by (start byte,
type) -- blanking keeps every offset.  A statement that the graph's parse reads
differently (``else {x = 3;}`` as a broken declaration) maps to the outermost node of the
graph that starts where it starts, else to the innermost statement that contains its
start.  The graph's edges are the union over configurations, so
no path runs through two branches of one conditional.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import islice, product
from typing import Any

from vulnfusion.graphs.cfg import CfgBuilder, emit_cfg
from vulnfusion.graphs.dfg import dfg_edges
from vulnfusion.graphs.locate import locate
from vulnfusion.graphs.parser import Lang
from vulnfusion.graphs.repair import PPGroup
from vulnfusion.graphs.schema import DEPTH_LIMIT, STATEMENTS
from vulnfusion.graphs.walk import Walk, walk_tree

MAX_CONFIGURATIONS = 32  # beyond this many, the first ones (in product order) are used
# bytes parsed and walked over all configurations: a long function gets fewer (at least 1)
BYTE_BUDGET = 256_000
_Edges = list[tuple[int, int]]


def configurations(data: bytes, groups: tuple[PPGroup, ...]) -> list[bytes]:
    """``data`` with, per conditional, every branch but the chosen one blanked (at most
    :data:`MAX_CONFIGURATIONS` distinct texts, fewer for a long text (:data:`BYTE_BUDGET`),
    in product order)."""
    limit = max(1, min(MAX_CONFIGURATIONS, BYTE_BUDGET // max(1, len(data))))
    choices = [[*range(len(g.branches)), *([] if g.has_else else [-1])] for g in groups]
    out: list[bytes] = []
    seen: set[bytes] = set()
    for combo in islice(product(*choices), limit * 4):
        buf = bytearray(data)
        for g, pick in zip(groups, combo, strict=True):
            for b, (a, e) in enumerate(g.branches):
                if b != pick:
                    buf[a:e] = re.sub(rb"[^\n]", b" ", data[a:e])
        text = bytes(buf)
        if text not in seen:
            seen.add(text)
            out.append(text)
            if len(out) == limit:
                break
    return out


class _NodeMap:
    """Main-graph node of a (start byte, type); for a statement, else the outermost node
    starting there, else the innermost statement containing that byte."""

    def __init__(self, w: Walk) -> None:
        spans = w.spans or []
        pairs = list(enumerate(zip(spans, w.types, strict=True)))
        # reversed: of several nodes with one key, the first in pre-order (outermost) wins
        self.exact = {(s[0], t): i for i, (s, t) in reversed(pairs)}
        self.first = {s[0]: i for i, (s, _) in reversed(pairs)}
        self.stmts = [(s, i) for i, (s, t) in pairs if t in STATEMENTS]

    def node(self, start: int, kind: str) -> int | None:
        return self.exact.get((start, kind))

    def stmt(self, start: int, kind: str) -> int | None:
        i = self.exact.get((start, kind))
        if i is None:
            i = self.first.get(start)
        if i is not None:
            return i
        best, width = None, -1
        for (a, e), j in self.stmts:
            if a <= start < e and (width < 0 or e - a < width):
                best, width = j, e - a
        return best


def variant_flow(
    lg: Lang, main: Walk, groups: tuple[PPGroup, ...], cap: int
) -> tuple[_Edges, _Edges]:
    """Union of the cfg and dfg edges of every configuration, as main-graph node pairs.

    ``main`` must have been walked with ``spans`` recorded; dfg edges are only computed
    for configuration nodes that start before the main graph's node ``cap`` ends (node
    order follows start bytes).  Empty when no configuration parses to a function."""
    nodes = _NodeMap(main)
    spans_main = main.spans or []
    limit = spans_main[cap][0] if cap < len(spans_main) else len(main.data)
    cfg: set[tuple[int, int]] = set()
    dfg: set[tuple[int, int]] = set()
    for text in configurations(main.data, groups):
        flow = _one(lg, text, limit)
        if flow is None:
            continue
        w, c, d = flow
        spans = w.spans or []
        for a, b in c:
            x = nodes.stmt(spans[a][0], w.types[a])
            y = nodes.stmt(spans[b][0], w.types[b])
            if x is not None and y is not None and x != y:
                cfg.add((x, y))
        for a, b in d:
            x, y = nodes.node(spans[a][0], w.types[a]), nodes.node(spans[b][0], w.types[b])
            if x is not None and y is not None:
                dfg.add((x, y))
    return sorted(cfg), sorted(dfg)


def _one(lg: Lang, text: bytes, limit: int) -> tuple[Walk, _Edges, _Edges] | None:
    """Walk, cfg and dfg edges of one configuration's parse (None: no function found)."""
    root: Any = lg.parser.parse(text).root_node
    target = locate(root)
    if target is None:
        return None
    w = Walk(target.body, target.params, text, None, spans=[])
    walk_tree(root, lg, w)
    if w.depth > DEPTH_LIMIT:
        return None
    try:
        edges = CfgBuilder(w, lg.f_init, lg.f_update).run()
    except RecursionError:
        return None
    spans = w.spans or []
    cap = bisect_right([a for a, _ in spans], limit)  # node order follows start bytes
    return w, emit_cfg(edges, w.owner), dfg_edges(w, edges, cap)
