"""Pass 2: statement-level control flow over the statement tree recorded by pass 1."""

from __future__ import annotations

from collections.abc import Iterable

from vulnfusion.graphs.schema import ENTRY, TRANSPARENT
from vulnfusion.graphs.walk import Walk

_PP_ALTERNATIVES = frozenset({"preproc_elif", "preproc_elifdef", "preproc_else"})


class CfgBuilder:
    """Statement-level control flow over program points (kept node indices).

    Works on the statement tree recorded by pass 1 (no tree-sitter calls).
    ``visit(idx, pending)`` links every point in ``pending`` (those whose
    fall-through successor is still open) to the statement's entry and returns
    its own open exits; an empty construct returns ``pending`` unchanged, which
    is how flow passes straight through empty bodies and branches.
    """

    def __init__(self, w: Walk, f_init: int, f_update: int) -> None:
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
        self.seq(self.w.roots, [ENTRY])
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
        if kind in TRANSPARENT:
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

    def _conditional(self, u: int, pending: list[int]) -> list[int]:
        """``#if``/``#ifdef``/``#elif`` parsed as such: its statements or its alternative
        (``#elif``/``#else``) run, or neither when there is no ``#else``."""
        kids = self.kids.get(u, [])
        alt = [k for k in kids if self.types[k] in _PP_ALTERNATIVES]
        branch = [k for k in kids if self.types[k] not in _PP_ALTERNATIVES]
        exits = self.seq(branch, pending)
        return exits + (self.seq(alt, pending) if alt else pending)

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
    "if_statement": CfgBuilder._if,
    "while_statement": CfgBuilder._while,
    "for_statement": CfgBuilder._for,
    "do_statement": CfgBuilder._do,
    "switch_statement": CfgBuilder._switch,
    "case_statement": CfgBuilder._case,
    "break_statement": CfgBuilder._break,
    "continue_statement": CfgBuilder._continue,
    "return_statement": CfgBuilder._return,
    "goto_statement": CfgBuilder._goto,
    "labeled_statement": CfgBuilder._labeled,
    "preproc_if": CfgBuilder._conditional,
    "preproc_ifdef": CfgBuilder._conditional,
    "preproc_elif": CfgBuilder._conditional,
    "preproc_elifdef": CfgBuilder._conditional,
}


def emit_cfg(edges: list[tuple[int, int]], owner: dict[int, int]) -> list[tuple[int, int]]:
    """Program-point edges -> statement edges: for-parts fold into the for node."""
    out = set()
    for a, b in edges:
        if a == ENTRY:
            continue
        a, b = owner.get(a, a), owner.get(b, b)
        if a != b:
            out.add((a, b))
    return sorted(out)
