"""Identifier drawing and the C snippets every CWE family shares (guards, allocation, ...)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vulnfusion.data.demo.pools import (
    ALLOCATORS,
    CTX_TAGS,
    ELEM_TYPES,
    FIELD_POOLS,
    FUNC_NOUNS,
    FUNC_PREFIXES,
    FUNC_SUFFIXES,
    FUNC_VERBS,
    HELPERS,
    INT_FAILS,
    INT_RETS,
    LEN_TYPES,
    MESSAGES,
    POOLS,
    PTR_TAGS,
    READERS,
    SIZE_LITERALS,
    SIZE_MACROS,
)


@dataclass(frozen=True)
class Names:
    """All identifiers one function may use; drawn up-front so they never collide."""

    v: dict[str, str]  # variable/parameter names keyed by role (see POOLS)
    f: dict[str, str]  # struct field names keyed by role (see FIELD_POOLS)
    func: str
    size: str  # buffer capacity: literal or macro
    len_type: str
    elem_type: str
    ptr_type: str  # e.g. "struct node"
    ctx_type: str  # e.g. "struct demux_ctx" or "demux_ctx_t"
    helper: str
    reader: str
    alloc: tuple[str, str, str]


@dataclass
class Core:
    """The family-specific part of a function, before filler, nesting and rendering."""

    ret: str
    fail: str
    params: list[str]
    decls: list[str]
    body: list[str]
    tail: list[str]
    # Which lines carry the flaw (flawed variant) or the fix (repaired variant): indices
    # into ``body + tail``. They travel through decoration to 1-based lines of the text.
    marked: tuple[int, ...] = ()


Builder = Callable[[random.Random, Names, bool], Core]


# --- shared helpers --------------------------------------------------------------------------
def _pick(rng: random.Random, pool: Sequence[str], used: set[str]) -> str:
    """Draw a name from ``pool`` that is not yet in ``used`` (pools are larger than demand)."""
    while True:
        name = rng.choice(pool)
        if name not in used:
            used.add(name)
            return name


def _func_name(rng: random.Random) -> str:
    prefix, verb = rng.choice(FUNC_PREFIXES), rng.choice(FUNC_VERBS)
    noun = rng.choice(FUNC_NOUNS)
    core = f"{noun}_{verb}" if rng.random() < 0.3 else f"{verb}_{noun}"
    return prefix + core + rng.choice(FUNC_SUFFIXES)


def draw_names(rng: random.Random) -> Names:
    used: set[str] = set()
    func = _func_name(rng)
    used.add(func)
    v = {role: _pick(rng, pool, used) for role, pool in POOLS.items()}
    used_fields: set[str] = set()
    f = {role: _pick(rng, pool, used_fields) for role, pool in FIELD_POOLS.items()}
    tag = rng.choice(CTX_TAGS)
    ctx_type = f"{tag}_t" if rng.random() < 0.3 else f"struct {tag}"
    return Names(
        v=v,
        f=f,
        func=func,
        size=rng.choice(SIZE_LITERALS if rng.random() < 0.5 else SIZE_MACROS),
        len_type=rng.choice(LEN_TYPES),
        elem_type=rng.choice(ELEM_TYPES),
        ptr_type=f"struct {rng.choice(PTR_TAGS)}",
        ctx_type=ctx_type,
        helper=rng.choice(HELPERS),
        reader=rng.choice(READERS),
        alloc=rng.choice(ALLOCATORS),
    )


def int_ret(rng: random.Random) -> tuple[str, str]:
    return rng.choice(INT_RETS), rng.choice(INT_FAILS)


def at(lines: Sequence[str], *texts: str) -> tuple[int, ...]:
    """Indices of the ``lines`` whose stripped text is one of ``texts`` (a core's own lines:
    the family builders write each marked statement exactly once, or mean every copy)."""
    wanted = {t.strip() for t in texts}
    return tuple(i for i, line in enumerate(lines) if line.strip() in wanted)


def log_stmt(rng: random.Random) -> str:
    level = rng.choice(("log_debug", "log_warn", "log_error", "log_info"))
    return f'{level}("%s: {rng.choice(MESSAGES)}", __func__);'


def guard_lines(rng: random.Random, cond: str, fail: str) -> list[str]:
    """An early-return guard in one of several common brace/log styles."""
    style = rng.randrange(4)
    if style == 0:
        return [f"if ({cond})", f"    return {fail};"]
    if style == 1:
        return [f"if ({cond}) return {fail};"]
    if style == 2:
        return [f"if ({cond}) {{", f"    {log_stmt(rng)}", f"    return {fail};", "}"]
    return [f"if ({cond}) {{", f"    return {fail};", "}"]


def is_null(rng: random.Random, expr: str) -> str:
    return rng.choice((f"!{expr}", f"{expr} == NULL", f"NULL == {expr}"))


def len_ref(rng: random.Random, nm: Names) -> tuple[str, list[str]]:
    """A length expression: either a parameter or a context field (``ctx->len``)."""
    if rng.random() < 0.3:
        return f"{nm.v['ctx']}->{nm.f['f_len']}", []
    return nm.v["length"], [f"{nm.len_type} {nm.v['length']}"]


def src_param(rng: random.Random, nm: Names, elem: str = "char") -> str:
    const = "const " if rng.random() < 0.7 else ""
    return f"{const}{elem} *{nm.v['src']}"


def alloc_expr(nm: Names, size: str) -> str:
    return nm.alloc[0].format(size)


def calloc_expr(nm: Names, count: str, size: str) -> str:
    return nm.alloc[1].format(count, size)


def free_stmt(nm: Names, expr: str) -> str:
    return f"{nm.alloc[2]}({expr});"


def consume(rng: random.Random, nm: Names, arg: str, fail: str) -> list[str]:
    """A final use of the produced data so every function ends in a realistic way."""
    choice = rng.randrange(3)
    if choice == 0:
        return [f"return {nm.helper}({arg});"]
    if choice == 1:
        return [f"return {nm.helper}({nm.v['ctx']}, {arg});"]
    return [f"if ({nm.helper}({arg}) < 0)", f"    return {fail};", "return 0;"]
