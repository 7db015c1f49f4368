"""The node vocabulary: node types and normalised leaf tokens, built on the train split."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from vulnfusion.errors import VulnfusionError
from vulnfusion.graphs.schema import CodeGraph

_KEEP_INTS = frozenset({*range(-1, 17), *(2**k for k in range(5, 17)), 255, 65535})
_INT_SUFFIX = re.compile(r"[uUlLzZ]+$")
_OCTAL = re.compile(r"-?0[0-7]+")
_NORMALISED = frozenset({"number_literal", "string_literal", "system_lib_string", "char_literal"})


def _norm_number(tok: str) -> str:
    """Small / power-of-two integers stay (as decimal), everything else is ``<num>``."""
    body = _INT_SUFFIX.sub("", tok.replace("'", ""))
    if len(body) > 24:  # far beyond any kept value; also keeps int() cheap
        return "<num>"
    try:
        value = int(body, 8) if _OCTAL.fullmatch(body) else int(body, 0)  # C octal: 010 == 8
    except ValueError:  # floats, hex floats, malformed literals
        return "<num>"
    return str(value) if value in _KEEP_INTS else "<num>"


def normalize_token(node_type: str, token: str) -> str:
    """Vocabulary form of a leaf token: literals are abstracted, the rest kept raw.

    ``""`` (an internal node, or a zero-width ``MISSING`` literal) stays ``""`` and encodes
    to ``<none>``.
    """
    if not token:
        return ""
    if node_type == "number_literal":
        return _norm_number(token)
    if node_type == "string_literal" or node_type == "system_lib_string":
        return "<fmtstr>" if "%" in token else "<str>"
    if node_type == "char_literal":
        return "<chr>"
    return token


@functools.lru_cache(maxsize=1 << 16)
def _normalized_literal(node_type: str, token: str) -> str:
    return normalize_token(node_type, token)


def vocab_tokens(g: CodeGraph) -> list[str]:
    """(N,) the graph's tokens in vocabulary form (:func:`normalize_token`; ``""`` for internal
    nodes): ``g.vocab_tokens`` when the builder computed them, else computed here."""
    if g.vocab_tokens is not None:
        return g.vocab_tokens
    return normalized_tokens(g.node_type, g.node_token)


def normalized_tokens(node_type: Sequence[str], node_token: Sequence[str]) -> list[str]:
    """:func:`normalize_token` per node (only literals change; repeated literals, ``0``,
    ``1``, ``"%s"``…, are normalised once per process: :func:`_normalized_literal`)."""
    out = list(node_token)
    for i, t in enumerate(node_type):
        if t in _NORMALISED:
            out[i] = _normalized_literal(t, out[i])
    return out


class GraphVocabError(VulnfusionError, ValueError):
    """``graph_vocab.json`` is not a serialised :class:`GraphVocab` (one line)."""


class GraphVocab:
    """Node-type and token vocabularies, built deterministically on the train split.

    Types: ``<pad>``, ``<unk>``, then every type seen, by (-count, type).
    Tokens: ``<pad>``, ``<unk>``, ``<none>`` (internal nodes), then the normalised
    leaf tokens (:func:`normalize_token`) with count >= ``min_token_freq``, by
    (-count, token), at most ``max_tokens`` of them (specials not counted).
    Ties are broken by the string itself, never by ``hash()``, so the same graphs
    give byte-identical JSON in any process.
    """

    PAD, UNK, NONE = 0, 1, 2
    TYPE_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>")
    TOKEN_SPECIALS: tuple[str, ...] = ("<pad>", "<unk>", "<none>")
    _FORMAT = "vulnfusion.graph_vocab"

    def __init__(self, types: Sequence[str], tokens: Sequence[str]) -> None:
        if tuple(types[:2]) != self.TYPE_SPECIALS or tuple(tokens[:3]) != self.TOKEN_SPECIALS:
            raise ValueError("vocabulary tables must start with their special entries")
        if len(set(types)) != len(types) or len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tables must not contain duplicates")
        self.types: tuple[str, ...] = tuple(types)
        self.tokens: tuple[str, ...] = tuple(tokens)
        self._type_id = {t: i for i, t in enumerate(self.types)}
        self._tok_id = {t: i for i, t in enumerate(self.tokens)}
        self._tok_id[""] = self.NONE

    @property
    def num_types(self) -> int:
        return len(self.types)

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(
        cls, graphs: Iterable[CodeGraph], min_token_freq: int = 2, max_tokens: int = 20000
    ) -> GraphVocab:
        """Count node types and normalised leaf tokens over ``graphs`` (the train split)."""
        counts = VocabCounts()
        for g in graphs:
            counts.add(g)
        return counts.vocab(min_token_freq, max_tokens)

    def encode(self, g: CodeGraph) -> tuple[np.ndarray, np.ndarray]:
        """(N,) int32 type ids and (N,) int32 token ids; unseen -> UNK."""
        n, unk = len(g.node_type), repeat(self.UNK)
        types = np.fromiter(map(self._type_id.get, g.node_type, unk), np.int32, n)
        toks = np.fromiter(map(self._tok_id.get, vocab_tokens(g), unk), np.int32, n)
        return types, toks

    def to_json(self) -> str:
        """Canonical JSON (ASCII, no whitespace): equal vocabularies give equal strings."""
        payload = {"format": self._FORMAT, "version": 1, "types": self.types, "tokens": self.tokens}
        return json.dumps(payload, ensure_ascii=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str) -> GraphVocab:
        """Inverse of :meth:`to_json`; :class:`GraphVocabError` (a ``ValueError``) on anything
        else."""
        try:
            payload = json.loads(s)
        except json.JSONDecodeError as exc:
            raise GraphVocabError(f"not a serialised GraphVocab ({exc.msg})") from None
        if not isinstance(payload, dict) or payload.get("format") != cls._FORMAT:
            raise GraphVocabError("not a serialised GraphVocab")
        try:
            return cls(_str_list(payload, "types"), _str_list(payload, "tokens"))
        except GraphVocabError:
            raise
        except ValueError as exc:
            raise GraphVocabError(f"not a serialised GraphVocab ({exc})") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GraphVocab):
            return NotImplemented
        return self.types == other.types and self.tokens == other.tokens

    def __hash__(self) -> int:
        return hash((self.types, self.tokens))


class VocabCounts:
    """Node-type and normalised-token counts, one graph at a time: what
    :meth:`GraphVocab.build` counts, for a caller that sees the train graphs as they arrive
    (``featurize`` counts them while the workers still build the other splits)."""

    def __init__(self) -> None:
        self.types: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()

    def add(self, g: CodeGraph) -> None:
        """Count one graph's node types and its leaves' normalised tokens."""
        self.types.update(g.node_type)
        self.tokens.update(filter(None, vocab_tokens(g)))  # "": internal nodes, <none>

    def vocab(self, min_token_freq: int = 2, max_tokens: int = 20000) -> GraphVocab:
        """The :class:`GraphVocab` of the graphs added so far (see its ordering rules)."""
        specials_t, specials_k = GraphVocab.TYPE_SPECIALS, GraphVocab.TOKEN_SPECIALS
        types = [t for t in _by_count(self.types) if t not in specials_t]
        frequent = (
            k
            for k in _by_count(self.tokens)
            if self.tokens[k] >= min_token_freq and k not in specials_k
        )
        tokens = [k for _, k in zip(range(max(max_tokens, 0)), frequent, strict=False)]
        return GraphVocab([*specials_t, *types], [*specials_k, *tokens])


def _str_list(payload: dict[str, Any], key: str) -> list[str]:
    value = payload.get(key)
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise GraphVocabError(f"GraphVocab JSON needs a list of strings under {key!r}")
    return value


def _by_count(counts: Counter[str]) -> list[str]:
    """Deterministic order: most frequent first, ties by the string itself."""
    return sorted(counts, key=lambda s: (-counts[s], s))
