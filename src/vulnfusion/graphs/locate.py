"""Where the function is: the byte ranges of the body and parameter list to analyse,
also when tree-sitter's error recovery dissolved the definition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vulnfusion.graphs.schema import STATEMENTS


@dataclass
class Target:
    """Byte ranges of the code the cfg/dfg cover: the body and the parameters.

    ``params`` runs from the parameter list to the body, so that K&R parameter
    declarations (``f(a) char *a; {``) are parameters too.  ``clean`` says that the
    target is a ``function_definition`` whose header parsed without error (and without
    a macro call after its parameter list).
    """

    body: tuple[int, int]
    params: tuple[int, int]
    clean: bool = False


def _params_of(declarator: Any, body_start: int) -> tuple[int, int]:
    """Byte range from the parameter list of a (possibly pointer-wrapped) declarator
    to ``body_start``; (0, 0) without a parameter list."""
    d = declarator
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    p = None if d is None else d.child_by_field_name("parameters")
    return (0, 0) if p is None else (p.start_byte, max(p.end_byte, body_start))


def _macro_after(declarator: Any) -> bool:
    """``f(..) __releases(lock)``: tree-sitter reads a macro after the parameter list as a
    ``call_expression`` inside the function declarator (no error); ``repair`` blanks it."""
    d = declarator
    while d is not None and d.type != "function_declarator":
        d = d.child_by_field_name("declarator")
    return d is not None and any(c.type == "call_expression" for c in d.named_children)


def _header_clean(definition: Any, tops: list[Any]) -> bool:
    """No parse error in the definition's header nor in any top-level item before it."""
    start = definition.start_byte
    if any(t.has_error for t in tops if t.start_byte < start):
        return False
    body = definition.child_by_field_name("body")
    return not any(c.has_error or c.is_missing for c in definition.children if c != body)


def locate(root: Any) -> Target | None:
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
                params = _params_of(decl, body.start_byte)
                clean = not root.has_error or _header_clean(ch, tops)
                clean = clean and not _macro_after(decl)
                return Target((body.start_byte, body.end_byte), params, clean)
    return _salvage(flat) or _swallowed_header(tops)


def _salvage(items: list[Any]) -> Target | None:
    """``header compound_statement`` or ``header { stmts...`` left by error recovery
    (e.g. a header whose type is an unknown macro, or K&R parameter declarations)."""
    k = next((i for i, ch in enumerate(items) if ch.type in ("{", "compound_statement")), -1)
    if k < 0:
        return None
    ch = items[k]
    if ch.type == "compound_statement":
        body = (ch.start_byte, ch.end_byte)
    elif k > 0 and any(t.type in STATEMENTS for t in items[k + 1 :]):
        body = (ch.end_byte, items[-1].end_byte)
    else:
        return None
    decls = [h for h in items[:k] if h.type.endswith("declarator")]
    return Target(body, _params_of(decls[-1], body[0]) if decls else (0, 0))


def _swallowed_header(tops: list[Any]) -> Target | None:
    """A broken declaration that swallowed the header (and ``{``), then loose statements."""
    if len(tops) < 2 or tops[0].type != "declaration" or not tops[0].has_error:
        return None
    if not any(t.type in STATEMENTS for t in tops[1:]):
        return None
    return Target((tops[1].start_byte, tops[-1].end_byte), (0, 0))
