"""Semantics-preserving edits of a C function, and augmentation built from them.

Three edits that leave what a function does unchanged while changing what a model reads:

* :func:`rename_identifiers` — every parameter and local renamed ``<prefix>0, <prefix>1, …``
  in order of declaration (:func:`vulnfusion.graphs.rename.normalize_identifiers` with another
  prefix; callees, globals, macros, fields and the function's own name untouched);
* :func:`reindent` — leading runs of spaces become tabs (4 spaces = 1 tab);
* :func:`add_dead_code` — an ``if (0) { … }`` block right after the body's opening brace.

The ``ood`` benchmark measures how far each moves a registered model's score (the "why" of
issue 18); :func:`augment` composes them at random, which ``fusion.pairs.augment`` uses to add
edited copies of the vulnerable/fixed twins to the pair-wise ranking loss (semantics-preserving
augmentation: the model should rank a function above its fix whatever the names and layout,
as in the identifier-renaming and formatting augmentations of code-model robustness work,
e.g. Yefet et al., OOPSLA 2020; Bielik & Vechev, ICML 2020).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

DEAD_BLOCK = "\n    if (0) { int vf_unused = 0; (void)vf_unused; }"
# prefixes a renaming draws from (``augment``): short, C-like, none a C keyword
RENAME_PREFIXES = ("v", "x", "tmp", "var", "a", "n", "p", "val")


def _walk(node: Any) -> Iterator[Any]:
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def rename_identifiers(text: str, prefix: str = "v") -> str:
    """``text`` with every parameter and local renamed ``<prefix>0, <prefix>1, …``
    (first-declaration order); other identifiers (functions called, globals, macros, fields,
    the function's own name) untouched, every line kept. Text tree-sitter reads no function
    in comes back unchanged."""
    from vulnfusion.graphs.rename import normalize_identifiers

    return normalize_identifiers(text, variable_prefix=prefix, function_name=None)


def reindent(text: str) -> str:
    """Leading runs of spaces become tabs (4 spaces = 1 tab, the rest kept); lines kept."""
    out = []
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        n = len(line) - len(stripped)
        out.append("\t" * (n // 4) + " " * (n % 4) + stripped)
    return "\n".join(out)


def add_dead_code(text: str) -> str:
    """:data:`DEAD_BLOCK` (an ``if (0)`` block, one line) inserted right after the opening
    brace of the first function body tree-sitter finds; ``text`` unchanged when none."""
    from vulnfusion.graphs.parser import lang_for_process

    root = lang_for_process().parser.parse(text.encode("utf-8", "surrogatepass")).root_node
    for n in _walk(root):
        if n.type == "function_definition":
            body = n.child_by_field_name("body")
            if body is not None:
                head = text.encode("utf-8", "surrogatepass")[: body.start_byte + 1]
                at = len(head.decode("utf-8", "surrogatepass"))
                return text[:at] + DEAD_BLOCK + text[at:]
    return text


EDITS: dict[str, Callable[[str], str]] = {
    "rename": rename_identifiers,
    "reindent": reindent,
    "dead_code": add_dead_code,
}


def augment(text: str, rng: np.random.Generator) -> str:
    """``text`` under a random non-empty composition of the three edits (each drawn with
    probability 1/2, at least one; the renaming's prefix drawn from
    :data:`RENAME_PREFIXES`), applied in the order rename, reindent, dead code."""
    use = rng.random(3) < 0.5
    if not use.any():
        use[rng.integers(3)] = True
    if use[0]:
        text = rename_identifiers(text, RENAME_PREFIXES[int(rng.integers(len(RENAME_PREFIXES)))])
    if use[1]:
        text = reindent(text)
    if use[2]:
        text = add_dead_code(text)
    return text


def augment_pairs(pairs: list[tuple[str, str]], copies: int, seed: int) -> list[tuple[str, str]]:
    """``copies`` edited versions of every (vulnerable, fixed) pair, after the originals.

    Each side of a copy is edited independently (:func:`augment`), so a copy's two versions
    differ in names and layout as well as by the fix: the ranking must hold through both.
    Copy ``c`` of pair ``k`` draws from ``np.random.default_rng([seed, c, k])``: the same
    arguments give the same texts.

    Returns:
        ``len(pairs) * (1 + copies)`` pairs: ``pairs`` first, then copy 1 of each, …
    """
    if copies < 0:
        raise ValueError(f"copies must be >= 0, got {copies}")
    out = list(pairs)
    for c in range(1, copies + 1):
        for k, (vul, fix) in enumerate(pairs):
            rng = np.random.default_rng([seed, c, k])
            out.append((augment(vul, rng), augment(fix, rng)))
    return out
