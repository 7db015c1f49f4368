"""What a code graph is made of: edge types, the :class:`CodeGraph` container, the
tree-sitter node kinds the passes treat specially, and the program-point markers they share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EDGE_TYPES: tuple[str, ...] = ("ast", "next_token", "cfg", "dfg")
NEXT = EDGE_TYPES.index("next_token")

TOKEN_MAX = 32
# cfg/dfg are skipped beyond this tree depth of statements: pass 2 recurses (<= 3 Python
# frames per level, so 200 stays clear of the default limit of 1000; Devign's max is 155).
DEPTH_LIMIT = 200
ENTRY = -2  # program point of the parameters (before the first statement)

STATEMENTS = frozenset(
    {
        "declaration", "expression_statement", "return_statement", "if_statement",
        "while_statement", "for_statement", "do_statement", "switch_statement",
        "case_statement", "break_statement", "continue_statement", "goto_statement",
        "labeled_statement",
    }
)  # fmt: skip
TRANSPARENT = frozenset(
    {
        "compound_statement", "else_clause", "ERROR", "attributed_statement", "preproc_if",
        "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef",
    }
)  # fmt: skip
# dropped anonymous leaves: pure punctuation, plus the end of a preprocessor line
PUNCT = frozenset({";", ",", "(", ")", "{", "}", "[", "]", ":", "[[", "]]", "\n"})
LITERALS = frozenset({"string_literal", "char_literal", "number_literal"})
# a declarator wraps the declared name in these, each keeping it in its ``declarator`` field
# (``*p``, ``a[4]``, ``(*fp)(int)``, ``x = 1``), up to the declaration that owns it
DECLARATOR_WRAPPERS = frozenset(
    {
        "pointer_declarator", "array_declarator", "parenthesized_declarator",
        "attributed_declarator", "init_declarator", "function_declarator",
    }
)  # fmt: skip
DECLARATION_OWNERS = frozenset({"declaration", "parameter_declaration"})
COMPOUND_ASSIGN = frozenset({"+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="})


@dataclass(frozen=True)
class CodeGraph:
    """One function as a graph; see the :mod:`vulnfusion.graphs` docstring for the contract."""

    node_type: list[str]
    node_token: list[str]
    src: np.ndarray
    dst: np.ndarray
    etype: np.ndarray
    has_error: bool
    truncated: bool
    fallback: bool
    # the tokens in vocabulary form (``vocab.vocab_tokens``), when the builder computed them
    # (``build_graph`` does: in featurize's workers, not in the process that encodes)
    vocab_tokens: list[str] | None = field(default=None, compare=False, repr=False)

    @property
    def num_nodes(self) -> int:
        return len(self.node_type)

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])


def clip(text: str) -> str:
    """Clip a token to 32 chars, keeping a '%' so format strings stay recognisable."""
    if len(text) <= TOKEN_MAX:
        return text
    head = text[:TOKEN_MAX]
    if "%" in text and "%" not in head:
        head = head[: TOKEN_MAX - 1] + "%"
    return head
