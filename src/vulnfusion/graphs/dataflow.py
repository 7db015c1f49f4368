"""Abstract data-flow features of definitions, in the spirit of DeepDFA.

DeepDFA (Steenhoek et al., "Dataflow Analysis-Inspired Deep Learning for Efficient
Vulnerability Detection", ICSE 2024) describes every definition of a variable by what flows
into it — the API it calls, the operators and the kinds of literal in its expression, its
declared type — bucketed to a vocabulary of the training split, and lets a GNN propagate
these along reaching-definition edges. Here each definition node (a ``dfg`` edge source:
parameter, declarator, assignment target, ``++``/``--`` operand) gets up to four extra
child nodes, one per attribute that is not empty, joined to it by an ``ast`` edge:

========== ========================================================================
node type  token
========== ========================================================================
dfa_api    the callees in the defining expression, in source order (``memcpy|strlen``)
dfa_op     its operators, sorted and deduplicated (``+|<<``); plain ``=`` is left out
dfa_lit    its kinds of literal, sorted (``number_literal|string_literal``)
dfa_type   the declared type of the variable (``char*``, ``size_t``, ``int[]``), also
           for assignments to a variable declared elsewhere in the function
========== ========================================================================

The defining expression is the initialiser of a declarator, the right side of an
assignment (``x += e``: ``e`` and the operator), or the operand of ``++``/``--``; a
declarator without initialiser and a parameter have a type only. The tokens go through
the graph vocabulary like any other (``featurize.min_token_freq``, ``max_graph_tokens``,
train split only), which is the bucketing. The extra nodes come after the function's own
nodes, so the ``max_nodes`` cap drops them first.
"""

from __future__ import annotations

from vulnfusion.graphs.schema import DECLARATION_OWNERS, LITERALS
from vulnfusion.graphs.walk import Walk

DFA_TYPES: tuple[str, ...] = ("dfa_api", "dfa_op", "dfa_lit", "dfa_type")
_EXPR_OWNERS = frozenset({"init_declarator", "assignment_expression", "update_expression"})
_STOP = frozenset(
    {
        "expression_statement", "return_statement", "if_statement", "while_statement",
        "for_statement", "do_statement", "switch_statement", "compound_statement",
        "function_definition", "parameter_list",
    }
)  # fmt: skip
_TYPE_NODES = frozenset({"primitive_type", "type_identifier"})
_DECLARATOR_MARK = {"pointer_declarator": "*", "array_declarator": "[]"}
_KEYWORD_OPS = frozenset({"sizeof"})


def _subtree_ends(parent: list[int]) -> list[int]:
    """For pre-order nodes with ``parent`` links: one past the last node of each subtree."""
    end = list(range(1, len(parent) + 1))
    for i in range(len(parent) - 1, 0, -1):
        p = parent[i]
        if p >= 0 and end[i] > end[p]:
            end[p] = end[i]
    return end


def _is_operator(tok: str) -> bool:
    return tok in _KEYWORD_OPS or (bool(tok) and not tok[0].isalnum() and tok[0] != "_")


def abstract_dataflow(w: Walk) -> list[tuple[int, str, str]]:
    """``(definition node, dfa node type, token)`` for every definition of ``w`` (in
    definition order, attributes in :data:`DFA_TYPES` order); see the module docstring."""
    types, toks, parent = w.types, w.toks, w.parent
    if not w.defs:
        return []
    end = _subtree_ends(parent)
    declared: dict[str, str] = {}
    found: list[tuple[int, str, dict[str, str]]] = []
    for idx, name, _unit, _decl in w.defs:
        # climb to the statement: the defining expression, the declaration, and a `*`/`[]`
        # met on the way to either (the declared variable's own declarator)
        expr, decl, mark = -1, -1, ""
        p = parent[idx]
        while p >= 0 and types[p] not in _STOP:
            kind = types[p]
            if kind in DECLARATION_OWNERS:
                decl = p
                break
            if expr < 0:
                mark = mark or _DECLARATOR_MARK.get(kind, "")
                if kind in _EXPR_OWNERS:
                    expr = p
            p = parent[p]
        attrs: dict[str, str] = {}
        if expr >= 0:
            lo = idx + 1 if types[expr] != "update_expression" else expr + 1
            attrs.update(_expression(types, toks, end, lo, end[expr], idx))
        if decl >= 0:
            t = _declared_type(types, toks, end, decl)
            if t:
                attrs["dfa_type"] = t + mark
                declared.setdefault(name, attrs["dfa_type"])
        found.append((idx, name, attrs))
    out: list[tuple[int, str, str]] = []
    for idx, name, attrs in found:
        if "dfa_type" not in attrs and name in declared:
            attrs["dfa_type"] = declared[name]
        out += [(idx, kind, attrs[kind]) for kind in DFA_TYPES if attrs.get(kind)]
    return out


def _expression(
    types: list[str], toks: list[str], end: list[int], lo: int, hi: int, target: int
) -> dict[str, str]:
    """api / op / lit tokens of nodes ``lo .. hi-1`` (the defining expression)."""
    apis: list[str] = []
    ops: set[str] = set()
    lits: set[str] = set()
    i = lo
    while i < hi:
        kind, tok = types[i], toks[i]
        if i == target:
            i += 1
            continue
        if kind == "call_expression" and i + 1 < hi:
            callee = _last_token(toks, i + 1, end[i + 1])
            if callee:
                apis.append(callee)
        elif kind in LITERALS:
            lits.add(kind)
        elif tok == kind and _is_operator(tok) and tok != "=":
            ops.add(tok)
        i += 1
    return {
        "dfa_api": "|".join(dict.fromkeys(apis)),
        "dfa_op": "|".join(sorted(ops)),
        "dfa_lit": "|".join(sorted(lits)),
    }


def _last_token(toks: list[str], lo: int, hi: int) -> str:
    """The last non-empty token of nodes ``lo .. hi-1`` (a callee ``a.b->f``: ``f``)."""
    for j in range(hi - 1, lo - 1, -1):
        if toks[j]:
            return toks[j]
    return ""


def _declared_type(types: list[str], toks: list[str], end: list[int], decl: int) -> str:
    """The first type name in a declaration (``unsigned``, ``size_t``, ``struct foo``: ``foo``)."""
    for j in range(decl + 1, end[decl]):
        if types[j] in _TYPE_NODES:
            return toks[j]
        if types[j] in ("init_declarator", "pointer_declarator", "identifier"):
            break
    return ""
