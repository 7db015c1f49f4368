"""The ten CWE families: each builder returns the core of one function, flawed or repaired.

The repaired variant differs only by a guard, a comparison operator, a statement order or a
pointer reset, never by identifier names or comments.
"""

from __future__ import annotations

import random

from vulnfusion.data.demo.pools import SIZE_LITERALS, STATES
from vulnfusion.data.demo.snippets import (
    Builder,
    Core,
    Names,
    alloc_expr,
    at,
    calloc_expr,
    consume,
    free_stmt,
    guard_lines,
    int_ret,
    is_null,
    len_ref,
    src_param,
)

CWE_FAMILIES: tuple[str, ...] = (
    "CWE-121",  # unbounded copy into a stack buffer
    "CWE-193",  # off-by-one loop bound / terminator write
    "CWE-476",  # missing NULL check after allocation
    "CWE-416",  # use after free
    "CWE-415",  # double free
    "CWE-190",  # unchecked size multiplication before allocation
    "CWE-134",  # externally controlled format string
    "CWE-787",  # memcpy without a length/capacity check
    "CWE-125",  # out-of-bounds read through an unchecked index
    "CWE-369",  # division by a value that may be zero
)


def _stack_copy(rng: random.Random, nm: Names, vul: bool) -> Core:
    ret, fail = int_ret(rng)
    buf, src, i = nm.v["buf"], nm.v["src"], nm.v["idx"]
    prefix = rng.choice((f"{nm.v['ctx']}->{nm.f['f_name']}", '"/var/run"', '"dev"', '"cfg"'))
    decls = [f"char {buf}[{nm.size}];"]
    kind = rng.randrange(4)
    if kind == 0:
        body = [] if vul else guard_lines(rng, f"strlen({src}) >= sizeof({buf})", fail)
        body.append(f"strcpy({buf}, {src});")
        marked = _last(body, 1) if vul else _all_but_last(body, 1)
    elif kind == 1:
        decls.append(f"size_t {i};")
        bound = "" if vul else f" && {i} < sizeof({buf}) - 1"
        body = [
            f"for ({i} = 0; {src}[{i}] != '\\0'{bound}; {i}++)",
            f"    {buf}[{i}] = {src}[{i}];",
            f"{buf}[{i}] = '\\0';",
        ]
        marked = _loop(vul)  # the loop bound, and the write it fails to stop
    elif kind == 2:
        sink = f"sprintf({buf}, " if vul else f"snprintf({buf}, sizeof({buf}), "
        body = [f'{sink}"%s/%s", {prefix}, {src});']
        marked = (0,)
    else:
        cond = f"strlen({prefix}) + strlen({src}) >= sizeof({buf})"
        body = [] if vul else guard_lines(rng, cond, fail)
        body += [f"strcpy({buf}, {prefix});", f"strcat({buf}, {src});"]
        marked = _last(body, 2) if vul else _all_but_last(body, 2)
    params = [src_param(rng, nm)]  # drawn before the tail, as always
    return Core(ret, fail, params, decls, body, consume(rng, nm, buf, fail), marked)


def _off_by_one(rng: random.Random, nm: Names, vul: bool) -> Core:
    ret, fail = int_ret(rng)
    i, src, buf, cmp = nm.v["idx"], nm.v["src"], nm.v["buf"], "<=" if vul else "<"
    kind = rng.randrange(3)
    if kind == 0:
        elem = nm.elem_type
        bounds = [nm.size, f"ARRAY_SIZE({buf})"]
        if elem in ("char", "uint8_t", "unsigned char"):
            bounds.append(f"sizeof({buf})")
        rhs = rng.choice((f"{src}[{i}]", f"{src}[{i}] ^ {rng.randint(1, 255)}", "0"))
        body = [f"for ({i} = 0; {i} {cmp} {rng.choice(bounds)}; {i}++)", f"    {buf}[{i}] = {rhs};"]
        decls = [f"{elem} {buf}[{nm.size}];", f"{rng.choice(('int', 'size_t', 'unsigned'))} {i};"]
        params = [src_param(rng, nm, elem)]
        # flawed: the loop bound and the write one past the end; repaired: the bound
        return Core(ret, fail, params, decls, body, consume(rng, nm, buf, fail), _loop(vul))
    if kind == 1:
        ctx, acc = nm.v["ctx"], nm.v["acc"]
        items = f"{ctx}->{nm.f['f_items']}[{i}]"
        stmt = rng.choice((f"{acc} += {items};", f"{items} = 0;", f"{acc} ^= {items};"))
        body = [f"for ({i} = 0; {i} {cmp} {ctx}->{nm.f['f_count']}; {i}++)", f"    {stmt}"]
        decls = [f"unsigned int {i};", f"long {acc} = 0;"]
        return Core(ret, fail, [], decls, body, [f"return (int){acc};"], _loop(vul))
    lref, lparams = len_ref(rng, nm)
    body = guard_lines(rng, f"{lref} {'>' if vul else '>='} sizeof({buf})", fail)
    body += [f"memcpy({buf}, {src}, {lref});", f"{buf}[{lref}] = '\\0';"]
    # flawed: the guard one short, and the terminator it lets past the end; repaired: the guard
    marked = (0, len(body) - 1) if vul else (0,)
    return Core(
        ret,
        fail,
        [src_param(rng, nm), *lparams],
        [f"char {buf}[{nm.size}];"],
        body,
        consume(rng, nm, buf, fail),
        marked,
    )


def _null_deref(rng: random.Random, nm: Names, vul: bool) -> Core:
    p, src, ctx = nm.v["ptr"], nm.v["src"], nm.v["ctx"]
    # Decide the return convention first: pointer-returning allocators fail with NULL.
    ptr_ret = rng.random() < 0.6
    ret, fail = ("", "NULL") if ptr_ret else int_ret(rng)
    kind = rng.randrange(3)
    params: list[str] = []
    if kind == 0:
        ty = rng.choice(("char", "uint8_t", "unsigned char"))
        lref, params = len_ref(rng, nm)
        params = [src_param(rng, nm, ty), *params]
        alloc = f"{p} = {alloc_expr(nm, lref)};"
        use = [rng.choice((f"memcpy({p}, {src}, {lref});", f"memset({p}, 0, {lref});"))]
    elif kind == 1:
        ty = nm.ptr_type
        size = rng.choice((f"sizeof(*{p})", f"sizeof({ty})"))
        alloc = f"{p} = {rng.choice((alloc_expr(nm, size), calloc_expr(nm, '1', size)))};"
        use = [
            f"{p}->{nm.f['f_state']} = {rng.choice(STATES)};",
            f"{p}->{nm.f['f_len']} = {ctx}->{nm.f['f_cap']};",
        ]
    else:
        ty = "char"
        params = [src_param(rng, nm)]
        alloc = f"{p} = strdup({src});"
        use = [
            rng.choice(
                (
                    f"{p}[strcspn({p}, \"\\r\\n\")] = '\\0';",
                    f"{ctx}->{nm.f['f_len']} = strlen({p});",
                )
            )
        ]
    body = [alloc] + ([] if vul else guard_lines(rng, is_null(rng, p), fail)) + use
    # flawed: the dereferences of the unchecked pointer; repaired: the added NULL check
    marked = _last(body, len(use)) if vul else tuple(range(1, len(body) - len(use)))
    decls = [f"{ty} *{p} = NULL;"]
    if ptr_ret:
        ret = rng.choice(("", "static ")) + f"{ty} *"
        return Core(ret, fail, params, decls, body, [f"return {p};"], marked)
    params.append(f"{ty} **{nm.v['dst']}")
    return Core(ret, fail, params, decls, body, [f"*{nm.v['dst']} = {p};", "return 0;"], marked)


def _use_after_free(rng: random.Random, nm: Names, vul: bool) -> Core:
    ret, fail = int_ret(rng)
    p, rc, ctx, src = nm.v["ptr"], nm.v["rc"], nm.v["ctx"], nm.v["src"]
    if rng.random() < 0.5:
        # Flawed variant reads a field after the release; repaired one reads it before.
        pre = [f"list_del(&{p}->{nm.f['f_link']});"] if rng.random() < 0.5 else []
        use = rng.choice(
            (
                f"{rc} = {p}->{nm.f['f_len']};",
                f"{ctx}->{nm.f['f_count']} -= {p}->{nm.f['f_len']};",
                f'log_debug("%s: %u", __func__, (unsigned){p}->{nm.f["f_len"]});',
                f"{nm.helper}({ctx}, {p}->{nm.f['f_name']});",
            )
        )
        order = [free_stmt(nm, p), use] if vul else [use, free_stmt(nm, p)]
        body = pre + order
        params, decls, tail = [f"{nm.ptr_type} *{p}"], [f"int {rc} = 0;"], [f"return {rc};"]
        # both variants: the release and the read (the fix swaps them)
        return Core(ret, fail, params, decls, body, tail, _last(body, 2))
    # Flawed variant leaves a dangling pointer that a later NULL test cannot catch.
    lref, lparams = len_ref(rng, nm)
    body = [
        f"{p} = {alloc_expr(nm, lref)};",
        *guard_lines(rng, is_null(rng, p), fail),
        f"{rc} = {nm.reader}({src}, {p}, {lref});",
        f"if ({rc} < 0) {{",
        f"    {free_stmt(nm, p)}",
    ]
    body += ["}"] if vul else [f"    {p} = NULL;", "}"]
    body += [
        rng.choice((f"if ({p} != NULL)", f"if ({p})")),
        f"    {rc} = {nm.helper}({p}, {lref});",
    ]
    # flawed: the release that leaves the pointer dangling, and its later use; repaired:
    # the added reset
    marked = at(body, free_stmt(nm, p)) + _last(body, 1) if vul else at(body, f"{p} = NULL;")
    ty = rng.choice(("char", "uint8_t", "void"))
    return Core(
        ret,
        fail,
        [src_param(rng, nm, "uint8_t"), *lparams],
        [f"{ty} *{p} = NULL;", f"int {rc};"],
        body,
        [f"return {rc};"],
        marked,
    )


def _double_free(rng: random.Random, nm: Names, vul: bool) -> Core:
    ret, fail = int_ret(rng)
    p, rc, src = nm.v["ptr"], nm.v["rc"], nm.v["src"]
    lref, lparams = len_ref(rng, nm)
    body = [
        f"{p} = {alloc_expr(nm, lref)};",
        *guard_lines(rng, is_null(rng, p), fail),
        f"{rc} = {nm.reader}({src}, {p}, {lref});",
        f"if ({rc} < 0) {{",
    ]
    kind = rng.randrange(3)
    tail = [free_stmt(nm, p), f"return {rc};"]
    if kind == 2:
        # Error path jumps to a shared cleanup label that frees again.
        body += ([f"    {free_stmt(nm, p)}"] if vul else []) + ["    goto out;", "}"]
        body.append(f"{rc} = {nm.helper}({p}, {lref});")
        tail = ["out:", *tail]
    else:
        body.append(f"    {free_stmt(nm, p)}")
        if not vul:
            body.append(f"    return {rc};" if kind == 0 else f"    {p} = NULL;")
        body.append("}")
    if vul:  # every release: the one on the error path and the shared one after it
        marked = at(body + tail, free_stmt(nm, p))
    else:  # the added return or reset; a removed release (kind 2): the jump that replaced it
        marked = at(body, f"return {rc};", f"{p} = NULL;", "goto out;")
    ty = rng.choice(("char", "uint8_t", "unsigned char", "void"))
    return Core(
        ret,
        fail,
        [src_param(rng, nm, "uint8_t"), *lparams],
        [f"{ty} *{p} = NULL;", f"int {rc} = 0;"],
        body,
        tail,
        marked,
    )


def _size_overflow(rng: random.Random, nm: Names, vul: bool) -> Core:
    ret, fail = int_ret(rng)
    cnt, arr, i, src = nm.v["count"], nm.v["ptr"], nm.v["idx"], nm.v["src"]
    elem, kind = nm.elem_type, rng.randrange(3)
    esize = rng.choice((f"sizeof(*{arr})", f"sizeof({elem})"))
    if kind == 2:
        # Signed count: the repaired variant bounds it by INT_MAX before multiplying.
        ctype, total = "int", f"{cnt} * (int){esize}"
        cond = f"{cnt} <= 0" + ("" if vul else f" || {cnt} > INT_MAX / (int){esize}")
        pre = guard_lines(rng, cond, fail)
    else:
        ctype = rng.choice(("size_t", "uint32_t", "unsigned int", "unsigned long"))
        total = f"{cnt} * {esize}"
        pre = guard_lines(rng, f"{cnt} == 0", fail) if rng.random() < 0.5 else []
        if not vul:
            guard = guard_lines(rng, f"{cnt} > SIZE_MAX / {esize}", fail)
            pre += guard
    alloc = f"{arr} = {alloc_expr(nm, total)};"
    body = [
        *pre,
        alloc,
        *guard_lines(rng, is_null(rng, arr), fail),
        f"for ({i} = 0; {i} < {cnt}; {i}++)",
        f"    {arr}[{i}] = {src}[{i}];",
    ]
    if vul:  # the multiplication that wraps, and the write past the short allocation
        marked = (*at(body, alloc), len(body) - 1)
    elif kind == 2:  # the guard that gained the upper bound (its first line)
        marked = (0,)
    else:  # the added SIZE_MAX guard: the last lines of ``pre``
        marked = tuple(range(len(pre) - len(guard), len(pre)))
    params = [f"{ctype} {cnt}", src_param(rng, nm, elem)]
    if rng.random() < 0.5:
        tail = [
            f"{nm.v['ctx']}->{nm.f['f_items']} = {arr};",
            f"{nm.v['ctx']}->{nm.f['f_count']} = {cnt};",
            "return 0;",
        ]
    else:
        params.append(f"{elem} **{nm.v['dst']}")
        tail = [f"*{nm.v['dst']} = {arr};", "return 0;"]
    decls = [f"{elem} *{arr} = NULL;", f"{'int' if kind == 2 else 'size_t'} {i};"]
    return Core(ret, fail, params, decls, body, tail, marked)


_FORMAT_SINKS = (
    ("printf({m})", 'printf("%s", {m})'),
    ("fprintf(stderr, {m})", 'fprintf(stderr, "%s", {m})'),
    ("fprintf(stderr, {m})", "fputs({m}, stderr)"),
    ("syslog(LOG_ERR, {m})", 'syslog(LOG_ERR, "%s", {m})'),
    ("snprintf({o}, sizeof({o}), {m})", 'snprintf({o}, sizeof({o}), "%s", {m})'),
)


def _format_string(rng: random.Random, nm: Names, vul: bool) -> Core:
    ret, fail = int_ret(rng)
    out, line = nm.v["dst"], nm.v["buf"]
    decls: list[str] = []
    params: list[str] = []
    pre: list[str] = []
    kind = rng.randrange(3)
    if kind == 0:
        msg = nm.v["src"]
        params.append(f"const char *{msg}")
    elif kind == 1:
        msg = f"{nm.v['ctx']}->{nm.f['f_name']}"
    else:
        msg = line
        decls.append(f"char {line}[{nm.size}];")
        params.append(f"FILE *{nm.v['aux']}")
        pre = guard_lines(rng, f"fgets({line}, sizeof({line}), {nm.v['aux']}) == NULL", fail)
    sink = rng.choice(_FORMAT_SINKS)[0 if vul else 1]
    if "{o}" in sink:
        decls.append(f"char {out}[{rng.choice(SIZE_LITERALS)}];")
        tail = consume(rng, nm, out, fail)
    else:
        tail = ["return 0;"]
    body = [*pre, sink.format(m=msg, o=out) + ";"]
    return Core(ret, fail, params, decls, body, tail, _last(body, 1))  # the sink, both variants


def _memcpy_len(rng: random.Random, nm: Names, vul: bool) -> Core:
    ret, fail = int_ret(rng)
    ctx, buf, src = nm.v["ctx"], nm.v["buf"], nm.v["src"]
    lref, lparams = len_ref(rng, nm)
    params = [src_param(rng, nm, rng.choice(("uint8_t", "void", "char"))), *lparams]
    kind = rng.randrange(3)
    if kind == 2:
        # Appending at an offset: the flawed guard ignores the bytes already used.
        cap, pos = f"{ctx}->{nm.f['f_cap']}", f"{ctx}->{nm.f['f_pos']}"
        cond = (
            f"{lref} > {cap}"
            if vul
            else rng.choice((f"{lref} > {cap} - {pos}", f"{pos} > {cap} || {lref} > {cap} - {pos}"))
        )
        body = [
            *guard_lines(rng, cond, fail),
            f"memcpy({ctx}->{nm.f['f_buf']} + {pos}, {src}, {lref});",
            f"{pos} += {lref};",
        ]
        # flawed: the guard that ignores the offset and the copy past the end; repaired: guard
        marked: tuple[int, ...] = (0, len(body) - 2) if vul else (0,)
        return Core(ret, fail, params, [], body, ["return 0;"], marked)
    if kind == 0:
        dst, decls = buf, [f"uint8_t {buf}[{nm.size}];"]
        tail = consume(rng, nm, buf, fail)
    else:
        dst, decls = f"{ctx}->{nm.f['f_buf']}", []
        tail = [f"{ctx}->{nm.f['f_pos']} = {lref};", "return 0;"]
    body = [] if vul else guard_lines(rng, f"{lref} > sizeof({dst})", fail)
    body.append(f"memcpy({dst}, {src}, {lref});")
    marked = _last(body, 1) if vul else _all_but_last(body, 1)
    return Core(ret, fail, params, decls, body, tail, marked)


def _oob_read(rng: random.Random, nm: Names, vul: bool) -> Core:
    ret, fail = int_ret(rng)
    idx, rc, ctx, tbl = nm.v["index"], nm.v["rc"], nm.v["ctx"], nm.v["ptr"]
    decls = [f"int {rc} = 0;"]
    kind = rng.randrange(3)
    if kind == 0:
        values = ", ".join(str(rng.randint(0, 4096)) for _ in range(rng.randint(4, 9)))
        decls.insert(0, f"static const int {tbl}[] = {{ {values} }};")
        count = rng.choice((f"ARRAY_SIZE({tbl})", f"sizeof({tbl}) / sizeof({tbl}[0])"))
        params = [f"{rng.choice(('unsigned int', 'size_t', 'uint32_t'))} {idx}"]
        body = [] if vul else guard_lines(rng, f"{idx} >= {count}", fail)
        body.append(f"{rc} = {tbl}[{idx}];")
        marked = _last(body, 1) if vul else _all_but_last(body, 1)
    elif kind == 1:
        # Signed index: the flawed guard forgets the lower bound.
        count = f"{ctx}->{nm.f['f_count']}"
        cond = f"{idx} >= {count}" if vul else f"{idx} < 0 || {idx} >= {count}"
        params = [f"int {idx}"]
        body = [*guard_lines(rng, cond, fail), f"{rc} = {ctx}->{nm.f['f_items']}[{idx}];"]
        marked = (0, len(body) - 1) if vul else (0,)  # the guard, and the read it lets through
    else:
        src, (lref, lparams) = nm.v["src"], len_ref(rng, nm)
        cond = (
            f"{idx} >= {lref}"
            if vul
            else rng.choice((f"{idx} + 2 > {lref}", f"{lref} < 2 || {idx} > {lref} - 2"))
        )
        params = [f"const uint8_t *{src}", *lparams, f"size_t {idx}"]
        body = [*guard_lines(rng, cond, fail), f"{rc} = {src}[{idx}] | ({src}[{idx} + 1] << 8);"]
        marked = (0, len(body) - 1) if vul else (0,)
    return Core(ret, fail, params, decls, body, [f"return {rc};"], marked)


def _div_zero(rng: random.Random, nm: Names, vul: bool) -> Core:
    ret, fail = int_ret(rng)
    ctx, rc, acc, i, src = nm.v["ctx"], nm.v["rc"], nm.v["acc"], nm.v["idx"], nm.v["src"]
    count = f"{ctx}->{nm.f['f_count']}"
    decls = [f"int {rc} = 0;"]
    params: list[str] = []
    pre: list[str] = []
    kind = rng.randrange(3)
    if kind == 0:
        count = nm.v["count"]
        params = [f"const int *{src}", f"{nm.len_type} {count}"]
        decls += [f"long {acc} = 0;", f"{nm.len_type} {i};"]
        pre = [f"for ({i} = 0; {i} < {count}; {i}++)", f"    {acc} += {src}[{i}];"]
        expr = f"(int)({acc} / {count})"
    elif kind == 1:
        params = [f"uint32_t {nm.v['index']}"]
        expr = f"(int)({nm.v['index']} % {count})"
    else:
        lref, params = len_ref(rng, nm)
        expr = f"(int)({lref} / {count})"
    guard = [] if vul else guard_lines(rng, f"{count} == 0", rng.choice(("0", fail)))
    body = [*pre, *guard, f"{rc} = {expr};"]
    # flawed: the division; repaired: the added zero check
    marked = _last(body, 1) if vul else tuple(range(len(pre), len(pre) + len(guard)))
    return Core(ret, fail, params, decls, body, [f"return {rc};"], marked)


def _last(body: list[str], n: int) -> tuple[int, ...]:
    """The indices of the last ``n`` lines of ``body``."""
    return tuple(range(len(body) - n, len(body)))


def _all_but_last(body: list[str], n: int) -> tuple[int, ...]:
    """Every index but the last ``n``: an added guard in front of the statement it protects."""
    return tuple(range(len(body) - n))


def _loop(vul: bool) -> tuple[int, ...]:
    """A two-line loop body ``[for (...), write]``: flawed, both; repaired, the bound."""
    return (0, 1) if vul else (0,)


BUILDERS: dict[str, Builder] = {
    "CWE-121": _stack_copy,
    "CWE-193": _off_by_one,
    "CWE-476": _null_deref,
    "CWE-416": _use_after_free,
    "CWE-415": _double_free,
    "CWE-190": _size_overflow,
    "CWE-134": _format_string,
    "CWE-787": _memcpy_len,
    "CWE-125": _oob_read,
    "CWE-369": _div_zero,
}
