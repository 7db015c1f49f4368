"""The graph of last resort: a regex lexer's token chain, for text with no function shape."""

from __future__ import annotations

import re

import numpy as np

from vulnfusion.graphs.schema import NEXT, PUNCT, CodeGraph, clip

_LEXER = re.compile(
    r"""(?P<pp>\#[ \t]*(?:define|undef|include|ifdef|ifndef|if|elif|else|endif|pragma|error)\b)
      | (?P<id>[A-Za-z_]\w*)
      | (?P<num>\.?\d(?:[eEpP][+-]|[\w.])*)
      | (?P<str>"(?:\\.|[^"\\\n])*"?)
      | (?P<chr>'(?:\\.|[^'\\\n])*'?)
      | (?P<op>->|\+\+|--|<<=|>>=|\.\.\.|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\#\#|[^\s\w])""",
    re.VERBOSE | re.ASCII,
)
_C_KEYWORDS = frozenset(
    {
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
        "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
        "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
        "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    }
)  # fmt: skip
_LEX_TYPES = {"num": "number_literal", "str": "string_literal", "chr": "char_literal"}


def _lex_node(kind: str, text: str) -> tuple[str, str] | None:
    """(node type, token) of one fallback token, None for dropped punctuation."""
    if kind == "pp":  # tree-sitter's own type for directives, e.g. "#define"
        directive = "#" + text[1:].strip()
        return directive, directive
    if kind == "id":
        return (text if text in _C_KEYWORDS else "identifier"), clip(text)
    if kind == "op":
        if text in PUNCT:
            return None
        return (text if text.isascii() and text.isprintable() else "ERROR"), text
    return _LEX_TYPES[kind], clip(text)


def fallback_graph(text: str, max_nodes: int, has_error: bool, truncated: bool) -> CodeGraph:
    """Token chain from a regex lexer: the graph of last resort (never empty)."""
    types: list[str] = []
    toks: list[str] = []
    for m in _LEXER.finditer(text):
        nt = _lex_node(m.lastgroup or "op", m.group())
        if nt is None:
            continue
        if len(types) == max_nodes:
            truncated = True
            break
        types.append(nt[0])
        toks.append(nt[1])
    if not types:
        types, toks = ["<empty>"], [""]
    chain = np.arange(len(types) - 1, dtype=np.int32)
    return CodeGraph(
        node_type=types,
        node_token=toks,
        src=chain,
        dst=chain + 1,
        etype=np.full(chain.shape[0], NEXT, dtype=np.int8),
        has_error=has_error,
        truncated=truncated,
        fallback=True,
    )
