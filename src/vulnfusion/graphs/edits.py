r"""Semantics-preserving edits of a C function, and augmentation built from them.

Three edits that leave what a function does unchanged while changing what a model reads:

* :func:`rename_identifiers` — every parameter and local renamed ``<prefix>0, <prefix>1, …``
  in order of declaration (:func:`vulnfusion.graphs.rename.normalize_identifiers` with another
  prefix; callees, globals, macros, fields and the function's own name untouched; the prefix
  gets ``_`` appended until no identifier of the text already looks like ``<prefix><digits>``);
* :func:`reindent` — leading runs of 4 spaces become tabs, or, in a text indented with tabs
  only, leading tabs become 4 spaces (a line continuing a ``\``-ended line is left alone: it
  may sit inside a string literal);
* :func:`add_dead_code` — an ``if (0) { … }`` block right after the body's opening brace.

They preserve what the function does with one exception they share with identifier
normalisation: names are matched by text, not scope, so a local that shadows a global of the
same name makes the renaming rename the global's uses too. Under
``featurize.normalize_identifiers`` the renaming is undone by the normalisation itself.

The ``ood`` benchmark measures how far each moves a registered model's score (the "why" of
issue 18); :func:`augment` composes them at random, which ``fusion.pairs.augment`` uses to add
edited copies of the vulnerable/fixed twins to the pair-wise ranking loss (semantics-preserving
augmentation: the model should rank a function above its fix whatever the names and layout,
as in the identifier-renaming and formatting augmentations of code-model robustness work,
e.g. Yefet et al., OOPSLA 2020; Bielik & Vechev, ICML 2020).
"""

from __future__ import annotations

import re
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

    while re.search(rf"\b{re.escape(prefix)}\d+\b", text):
        prefix += "_"  # `v0` is already a name here (a global, a callee): `v_0` then
    return normalize_identifiers(text, variable_prefix=prefix, function_name=None)


def reindent(text: str) -> str:
    """Leading runs of 4 spaces become tabs (the rest kept); a text whose indentation is all
    tabs gets each leading tab as 4 spaces instead. Lines are kept; a line after one ending
    in ``\\`` (a continued string literal or macro) is not touched."""
    lines = text.split("\n")
    to_spaces = not any(line.startswith("    ") for line in lines) and any(
        line.startswith("\t") for line in lines
    )
    out = []
    for i, line in enumerate(lines):
        if i and lines[i - 1].rstrip("\r").endswith("\\"):
            out.append(line)
        elif to_spaces:
            stripped = line.lstrip("\t")
            out.append("    " * (len(line) - len(stripped)) + stripped)
        else:
            stripped = line.lstrip(" ")
            n = len(line) - len(stripped)
            out.append("\t" * (n // 4) + " " * (n % 4) + stripped)
    return "\n".join(out)


def _body_brace(data: bytes) -> int | None:
    """Byte offset just past the opening brace of the first function body in ``data``."""
    from vulnfusion.graphs.parser import lang_for_process

    for n in _walk(lang_for_process().parser.parse(data).root_node):
        if n.type == "function_definition":
            body = n.child_by_field_name("body")
            if body is not None:
                return int(body.start_byte) + 1
    return None


def add_dead_code(text: str) -> str:
    """:data:`DEAD_BLOCK` (an ``if (0)`` block, one line; ``\\r\\n`` in a CRLF text)
    inserted right after the opening brace of the first function body tree-sitter finds (a
    function written without a return type is read as if it had ``int``, as identifier
    normalisation does); ``text`` unchanged when there is none."""
    data = text.encode("utf-8", "surrogatepass")
    at = _body_brace(data)
    if at is None:
        at = _body_brace(b"int " + data)
        at = None if at is None or at <= 4 else at - 4
    if at is None:
        return text
    pos = len(data[:at].decode("utf-8", "surrogatepass"))
    block = DEAD_BLOCK.replace("\n", "\r\n") if "\r\n" in text else DEAD_BLOCK
    return text[:pos] + block + text[pos:]


EDITS: dict[str, Callable[[str], str]] = {
    "rename": rename_identifiers,
    "reindent": reindent,
    "dead_code": add_dead_code,
}


def augment(text: str, rng: np.random.Generator) -> str:
    """``text`` under a random composition of the three edits (each drawn with probability
    1/2; the renaming's prefix drawn from :data:`RENAME_PREFIXES`), applied in the order
    rename, reindent, dead code. When the drawn edits leave the text as it was (no locals
    to rename, nothing indented, none drawn), the others are applied in turn until one
    changes it; only a text none of them changes (no function, no indentation) comes back
    equal."""
    prefix = RENAME_PREFIXES[int(rng.integers(len(RENAME_PREFIXES)))]
    steps: list[Callable[[str], str]] = [
        lambda t: rename_identifiers(t, prefix),
        reindent,
        add_dead_code,
    ]
    drawn = rng.random(3) < 0.5
    out = text
    for step in (s for s, d in zip(steps, drawn, strict=True) if d):
        out = step(out)
    for step in (s for s, d in zip(steps, drawn, strict=True) if not d):
        if out != text:
            break
        out = step(out)
    return out


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
