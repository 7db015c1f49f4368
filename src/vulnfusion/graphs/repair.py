"""Reading what tree-sitter-c cannot parse: blank it and parse again.

tree-sitter-c knows no macros and no preprocessor semantics, and its K&R rule has no
pointer return type.  Three kinds of input therefore dissolve a definition:

* attribute macros in the header: ``static FMT_CHECK(2, 3) int f(...)``,
  ``int __printf(1, 2) f(...)``, ``static __must_check int f(...)``;
* a K&R definition returning a pointer: ``char *f(s) char *s; {``;
* conditional directive lines that split an if/else: ``if (c) {..}`` ``#ifdef X``
  ``else {..}`` ``#endif``.

:func:`plan` finds them with a small lexer and overwrites them with spaces (same byte
length, newlines kept, so every offset and line number of the rest stays); the caller
parses the result and keeps it only when the header then parses cleanly.  Blanked text
has no node: a repaired graph equals the graph of the code without the macro, and a
repaired K&R header has no ``*`` node for its return type.  The conditionals whose
directive lines were blanked are returned as :class:`PPGroup` so that the control flow
can treat their branches as alternatives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    rb"""(?P<c>/\*[\s\S]*?\*/|//[^\n]*)
      | (?P<pp>^[ \t]*\#(?:[^\n\\]|\\[\s\S])*)
      | (?P<s>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
      | (?P<id>[A-Za-z_]\w*)
      | (?P<p>[^\s\w])""",
    re.VERBOSE | re.MULTILINE,
)
# keywords that may take parentheses in a header and that tree-sitter-c parses itself
_PAREN_KEYWORDS = frozenset(
    {
        b"__attribute__", b"__attribute", b"__declspec", b"_Alignas", b"alignas", b"__asm__",
        b"__asm", b"asm", b"typeof", b"__typeof__", b"__typeof", b"_Atomic",
    }
)  # fmt: skip
_TYPE_KEYWORDS = frozenset(
    {
        b"void", b"char", b"short", b"int", b"long", b"float", b"double", b"signed",
        b"unsigned", b"_Bool", b"bool", b"_Complex",
    }
)  # fmt: skip
_TAGS = frozenset({b"struct", b"union", b"enum"})
# sparse/kernel annotations that expand to nothing (or an attribute) in a parameter list
_ANNOTATIONS = frozenset(
    {
        b"__user", b"__kernel", b"__iomem", b"__rcu", b"__percpu", b"__force", b"__nocast",
        b"__bitwise", b"__safe", b"__private", b"__maybe_unused", b"__always_unused",
        b"__unused",
    }
)  # fmt: skip
_HEADER_MAX = 16384  # bytes searched for the body's ``{`` (headers are far shorter)
_SPECIFIER_KEYWORDS = frozenset(
    {
        b"static", b"extern", b"inline", b"__inline", b"__inline__", b"register", b"auto",
        b"const", b"volatile", b"restrict", b"__restrict", b"_Noreturn", b"__extension__",
        b"_Thread_local", b"__thread",
    }
)  # fmt: skip
_CONDITIONAL = rb"^[ \t]*\#[ \t]*(if|ifdef|ifndef|elif|elifdef|elifndef|else|endif)\b"
# the rest of a directive line: continuation lines and block comments that run onto later
# lines are part of it.  The alternatives start with different characters, so the ``*``
# cannot backtrack exponentially; an unterminated ``/*`` ends the line.
_REST = rb"(?:[^\n\\/]|\\[\s\S]|/\*(?:[^*]|\*+[^*/])*\*+/|/(?!\*))*"
# a conditional directive line (with its continuation lines and comments)
_DIRECTIVE = re.compile(_CONDITIONAL + _REST, re.MULTILINE)
# whitespace and comments.  A comment is spelled so that it cannot contain "*/": a lazy
# ``/\*.*?\*/`` under the outer ``*`` could span several comments and backtrack
# exponentially.
_GAP = rb"(?:\s|//[^\n]*|/\*(?:[^*]|\*+[^*/])*\*+/)*"
# an ``else`` right after or right before a conditional directive line: the cheap test of
# :func:`suspect` (``if (a) {..} else`` ``#ifdef X`` ``if (b) {..} else`` ``#endif`` toggles
# an ``else if``; ``#ifdef X`` ``else {..}`` ``#endif`` toggles an else)
# the keyword ``else``, not the word of an ``#else`` (or ``# else``) directive
_ELSE_WORD = rb"(?<![\w#])(?<!\#[ \t])(?<!\#[ \t][ \t])else\b"
_ELSE_NEAR = re.compile(
    rb"(?:" + _CONDITIONAL + _REST + _GAP + rb"else\b)"
    rb"|(?:" + _ELSE_WORD + _GAP + rb"\n" + _CONDITIONAL + rb")",
    re.MULTILINE,
)  # fmt: skip


@dataclass(frozen=True)
class PPGroup:
    """One ``#if``...``#endif`` whose directive lines were blanked: the byte range of each
    branch, and whether it has an ``#else`` (else some configuration skips every branch)."""

    branches: tuple[tuple[int, int], ...]
    has_else: bool


@dataclass(frozen=True)
class Repair:
    """The text to parse instead (same length as the original), the blanked byte spans
    and the blanked conditionals; for a header without a return type (``max(a, b)``,
    ``static cmp(a, b)``: implicit ``int``), where the caller inserts ``int ``."""

    data: bytes
    spans: tuple[tuple[int, int], ...]
    groups: tuple[PPGroup, ...]
    implicit_int: int = -1  # offset of a header's name that has no type (K&R implicit int)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: bytes
    start: int
    end: int
    depth: int  # parenthesis/bracket depth before the token


def suspect(data: bytes) -> bool:
    """Cheap test: does a conditional directive line come right before or after an
    ``else``?  (tree-sitter may parse that without error: ``else x = 2;`` reads as a
    declaration.)"""
    return b"#" in data and b"else" in data and _ELSE_NEAR.search(data) is not None


def plan(data: bytes) -> Repair | None:
    """Blank what keeps the first definition in ``data`` from parsing; None if nothing."""
    subs = _syscall_header(data)
    if subs:
        buf = bytearray(data)
        for at, text in subs:
            buf[at : at + len(text)] = text
        data = bytes(buf)
    head = _header(data)
    if head is None:
        return None
    toks, brace = head
    spans, implicit, kr = _header_spans(toks)
    groups, pp_spans = _split_else(data, brace, kr)
    spans += pp_spans
    if not spans and implicit < 0 and not subs:
        return None
    out = bytearray(data)
    for a, b in spans:
        out[a:b] = re.sub(rb"[^\n]", b" ", data[a:b])
    edits = [*spans, *((at, at + len(text)) for at, text in subs)]
    return Repair(bytes(out), tuple(edits), tuple(groups), implicit)


_SYSCALL = re.compile(rb"(?:COMPAT_)?SYSCALL(?:32)?_DEFINE[1-6]")


def _syscall_header(data: bytes) -> list[tuple[int, bytes]]:
    """``SYSCALL_DEFINE2(name, T1, a1, T2, a2)`` (Linux's whole-header macro) rewritten in
    place, same length, to ``name( T1  a1, T2  a2)``: the macro and its ``(`` blanked, the
    comma after the name turned into ``(``, the type-name commas blanked.  Returns the
    substitutions ``(offset, bytes)``; none for any other header.  (The result has no
    return type: it is then read as implicit ``int``.)"""
    if b"_DEFINE" not in data:
        return []
    head = _header(data)
    if head is None:
        return []
    toks = head[0]
    k = next((i for i, t in enumerate(toks) if t.kind == "id" and t.depth == 0), -1)
    if k < 0 or k + 1 >= len(toks) or toks[k + 1].text != b"(":
        return []
    if not _SYSCALL.fullmatch(toks[k].text):
        return []
    commas = []
    for t in toks[k + 2 :]:
        if t.depth == 0:
            break
        if t.text == b"," and t.depth == 1:
            commas.append(t)
    if len(commas) < 2 or len(commas) % 2:
        return []
    subs = [(toks[k].start, b" " * (toks[k].end - toks[k].start)), (toks[k + 1].start, b" ")]
    subs.append((commas[0].start, b"("))
    subs += [(c.start, b" ") for c in commas[1::2]]
    return subs


def _header(data: bytes) -> tuple[list[_Tok], int] | None:
    """Tokens before the first top-level ``{`` and that brace's offset; None when the text
    does not start like a function definition (an ``=`` or ``}`` comes first)."""
    toks: list[_Tok] = []
    depth = 0
    for m in _TOKEN.finditer(data, 0, _HEADER_MAX):
        kind = m.lastgroup or "p"
        if kind in ("c", "pp"):
            continue
        text = m.group()
        if kind == "p":
            if text == b"{" and depth == 0:
                return toks, m.start()
            if depth == 0 and text in (b"=", b"}"):
                return None
        toks.append(_Tok(kind, text, m.start(), m.end(), depth))
        if text in (b"(", b"["):
            depth += 1
        elif text in (b")", b"]"):
            depth = max(0, depth - 1)
    return None


def _groups(seg: list[_Tok]) -> list[tuple[int, int]]:
    """``name ( ... )`` at depth 0 in ``seg``: (index of name, index of the closing paren)."""
    out = []
    i = 0
    while i + 1 < len(seg):
        t = seg[i]
        if t.kind == "id" and t.depth == 0 and seg[i + 1].text == b"(":
            j = i + 2
            while j < len(seg) and not (seg[j].text == b")" and seg[j].depth == 1):
                j += 1
            if j == len(seg):
                break
            out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out


def _header_spans(toks: list[_Tok]) -> tuple[list[tuple[int, int]], int, int]:
    """Byte spans of the attribute macros (and K&R return-type stars) in a header.

    The declarator is the last ``name(...)`` before the first top-level ``;`` (K&R
    declarations follow it) whose parentheses read as a parameter list (a type word,
    ``*``, ``...``, two names in a row, or nothing); with none such, the last
    ``name(...)``.  Every other ``M(...)`` is an attribute macro, before the name
    (``FMT_CHECK(2, 3) int f(..)``) or after the list (``f(..) __releases(lock)``).
    Bare identifiers before the name are macros when they follow a ``*`` or when the
    specifiers already hold a type keyword or tag (``static __must_check int``);
    with two bare type-like names and no keyword the type is unknown and both stay.
    Inside the list, the sparse annotations of :data:`_ANNOTATIONS` are blanked.
    Also returns the name's offset when nothing but storage-class words and ``*``
    precede it (implicit ``int``), else -1; and the end of the parameter list when K&R
    declarations follow it, else -1.
    """
    semi = next((i for i, t in enumerate(toks) if t.text == b";" and t.depth == 0), len(toks))
    seg = toks[:semi]
    groups = [g for g in _groups(seg) if seg[g[0]].text not in _PAREN_KEYWORDS]
    if not groups:
        return [], -1, -1
    listish = [g for g in groups if _parameter_like(seg[g[0] + 2 : g[1]])]
    name, close = (listish or groups)[-1]
    spans = [(seg[a].start, seg[b].end) for a, b in groups if a != name]
    macro_toks = {k for a, b in groups if a != name for k in range(a, b + 1)}
    before = [i for i in range(name) if i not in macro_toks and seg[i].depth == 0]
    spans += _bare_macros(seg, before)
    spans += [(t.start, t.end) for t in seg[name + 2 : close] if t.text in _ANNOTATIONS]
    if semi < len(toks) and _old_style_list(seg[name + 2 : close]):
        spans += [(seg[i].start, seg[i].end) for i in before if seg[i].text == b"*"]
    typeless = all(seg[i].text in _SPECIFIER_KEYWORDS or seg[i].text == b"*" for i in before)
    shaped = bool(listish) or _old_style_list(seg[name + 2 : close])
    kr = seg[close].end if semi < len(toks) else -1
    return spans, (seg[name].start if typeless and shaped else -1), kr


def _parameter_like(inner: list[_Tok]) -> bool:
    """Could ``inner`` (the tokens inside ``name( )``) be a parameter list rather than a
    macro's arguments (``2, 3``, ``lock``, ``ob->lock``)?"""
    if not inner:
        return True
    prev_id = False
    for t in inner:
        if t.text in _TYPE_KEYWORDS or t.text in _TAGS or t.text in (b"*", b"."):
            return True
        is_id = t.kind == "id"
        if is_id and prev_id:
            return True
        prev_id = is_id
    return False


def _bare_macros(seg: list[_Tok], before: list[int]) -> list[tuple[int, int]]:
    """Identifiers among the specifiers that cannot be the type (see :func:`_header_spans`)."""
    star = next((k for k, i in enumerate(before) if seg[i].text == b"*"), len(before))
    names: list[tuple[int, _Tok]] = []
    has_type = False
    for k, i in enumerate(before):
        t = seg[i]
        if t.kind != "id" or t.text in _SPECIFIER_KEYWORDS or t.text in _PAREN_KEYWORDS:
            continue
        if t.text in _TYPE_KEYWORDS or t.text in _TAGS:
            has_type = True
        elif not (k > 0 and seg[before[k - 1]].text in _TAGS):  # not a tag's own name
            names.append((k, t))
    macros = [t for k, t in names if k > star]
    if has_type:
        macros += [t for k, t in names if k < star]
    return [(t.start, t.end) for t in macros]


def _old_style_list(inner: list[_Tok]) -> bool:
    """``a, b, c``: a K&R identifier list (not empty)."""
    if not inner:
        return False
    return (
        all((t.kind == "id") if k % 2 == 0 else (t.text == b",") for k, t in enumerate(inner))
        and len(inner) % 2 == 1
    )


def _split_else(
    data: bytes, brace: int, kr: int = -1
) -> tuple[list[PPGroup], list[tuple[int, int]]]:
    """Conditionals in the body with a directive line right before or after an ``else``,
    and conditionals among K&R parameter declarations (from ``kr`` to the body's
    ``brace``; ``#ifdef W`` ``long c;`` ``#else`` ``int c;`` ``#endif``): their directive
    lines (spans) and their branches."""
    start = brace if kr < 0 else kr
    if data.find(b"#", start) < 0:
        return [], []
    # (directive, start, end incl. continuations); a directive inside a comment is read too
    lines = [(m.group(1), m.start(), m.end()) for m in _DIRECTIVE.finditer(data, start)]
    groups, spans = [], []
    for group in _nest(lines):
        in_header = group[-1][2] <= brace
        if in_header or any(_else_follows(data, e) or _else_before(data, a) for _, a, e in group):
            spans += [(a, b) for _, a, b in group]
            bounds = [b for _, _, b in group[:-1]]
            starts = [a for _, a, _ in group[1:]]
            has_else = any(d == b"else" for d, _, _ in group)
            groups.append(PPGroup(tuple(zip(bounds, starts, strict=True)), has_else))
    return groups, spans


def _nest(lines: list[tuple[bytes, int, int]]) -> list[list[tuple[bytes, int, int]]]:
    """Directive lines grouped by conditional (#if, #elif.., #else, #endif), complete ones."""
    stack: list[list[tuple[bytes, int, int]]] = []
    done = []
    for line in lines:
        d = line[0]
        if d.startswith(b"if"):
            stack.append([line])
        elif stack:
            stack[-1].append(line)
            if d == b"endif":
                done.append(stack.pop())
    return done


def _else_follows(data: bytes, end: int) -> bool:
    """The next token after a directive line is the keyword ``else``."""
    m = _TOKEN.search(data, end)
    while m is not None and m.lastgroup in ("c", "pp"):
        m = _TOKEN.search(data, m.end())
    return m is not None and m.group() == b"else"


def _else_before(data: bytes, start: int) -> bool:
    """The token before a directive line (comments skipped) is the keyword ``else``."""
    m = _ELSE_TAIL.search(data, max(0, start - 512), start)
    return m is not None


# ``else`` then only whitespace/comments up to the end of the searched window
_ELSE_TAIL = re.compile(_ELSE_WORD + _GAP + rb"\Z")
