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

Positions are 1-based; ``end_col`` is exclusive (the column just after the closing brace), as
SARIF regions are. Columns count Unicode code points (SARIF ``columnKind``
``unicodeCodePoints``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vulnfusion.data.text import normalize_code
from vulnfusion.graphs.parser import lang_for_process

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
    }
)
_DECLARATOR_WRAPPERS = frozenset(
    {
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
        tree-sitter recovers (it never raises on bad C).
    """
    data = text.encode("utf-8")
    tree = lang_for_process().parser.parse(data)
    lines = _LineIndex(data)
    out = []
    for start, end, name in _definitions(tree.root_node, data):
        (sl, sc), (el, ec) = lines.position(*start), lines.position(*end)
        body = normalize_code(data[start[2] : end[2]].decode("utf-8"))
        out.append(Function(name, sl, sc, el, ec, body))
    return out


def _definitions(node: Any, data: bytes) -> Iterator[tuple[tuple, tuple, str]]:
    """``((row, byte_col, byte), (row, byte_col, byte), name)`` per definition under ``node``."""
    children = node.children
    for i, child in enumerate(children):
        kind = child.type
        if kind == "function_definition":
            yield _span_start(child), _span_end(child), _name(child, data)
        elif kind == "compound_statement" and i > 0:
            head = children[i - 1]
            if _is_macro_head(head):
                yield _span_start(head), _span_end(child), _macro_name(head, data)
        elif kind in _CONTAINERS:
            yield from _definitions(child, data)


def _span_start(node: Any) -> tuple[int, int, int]:
    return node.start_point[0], node.start_point[1], node.start_byte


def _span_end(node: Any) -> tuple[int, int, int]:
    return node.end_point[0], node.end_point[1], node.end_byte


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
    """The declared name: through pointer/parenthesised/attributed declarators to the identifier."""
    node = definition.child_by_field_name("declarator")
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
    """Maps tree-sitter's (row, byte column) to 1-based (line, code-point column)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.starts = [0]
        pos = data.find(b"\n")
        while pos != -1:
            self.starts.append(pos + 1)
            pos = data.find(b"\n", pos + 1)

    def position(self, row: int, byte_col: int, _: int = 0) -> tuple[int, int]:
        start = self.starts[row]
        chars = len(self.data[start : start + byte_col].decode("utf-8", "replace"))
        return row + 1, chars + 1
