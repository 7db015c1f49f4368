"""Per-function code graphs for the GNN branch, and their node vocabulary.

``build_graph(code)`` parses one C function with tree-sitter-c and returns a
:class:`CodeGraph`: a list of nodes plus typed, directed edges.  Every edge is
emitted once, in its natural direction; the GNN adds reverse edges itself.

Nodes (pre-order = source order)
    Every named tree-sitter node plus the anonymous leaves that carry meaning
    (operators such as ``<=`` ``->`` ``++`` ``&`` ``?``, keywords such as ``if``
    ``return`` ``sizeof`` ``static`` and preprocessor directives).  Pure punctuation
    (``; , ( ) { } [ ] : [[ ]]``, the newline ending a directive) and ``comment``
    nodes are dropped.  ``string_literal``,
    ``char_literal`` and ``number_literal`` are leaves (their quotes/content are not
    descended into).  ``node_token`` is the leaf text (anonymous leaves: their type,
    which is their text) clipped to 32 characters (a string literal whose ``%`` lies
    beyond that keeps a trailing ``%``), ``""`` for internal nodes.

Edges (type id = index into :data:`EDGE_TYPES`)
    ``ast``         parent -> child between kept nodes (a dropped node never has
                    kept children, so every kept node but the root has one parent).
    ``next_token``  leaf i -> leaf i+1 over the kept leaves in source order.
    ``cfg``         statement -> statement, at statement granularity (see below).
    ``dfg``         defining identifier -> using identifier (reaching definitions).

Control flow
    Statement nodes are ``declaration``, ``expression_statement``, ``return``,
    ``if``, ``while``, ``for``, ``do``, ``switch``, ``case``, ``break``, ``continue``,
    ``goto`` and ``labeled`` statements.  ``compound_statement``, ``else_clause``,
    ``ERROR``, ``attributed_statement`` and preprocessor conditionals (``#if``/
    ``#ifdef``/``#else`` blocks, whose branches are taken in sequence) are
    transparent.  The first statement of the body is the entry (no entry node).
    An ``if``/``while``/``for``/``switch``/``do`` node stands for its condition; a
    ``for`` node also stands for its initializer (a ``declaration`` there is part
    of the loop head, not a statement of its own) and its update clause: they are
    separate program points for the data flow, but fold into the ``for`` node in
    the emitted cfg edges.  ``break`` goes after the innermost loop/switch,
    ``continue`` to the innermost loop head, ``return`` nowhere, ``goto L`` to the
    ``labeled_statement`` ``L`` (which flows into its inner statement); ``switch``
    goes to every ``case`` and, without ``default``, also past the switch; cases
    fall through unless they end in break/return/goto/continue.  A loop with an
    empty body would be a self loop, which is not emitted.  Nesting deeper than
    ``_DEPTH_LIMIT`` (pathological) yields no cfg/dfg edges at all.

Data flow
    Reaching definitions over that control flow, for parameters and locally
    declared variables only (matched by name; scopes are not modelled).  A
    definition is a parameter (defined at entry), a declarator *with or without*
    an initializer (so ``int x; if (c) x = 1; use(x);`` links both ``x`` nodes to
    the use: the "maybe uninitialised" signal is kept), an assignment target
    (``x += 1`` is also a use) and the operand of ``++``/``--``.  All uses in one
    program point see the definitions that reach its start (``x = x + 1`` uses
    the old ``x``; the last definition of a variable in a point is the one that
    leaves it).  ``p->len``, ``*p = 0`` and ``p[i] = 0`` are uses of ``p``; ``len``
    is a ``field_identifier`` and never takes part.  A loop-carried ``i++`` gets
    an edge to itself.  Definitions in unreachable code still flow onwards.

Several top-level items, broken parses
    All kept nodes of the whole text get ast/next_token edges; cfg/dfg are built
    for the first ``function_definition`` only (top level or inside a top-level
    ``ERROR``).  When tree-sitter's error recovery dissolved the definition (an
    unknown macro as return type, K&R parameters, ...) its remains are used: a
    header followed by a ``compound_statement`` or by a loose ``{`` and
    statements, or a broken declaration that swallowed the header followed by
    loose statements.  ``has_error`` reports any error in the parse.

Caps and fallback
    Text beyond ``max_chars`` is not parsed; nodes beyond ``max_nodes`` (a
    pre-order prefix is kept) are dropped with every edge touching them; both
    set ``truncated``.  Without any function shape (macro-only text, binary
    garbage, ...) the result is the *fallback* graph: a regex lexer's tokens
    (identifiers, keywords, numbers, strings, chars, operators, ``#define``-like
    directives; punctuation dropped), typed like tree-sitter types them, chained
    by next_token edges only.  Empty text gives one ``<empty>`` node.
"""

from __future__ import annotations

import heapq
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EDGE_TYPES: tuple[str, ...] = ("ast", "next_token", "cfg", "dfg")
_NEXT = EDGE_TYPES.index("next_token")

_TOKEN_MAX = 32
# cfg/dfg are skipped beyond this tree depth of statements: pass 2 recurses (<= 3 Python
# frames per level, so 200 stays clear of the default limit of 1000; Devign's max is 155).
_DEPTH_LIMIT = 200
_ENTRY = -2  # program point of the parameters (before the first statement)
_NO_UNIT = -1  # outside the analysed body (or in the parameter list)
_BODY = -3  # inside the body but in no statement (e.g. directly in a block or ERROR)
_FOR_MARK = -10  # unit stack entries <= this mean "direct child of for node -(u) - 10"

_STATEMENTS = frozenset(
    {
        "declaration", "expression_statement", "return_statement", "if_statement",
        "while_statement", "for_statement", "do_statement", "switch_statement",
        "case_statement", "break_statement", "continue_statement", "goto_statement",
        "labeled_statement",
    }
)  # fmt: skip
_TRANSPARENT = frozenset(
    {
        "compound_statement", "else_clause", "ERROR", "attributed_statement", "preproc_if",
        "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef",
    }
)  # fmt: skip
# dropped anonymous leaves: pure punctuation, plus the end of a preprocessor line
_PUNCT = frozenset({";", ",", "(", ")", "{", "}", "[", "]", ":", "[[", "]]", "\n"})
_LITERALS = frozenset({"string_literal", "char_literal", "number_literal"})
_DECL_CHAIN = frozenset(
    {
        "pointer_declarator", "array_declarator", "parenthesized_declarator",
        "attributed_declarator", "init_declarator", "function_declarator",
    }
)  # fmt: skip
_DECL_OWNERS = frozenset({"declaration", "parameter_declaration"})
# parents that make an identifier more than a plain use (a declarator, target, operand)
_ID_SPECIAL = _DECL_CHAIN | _DECL_OWNERS | {"assignment_expression", "update_expression"}
_COMPOUND_ASSIGN = frozenset({"+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="})

# Pass-1 actions per node kind.  Order matters: <= _A_CASSIGN are anonymous leaves,
# >= _A_NAMED may have children, > _A_NAMED need statement bookkeeping.
_A_SKIP, _A_ANON, _A_CASSIGN, _A_LIT, _A_IDENT, _A_NAMED, _A_CONT, _A_STMT, _A_FOR = range(9)


@dataclass(frozen=True)
class CodeGraph:
    """One function as a graph; see the module docstring for the contract."""

    node_type: list[str]
    node_token: list[str]
    src: np.ndarray
    dst: np.ndarray
    etype: np.ndarray
    has_error: bool
    truncated: bool
    fallback: bool

    @property
    def num_nodes(self) -> int:
        return len(self.node_type)

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])


# --------------------------------------------------------------------------- parser state


@dataclass
class _Lang:
    """Parser plus per-kind lookup tables, built lazily once per process."""

    parser: Any
    pid: int
    info: list[tuple[int, str]]  # kind id (all 2**16) -> (action, type name)
    f_declarator: int
    f_left: int
    f_init: int
    f_update: int


_LANG: _Lang | None = None


def _kind_action(name: str, named: bool) -> int:
    """What pass 1 does with nodes of one kind (see the ``_A_*`` constants)."""
    if not named:
        if name in _PUNCT:
            return _A_SKIP
        return _A_CASSIGN if name in _COMPOUND_ASSIGN else _A_ANON
    if name == "comment":
        return _A_SKIP
    if name in _LITERALS:
        return _A_LIT
    if name == "identifier":
        return _A_IDENT
    if name == "for_statement":
        return _A_FOR
    if name in _STATEMENTS:
        return _A_STMT
    return _A_CONT if name in _TRANSPARENT else _A_NAMED


def _make_lang() -> _Lang:
    # imported here so that importing this module costs nothing and loads no parser
    import tree_sitter
    import tree_sitter_c

    lang = tree_sitter.Language(tree_sitter_c.language())
    # a full 2**16 table: list indexing is the cheapest lookup, and any id (the builtin
    # ERROR symbol is 0xFFFF) maps to something, so the walk cannot raise
    info: list[tuple[int, str]] = [(_A_CONT, "ERROR")] * 0x10000
    for kid in range(lang.node_kind_count):
        name = lang.node_kind_for_id(kid) or ""
        info[kid] = (_kind_action(name, lang.node_kind_is_named(kid)), name)

    def fid(name: str) -> int:
        return int(lang.field_id_for_name(name) or -1)

    return _Lang(
        parser=tree_sitter.Parser(lang),
        pid=os.getpid(),
        info=info,
        f_declarator=fid("declarator"),
        f_left=fid("left"),
        f_init=fid("initializer"),
        f_update=fid("update"),
    )


def _lang() -> _Lang:
    """Parser for this process (recreated after a fork: parsers are not shared)."""
    global _LANG
    if _LANG is None or _LANG.pid != os.getpid():
        _LANG = _make_lang()
    return _LANG


# --------------------------------------------------------------------------- pass 1: nodes


def _clip(text: str) -> str:
    """Clip a token to 32 chars, keeping a '%' so format strings stay recognisable."""
    if len(text) <= _TOKEN_MAX:
        return text
    head = text[:_TOKEN_MAX]
    if "%" in text and "%" not in head:
        head = head[: _TOKEN_MAX - 1] + "%"
    return head


@dataclass
class _Walk:
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


def _walk(root: Any, lg: _Lang, w: _Walk) -> None:
    """Pre-order walk with a TreeCursor: nodes, ast parents, leaves, units, defs/uses.

    This loop touches every tree node, so it is kept flat; statement and
    non-trivial identifier handling go to helpers that only run for those nodes.
    """
    info, types, text, data = lg.info, w.types, w.text, w.data
    # bound methods: this loop runs ~750 times per function
    add_type, add_tok, add_parent = types.append, w.toks.append, w.parent.append
    add_leaf, add_use = w.leaves.append, w.uses.append
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
            if act <= _A_CASSIGN:  # operator/keyword leaf: its type is its text
                add_tok(name)
                if act == _A_CASSIGN and w.lhs == idx - 1:
                    _compound_use(w)
            else:
                if act >= _A_NAMED:
                    unit = ust[-1]
                    if act > _A_NAMED or unit <= _FOR_MARK:
                        unit = _unit(w, lg, cur, node, (idx, par), unit, act, len(pst))
                    if cur.goto_first_child():
                        add_tok("")
                        pst.append(idx)
                        ust.append(unit)
                        continue
                if text is not None:
                    tok = text[node.start_byte : node.end_byte]
                else:
                    tok = data[node.start_byte : node.end_byte].decode("utf-8", "replace")
                add_tok(tok if len(tok) <= _TOKEN_MAX else _clip(tok))
                if act == _A_IDENT:
                    unit = ust[-1]
                    if types[par] in _ID_SPECIAL or unit <= _FOR_MARK:
                        _identifier(w, lg, cur, node, par, idx, tok, unit)
                    elif unit >= 0:
                        add_use((idx, tok, unit))
            add_leaf(idx)
        while not cur.goto_next_sibling():
            if not cur.goto_parent():
                return
            pst.pop()
            ust.pop()


def _compound_use(w: _Walk) -> None:
    """``x += e`` (the operator right after a plain-identifier target) also reads x."""
    idx, var, unit, _ = w.defs[-1]
    w.uses.append((idx, var, unit))


def _unit(
    w: _Walk, lg: _Lang, cur: Any, node: Any, at: tuple[int, int], unit: int, act: int, depth: int
) -> int:
    """Program point of a named node ``at = (idx, kept parent)``: for-parts and statements
    start their own."""
    if unit <= _FOR_MARK:
        unit = _for_part(w, cur.field_id, lg, at[0], _FOR_MARK - unit)
    if act > _A_NAMED:
        unit = _enter_stmt(w, node, at, unit, act, depth)
    return unit


def _for_part(w: _Walk, fld: int | None, lg: _Lang, idx: int, for_idx: int) -> int:
    """Unit of a direct child of a ``for``: init/update are own points, the rest the head."""
    if fld == lg.f_init or fld == lg.f_update:
        w.parts[(for_idx, fld)] = idx
        w.owner[idx] = for_idx
        return idx
    return for_idx


def _enter_stmt(w: _Walk, node: Any, at: tuple[int, int], unit: int, act: int, depth: int) -> int:
    """Record a statement/block inside the analysed body in the statement tree.

    Statements become their own program point; blocks (compound, ERROR, ...) are
    transparent and keep the enclosing one.
    """
    if depth > w.depth:
        w.depth = depth
    b0, b1 = w.body
    if not (b0 <= node.start_byte and node.end_byte <= b1):
        return unit
    idx, parent = at
    if unit == _NO_UNIT:
        w.roots.append(idx)
    else:
        w.kids.setdefault(parent, []).append(idx)
    if act == _A_CONT:
        return _BODY if unit == _NO_UNIT else unit
    return _FOR_MARK - idx if act == _A_FOR else idx


def _identifier(
    w: _Walk, lg: _Lang, cur: Any, node: Any, par: int, idx: int, name: str, unit: int
) -> None:
    """Classify one identifier (kept parent ``par``) as a definition and/or a use."""
    fld = cur.field_id
    if unit <= _FOR_MARK:
        unit = _for_part(w, fld, lg, idx, _FOR_MARK - unit)
    ptype = w.types[par]
    if fld == lg.f_declarator and (ptype in _DECL_CHAIN or ptype in _DECL_OWNERS):
        owner = _declarator_owner(w, par)
        if owner == "declaration" and unit >= 0:
            w.defs.append((idx, name, unit, True))
            return
        if owner == "parameter_declaration":
            p0, p1 = w.params
            if p0 <= node.start_byte < p1:
                w.defs.append((idx, name, _ENTRY, True))
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


def _declarator_owner(w: _Walk, par: int) -> str:
    """Type owning the declarator chain above ``par``; "" for a function's own name."""
    types, parent = w.types, w.parent
    if types[par] == "function_declarator":  # a prototype's name is not a variable
        return ""
    while par >= 0 and types[par] in _DECL_CHAIN:
        par = parent[par]
    return types[par] if par >= 0 else ""


# --------------------------------------------------------------------------- function location


@dataclass
class _Target:
    """Byte ranges of the code the cfg/dfg cover: the body and the parameter list."""

    body: tuple[int, int]
    params: tuple[int, int]


def _params_of(declarator: Any) -> tuple[int, int]:
    """Byte range of the parameter list of a (possibly pointer-wrapped) declarator."""
    d = declarator
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    p = None if d is None else d.child_by_field_name("parameters")
    return (0, 0) if p is None else (p.start_byte, p.end_byte)


def _locate(root: Any) -> _Target | None:
    """The function to analyse, or None.

    The first ``function_definition`` (top level or inside a top-level ERROR),
    else a definition that error recovery dissolved, else None (-> fallback).
    """
    tops = root.children
    flat = [c for t in tops for c in (t.children if t.type == "ERROR" else (t,))]
    for ch in flat:
        if ch.type == "function_definition":
            body = ch.child_by_field_name("body")
            if body is not None:
                decl = ch.child_by_field_name("declarator")
                return _Target((body.start_byte, body.end_byte), _params_of(decl))
    return _salvage(flat) or _swallowed_header(tops)


def _salvage(items: list[Any]) -> _Target | None:
    """``header compound_statement`` or ``header { stmts...`` left by error recovery
    (e.g. a header whose type is an unknown macro, or K&R parameter declarations)."""
    k = next((i for i, ch in enumerate(items) if ch.type in ("{", "compound_statement")), -1)
    if k < 0:
        return None
    ch = items[k]
    if ch.type == "compound_statement":
        body = (ch.start_byte, ch.end_byte)
    elif k > 0 and any(t.type in _STATEMENTS for t in items[k + 1 :]):
        body = (ch.end_byte, items[-1].end_byte)
    else:
        return None
    decls = [h for h in items[:k] if h.type.endswith("declarator")]
    return _Target(body, _params_of(decls[-1]) if decls else (0, 0))


def _swallowed_header(tops: list[Any]) -> _Target | None:
    """A broken declaration that swallowed the header (and ``{``), then loose statements."""
    if len(tops) < 2 or tops[0].type != "declaration" or not tops[0].has_error:
        return None
    if not any(t.type in _STATEMENTS for t in tops[1:]):
        return None
    return _Target((tops[1].start_byte, tops[-1].end_byte), (0, 0))


# --------------------------------------------------------------------------- pass 2: cfg


class _CfgBuilder:
    """Statement-level control flow over program points (kept node indices).

    Works on the statement tree recorded by pass 1 (no tree-sitter calls).
    ``visit(idx, pending)`` links every point in ``pending`` (those whose
    fall-through successor is still open) to the statement's entry and returns
    its own open exits; an empty construct returns ``pending`` unchanged, which
    is how flow passes straight through empty bodies and branches.
    """

    def __init__(self, w: _Walk, f_init: int, f_update: int) -> None:
        self.w, self.types, self.kids = w, w.types, w.kids
        self.f_init, self.f_update = f_init, f_update
        self.edges: list[tuple[int, int]] = []
        self.labels: dict[str, int] = {}
        self.gotos: list[tuple[int, str]] = []
        self.breaks: list[list[int]] = []  # innermost loop/switch last
        self.conts: list[int] = []  # innermost loop's continue target last
        self.switches: list[list[int]] = []  # [switch unit, has_default]

    def link(self, srcs: Iterable[int], dst: int) -> None:
        self.edges.extend((s, dst) for s in srcs)

    def run(self) -> list[tuple[int, int]]:
        self.seq(self.w.roots, [_ENTRY])
        for u, label in self.gotos:
            if label in self.labels:
                self.edges.append((u, self.labels[label]))
        return self.edges

    def seq(self, stmts: Iterable[int], pending: list[int]) -> list[int]:
        for s in stmts:
            pending = self.visit(s, pending)
        return pending

    def visit(self, u: int, pending: list[int]) -> list[int]:
        kind = self.types[u]
        handler = _HANDLERS.get(kind)
        if handler is not None:
            return handler(self, u, pending)
        if kind in _TRANSPARENT:
            return self.seq(self.kids.get(u, ()), pending)
        self.link(pending, u)  # declaration / expression_statement
        return [u]

    def _child_token(self, u: int, kind: str) -> str | None:
        """Token of the first child of ``kind`` among the next two nodes (labels)."""
        for i in (u + 1, u + 2):
            if i < len(self.types) and self.types[i] == kind:
                return self.w.toks[i]
        return None

    def _if(self, u: int, pending: list[int]) -> list[int]:
        self.link(pending, u)
        kids = self.kids.get(u, [])
        # error recovery can add ERROR children: they run in sequence with the branch
        cons = [k for k in kids if self.types[k] != "else_clause"]
        alt = [k for k in kids if self.types[k] == "else_clause"]
        return self.seq(cons, [u]) + self.seq(alt, [u])

    def _loop_body(
        self, body: list[int], entry: list[int], cont: int
    ) -> tuple[list[int], list[int]]:
        """Visit a loop body with break/continue targets; returns (exits, breaks)."""
        self.breaks.append([])
        self.conts.append(cont)
        exits = self.seq(body, entry)
        self.conts.pop()
        return exits, self.breaks.pop()

    def _while(self, u: int, pending: list[int]) -> list[int]:
        self.link(pending, u)
        exits, breaks = self._loop_body(self.kids.get(u, []), [u], u)
        self.link(exits, u)
        return [u, *breaks]

    def _for(self, u: int, pending: list[int]) -> list[int]:
        init = self.w.parts.get((u, self.f_init))
        upd = self.w.parts.get((u, self.f_update))
        if init is not None:
            self.link(pending, init)
            pending = [init]
        self.link(pending, u)
        body = [k for k in self.kids.get(u, []) if k not in self.w.owner]
        exits, breaks = self._loop_body(body, [u], u if upd is None else upd)
        if upd is not None:
            self.link(exits, upd)
            exits = [upd]
        self.link(exits, u)
        return [u, *breaks]

    def _do(self, u: int, pending: list[int]) -> list[int]:
        # the do node is the condition: body first <- entry and <- condition (back edge)
        exits, breaks = self._loop_body(self.kids.get(u, []), [*pending, u], u)
        self.link(exits, u)
        return [u, *breaks]

    def _switch(self, u: int, pending: list[int]) -> list[int]:
        self.link(pending, u)
        self.breaks.append([])
        self.switches.append([u, 0])
        exits = self.seq(self.kids.get(u, []), [])
        _, has_default = self.switches.pop()
        exits += self.breaks.pop()
        return exits if has_default else [*exits, u]

    def _case(self, u: int, pending: list[int]) -> list[int]:
        if self.switches:
            sw = self.switches[-1]
            pending = [*pending, sw[0]]
            if u + 1 < len(self.types) and self.types[u + 1] == "default":
                sw[1] = 1
        self.link(pending, u)
        return self.seq(self.kids.get(u, ()), [u])

    def _break(self, u: int, pending: list[int]) -> list[int]:
        self.link(pending, u)
        if self.breaks:
            self.breaks[-1].append(u)
        return []

    def _continue(self, u: int, pending: list[int]) -> list[int]:
        self.link(pending, u)
        if self.conts:
            self.edges.append((u, self.conts[-1]))
        return []

    def _return(self, u: int, pending: list[int]) -> list[int]:
        self.link(pending, u)
        return []

    def _goto(self, u: int, pending: list[int]) -> list[int]:
        self.link(pending, u)
        label = self._child_token(u, "statement_identifier")
        if label is not None:
            self.gotos.append((u, label))
        return []

    def _labeled(self, u: int, pending: list[int]) -> list[int]:
        self.link(pending, u)
        label = self._child_token(u, "statement_identifier")
        if label is not None:
            self.labels.setdefault(label, u)
        return self.seq(self.kids.get(u, ()), [u])


_HANDLERS = {
    "if_statement": _CfgBuilder._if,
    "while_statement": _CfgBuilder._while,
    "for_statement": _CfgBuilder._for,
    "do_statement": _CfgBuilder._do,
    "switch_statement": _CfgBuilder._switch,
    "case_statement": _CfgBuilder._case,
    "break_statement": _CfgBuilder._break,
    "continue_statement": _CfgBuilder._continue,
    "return_statement": _CfgBuilder._return,
    "goto_statement": _CfgBuilder._goto,
    "labeled_statement": _CfgBuilder._labeled,
}


def _emit_cfg(edges: list[tuple[int, int]], owner: dict[int, int]) -> list[tuple[int, int]]:
    """Program-point edges -> statement edges: for-parts fold into the for node."""
    out = set()
    for a, b in edges:
        if a == _ENTRY:
            continue
        a, b = owner.get(a, a), owner.get(b, b)
        if a != b:
            out.add((a, b))
    return sorted(out)


# --------------------------------------------------------------------------- pass 3: dfg


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
    units = sorted({_ENTRY, *(a for a, _ in edges), *(b for _, b in edges)})
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


def _dfg(w: _Walk, edges: list[tuple[int, int]], cap: int) -> list[tuple[int, int]]:
    """def -> use edges for every definition reaching a use's program point.

    Only edges between the first ``cap`` nodes are produced (the rest would be
    cut by the node cap anyway), which also bounds the output: reaching
    definitions can be quadratic in function size.  Definitions beyond the cap
    still take part in the analysis, since they kill earlier ones.
    """
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


# --------------------------------------------------------------------------- fallback


_LEXER = re.compile(
    r"""(?P<pp>\#[ \t]*(?:define|undef|include|ifdef|ifndef|if|elif|else|endif|pragma|error)\b)
      | (?P<id>[A-Za-z_]\w*)
      | (?P<num>\.?\d(?:[eEpP][+-]|[\w.])*)
      | (?P<str>"(?:\\.|[^"\\\n])*"?)
      | (?P<chr>'(?:\\.|[^'\\\n])*'?)
      | (?P<op>->|\+\+|--|<<=|>>=|\.\.\.|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\#\#|[^\s\w])""",
    re.VERBOSE | re.ASCII,
)
_C_KEYWORDS = frozenset(
    {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
        "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
        "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
        "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    }
)  # fmt: skip
_LEX_TYPES = {"num": "number_literal", "str": "string_literal", "chr": "char_literal"}


def _lex_node(kind: str, text: str) -> tuple[str, str] | None:
    """(node type, token) of one fallback token, None for dropped punctuation."""
    if kind == "pp":  # tree-sitter's own type for directives, e.g. "#define"
        directive = "#" + text[1:].strip()
        return directive, directive
    if kind == "id":
        return (text if text in _C_KEYWORDS else "identifier"), _clip(text)
    if kind == "op":
        if text in _PUNCT:
            return None
        return (text if text.isascii() and text.isprintable() else "ERROR"), text
    return _LEX_TYPES[kind], _clip(text)


def _fallback(text: str, max_nodes: int, has_error: bool, truncated: bool) -> CodeGraph:
    """Token chain from a regex lexer: the graph of last resort (never empty)."""
    types: list[str] = []
    toks: list[str] = []
    for m in _LEXER.finditer(text):
        nt = _lex_node(m.lastgroup or "op", m.group())
        if nt is None:
            continue
        if len(types) == max_nodes:
            truncated = True
            break
        types.append(nt[0])
        toks.append(nt[1])
    if not types:
        types, toks = ["<empty>"], [""]
    chain = np.arange(len(types) - 1, dtype=np.int32)
    return CodeGraph(
        node_type=types,
        node_token=toks,
        src=chain,
        dst=chain + 1,
        etype=np.full(chain.shape[0], _NEXT, dtype=np.int8),
        has_error=has_error,
        truncated=truncated,
        fallback=True,
    )


# --------------------------------------------------------------------------- assembly


def _pairs(edges: list[tuple[int, int]]) -> np.ndarray:
    return np.array(edges, dtype=np.int32).reshape(-1, 2)


def _assemble(
    w: _Walk,
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
    return CodeGraph(
        node_type=w.types[:n], node_token=w.toks[:n], src=src, dst=dst, etype=et,
        has_error=flags[0], truncated=truncated, fallback=False,
    )  # fmt: skip


_Edges = list[tuple[int, int]]


def _flow(w: _Walk, lg: _Lang, cap: int) -> tuple[_Edges, _Edges]:
    """cfg and dfg edges; skipped (empty) for pathologically deep nesting."""
    if w.depth > _DEPTH_LIMIT:
        return [], []
    try:
        edges = _CfgBuilder(w, lg.f_init, lg.f_update).run()
    except RecursionError:  # deep nesting not caught by the depth guard; never raise
        return [], []
    return _emit_cfg(edges, w.owner), _dfg(w, edges, cap)


def build_graph(code: str, max_nodes: int = 2000, max_chars: int = 100_000) -> CodeGraph:
    """Build the code graph of one C function; see the module docstring.

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
        return _fallback("", max_nodes, False, truncated)
    lg = _lang()
    tree = lg.parser.parse(data)
    root = tree.root_node
    has_error = bool(root.has_error)
    target = _locate(root)
    if target is None:
        return _fallback(data.decode("utf-8", "replace"), max_nodes, has_error, truncated)
    w = _Walk(target.body, target.params, data, code if data.isascii() else None)
    _walk(root, lg, w)
    cfg, dfg = _flow(w, lg, max_nodes)
    return _assemble(w, cfg, dfg, (has_error, truncated), max_nodes)


# --------------------------------------------------------------------------- vocabulary

_KEEP_INTS = frozenset({*range(-1, 17), *(2**k for k in range(5, 17)), 255, 65535})
_INT_SUFFIX = re.compile(r"[uUlLzZ]+$")
_OCTAL = re.compile(r"-?0[0-7]+")
_NORMALISED = frozenset({"number_literal", "string_literal", "system_lib_string", "char_literal"})


def _norm_number(tok: str) -> str:
    """Small / power-of-two integers stay (as decimal), everything else is ``<num>``."""
    body = _INT_SUFFIX.sub("", tok.replace("'", ""))
    if len(body) > 24:  # far beyond any kept value; also keeps int() cheap
        return "<num>"
    try:
        value = int(body, 8) if _OCTAL.fullmatch(body) else int(body, 0)  # C octal: 010 == 8
    except ValueError:  # floats, hex floats, malformed literals
        return "<num>"
    return str(value) if value in _KEEP_INTS else "<num>"


def normalize_token(node_type: str, token: str) -> str:
    """Vocabulary form of a leaf token: literals are abstracted, the rest kept raw.

    ``""`` (internal node) stays ``""`` and encodes to ``<none>``.
    """
    if node_type == "number_literal":
        return _norm_number(token)
    if node_type == "string_literal" or node_type == "system_lib_string":
        return "<fmtstr>" if "%" in token else "<str>"
    if node_type == "char_literal":
        return "<chr>"
    return token


class GraphVocab:
    """Node-type and token vocabularies, built deterministically on the train split.

    Types: ``<pad>``, ``<unk>``, then every type seen, by (-count, type).
    Tokens: ``<pad>``, ``<unk>``, ``<none>`` (internal nodes), then the normalised
    leaf tokens (:func:`normalize_token`) with count >= ``min_token_freq``, by
    (-count, token), at most ``max_tokens`` of them (specials not counted).
    Ties are broken by the string itself, never by ``hash()``, so the same graphs
    give byte-identical JSON in any process.
    """

    PAD, UNK, NONE = 0, 1, 2
    TYPE_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>")
    TOKEN_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<none>")
    _FORMAT = "vulnfusion.graph_vocab"

    def __init__(self, types: Sequence[str], tokens: Sequence[str]) -> None:
        if tuple(types[:2]) != self.TYPE_SPECIALS or tuple(tokens[:3]) != self.TOKEN_SPECIALS:
            raise ValueError("vocabulary tables must start with their special entries")
        if len(set(types)) != len(types) or len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tables must not contain duplicates")
        self.types: tuple[str, ...] = tuple(types)
        self.tokens: tuple[str, ...] = tuple(tokens)
        self._type_id = {t: i for i, t in enumerate(self.types)}
        self._tok_id = {t: i for i, t in enumerate(self.tokens)}
        self._tok_id[""] = self.NONE

    @property
    def num_types(self) -> int:
        return len(self.types)

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(
        cls, graphs: Iterable[CodeGraph], min_token_freq: int = 2, max_tokens: int = 20000
    ) -> GraphVocab:
        """Count node types and normalised leaf tokens over ``graphs`` (the train split)."""
        type_counts: Counter[str] = Counter()
        tok_counts: Counter[str] = Counter()
        for g in graphs:
            type_counts.update(g.node_type)
            tok_counts.update(
                normalize_token(t, k) for t, k in zip(g.node_type, g.node_token, strict=True) if k
            )
        types = [t for t in _by_count(type_counts) if t not in cls.TYPE_SPECIALS]
        frequent = (
            k
            for k in _by_count(tok_counts)
            if tok_counts[k] >= min_token_freq and k not in cls.TOKEN_SPECIALS
        )
        tokens = [k for _, k in zip(range(max(max_tokens, 0)), frequent, strict=False)]
        return cls([*cls.TYPE_SPECIALS, *types], [*cls.TOKEN_SPECIALS, *tokens])

    def encode(self, g: CodeGraph) -> tuple[np.ndarray, np.ndarray]:
        """(N,) int32 type ids and (N,) int32 token ids; unseen -> UNK."""
        tid, kid, unk = self._type_id, self._tok_id, self.UNK
        types = np.fromiter((tid.get(t, unk) for t in g.node_type), np.int32, len(g.node_type))
        toks = np.fromiter(
            (
                kid.get(normalize_token(t, k) if t in _NORMALISED else k, unk)
                for t, k in zip(g.node_type, g.node_token, strict=True)
            ),
            np.int32,
            len(g.node_token),
        )
        return types, toks

    def to_json(self) -> str:
        """Canonical JSON (ASCII, no whitespace): equal vocabularies give equal strings."""
        payload = {"format": self._FORMAT, "version": 1, "types": self.types, "tokens": self.tokens}
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str) -> GraphVocab:
        """Inverse of :meth:`to_json`; ValueError on anything else."""
        payload = json.loads(s)
        if not isinstance(payload, dict) or payload.get("format") != cls._FORMAT:
            raise ValueError("not a serialised GraphVocab")
        return cls(_str_list(payload, "types"), _str_list(payload, "tokens"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GraphVocab):
            return NotImplemented
        return self.types == other.types and self.tokens == other.tokens

    def __hash__(self) -> int:
        return hash((self.types, self.tokens))


def _str_list(payload: dict[str, Any], key: str) -> list[str]:
    value = payload.get(key)
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValueError(f"GraphVocab JSON needs a list of strings under {key!r}")
    return value


def _by_count(counts: Counter[str]) -> list[str]:
    """Deterministic order: most frequent first, ties by the string itself."""
    return sorted(counts, key=lambda s: (-counts[s], s))
