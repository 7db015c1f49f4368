"""Pass 1: one pre-order walk that collects nodes, ast parents, leaves, the statement tree
of the analysed body and every definition/use of a variable."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from vulnfusion.graphs.parser import (
    A_CASSIGN,
    A_CONT,
    A_FOR,
    A_IDENT,
    A_NAMED,
    Lang,
)
from vulnfusion.graphs.schema import (
    DECLARATION_OWNERS,
    DECLARATOR_WRAPPERS,
    ENTRY,
    TOKEN_MAX,
    clip,
)

log = logging.getLogger(__name__)

_NO_UNIT = -1  # outside the analysed body (or in the parameter list)
_BODY = -3  # inside the body but in no statement (e.g. directly in a block or ERROR)
_FOR_MARK = -10  # unit stack entries <= this mean "direct child of for node -(u) - 10"

# parents that make an identifier more than a plain use (a declarator, target, operand)
# (``parameter_list``: the identifiers of a K&R list ``f(a, b)``)
ID_SPECIAL = DECLARATOR_WRAPPERS | DECLARATION_OWNERS | {
    "assignment_expression", "update_expression", "parameter_list",
}  # fmt: skip


@dataclass
class Walk:
    """Everything pass 1 collects; units are program points (kept index of their node)."""

    body: tuple[int, int]
    params: tuple[int, int]
    data: bytes
    text: str | None  # the source as str when it is ASCII (byte offsets == str offsets)
    types: list[str] = field(default_factory=list)
    toks: list[str] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)  # kept parent per node (ast edges)
    leaves: list[int] = field(default_factory=list)
    roots: list[int] = field(default_factory=list)  # outermost statements/blocks of the body
    kids: dict[int, list[int]] = field(default_factory=dict)  # kept parent -> statements/blocks
    parts: dict[tuple[int, int], int] = field(default_factory=dict)  # (for idx, field) -> unit
    owner: dict[int, int] = field(default_factory=dict)  # for-part unit -> for idx
    defs: list[tuple[int, str, int, bool]] = field(default_factory=list)  # idx,name,unit,decl
    uses: list[tuple[int, str, int]] = field(default_factory=list)
    lhs: int = -1  # kept idx of the last plain-identifier assignment target
    depth: int = 0  # deepest statement/container seen (guards the recursive cfg pass)
    # byte range per node, recorded only when asked (to match nodes of several parses)
    spans: list[tuple[int, int]] | None = None


def walk_tree(root: Any, lg: Lang, w: Walk) -> None:
    """Pre-order walk of ``root`` (a py-tree-sitter ``Node``) into the empty ``w``: nodes,
    ast parents, leaves, units, defs/uses.

    Runs the C walk (:mod:`vulnfusion.graphs._cwalk`) when it was built and matches the
    installed py-tree-sitter (:func:`native_walk`), else the same walk in Python; both fill
    ``w`` identically (``tests/unit/test_native_walk.py`` holds them to it).
    """
    tables = _native_tables(lg)
    if tables is None:
        _walk_py(root, lg, w)
        return
    cwalk, acts, names, special = tables
    cwalk.walk(
        root, w, lg, acts, names, special, lg.f_init, lg.f_update, _identifier, _compound_use, clip
    )


def _walk_py(root: Any, lg: Lang, w: Walk) -> None:
    """Pass 1 in Python, with a TreeCursor (the reference the C walk reproduces).

    This loop touches every tree node, so it is kept flat; statement and
    non-trivial identifier handling go to helpers that only run for those nodes.
    """
    info, types, text, data = lg.info, w.types, w.text, w.data
    # bound methods: this loop runs ~550 times per function
    add_type, add_tok, add_parent = types.append, w.toks.append, w.parent.append
    add_leaf, add_use = w.leaves.append, w.uses.append
    add_span = None if w.spans is None else w.spans.append
    cur = root.walk()
    pst, ust = [-1], [_NO_UNIT]  # per depth: kept parent, program point
    while True:
        node = cur.node
        act, name = info[node.kind_id]
        if act:
            idx = len(types)
            add_type(name)
            par = pst[-1]
            add_parent(par)
            if add_span is not None:
                add_span((node.start_byte, node.end_byte))
            if act <= A_CASSIGN:  # operator/keyword leaf: its type is its text
                add_tok(name)
                if act == A_CASSIGN and w.lhs == idx - 1:
                    _compound_use(w)
            else:
                if act >= A_NAMED:
                    unit = ust[-1]
                    if act > A_NAMED or unit <= _FOR_MARK:
                        span = node.start_byte, node.end_byte
                        unit = _unit(w, lg, cur.field_id, *span, idx, par, unit, act, len(pst))
                    if cur.goto_first_child():
                        add_tok("")
                        pst.append(idx)
                        ust.append(unit)
                        continue
                if text is not None:
                    tok = text[node.start_byte : node.end_byte]
                else:
                    tok = data[node.start_byte : node.end_byte].decode("utf-8", "replace")
                add_tok(tok if len(tok) <= TOKEN_MAX else clip(tok))
                if act == A_IDENT:
                    unit = ust[-1]
                    if types[par] in ID_SPECIAL or unit <= _FOR_MARK:
                        _identifier(w, lg, cur.field_id, node.start_byte, par, idx, tok, unit)
                    elif unit >= 0:
                        add_use((idx, tok, unit))
            add_leaf(idx)
        while not cur.goto_next_sibling():
            if not cur.goto_parent():
                return
            pst.pop()
            ust.pop()


# ---------------------------------------------------------------------------- the C walk

_NATIVE: dict[int, tuple[Any, bytes, tuple[str, ...], bytes] | None] = {}


def native_walk() -> Any | None:
    """The C walk module, or None: not built (no compiler at install time), or built for
    another py-tree-sitter release than the installed one (it reads py-tree-sitter's
    ``Node`` objects and trees directly, so it must be the release it was compiled with).

    ``VULNFUSION_PURE_PYTHON_WALK=1`` forces the Python walk (for comparisons)."""
    if os.environ.get("VULNFUSION_PURE_PYTHON_WALK") == "1":
        return None
    try:  # a compiled module: no file for the import graph (tests/unit/import_graph.py)
        _cwalk = importlib.import_module("vulnfusion.graphs._cwalk")
    except ImportError:
        return None
    try:
        installed = importlib.metadata.version("tree-sitter")
    except importlib.metadata.PackageNotFoundError:
        return None
    if _cwalk.API_VERSION != _API_VERSION or installed != _cwalk.TREE_SITTER:
        return None
    return _cwalk


_API_VERSION = 3


def _native_tables(lg: Lang) -> tuple[Any, bytes, tuple[str, ...], bytes] | None:
    """(module, actions, names, special flags) per symbol for the C walk; None: walk in
    Python. Checked once per parser (per process): the C view of a parsed node must equal
    py-tree-sitter's own, else the C walk is not used."""
    if os.environ.get("VULNFUSION_PURE_PYTHON_WALK") == "1":  # read per call: set any time
        return None
    key = id(lg.parser)
    if key not in _NATIVE:
        _NATIVE.clear()
        _NATIVE[key] = _load_native(lg)
    return _NATIVE[key]


def _load_native(lg: Lang) -> tuple[Any, bytes, tuple[str, ...], bytes] | None:
    cwalk = native_walk()
    if cwalk is None:
        return None
    probe = lg.parser.parse(b"int f(int a) { return a + 1; }").root_node
    fn = probe.children[0]
    for n in (probe, fn):
        if cwalk.check_node(n) != (n.kind_id, n.start_byte, n.end_byte, n.child_count):
            log.warning("the C graph walk does not read this py-tree-sitter: walking in Python")
            return None
    acts = bytes(a for a, _ in lg.info)
    names = tuple(n for _, n in lg.info)
    special = bytes(n in ID_SPECIAL for n in names)
    return cwalk, acts, names, special


def _compound_use(w: Walk) -> None:
    """``x += e`` (the operator right after a plain-identifier target) also reads x."""
    idx, var, unit, _ = w.defs[-1]
    w.uses.append((idx, var, unit))


def _unit(
    w: Walk,
    lg: Lang,
    fld: int | None,
    start: int,
    end: int,
    idx: int,
    par: int,
    unit: int,
    act: int,
    depth: int,
) -> int:
    """Program point of the named node ``idx`` (kept parent ``par``, field id ``fld``, bytes
    ``start..end``): for-parts and statements start their own."""
    if unit <= _FOR_MARK:
        unit = _for_part(w, fld, lg, idx, _FOR_MARK - unit)
    if act > A_NAMED:
        unit = _enter_stmt(w, (start, end), (idx, par), unit, act, depth)
    return unit


def _for_part(w: Walk, fld: int | None, lg: Lang, idx: int, for_idx: int) -> int:
    """Unit of a direct child of a ``for``: init/update are own points, the rest the head."""
    if fld == lg.f_init or fld == lg.f_update:
        w.parts[(for_idx, fld)] = idx
        w.owner[idx] = for_idx
        return idx
    return for_idx


def _enter_stmt(
    w: Walk, span: tuple[int, int], at: tuple[int, int], unit: int, act: int, depth: int
) -> int:
    """Record a statement/block inside the analysed body in the statement tree.

    Statements become their own program point; blocks (compound, ERROR, ...) are
    transparent and keep the enclosing one.
    """
    if depth > w.depth:
        w.depth = depth
    b0, b1 = w.body
    if not (b0 <= span[0] and span[1] <= b1):
        return unit
    idx, parent = at
    if unit == _NO_UNIT:
        w.roots.append(idx)
    else:
        w.kids.setdefault(parent, []).append(idx)
    if act == A_CONT:
        return _BODY if unit == _NO_UNIT else unit
    return _FOR_MARK - idx if act == A_FOR else idx


def _identifier(
    w: Walk, lg: Lang, fld: int | None, start: int, par: int, idx: int, name: str, unit: int
) -> None:
    """Classify one identifier (kept parent ``par``, field id ``fld``, first byte ``start``)
    as a definition and/or a use."""
    if unit <= _FOR_MARK:
        unit = _for_part(w, fld, lg, idx, _FOR_MARK - unit)
    ptype = w.types[par]
    if fld == lg.f_declarator and (ptype in DECLARATOR_WRAPPERS or ptype in DECLARATION_OWNERS):
        owner = _declarator_owner(w, par)
        if owner == "declaration" and unit >= 0:
            w.defs.append((idx, name, unit, True))
            return
        # parameters, ANSI or K&R (``f(a) char *a; {``: declarations before the body)
        if owner == "parameter_declaration" or owner == "declaration":
            _parameter(w, start, idx, name)
            return
    if ptype == "parameter_list" and unit < 0:  # K&R list; a declaration of the name wins
        _parameter(w, start, idx, name)
        return
    if unit < 0:
        return
    if ptype == "assignment_expression" and fld == lg.f_left:
        w.defs.append((idx, name, unit, False))
        w.lhs = idx
    elif ptype == "update_expression":
        w.uses.append((idx, name, unit))
        w.defs.append((idx, name, unit, False))
    else:
        w.uses.append((idx, name, unit))


def _parameter(w: Walk, start: int, idx: int, name: str) -> None:
    """A parameter is defined at entry.  Of several definitions of one name there (the
    K&R list ``f(a)`` and the declaration ``int a;``), the last in source order reaches
    the uses, as in any program point."""
    p0, p1 = w.params
    if p0 <= start < p1:
        w.defs.append((idx, name, ENTRY, True))


def _declarator_owner(w: Walk, par: int) -> str:
    """Type owning the declarator chain above ``par``; "" for a function's own name."""
    types, parent = w.types, w.parent
    if types[par] == "function_declarator":  # a prototype's name is not a variable
        return ""
    while par >= 0 and types[par] in DECLARATOR_WRAPPERS:
        par = parent[par]
    return types[par] if par >= 0 else ""
