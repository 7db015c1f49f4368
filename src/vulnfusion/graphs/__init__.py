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
    ``ERROR``, ``attributed_statement`` and ``#else`` blocks are transparent.  The
    branches of a preprocessor conditional (``#if``/``#ifdef``/``#elif``/``#else``)
    are alternatives, as in some configuration: flow enters one branch, or passes
    the whole conditional when there is no ``#else``; it never runs from one branch
    into another.  The first statement of the body is the entry (no entry node).
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
    ``DEPTH_LIMIT`` (pathological) yields no cfg/dfg edges at all.

Data flow
    Reaching definitions over that control flow, for parameters and locally
    declared variables only (matched by name; scopes are not modelled).  A
    definition is a parameter (defined at entry; K&R parameters too, by their
    declaration ``char *a;`` or, undeclared, by their name in the list), a
    declarator *with or without* an initializer (so ``int x; if (c) x = 1;
    use(x);`` links both ``x`` nodes to the use: the "maybe uninitialised" signal
    is kept), an assignment target
    (``x += 1`` is also a use) and the operand of ``++``/``--``.  All uses in one
    program point see the definitions that reach its start (``x = x + 1`` uses
    the old ``x``; the last definition of a variable in a point is the one that
    leaves it).  ``p->len``, ``*p = 0`` and ``p[i] = 0`` are uses of ``p``; ``len``
    is a ``field_identifier`` and never takes part.  A loop-carried ``i++`` gets
    an edge to itself.  Definitions in unreachable code still flow onwards.

Several top-level items, broken parses
    All kept nodes of the whole text get ast/next_token edges; cfg/dfg are built
    for the first ``function_definition`` only (top level or inside a top-level
    ``ERROR``).  What tree-sitter-c cannot read is blanked and the text parsed
    again (``repair``): attribute macros in the header (``static FMT_CHECK(2, 3)
    int f(..)``, ``int __printf(1, 2) f(..)``, ``static __must_check int f(..)``,
    ``av_cold void f(..)``), so that the graph equals the one without the macro;
    macros after the parameter list (``f(..) __releases(lock)``) and sparse
    annotations inside it (``const char __user *p``); the return type's ``*`` of a
    K&R definition (``char *f(s) char *s; {``), which then has no ``*`` node; a
    header without a return type (implicit ``int``: ``max(a, b) int a, b; {``,
    ``static cmp(a, b)``, ``max(int a, int b)``, common in Devign, whose functions
    often lack it; also Linux's ``SYSCALL_DEFINE2(f, T1, a1, T2, a2)``, rewritten in
    place to ``f( T1  a1, T2  a2)``), parsed with ``int`` inserted before the name and that one node
    dropped, so the graph is the typed one less its ``int`` node; and the
    directive lines of a conditional next to an ``else`` (``if (c) {..}``
    ``#ifdef X`` ``else {..}`` ``#else`` ``else {..}`` ``#endif``, or ``} else``
    ``#ifdef X`` ``if (b) {..} else`` ``#endif`` ``{..}``, or a conditional among K&R
    parameter declarations, ``#ifdef W`` ``long c;`` ``#else`` ``int c;`` ``#endif``;
    continuation lines and comments belong to the directive line).  There the cfg
    and dfg are the union over configurations (one branch of each such conditional,
    or none without ``#else``; at most 32), each parsed with the other branches
    blanked and mapped back onto the graph's nodes (``variants``): never a path
    through two branches of one conditional or both branches of one ``if``.  The
    repaired parse is kept only when its header parses cleanly (or a conditional
    was split: its flow comes from the variants).
    Otherwise, when error recovery dissolved the definition, its remains are
    used: a header followed by a ``compound_statement`` or by a loose ``{`` and
    statements, or a broken declaration that swallowed the header followed by
    loose statements.  ``has_error`` reports any error in the parse the graph
    comes from.

Known limits
    Other whole-header macros (``PHP_FUNCTION(f)``, ``DEF_HELPER(f, ..)``) hide the
    parameters: the body's flow is kept, without parameter definitions.  A K&R list
    with no declarations at all (``int f(a, b) {``) reads as types: no parameter
    definitions.  Conditionals split into at most 32 configurations.

Caps and fallback
    Text beyond ``max_chars`` is not parsed; nodes beyond ``max_nodes`` (a
    pre-order prefix is kept) are dropped with every edge touching them; both
    set ``truncated``.  Without any function shape (macro-only text, binary
    garbage, ...) the result is the *fallback* graph: a regex lexer's tokens
    (identifiers, keywords, numbers, strings, chars, operators, ``#define``-like
    directives; punctuation dropped), typed like tree-sitter types them, chained
    by next_token edges only.  Empty text gives one ``<empty>`` node.

Modules, in the order ``build_graph`` uses them
    ``schema`` (edge types, :class:`CodeGraph`, node-kind tables), ``parser`` (the
    lazily created tree-sitter parser), ``locate`` (which bytes are the body and the
    parameters), ``repair`` (blank and parse again), ``variants`` (flow per
    configuration), ``walk`` (pass 1: nodes, statement tree, definitions and uses; in C,
    ``_cwalk``, where it was built), ``cfg`` (pass 2), ``dfg`` (pass 3; in C too, ``_reaching.c``),
    ``dataflow`` (optional abstract data-flow nodes per definition, DeepDFA-style),
    ``fallback`` (the lexer graph), ``build`` (assembly); ``vocab`` holds
    :class:`GraphVocab`; ``rename`` (identifier normalisation of the source text, applied
    before graphs and tokens when ``featurize.normalize_identifiers`` is on).
"""

from __future__ import annotations

from vulnfusion.graphs.build import build_graph
from vulnfusion.graphs.schema import EDGE_TYPES, CodeGraph
from vulnfusion.graphs.vocab import GraphVocab, normalize_token

__all__ = ["EDGE_TYPES", "CodeGraph", "GraphVocab", "build_graph", "normalize_token"]
