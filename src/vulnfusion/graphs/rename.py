"""Identifier normalisation: a function's own names replaced by canonical ones.

The parameters and local variables of a C function are renamed ``VAR0``, ``VAR1``, … in
order of declaration, and the function's own name (also where it recurses) becomes
``FUNC``, as VulDeePecker (Li et al., NDSS 2018) and SySeVR map user-defined names to
symbolic ones. What a name says about one project (``s->priv_data``, ``avctx``) then no longer
separates functions; what is left is how values flow between API calls, operators,
literals, types and fields, which are kept: callees, macros, globals, ``field_identifier``
and ``type_identifier`` nodes are not touched.

The rewrite replaces identifier tokens only, so every line keeps its number (localisation
maps lines of the rewritten text onto the original). Names are matched by text, as the
graph's reaching definitions are (scopes are not modelled).
"""

from __future__ import annotations

from typing import Any

from vulnfusion.graphs.parser import lang_for_process
from vulnfusion.graphs.schema import DECLARATION_OWNERS, DECLARATOR_WRAPPERS

FUNCTION_NAME = "FUNC"
VARIABLE_PREFIX = "VAR"

# what an identifier is (``_role``)
USE, VARIABLE, FUNCTION, PARAMETER = range(4)
_INT = b"int "


def _role(stack: list[tuple[str, str | None]], field: str | None) -> int:
    """What an identifier is, from its field name and its ancestors (innermost last): a
    ``USE``, a declared ``VARIABLE``, the defined ``FUNCTION``'s name or a ``PARAMETER``
    (a parenthesized declarator keeps the name without a field name)."""
    if stack and stack[-1][0] == "parameter_list":
        return PARAMETER  # a K&R list: f(a, b)
    i = len(stack) - 1
    while field in ("declarator", None) and i >= 0:
        kind, up = stack[i]
        if kind in DECLARATION_OWNERS:
            if field != "declarator":
                return USE
            return PARAMETER if kind == "parameter_declaration" else VARIABLE
        if kind == "function_definition":
            return FUNCTION if field == "declarator" else USE
        if kind not in DECLARATOR_WRAPPERS:
            return USE
        field, i = up, i - 1
    return USE


def _identifiers(tree: Any) -> tuple[list[tuple[int, int, bytes, int]], bool]:
    """Every identifier as (start byte, end byte, text, role) in source order, and whether
    the tree holds a function definition (one TreeCursor walk)."""
    out: list[tuple[int, int, bytes, int]] = []
    cur = tree.walk()
    stack: list[tuple[str, str | None]] = []  # (type, field name in its parent) of ancestors
    found = False
    while True:
        node = cur.node
        kind, field = node.type, cur.field_name
        if kind == "identifier":
            out.append((node.start_byte, node.end_byte, node.text, _role(stack, field)))
        else:
            found = found or kind == "function_definition"
            if cur.goto_first_child():
                stack.append((kind, field))
                continue
        while not cur.goto_next_sibling():
            if not stack or not cur.goto_parent():
                return out, found
            stack.pop()


def normalize_identifiers(
    code: str, variable_prefix: str = VARIABLE_PREFIX, function_name: str | None = FUNCTION_NAME
) -> str:
    """``code`` with its parameters and locals renamed ``VAR<i>`` and its name ``FUNC``
    (``variable_prefix``, ``function_name``; ``None`` keeps the function's name).

    Only ``identifier`` tokens change; lines and everything else stay as they are. A
    function written without a return type (as many Devign functions are) is read as if it
    had ``int``. Where tree-sitter finds no function definition at all (a macro it cannot
    read) but a parameter list, the declarations it did parse are still renamed; other
    text comes back unchanged.

    >>> normalize_identifiers("int add(int a, int b) { int s = a + b; return s; }")
    'int FUNC(int VAR0, int VAR1) { int VAR2 = VAR0 + VAR1; return VAR2; }'
    """
    data = code.encode("utf-8", "surrogatepass")
    parser = lang_for_process().parser
    idents, found = _identifiers(parser.parse(data))
    if not found:  # no return type? (an error elsewhere keeps the declarations it has)
        again, found = _identifiers(parser.parse(_INT + data))
        again = [(a - len(_INT), b - len(_INT), t, r) for a, b, t, r in again]
        has_params = [any(r == PARAMETER for *_, r in x) for x in (idents, again)]
        if found or (has_params[1] and not has_params[0]):
            idents = again
        elif not has_params[0]:
            return code  # no parameter list either: not a function
    names: dict[bytes, bytes] = {}
    own = next((t for _, _, t, r in idents if r == FUNCTION), None)
    for _, _, t, r in idents:
        if r in (VARIABLE, PARAMETER) and t not in names and t != own:
            names[t] = f"{variable_prefix}{len(names)}".encode()
    if own is not None and function_name is not None:
        names[own] = function_name.encode()
    parts: list[bytes] = []
    at = 0
    for a, b, t, _ in idents:
        new = names.get(t)
        if new is not None and a >= at:
            parts += [data[at:a], new]
            at = b
    if not parts:
        return code
    parts.append(data[at:])
    return b"".join(parts).decode("utf-8", "surrogatepass")
