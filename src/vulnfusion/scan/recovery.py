"""Recovering function definitions from tree-sitter's error recovery (used by
:mod:`vulnfusion.scan.extract`): where a parse error takes a definition apart, these find its
head, its extent and its first error from the nodes and bytes that remain.

* a body holding something tree-sitter cannot parse (a macro used as a statement, an
  unbalanced ``#if``) may leave the definition's pieces as siblings: its extent comes back by
  brace matching (:func:`is_flattened_head`, :func:`matching_brace`);
* a K&R definition returning a pointer is split into declarations and a bare block
  (:func:`kr_head`);
* a prototype missing its ``;`` glues the next definition's head onto its declarator
  (:func:`glued_head`);
* a body whose ``{`` is never closed swallows the definitions after it
  (:func:`nested_definitions`).
"""

from __future__ import annotations

from typing import Any


def first_error(node: Any) -> int | None:
    """The first byte of the first ERROR or MISSING node under ``node`` (``None``: none)."""
    if not node.has_error:
        return None
    stack = [node]
    while stack:
        n = stack.pop()
        if n.is_error or n.is_missing:
            return int(n.start_byte)
        stack.extend(c for c in reversed(n.children) if c.has_error)
    return None


# what may precede a declarator in a definition: return type, storage class, attributes
_SPECIFIERS = frozenset(
    {
        "storage_class_specifier",
        "type_qualifier",
        "primitive_type",
        "sized_type_specifier",
        "type_identifier",
        "struct_specifier",
        "union_specifier",
        "enum_specifier",
        "attribute_specifier",
        "attribute_declaration",
        "ms_declspec_modifier",
        "macro_type_specifier",
    }
)


def function_declarator(node: Any) -> Any | None:
    """The ``function_declarator`` a declaration or definition declares, through pointer,
    parenthesised and attributed declarators (``None`` when it declares no function)."""
    d = node.child_by_field_name("declarator")
    while d is not None and d.type in ("pointer_declarator", "parenthesized_declarator",
                                       "attributed_declarator"):  # fmt: skip
        d = d.child_by_field_name("declarator") or (
            d.named_children[-1] if d.named_children else None
        )
    return d if d is not None and d.type == "function_declarator" else None


def kr_head(children: list[Any], i: int) -> tuple[int, Any] | None:
    """The head of a K&R definition that tree-sitter split into declarations and a bare
    block: ``char *copy(dst, src) char *dst; const char *src; { … }`` parses as a declaration
    (its identifier list an error), the parameter declarations, then a block. Only
    declarations may stand between the head and the block. Returns ``(index of the head,
    the node naming the function)`` — the ``function_declarator``, or for ``char **`` heads,
    where the declarator itself is lost in an ``ERROR`` node, that node's leading identifier
    — or ``None`` when there is no such head."""
    j = i - 1
    while j >= 0 and children[j].type == "declaration":
        decl = function_declarator(children[j])
        if decl is not None:
            params = decl.child_by_field_name("parameters")
            names_only = params is not None and all(
                c.type == "identifier" for c in params.named_children
            )
            return (j, decl) if decl.has_error or names_only else None
        name = _identifier_list_head(children[j])
        if name is not None:
            return j, name
        j -= 1
    return None


def _identifier_list_head(declaration: Any) -> Any | None:
    """In a declaration tree-sitter could not parse, an ``ERROR`` node that opens with a
    K&R head behind a pointer declarator (``static char **`` then ``kr_pp(p, n)``): the
    head's ``function_declarator``, or ``name`` when it opens with ``name (``."""
    if not declaration.has_error:
        return None
    stack = [declaration]
    while stack:
        n = stack.pop()
        if n.type == "ERROR":
            kids = n.children
            if kids and kids[0].type == "function_declarator":  # `kr_pp(p, n)` + next token
                return kids[0]
            if len(kids) >= 2 and kids[0].type == "identifier" and kids[1].type == "(":
                return kids[0]
            return None
        stack.extend(c for c in reversed(n.children) if c.has_error)
    return None


# words no macro is named: after a signature, on a later line, they start a new declaration
C_KEYWORDS = frozenset(
    {
        "struct", "union", "enum", "typedef", "static", "extern", "const", "volatile",
        "inline", "void", "char", "short", "int", "long", "float", "double", "signed",
        "unsigned", "_Bool", "bool", "register", "auto",
    }
)  # fmt: skip


def glued_head(node: Any, data: bytes) -> tuple[Any | None, Any] | None:
    """A declaration missing its ``;`` before a definition, which tree-sitter glues on.

    ``int proto(void)`` then ``int real(char *s) { … }``: tree-sitter takes ``int
    real(char *s)`` as trailing tokens of ``proto``'s declarator (as it would a macro such as
    ``__releases(x)``) and the body as ``proto``'s. Recognised when, on a line after the
    parameter list, a call follows a type name on its line (a macro after a signature has
    none); the last such call is the real head. Returns ``(first node of the real head, the
    call)``; ``(None, node)`` when a C keyword starts a later line but no head can be named
    (``int proto(void)`` then ``struct foo { … };``: the "body" is not a function's);
    ``None`` when nothing is glued.
    """
    decl = function_declarator(node)
    params = decl.child_by_field_name("parameters") if decl is not None else None
    if decl is None or params is None:
        return None
    after = [c for c in decl.children if c.start_byte >= params.end_byte]
    later = [c for c in after if c.start_point[0] > params.end_point[0]]
    heads = [
        (k, c)
        for k, c in enumerate(after)
        if c in later
        and c.type == "call_expression"
        and k > 0
        and after[k - 1].type in ("identifier", "primitive_type", "type_identifier")
        and after[k - 1].start_point[0] == c.start_point[0]
    ]
    if heads:
        _, call = heads[-1]
        first = next(a for a in after if a.start_point[0] == call.start_point[0])
        return first, call
    words = {data[c.start_byte : c.end_byte].decode("utf-8", "replace") for c in later}
    return (None, node) if words & C_KEYWORDS else None


def nested_definitions(node: Any) -> list[Any]:
    """The ``function_definition`` nodes under ``node``, not looking inside them."""
    found, stack = [], list(reversed(node.children))
    while stack:
        n = stack.pop()
        if n.type == "function_definition":
            found.append(n)
        else:
            stack.extend(reversed(n.children))
    return found


def trim(data: bytes, start: int, end: int) -> int:
    """``end`` moved back over trailing white space (never before ``start``)."""
    return start + len(data[start:end].rstrip())


def is_flattened_head(children: list[Any], i: int) -> bool:
    """A declarator then a bare ``{``: a definition tree-sitter's error recovery took apart.

    When a body holds something tree-sitter cannot parse (a macro used as a statement, an
    unbalanced ``#if``), it may give up the ``function_definition`` node and leave its pieces
    (specifiers, declarator, ``{``, statements, ``}``) as siblings. 3% of Devign functions
    parse this way; their extent is recovered from the bytes by brace matching.
    """
    if i + 1 >= len(children) or children[i + 1].type != "{":
        return False
    node = children[i]
    while node.type in ("pointer_declarator", "attributed_declarator") and node.named_children:
        node = node.child_by_field_name("declarator") or node.named_children[-1]
    return bool(node.type == "function_declarator")


def first_specifier(children: list[Any], i: int) -> int:
    """Index of the first of the return type / storage class / attribute nodes before ``i``."""
    j = i
    while (
        j > 0
        and children[j - 1].type in _SPECIFIERS
        and children[j - 1].end_point[0] >= (children[j].start_point[0] - 2)
    ):
        j -= 1
    return j


def matching_brace(data: bytes, open_at: int) -> int | None:
    """Byte just past the ``}`` closing the ``{`` at ``open_at``, or ``None`` if none does.

    Skips string and character literals, comments, and the ``#else``/``#elif`` branches of
    conditional blocks (only the first branch is counted, as when each branch opens its own
    ``if (…) {``); other directive lines are skipped whole.
    """
    depth, i, n = 0, open_at, len(data)
    while i < n:
        c = data[i]
        if c == 0x7B:  # {
            depth += 1
        elif c == 0x7D:  # }
            depth -= 1
            if depth == 0:
                return i + 1
        elif c in (0x22, 0x27):  # a string or character literal, escapes included
            i += 1
            while i < n and data[i] != c and data[i] != 0x0A:
                i += 2 if data[i] == 0x5C else 1
        elif data.startswith(b"//", i):
            i = _line_end(data, i) - 1
        elif data.startswith(b"/*", i):
            i = data.find(b"*/", i + 2)
            i = n if i == -1 else i + 1
        elif c == 0x23 and not data[data.rfind(b"\n", 0, i) + 1 : i].strip():  # a directive
            word = data[i + 1 : i + 40].lstrip().split(maxsplit=1)
            if word and word[0].startswith(b"el"):  # #else / #elif*: skip to its #endif
                i = _skip_to_endif(data, i)
            i = _line_end(data, i) - 1
        i += 1
    return None


def _line_end(data: bytes, i: int) -> int:
    """Offset of the newline ending the (backslash-continued) line holding ``i``, or the end."""
    while True:
        j = data.find(b"\n", i)
        if j == -1:
            return len(data)
        k = j - 1 if j > 0 and data[j - 1] == 0x0D else j  # before a CR of CRLF
        if k > 0 and data[k - 1] == 0x5C:  # a backslash: the line goes on
            i = j + 1
            continue
        return j


def _skip_to_endif(data: bytes, i: int) -> int:
    """Offset of the ``#endif`` closing the conditional whose ``#else``/``#elif`` is at ``i``."""
    level = 0
    pos = _line_end(data, i) + 1
    while pos < len(data):
        line = data[pos : _line_end(data, pos)].strip()
        if line.startswith(b"#"):
            word = line[1:].lstrip()
            if word.startswith(b"if"):
                level += 1
            elif word.startswith(b"endif"):
                if level == 0:
                    return pos
                level -= 1
        pos = _line_end(data, pos) + 1
    return len(data)
