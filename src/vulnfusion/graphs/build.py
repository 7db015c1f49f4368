"""``build_graph``: parse, locate the function, run the three passes, assemble the arrays."""

from __future__ import annotations

from typing import Any

import numpy as np

from vulnfusion.graphs.cfg import CfgBuilder, emit_cfg
from vulnfusion.graphs.dataflow import abstract_dataflow
from vulnfusion.graphs.dfg import dfg_edges
from vulnfusion.graphs.fallback import fallback_graph
from vulnfusion.graphs.locate import Target, locate
from vulnfusion.graphs.parser import Lang, lang_for_process
from vulnfusion.graphs.repair import PPGroup, plan, suspect
from vulnfusion.graphs.schema import DEPTH_LIMIT, TOKEN_MAX, CodeGraph, clip
from vulnfusion.graphs.variants import variant_flow
from vulnfusion.graphs.vocab import normalized_tokens
from vulnfusion.graphs.walk import Walk, walk_tree


def _pairs(edges: list[tuple[int, int]]) -> np.ndarray:
    return np.array(edges, dtype=np.int32).reshape(-1, 2)


def _assemble(
    w: Walk,
    cfg: list[tuple[int, int]],
    dfg: list[tuple[int, int]],
    flags: tuple[bool, bool],
    cap: int,
) -> CodeGraph:
    """Edge arrays in EDGE_TYPES order, then the node cap (pre-order prefix)."""
    parent = np.array(w.parent, dtype=np.int32)
    has_parent = parent >= 0
    leaves = np.array(w.leaves, dtype=np.int32)
    c, d = _pairs(cfg), _pairs(dfg)
    groups = [
        (parent[has_parent], np.flatnonzero(has_parent).astype(np.int32)),
        (leaves[:-1], leaves[1:]),
        (c[:, 0], c[:, 1]),
        (d[:, 0], d[:, 1]),
    ]
    src = np.concatenate([g[0] for g in groups])
    dst = np.concatenate([g[1] for g in groups])
    et = np.repeat(np.arange(len(groups), dtype=np.int8), [len(g[0]) for g in groups])
    truncated, n = flags[1], len(w.types)
    if n > cap:
        truncated, n = True, cap
        keep = (src < cap) & (dst < cap)
        src, dst, et = src[keep], dst[keep], et[keep]
    types, toks = w.types[:n], w.toks[:n]
    return CodeGraph(
        node_type=types, node_token=toks, src=src, dst=dst, etype=et,
        has_error=flags[0], truncated=truncated, fallback=False,
        vocab_tokens=normalized_tokens(types, toks),
    )  # fmt: skip


_Edges = list[tuple[int, int]]


def _flow(w: Walk, lg: Lang, cap: int) -> tuple[_Edges, _Edges]:
    """cfg and dfg edges; skipped (empty) for pathologically deep nesting."""
    if w.depth > DEPTH_LIMIT:
        return [], []
    try:
        edges = CfgBuilder(w, lg.f_init, lg.f_update).run()
    except RecursionError:  # deep nesting not caught by the depth guard; never raise
        return [], []
    return emit_cfg(edges, w.owner), dfg_edges(w, edges, cap)


def _point(data: bytes, pos: int) -> tuple[int, int]:
    """(row, column in bytes) of a byte offset, as tree-sitter counts them."""
    return data.count(b"\n", 0, pos), pos - (data.rfind(b"\n", 0, pos) + 1)


def _repaired(
    lg: Lang, data: bytes, tree: Any, target: Target | None
) -> tuple[bytes, Any, Target, tuple[PPGroup, ...], int] | None:
    """The parse of ``data`` with what tree-sitter cannot read blanked (see ``repair``),
    when its header is clean and it has no error that the original parse lacked.

    The blanked spans keep their length and lines, so the first tree is edited and the
    text re-parsed incrementally (unchanged subtrees are reused: the body is not parsed
    twice in full)."""
    fix = plan(data)
    if fix is None:
        return None
    old = tree.copy()
    for a, b in fix.spans:
        pa, pb = _point(data, a), _point(data, b)
        old.edit(a, b, b, pa, pb, pb)
    new, groups, at = fix.data, fix.groups, fix.implicit_int
    if at >= 0:  # no return type: parse with ``int `` inserted (its node is dropped later)
        new = new[:at] + _INT + new[at:]
        p = _point(data, at)
        old.edit(at, at, at + len(_INT), p, p, (p[0], p[1] + len(_INT)))
        groups = tuple(_shifted(g, at) for g in groups)
    root2 = lg.parser.parse(new, old).root_node
    t2 = locate(root2)
    if t2 is None or not t2.clean:
        return None
    header_fixed = target is None or not target.clean
    # split if/else: the flow comes from each configuration's own parse (``variants``)
    if root2.has_error and not header_fixed and not fix.groups:
        return None
    return new, root2, t2, groups, at


_INT = b"int "


def _shifted(g: PPGroup, at: int) -> PPGroup:
    """``g`` after inserting ``int `` at ``at``."""
    n = len(_INT)
    branches = tuple((a + n * (a >= at), b + n * (b >= at)) for a, b in g.branches)
    return PPGroup(branches, g.has_else)


def _drop_node(w: Walk, at: int, edges: list[_Edges]) -> tuple[list[_Edges], int]:
    """Remove the inserted ``int`` leaf (the node spanning ``at``..``at+3``) from the
    walk and renumber ``edges``; unchanged when no such node exists. Also returns the
    removed node's index (-1: none): later indices moved down by one."""
    spans = w.spans or []
    r = next((i for i, s in enumerate(spans) if s == (at, at + 3)), -1)
    if r < 0 or w.types[r] != "primitive_type":
        return edges, -1
    del w.types[r], w.toks[r], w.parent[r], spans[r]
    w.parent = [p - (p > r) for p in w.parent]
    w.leaves = [x - (x > r) for x in w.leaves if x != r]
    return [[(a - (a > r), b - (b > r)) for a, b in es] for es in edges], r


def _add_dataflow_nodes(w: Walk, extra: list[tuple[int, str, str]], dropped: int) -> None:
    """Append the abstract data-flow nodes (``dataflow``), each a child of its definition."""
    for idx, kind, tok in extra:
        w.types.append(kind)
        w.toks.append(tok if len(tok) <= TOKEN_MAX else clip(tok))
        w.parent.append(idx - (dropped >= 0 and idx > dropped))


def build_graph(
    code: str, max_nodes: int = 2000, max_chars: int = 100_000, dataflow: bool = False
) -> CodeGraph:
    """Build the code graph of one C function; see the :mod:`vulnfusion.graphs` docstring.

    ``dataflow``: add the abstract data-flow nodes of every definition
    (:mod:`vulnfusion.graphs.dataflow`, DeepDFA-style; ``featurize.dataflow_features``).

    Never raises on a ``str`` (NUL bytes, lone surrogates and binary junk included)
    and always returns at least one node.  Only the first ``max_chars`` characters
    are parsed and at most ``max_nodes`` nodes kept (``truncated`` tells).  The
    parser is created lazily, once per process; do not call from several threads.
    """
    max_nodes = max(1, max_nodes)
    truncated = len(code) > max_chars
    if truncated:
        code = code[: max(0, max_chars)]
    data = code.encode("utf-8", "replace")  # lone surrogates -> '?'
    if not data.strip():
        return fallback_graph("", max_nodes, False, truncated)
    lg = lang_for_process()
    tree = lg.parser.parse(data)
    root = tree.root_node
    target = locate(root)
    groups: tuple[PPGroup, ...] = ()
    inserted = -1
    if target is None or not target.clean or suspect(data):
        fixed = _repaired(lg, data, tree, target)
        if fixed is not None:
            data, root, target, groups, inserted = fixed
            code = data.decode("utf-8", "replace")
    has_error = bool(root.has_error)
    if target is None:
        return fallback_graph(data.decode("utf-8", "replace"), max_nodes, has_error, truncated)
    text = code if data.isascii() else None
    spans: list[tuple[int, int]] | None = [] if groups or inserted >= 0 else None
    w = Walk(target.body, target.params, data, text, spans=spans)
    walk_tree(root, lg, w)
    cfg: _Edges = []
    dfg: _Edges = []
    if groups:  # #if lines split an if/else: flow of each configuration (see variants)
        cfg, dfg = variant_flow(lg, w, groups, max_nodes)
        dfg = [e for e in dfg if max(e) < max_nodes]
    if not (cfg or dfg):
        cfg, dfg = _flow(w, lg, max_nodes)
    extra = abstract_dataflow(w) if dataflow else []
    dropped = -1
    if inserted >= 0:
        (cfg, dfg), dropped = _drop_node(w, inserted, [cfg, dfg])
    if extra:
        _add_dataflow_nodes(w, extra, dropped)
    return _assemble(w, cfg, dfg, (has_error, truncated), max_nodes)
