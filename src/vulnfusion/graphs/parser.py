"""The tree-sitter-c parser, created lazily once per process, and per-kind lookup tables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from vulnfusion.graphs.schema import (
    COMPOUND_ASSIGN,
    LITERALS,
    PUNCT,
    STATEMENTS,
    TRANSPARENT,
)

# Pass-1 actions per node kind.  Order matters: <= A_CASSIGN are anonymous leaves,
# >= A_NAMED may have children, > A_NAMED need statement bookkeeping.
A_SKIP, A_ANON, A_CASSIGN, A_LIT, A_IDENT, A_NAMED, A_CONT, A_STMT, A_FOR = range(9)


@dataclass
class Lang:
    """Parser plus per-kind lookup tables, built lazily once per process."""

    parser: Any
    pid: int
    info: list[tuple[int, str]]  # kind id (all 2**16) -> (action, type name)
    f_declarator: int
    f_left: int
    f_init: int
    f_update: int


_LANG: Lang | None = None


def _kind_action(name: str, named: bool) -> int:
    """What pass 1 does with nodes of one kind (see the ``A_*`` constants)."""
    if not named:
        if name in PUNCT:
            return A_SKIP
        return A_CASSIGN if name in COMPOUND_ASSIGN else A_ANON
    if name == "comment":
        return A_SKIP
    if name in LITERALS:
        return A_LIT
    if name == "identifier":
        return A_IDENT
    if name == "for_statement":
        return A_FOR
    if name in STATEMENTS:
        return A_STMT
    return A_CONT if name in TRANSPARENT else A_NAMED


def _make_lang() -> Lang:
    # imported here so that importing this module costs nothing and loads no parser
    import tree_sitter
    import tree_sitter_c

    lang = tree_sitter.Language(tree_sitter_c.language())
    # a full 2**16 table: list indexing is the cheapest lookup, and any id (the builtin
    # ERROR symbol is 0xFFFF) maps to something, so the walk cannot raise
    info: list[tuple[int, str]] = [(A_CONT, "ERROR")] * 0x10000
    for kid in range(lang.node_kind_count):
        name = lang.node_kind_for_id(kid) or ""
        info[kid] = (_kind_action(name, lang.node_kind_is_named(kid)), name)

    def fid(name: str) -> int:
        return int(lang.field_id_for_name(name) or -1)

    return Lang(
        parser=tree_sitter.Parser(lang),
        pid=os.getpid(),
        info=info,
        f_declarator=fid("declarator"),
        f_left=fid("left"),
        f_init=fid("initializer"),
        f_update=fid("update"),
    )


def lang_for_process() -> Lang:
    """Parser for this process (recreated after a fork: parsers are not shared)."""
    global _LANG
    if _LANG is None or _LANG.pid != os.getpid():
        _LANG = _make_lang()
    return _LANG
