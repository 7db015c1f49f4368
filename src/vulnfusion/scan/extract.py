"""Read one C file and cut out every function definition, with exact positions.

Parsing uses the package's tree-sitter-c parser (:mod:`vulnfusion.graphs.parser`), on the
file's text as it is on disk (CRLF kept), so line and column numbers are those an editor
shows. The text handed to the model is the function's slice through
:func:`vulnfusion.data.text.normalize_code` (CRLF → LF), as the served model does per row.

Found: top-level definitions, those inside ``#if``/``#ifdef``/``#else`` blocks and
``extern "C"`` blocks, static/inline ones, K&R parameter lists, and macro-wrapped signatures
such as ``SYSCALL_DEFINE3(read, …) { … }`` — tree-sitter reads these as an expression
statement missing its ``;`` followed by a bare block, which this module joins back into one
function named after the macro and its first argument.

Code tree-sitter cannot parse is never dropped without a word: a function with syntax errors
is still extracted (as tree-sitter recovered it) and carries a ``problem``; a function whose
``{`` is never closed ends before the next definition instead of swallowing the rest of the
file; and code outside any function that does not parse is returned as an unparsed region.
``scan`` turns both into notifications.

Positions are 1-based; ``end_col`` is exclusive (the column just after the closing brace), as
SARIF regions are. Columns count Unicode code points (SARIF ``columnKind``
``unicodeCodePoints``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vulnfusion.data.text import normalize_code
from vulnfusion.graphs.parser import lang_for_process
from vulnfusion.scan.recovery import (
    first_error,
    first_specifier,
    glued_head,
    is_flattened_head,
    kr_head,
    matching_brace,
    nested_definitions,
    trim,
)

DEFAULT_MAX_FILE_BYTES = 4_000_000  # larger files are generated tables, not hand-written code
BINARY_PROBE_BYTES = 8192  # as git: a NUL byte in the first 8 KiB means binary

# node kinds whose children can hold function definitions (preprocessor blocks, extern "C")
_CONTAINERS = frozenset(
    {
        "translation_unit",
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
        "linkage_specification",
        "declaration_list",
        "ERROR",  # recovery may wrap whole definitions in an ERROR node
    }
)
_DECLARATOR_WRAPPERS = frozenset(
    {
        "array_declarator",
        "function_declarator",
        "pointer_declarator",
        "parenthesized_declarator",
        "attributed_declarator",
    }
)


@dataclass(frozen=True)
class Function:
    """One function definition of a file.

    ``text`` is the normalised source (LF line endings) scored by the model; the positions
    refer to the file as it is on disk.
    """

    name: str
    start_line: int
    start_col: int
    end_line: int
    end_col: int
    text: str
    # per line of ``text``: file lines before it (a lone CR ends a line of ``text`` only)
    line_offsets: tuple[int, ...] = ()
    # why its text may not be what the author wrote: syntax errors, or no closing brace
    problem: str | None = None


@dataclass(frozen=True)
class Extraction:
    """What one file holds: its functions, and the code outside them that does not parse
    (``unparsed``: 1-based inclusive ``(first_line, last_line)`` ranges, in file order)."""

    functions: list[Function]
    unparsed: list[tuple[int, int]]


@dataclass(frozen=True)
class SourceFile:
    """A decoded file: its text and, when UTF-8 decoding failed, the fallback that was used."""

    text: str
    encoding: str  # "utf-8" or "latin-1"


class FileSkip(Exception):  # a control-flow signal inside scan, never shown as an error
    """The file is not scanned: ``reason`` is a short key, ``str()`` the human line."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def read_source(path: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> SourceFile:
    """The decoded text of ``path``.

    UTF-8 first (a leading BOM dropped); a file that is not valid UTF-8 is decoded as
    Latin-1, which cannot fail, and says so through ``encoding``.

    Raises:
        FileSkip: ``too-large`` above ``max_bytes``, ``empty`` for a 0-byte file,
            ``binary`` when a NUL byte is in the first 8 KiB, ``unreadable`` on an OS error.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FileSkip(
                "too-large", f"{size:,} bytes, above the size cap of {max_bytes:,} bytes"
            )
        if size == 0:
            raise FileSkip("empty", "empty file")
        data = path.read_bytes()
    except OSError as exc:
        raise FileSkip("unreadable", f"cannot read: {exc.strerror or exc}") from None
    if b"\x00" in data[:BINARY_PROBE_BYTES]:
        raise FileSkip("binary", "binary content (NUL byte), not C source")
    try:
        return SourceFile(data.decode("utf-8-sig"), "utf-8")
    except UnicodeDecodeError:
        return SourceFile(data.decode("latin-1"), "latin-1")


def extract_functions(text: str) -> list[Function]:
    """Every function definition of the C source ``text``, in file order.

    Args:
        text: the whole file, as decoded (line endings as on disk).

    Returns:
        ``Function`` records; a file with syntax errors still yields the definitions
        tree-sitter recovers (it never raises on bad C), each flagged by ``problem``.
    """
    return extract(text).functions


def extract(text: str) -> Extraction:
    """The functions of ``text`` (see :func:`extract_functions`) and its unparsed regions:
    the ``ERROR`` nodes of tree-sitter's recovery outside every extracted function."""
    data = text.encode("utf-8")
    tree = lang_for_process().parser.parse(data)
    lines = _LineIndex(data)
    out = []
    errors: list[tuple[int, int]] = []
    spans = list(_definitions(tree.root_node, data, errors))
    for d in spans:
        (sl, sc), (el, ec) = lines.position(d.start), lines.position(d.end)
        raw = data[d.start : d.end].decode("utf-8")
        body = normalize_code(raw)
        problem = _problem_text(d, lines)
        offsets = tuple(file_line_offsets(raw))
        out.append(Function(d.name, sl, sc, el, ec, body, offsets, problem))
    unparsed: list[tuple[int, int]] = []
    for start, end in errors:
        end = start + len(data[start:end].rstrip())
        if end <= start or any(d.start < end and start < d.end for d in spans):
            continue  # blank, or inside an extracted function (noted with it)
        first, last = lines.position(start)[0], lines.position(end - 1)[0]
        if unparsed and unparsed[-1][1] >= first:  # nested ERROR nodes: one region
            first = unparsed[-1][0]
            last = max(last, unparsed.pop()[1])
        unparsed.append((first, last))
    return Extraction(out, unparsed)


@dataclass(frozen=True)
class _Span:
    """A definition's bytes, name, and what went wrong parsing it."""

    start: int
    end: int
    name: str
    error_at: int | None = None  # first byte of its first syntax error
    unclosed: bool = False
    after_unterminated: int | None = None  # a declaration with no ';' before it starts here
    glued_unnamed: bool = False  # a declaration with no ';' read with what follows it


def _problem_text(d: _Span, lines: _LineIndex) -> str | None:
    if d.after_unterminated is not None:
        line = lines.position(d.after_unterminated)[0]
        return f"follows a declaration that lacks its ';' (line {line}): read without it"
    if d.glued_unnamed:
        return "is a declaration missing its ';' read together with what follows: not a function"
    if d.unclosed:
        return "is not closed (no '}' matches its '{'): read up to the next definition"
    if d.error_at is not None:
        return f"has a syntax error at line {lines.position(d.error_at)[0]}: read as recovered"
    return None


def file_line_offsets(text: str) -> list[int]:
    """For each line of the model's view of ``text`` (``data.text.normalize_code``: CRLF and
    a lone CR both end a line), how many file lines (ended by LF only, as tree-sitter and
    SARIF's default ``newlineSequences`` count) lie before it: index ``i`` → offset of
    normalised line ``i + 1``. A lone CR ends a line for the model but not in the file."""
    offsets, line, i = [0], 0, 0
    while i < len(text):
        c = text[i]
        if c == "\r" and text[i + 1 : i + 2] == "\n":
            i += 1  # CRLF: one break in both
            line += 1
            offsets.append(line)
        elif c == "\r":  # lone CR: a break for the model only
            offsets.append(line)
        elif c == "\n":
            line += 1
            offsets.append(line)
        i += 1
    return offsets


def _definitions(node: Any, data: bytes, errors: list[tuple[int, int]]) -> Iterator[_Span]:
    """One :class:`_Span` per definition under ``node``, in file order; ``ERROR`` nodes met
    on the way are appended to ``errors`` as byte ranges."""
    children = node.children
    resume = -1  # children inside a recovered function (below) are its body, not definitions
    for i, child in enumerate(children):
        kind = child.type
        if child.start_byte < resume:
            continue
        if kind == "function_definition":
            yield from _function(child, data, errors)
        elif (  # not inside ERROR: there a bare block is more often a statement of a body
            kind == "compound_statement"
            and i > 0
            and node.type != "ERROR"
            and _is_macro_head(children[i - 1])
        ):
            head = children[i - 1]
            yield _Span(head.start_byte, child.end_byte, _macro_name(head, data),
                        first_error(child))  # fmt: skip
        elif kind == "compound_statement" and node.type != "ERROR":
            head = kr_head(children, i)
            if head is None:  # a block outside every function is not C: say so
                errors.append((child.start_byte, child.end_byte))
            else:
                at, namer = head  # a declarator or a bare identifier: both name it
                yield _Span(children[at].start_byte, child.end_byte, _declarator_name(namer, data))
        elif is_flattened_head(children, i):
            start = children[first_specifier(children, i)].start_byte
            end = matching_brace(data, children[i + 1].start_byte)
            unclosed = end is None
            if end is None:  # never closed: up to the next definition, or the node's end
                later = [c for c in children[i + 2 :] if c.type == "function_definition"]
                end = trim(data, start, later[0].start_byte if later else node.end_byte)
            resume = end
            yield _Span(start, end, _declarator_name(child, data), start, unclosed)
        elif kind in _CONTAINERS:
            if kind == "ERROR":
                errors.append((child.start_byte, child.end_byte))
            yield from _definitions(child, data, errors)


def _function(node: Any, data: bytes, errors: list[tuple[int, int]]) -> Iterator[_Span]:
    """A ``function_definition`` node's span; when its body never closes (tree-sitter put a
    MISSING ``}`` at its end) and definitions follow inside it, it ends before the first of
    them and they are definitions of their own: C has no nested functions, so they are what
    the missing brace swallowed (GNU C's nested functions live in closed bodies)."""
    name = _name(node, data)
    glued = glued_head(node, data)
    first = glued[0] if glued is not None else None
    if glued is not None and first is not None:  # `int proto(void)`, no ';', a definition
        call = glued[1]
        name = _text(call.child_by_field_name("function"), data)
        yield _Span(first.start_byte, node.end_byte, name, first_error(node),
                    after_unterminated=node.start_byte)  # fmt: skip
        return
    if glued is not None:  # `int proto(void)`, no ';', then a struct: not a function body
        yield _Span(node.start_byte, node.end_byte, name, node.start_byte, glued_unnamed=True)
        return
    body = node.child_by_field_name("body")
    closing = body.children[-1] if body is not None and body.children else None
    if closing is None or not closing.is_missing:
        yield _Span(node.start_byte, node.end_byte, name, first_error(node))
        return
    inner = nested_definitions(body)
    end = trim(data, node.start_byte, inner[0].start_byte if inner else node.end_byte)
    yield _Span(node.start_byte, end, name, node.start_byte, unclosed=True)
    for n in inner:
        yield from _function(n, data, errors)


def _is_macro_head(node: Any) -> bool:
    """``MACRO(args)`` with no ``;``: how tree-sitter reads a macro-wrapped signature."""
    if node.type != "expression_statement" or node.named_child_count != 1:
        return False
    last = node.children[-1]
    return node.named_children[0].type == "call_expression" and last.is_missing


def _macro_name(head: Any, data: bytes) -> str:
    """``SYSCALL_DEFINE3(read, …)``: the innermost macro and its first argument."""
    call = head.named_children[0]
    while call.child_by_field_name("function").type == "call_expression":
        call = call.child_by_field_name("function")
    macro = _text(call.child_by_field_name("function"), data)
    args = call.child_by_field_name("arguments").named_children
    if not args:
        return f"{macro}()"
    more = ", …" if len(args) > 1 else ""
    return f"{macro}({_text(args[0], data)}{more})"


def _name(definition: Any, data: bytes) -> str:
    """The declared name of a ``function_definition`` node."""
    return _declarator_name(definition.child_by_field_name("declarator"), data)


def _declarator_name(node: Any, data: bytes) -> str:
    """Through pointer/parenthesised/attributed declarators to the identifier."""
    while node is not None and node.type in _DECLARATOR_WRAPPERS:
        node = node.child_by_field_name("declarator") or (
            node.named_children[0] if node.named_children else None
        )
    if node is not None and node.type in ("identifier", "field_identifier"):
        return _text(node, data)
    return "<unnamed>"


def _text(node: Any, data: bytes) -> str:
    return " ".join(data[node.start_byte : node.end_byte].decode("utf-8", "replace").split())


class _LineIndex:
    """Maps a byte offset to a 1-based (line, code-point column)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.starts = [0]
        pos = data.find(b"\n")
        while pos != -1:
            self.starts.append(pos + 1)
            pos = data.find(b"\n", pos + 1)

    def position(self, offset: int) -> tuple[int, int]:
        row = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[row]
        chars = len(self.data[start:offset].decode("utf-8", "replace"))
        return row + 1, chars + 1
