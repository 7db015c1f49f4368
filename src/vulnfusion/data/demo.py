"""Deterministic synthetic C corpus for demos, smoke tests and CI.

Every sample is one complete C function that either contains a classic memory-safety or
input-handling flaw or the corresponding repaired version.  The two variants of a family differ
only in control flow or data flow (an added guard, ``<`` instead of ``<=``, a pointer reset after
``free``...), never in identifier names or comments, so a detector has to look at program
structure rather than at lexical giveaways.  Everything is driven by one ``random.Random(seed)``
instance, so the output is byte-identical across processes and Python hash seeds.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["CWE_FAMILIES", "generate_demo"]

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

# --- identifier pools ------------------------------------------------------------------------
# Pools deliberately avoid any word hinting at the label (safe, bad, fix, check, overflow, ...).
_FUNC_PREFIXES = (
    "",
    "",
    "",
    "av_",
    "qemu_",
    "ngx_",
    "png_",
    "xml_",
    "http_",
    "tls_",
    "vnc_",
    "usb_",
    "net_",
    "img_",
    "snd_",
    "ff_",
    "bt_",
    "dns_",
    "sip_",
    "ext4_",
    "tcp_",
)
_FUNC_VERBS = (
    "parse",
    "read",
    "decode",
    "copy",
    "fill",
    "load",
    "init",
    "handle",
    "process",
    "update",
    "build",
    "unpack",
    "extract",
    "get",
    "set",
    "append",
    "store",
    "scan",
    "convert",
    "setup",
    "emit",
    "recv",
    "push",
    "alloc",
    "release",
    "dup",
    "reset",
)
_FUNC_NOUNS = (
    "header",
    "packet_data",
    "frame",
    "chunk",
    "record",
    "entry",
    "name",
    "token",
    "field",
    "options",
    "table",
    "buffer",
    "payload",
    "attr",
    "blob",
    "segment",
    "dev",
    "msg",
    "request",
    "reply",
    "label",
    "path",
    "cookie",
    "extradata",
    "palette",
    "sample",
    "block",
    "node",
    "desc",
    "config",
    "slice",
    "tile",
    "extent",
    "stream",
)
_FUNC_SUFFIXES = ("", "", "", "", "", "_internal", "_common", "_cb", "_v2", "_locked", "_one")

_POOLS: dict[str, tuple[str, ...]] = {
    "buf": (
        "buf",
        "tmp",
        "name",
        "path",
        "line",
        "label",
        "token",
        "scratch",
        "hdrbuf",
        "msgbuf",
        "key",
        "value",
        "tag",
        "ident",
        "host",
        "filename",
        "cmd",
        "text",
        "word",
    ),
    "src": (
        "src",
        "input",
        "data",
        "str",
        "arg",
        "payload",
        "raw",
        "in",
        "user",
        "param",
        "s",
        "msg",
        "req",
        "from",
        "text",
        "p_in",
        "bytes",
    ),
    "dst": ("dst", "out", "dest", "to", "res", "result", "pout", "target"),
    "length": (
        "len",
        "size",
        "n",
        "nbytes",
        "length",
        "data_len",
        "sz",
        "avail",
        "bytes_len",
        "buf_len",
        "in_len",
        "src_len",
        "want",
        "remaining",
    ),
    "count": (
        "count",
        "nmemb",
        "num",
        "nb_entries",
        "n_items",
        "nelem",
        "cnt",
        "nitems",
        "num_samples",
        "width",
        "nb_frames",
        "rows",
    ),
    "idx": ("i", "j", "k", "pos", "ii", "cur", "w"),
    "index": ("idx", "index", "slot", "id", "channel", "sel", "which", "entry_id", "ch", "level"),
    "ptr": (
        "p",
        "mem",
        "block",
        "entry",
        "node",
        "item",
        "obj",
        "rec",
        "elem",
        "chunk",
        "e",
        "pkt",
        "hdr",
        "frame",
        "desc",
        "copy",
        "dup",
        "q",
        "arr",
        "vec",
        "tbl",
    ),
    "ctx": ("ctx", "s", "st", "dev", "conn", "priv", "sess", "h", "c", "avctx", "pctx", "d"),
    "acc": (
        "total",
        "acc",
        "sum",
        "hash",
        "crc",
        "mask",
        "bits",
        "nread",
        "counter",
        "seen",
        "csum",
        "tally",
    ),
    "rc": ("ret", "rc", "err", "res", "status", "r", "result", "error"),
    "flags": ("flags", "mode", "opts", "how", "kind", "opt_flags", "fmode"),
    "aux": ("opaque", "verbose", "user_data", "cookie_val", "timeout", "hint", "prio"),
}
_FIELD_POOLS: dict[str, tuple[str, ...]] = {
    "f_len": ("len", "length", "size", "data_len", "nbytes", "payload_len", "used_len"),
    "f_cap": ("cap", "capacity", "alloc_size", "max_len", "buf_size", "limit"),
    "f_pos": ("pos", "offset", "wpos", "used", "fill", "cursor", "head"),
    "f_buf": ("buf", "data", "payload", "scratch", "body", "storage", "raw"),
    "f_count": ("count", "nitems", "nb_entries", "num", "n_elems", "nb_streams"),
    "f_items": ("items", "entries", "table", "slots", "elems", "vals", "list"),
    "f_state": ("state", "phase", "status", "stage"),
    "f_stat": ("nr_calls", "stats_rx", "hits", "packets", "frames_seen", "requests"),
    "f_name": ("name", "label", "title", "ident", "tag_str", "dev_name"),
    "f_link": ("link", "lru", "node_list", "siblings", "hnode"),
}
_HELPERS = (
    "process_record",
    "handle_name",
    "consume",
    "submit_frame",
    "emit_token",
    "register_entry",
    "deliver_msg",
    "parse_fields",
    "store_value",
    "apply_config",
    "queue_packet",
    "hash_update",
    "commit_buffer",
    "forward_data",
    "lookup_name",
)
_READERS = (
    "read_block",
    "fetch_data",
    "recv_chunk",
    "io_read",
    "stream_read",
    "decode_payload",
    "fill_buffer",
    "load_bytes",
    "get_bytes",
    "pull_data",
)
_SIZE_LITERALS = ("16", "32", "64", "128", "256", "512", "1024")
_SIZE_MACROS = (
    "MAX_NAME_LEN",
    "HDR_SIZE",
    "PATH_MAX",
    "BUF_SIZE",
    "NAME_LEN",
    "TOKEN_MAX",
    "LINE_MAX",
    "MAX_FIELDS",
    "TABLE_SIZE",
    "NUM_SLOTS",
    "MAX_ENTRIES",
)
_ELEM_TYPES = ("char", "uint8_t", "unsigned char", "int", "int16_t", "uint32_t", "short")
_LEN_TYPES = ("size_t", "size_t", "unsigned int", "unsigned", "uint32_t", "int")
_PTR_TAGS = (
    "entry",
    "node",
    "item",
    "record",
    "frame",
    "packet",
    "chunk",
    "buf_desc",
    "segment",
    "req",
    "slot_info",
)
_CTX_TAGS = (
    "demux_ctx",
    "parser_state",
    "dev_state",
    "conn_info",
    "stream_ctx",
    "codec_ctx",
    "io_ctx",
    "vnc_state",
    "session",
    "context",
    "usb_port",
    "http_req",
)
# (single-object allocation format, array allocation format, matching release function)
_ALLOCATORS = (
    ("malloc({})", "calloc({}, {})", "free"),
    ("malloc({})", "calloc({}, {})", "free"),
    ("av_malloc({})", "av_calloc({}, {})", "av_free"),
    ("kmalloc({}, GFP_KERNEL)", "kcalloc({}, {}, GFP_KERNEL)", "kfree"),
)
_MESSAGES = (
    "begin",
    "done",
    "processing request",
    "state changed",
    "invalid argument",
    "unexpected input",
    "request rejected",
    "short read",
    "allocation failed",
    "entry released",
    "retrying",
    "length mismatch",
    "unsupported mode",
)
_FLAGS = ("FLAG_VERBOSE", "OPT_STRICT", "F_ASYNC", "MODE_RAW", "0x1", "0x4", "0x10", "F_NOWAIT")
_EVENTS = ("EV_PARSE", "TRACE_IO", "EV_RX", "EV_TX", "TP_ALLOC")
_STATES = ("STATE_READY", "ST_BUSY", "STATE_HDR", "ST_IDLE", "STATE_BODY")
_INT_RETS = ("int", "int", "static int", "ssize_t", "static ssize_t", "long")
_INT_FAILS = ("-1", "-1", "-EINVAL", "-EIO", "-EPROTO", "AVERROR(EINVAL)", "-ENOMEM")


@dataclass(frozen=True)
class _Names:
    """All identifiers one function may use; drawn up-front so they never collide."""

    v: dict[str, str]  # variable/parameter names keyed by role (see _POOLS)
    f: dict[str, str]  # struct field names keyed by role (see _FIELD_POOLS)
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
class _Core:
    """The family-specific part of a function, before filler, nesting and rendering."""

    ret: str
    fail: str
    params: list[str]
    decls: list[str]
    body: list[str]
    tail: list[str]


_Builder = Callable[[random.Random, _Names, bool], _Core]


# --- shared helpers --------------------------------------------------------------------------
def _pick(rng: random.Random, pool: Sequence[str], used: set[str]) -> str:
    """Draw a name from ``pool`` that is not yet in ``used`` (pools are larger than demand)."""
    while True:
        name = rng.choice(pool)
        if name not in used:
            used.add(name)
            return name


def _func_name(rng: random.Random) -> str:
    prefix, verb = rng.choice(_FUNC_PREFIXES), rng.choice(_FUNC_VERBS)
    noun = rng.choice(_FUNC_NOUNS)
    core = f"{noun}_{verb}" if rng.random() < 0.3 else f"{verb}_{noun}"
    return prefix + core + rng.choice(_FUNC_SUFFIXES)


def _draw_names(rng: random.Random) -> _Names:
    used: set[str] = set()
    func = _func_name(rng)
    used.add(func)
    v = {role: _pick(rng, pool, used) for role, pool in _POOLS.items()}
    used_fields: set[str] = set()
    f = {role: _pick(rng, pool, used_fields) for role, pool in _FIELD_POOLS.items()}
    tag = rng.choice(_CTX_TAGS)
    ctx_type = f"{tag}_t" if rng.random() < 0.3 else f"struct {tag}"
    return _Names(
        v=v,
        f=f,
        func=func,
        size=rng.choice(_SIZE_LITERALS if rng.random() < 0.5 else _SIZE_MACROS),
        len_type=rng.choice(_LEN_TYPES),
        elem_type=rng.choice(_ELEM_TYPES),
        ptr_type=f"struct {rng.choice(_PTR_TAGS)}",
        ctx_type=ctx_type,
        helper=rng.choice(_HELPERS),
        reader=rng.choice(_READERS),
        alloc=rng.choice(_ALLOCATORS),
    )


def _int_ret(rng: random.Random) -> tuple[str, str]:
    return rng.choice(_INT_RETS), rng.choice(_INT_FAILS)


def _log(rng: random.Random) -> str:
    level = rng.choice(("log_debug", "log_warn", "log_error", "log_info"))
    return f'{level}("%s: {rng.choice(_MESSAGES)}", __func__);'


def _guard(rng: random.Random, cond: str, fail: str) -> list[str]:
    """An early-return guard in one of several common brace/log styles."""
    style = rng.randrange(4)
    if style == 0:
        return [f"if ({cond})", f"    return {fail};"]
    if style == 1:
        return [f"if ({cond}) return {fail};"]
    if style == 2:
        return [f"if ({cond}) {{", f"    {_log(rng)}", f"    return {fail};", "}"]
    return [f"if ({cond}) {{", f"    return {fail};", "}"]


def _is_null(rng: random.Random, expr: str) -> str:
    return rng.choice((f"!{expr}", f"{expr} == NULL", f"NULL == {expr}"))


def _len_ref(rng: random.Random, nm: _Names) -> tuple[str, list[str]]:
    """A length expression: either a parameter or a context field (``ctx->len``)."""
    if rng.random() < 0.3:
        return f"{nm.v['ctx']}->{nm.f['f_len']}", []
    return nm.v["length"], [f"{nm.len_type} {nm.v['length']}"]


def _src_param(rng: random.Random, nm: _Names, elem: str = "char") -> str:
    const = "const " if rng.random() < 0.7 else ""
    return f"{const}{elem} *{nm.v['src']}"


def _alloc(nm: _Names, size: str) -> str:
    return nm.alloc[0].format(size)


def _calloc(nm: _Names, count: str, size: str) -> str:
    return nm.alloc[1].format(count, size)


def _free(nm: _Names, expr: str) -> str:
    return f"{nm.alloc[2]}({expr});"


def _consume(rng: random.Random, nm: _Names, arg: str, fail: str) -> list[str]:
    """A final use of the produced data so every function ends in a realistic way."""
    choice = rng.randrange(3)
    if choice == 0:
        return [f"return {nm.helper}({arg});"]
    if choice == 1:
        return [f"return {nm.helper}({nm.v['ctx']}, {arg});"]
    return [f"if ({nm.helper}({arg}) < 0)", f"    return {fail};", "return 0;"]


# --- family builders -------------------------------------------------------------------------
# Each builder returns the core of one function; ``vul`` selects the flawed variant.  The repaired
# variant differs only by a guard, a comparison operator, a statement order or a pointer reset.
def _stack_copy(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    ret, fail = _int_ret(rng)
    buf, src, i = nm.v["buf"], nm.v["src"], nm.v["idx"]
    prefix = rng.choice((f"{nm.v['ctx']}->{nm.f['f_name']}", '"/var/run"', '"dev"', '"cfg"'))
    decls = [f"char {buf}[{nm.size}];"]
    kind = rng.randrange(4)
    if kind == 0:
        body = [] if vul else _guard(rng, f"strlen({src}) >= sizeof({buf})", fail)
        body.append(f"strcpy({buf}, {src});")
    elif kind == 1:
        decls.append(f"size_t {i};")
        bound = "" if vul else f" && {i} < sizeof({buf}) - 1"
        body = [
            f"for ({i} = 0; {src}[{i}] != '\\0'{bound}; {i}++)",
            f"    {buf}[{i}] = {src}[{i}];",
            f"{buf}[{i}] = '\\0';",
        ]
    elif kind == 2:
        sink = f"sprintf({buf}, " if vul else f"snprintf({buf}, sizeof({buf}), "
        body = [f'{sink}"%s/%s", {prefix}, {src});']
    else:
        cond = f"strlen({prefix}) + strlen({src}) >= sizeof({buf})"
        body = [] if vul else _guard(rng, cond, fail)
        body += [f"strcpy({buf}, {prefix});", f"strcat({buf}, {src});"]
    return _Core(ret, fail, [_src_param(rng, nm)], decls, body, _consume(rng, nm, buf, fail))


def _off_by_one(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    ret, fail = _int_ret(rng)
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
        return _Core(
            ret, fail, [_src_param(rng, nm, elem)], decls, body, _consume(rng, nm, buf, fail)
        )
    if kind == 1:
        ctx, acc = nm.v["ctx"], nm.v["acc"]
        items = f"{ctx}->{nm.f['f_items']}[{i}]"
        stmt = rng.choice((f"{acc} += {items};", f"{items} = 0;", f"{acc} ^= {items};"))
        body = [f"for ({i} = 0; {i} {cmp} {ctx}->{nm.f['f_count']}; {i}++)", f"    {stmt}"]
        decls = [f"unsigned int {i};", f"long {acc} = 0;"]
        return _Core(ret, fail, [], decls, body, [f"return (int){acc};"])
    lref, lparams = _len_ref(rng, nm)
    body = _guard(rng, f"{lref} {'>' if vul else '>='} sizeof({buf})", fail)
    body += [f"memcpy({buf}, {src}, {lref});", f"{buf}[{lref}] = '\\0';"]
    return _Core(
        ret,
        fail,
        [_src_param(rng, nm), *lparams],
        [f"char {buf}[{nm.size}];"],
        body,
        _consume(rng, nm, buf, fail),
    )


def _null_deref(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    p, src, ctx = nm.v["ptr"], nm.v["src"], nm.v["ctx"]
    # Decide the return convention first: pointer-returning allocators fail with NULL.
    ptr_ret = rng.random() < 0.6
    ret, fail = ("", "NULL") if ptr_ret else _int_ret(rng)
    kind = rng.randrange(3)
    params: list[str] = []
    if kind == 0:
        ty = rng.choice(("char", "uint8_t", "unsigned char"))
        lref, params = _len_ref(rng, nm)
        params = [_src_param(rng, nm, ty), *params]
        alloc = f"{p} = {_alloc(nm, lref)};"
        use = [rng.choice((f"memcpy({p}, {src}, {lref});", f"memset({p}, 0, {lref});"))]
    elif kind == 1:
        ty = nm.ptr_type
        size = rng.choice((f"sizeof(*{p})", f"sizeof({ty})"))
        alloc = f"{p} = {rng.choice((_alloc(nm, size), _calloc(nm, '1', size)))};"
        use = [
            f"{p}->{nm.f['f_state']} = {rng.choice(_STATES)};",
            f"{p}->{nm.f['f_len']} = {ctx}->{nm.f['f_cap']};",
        ]
    else:
        ty = "char"
        params = [_src_param(rng, nm)]
        alloc = f"{p} = strdup({src});"
        use = [
            rng.choice(
                (
                    f"{p}[strcspn({p}, \"\\r\\n\")] = '\\0';",
                    f"{ctx}->{nm.f['f_len']} = strlen({p});",
                )
            )
        ]
    body = [alloc] + ([] if vul else _guard(rng, _is_null(rng, p), fail)) + use
    decls = [f"{ty} *{p} = NULL;"]
    if ptr_ret:
        ret = rng.choice(("", "static ")) + f"{ty} *"
        return _Core(ret, fail, params, decls, body, [f"return {p};"])
    params.append(f"{ty} **{nm.v['dst']}")
    return _Core(ret, fail, params, decls, body, [f"*{nm.v['dst']} = {p};", "return 0;"])


def _use_after_free(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    ret, fail = _int_ret(rng)
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
        order = [_free(nm, p), use] if vul else [use, _free(nm, p)]
        return _Core(
            ret, fail, [f"{nm.ptr_type} *{p}"], [f"int {rc} = 0;"], pre + order, [f"return {rc};"]
        )
    # Flawed variant leaves a dangling pointer that a later NULL test cannot catch.
    lref, lparams = _len_ref(rng, nm)
    body = [
        f"{p} = {_alloc(nm, lref)};",
        *_guard(rng, _is_null(rng, p), fail),
        f"{rc} = {nm.reader}({src}, {p}, {lref});",
        f"if ({rc} < 0) {{",
        f"    {_free(nm, p)}",
    ]
    body += ["}"] if vul else [f"    {p} = NULL;", "}"]
    body += [
        rng.choice((f"if ({p} != NULL)", f"if ({p})")),
        f"    {rc} = {nm.helper}({p}, {lref});",
    ]
    ty = rng.choice(("char", "uint8_t", "void"))
    return _Core(
        ret,
        fail,
        [_src_param(rng, nm, "uint8_t"), *lparams],
        [f"{ty} *{p} = NULL;", f"int {rc};"],
        body,
        [f"return {rc};"],
    )


def _double_free(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    ret, fail = _int_ret(rng)
    p, rc, src = nm.v["ptr"], nm.v["rc"], nm.v["src"]
    lref, lparams = _len_ref(rng, nm)
    body = [
        f"{p} = {_alloc(nm, lref)};",
        *_guard(rng, _is_null(rng, p), fail),
        f"{rc} = {nm.reader}({src}, {p}, {lref});",
        f"if ({rc} < 0) {{",
    ]
    kind = rng.randrange(3)
    tail = [_free(nm, p), f"return {rc};"]
    if kind == 2:
        # Error path jumps to a shared cleanup label that frees again.
        body += ([f"    {_free(nm, p)}"] if vul else []) + ["    goto out;", "}"]
        body.append(f"{rc} = {nm.helper}({p}, {lref});")
        tail = ["out:", *tail]
    else:
        body.append(f"    {_free(nm, p)}")
        if not vul:
            body.append(f"    return {rc};" if kind == 0 else f"    {p} = NULL;")
        body.append("}")
    ty = rng.choice(("char", "uint8_t", "unsigned char", "void"))
    return _Core(
        ret,
        fail,
        [_src_param(rng, nm, "uint8_t"), *lparams],
        [f"{ty} *{p} = NULL;", f"int {rc} = 0;"],
        body,
        tail,
    )


def _size_overflow(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    ret, fail = _int_ret(rng)
    cnt, arr, i, src = nm.v["count"], nm.v["ptr"], nm.v["idx"], nm.v["src"]
    elem, kind = nm.elem_type, rng.randrange(3)
    esize = rng.choice((f"sizeof(*{arr})", f"sizeof({elem})"))
    if kind == 2:
        # Signed count: the repaired variant bounds it by INT_MAX before multiplying.
        ctype, total = "int", f"{cnt} * (int){esize}"
        cond = f"{cnt} <= 0" + ("" if vul else f" || {cnt} > INT_MAX / (int){esize}")
        pre = _guard(rng, cond, fail)
    else:
        ctype = rng.choice(("size_t", "uint32_t", "unsigned int", "unsigned long"))
        total = f"{cnt} * {esize}"
        pre = _guard(rng, f"{cnt} == 0", fail) if rng.random() < 0.5 else []
        if not vul:
            pre += _guard(rng, f"{cnt} > SIZE_MAX / {esize}", fail)
    body = [
        *pre,
        f"{arr} = {_alloc(nm, total)};",
        *_guard(rng, _is_null(rng, arr), fail),
        f"for ({i} = 0; {i} < {cnt}; {i}++)",
        f"    {arr}[{i}] = {src}[{i}];",
    ]
    params = [f"{ctype} {cnt}", _src_param(rng, nm, elem)]
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
    return _Core(ret, fail, params, decls, body, tail)


_FORMAT_SINKS = (
    ("printf({m})", 'printf("%s", {m})'),
    ("fprintf(stderr, {m})", 'fprintf(stderr, "%s", {m})'),
    ("fprintf(stderr, {m})", "fputs({m}, stderr)"),
    ("syslog(LOG_ERR, {m})", 'syslog(LOG_ERR, "%s", {m})'),
    ("snprintf({o}, sizeof({o}), {m})", 'snprintf({o}, sizeof({o}), "%s", {m})'),
)


def _format_string(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    ret, fail = _int_ret(rng)
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
        pre = _guard(rng, f"fgets({line}, sizeof({line}), {nm.v['aux']}) == NULL", fail)
    sink = rng.choice(_FORMAT_SINKS)[0 if vul else 1]
    if "{o}" in sink:
        decls.append(f"char {out}[{rng.choice(_SIZE_LITERALS)}];")
        tail = _consume(rng, nm, out, fail)
    else:
        tail = ["return 0;"]
    body = [*pre, sink.format(m=msg, o=out) + ";"]
    return _Core(ret, fail, params, decls, body, tail)


def _memcpy_len(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    ret, fail = _int_ret(rng)
    ctx, buf, src = nm.v["ctx"], nm.v["buf"], nm.v["src"]
    lref, lparams = _len_ref(rng, nm)
    params = [_src_param(rng, nm, rng.choice(("uint8_t", "void", "char"))), *lparams]
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
            *_guard(rng, cond, fail),
            f"memcpy({ctx}->{nm.f['f_buf']} + {pos}, {src}, {lref});",
            f"{pos} += {lref};",
        ]
        return _Core(ret, fail, params, [], body, ["return 0;"])
    if kind == 0:
        dst, decls = buf, [f"uint8_t {buf}[{nm.size}];"]
        tail = _consume(rng, nm, buf, fail)
    else:
        dst, decls = f"{ctx}->{nm.f['f_buf']}", []
        tail = [f"{ctx}->{nm.f['f_pos']} = {lref};", "return 0;"]
    body = [] if vul else _guard(rng, f"{lref} > sizeof({dst})", fail)
    body.append(f"memcpy({dst}, {src}, {lref});")
    return _Core(ret, fail, params, decls, body, tail)


def _oob_read(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    ret, fail = _int_ret(rng)
    idx, rc, ctx, tbl = nm.v["index"], nm.v["rc"], nm.v["ctx"], nm.v["ptr"]
    decls = [f"int {rc} = 0;"]
    kind = rng.randrange(3)
    if kind == 0:
        values = ", ".join(str(rng.randint(0, 4096)) for _ in range(rng.randint(4, 9)))
        decls.insert(0, f"static const int {tbl}[] = {{ {values} }};")
        count = rng.choice((f"ARRAY_SIZE({tbl})", f"sizeof({tbl}) / sizeof({tbl}[0])"))
        params = [f"{rng.choice(('unsigned int', 'size_t', 'uint32_t'))} {idx}"]
        body = [] if vul else _guard(rng, f"{idx} >= {count}", fail)
        body.append(f"{rc} = {tbl}[{idx}];")
    elif kind == 1:
        # Signed index: the flawed guard forgets the lower bound.
        count = f"{ctx}->{nm.f['f_count']}"
        cond = f"{idx} >= {count}" if vul else f"{idx} < 0 || {idx} >= {count}"
        params = [f"int {idx}"]
        body = [*_guard(rng, cond, fail), f"{rc} = {ctx}->{nm.f['f_items']}[{idx}];"]
    else:
        src, (lref, lparams) = nm.v["src"], _len_ref(rng, nm)
        cond = (
            f"{idx} >= {lref}"
            if vul
            else rng.choice((f"{idx} + 2 > {lref}", f"{lref} < 2 || {idx} > {lref} - 2"))
        )
        params = [f"const uint8_t *{src}", *lparams, f"size_t {idx}"]
        body = [*_guard(rng, cond, fail), f"{rc} = {src}[{idx}] | ({src}[{idx} + 1] << 8);"]
    return _Core(ret, fail, params, decls, body, [f"return {rc};"])


def _div_zero(rng: random.Random, nm: _Names, vul: bool) -> _Core:
    ret, fail = _int_ret(rng)
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
        lref, params = _len_ref(rng, nm)
        expr = f"(int)({lref} / {count})"
    guard = [] if vul else _guard(rng, f"{count} == 0", rng.choice(("0", fail)))
    body = [*pre, *guard, f"{rc} = {expr};"]
    return _Core(ret, fail, params, decls, body, [f"return {rc};"])


_BUILDERS: dict[str, _Builder] = {
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


# --- shared decoration: filler, nesting, parameters, rendering -------------------------------
# Filler and wrappers are label-independent so they add variety without leaking the label.
_FILLERS = (
    'log_debug("%s: {msg}", __func__);',
    'log_trace("{msg}");',
    "update_stats({ctx});",
    "{ctx}->{f_stat}++;",
    "{acc} += {k};",
    "{acc} ^= {acc} >> {shift};",
    "if ({flags} & {flag})\n    {acc} |= {k};",
    'if ({flags} & {flag})\n    log_info("%s: {msg}", __func__);',
    "memset(&{ctx}->{f_stat}, 0, sizeof({ctx}->{f_stat}));",
    "trace_event({event}, {acc});",
    "{ctx}->{f_state} = {state};",
    "(void){flags};",
    "{acc} = hash_mix({acc}, {k});",
    "mutex_lock(&{ctx}->lock);\n{ctx}->{f_stat} += {k};\nmutex_unlock(&{ctx}->lock);",
)
_WRAPPERS = (
    ("if ({flags} & {flag}) {{", "}}"),
    ("if ({ctx}->{f_state} == {state}) {{", "}}"),
    ("do {{", "}} while (0);"),
    ("switch ({flags} & 0x3) {{\ncase {case}:", "    break;\ndefault:\n    break;\n}}"),
    ("if ({flags} != 0) {{", '}} else {{\n    log_debug("%s: {msg}", __func__);\n}}'),
    ("if (likely({ctx}->{f_state} != {state})) {{", "}}"),
)
# The repaired variant usually carries an extra guard, so the flawed one receives this many
# extra filler statements on average (measured mean length gap / mean filler length per family);
# without it, function length alone would separate the labels.
_PAD_FILLERS: dict[str, float] = {
    "CWE-121": 1.4,
    "CWE-193": 0.35,
    "CWE-476": 1.85,
    "CWE-416": 0.3,
    "CWE-415": 0.5,
    "CWE-190": 2.1,
    "CWE-134": 0.0,
    "CWE-787": 1.7,
    "CWE-125": 1.35,
    "CWE-369": 1.4,
}
_STRING_LITERAL = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'')


def _template_values(rng: random.Random, nm: _Names) -> dict[str, str]:
    return {
        "ctx": nm.v["ctx"],
        "acc": nm.v["acc"],
        "flags": nm.v["flags"],
        "f_stat": nm.f["f_stat"],
        "f_state": nm.f["f_state"],
        "msg": rng.choice(_MESSAGES),
        "k": str(rng.randint(1, 64)),
        "shift": str(rng.randint(1, 15)),
        "case": str(rng.randint(1, 3)),
        "flag": rng.choice(_FLAGS),
        "event": rng.choice(_EVENTS),
        "state": rng.choice(_STATES),
    }


def _filler(rng: random.Random, nm: _Names) -> list[str]:
    template = rng.choice(_FILLERS)
    return template.format_map(_template_values(rng, nm)).split("\n")


def _nest(rng: random.Random, nm: _Names, body: list[str]) -> list[str]:
    """Wrap the core statements in 0-2 random control-flow layers."""
    depth = rng.choices((0, 1, 2), weights=(55, 35, 10))[0]
    for _ in range(depth):
        head, foot = rng.choice(_WRAPPERS)
        values = _template_values(rng, nm)
        body = [
            *head.format_map(values).split("\n"),
            *("    " + line for line in body),
            *foot.format_map(values).split("\n"),
        ]
    return body


def _uses(text: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def _finish_params(rng: random.Random, nm: _Names, params: list[str], code: str) -> list[str]:
    """Add implicitly referenced parameters (ctx, flags), random extras, and shuffle."""
    code = _STRING_LITERAL.sub('""', code)
    params = list(params)
    ctx, flags, aux = nm.v["ctx"], nm.v["flags"], nm.v["aux"]
    if _uses(code, flags):
        params.append(f"{rng.choice(('unsigned int', 'int', 'uint32_t'))} {flags}")
    if rng.random() < 0.3 and not _uses(code, aux):
        params.append(rng.choice((f"void *{aux}", f"int {aux}", f"unsigned {aux}")))
    if rng.random() < 0.5:
        rng.shuffle(params)
    # Real code nearly always takes the context object first.
    if _uses(code, ctx) and rng.random() < 0.8:
        params.insert(0, f"{nm.ctx_type} *{ctx}")
    elif _uses(code, ctx):
        params.insert(rng.randint(0, len(params)), f"{nm.ctx_type} *{ctx}")
    return params


def _decoy_guard(rng: random.Random, params: list[str], fail: str) -> list[str]:
    """A label-independent NULL guard on a pointer parameter (looks like a repair, is not)."""
    pointers = [param.split("*")[-1].strip() for param in params if "*" in param]
    if not pointers or rng.random() < 0.6:
        return []
    return _guard(rng, _is_null(rng, rng.choice(pointers)), fail)


def _extra_decls(rng: random.Random, nm: _Names, decls: list[str], code: str) -> list[str]:
    acc = nm.v["acc"]
    if _uses(_STRING_LITERAL.sub('""', code), acc) and not _uses(" ".join(decls), acc):
        return [*decls, f"{rng.choice(('unsigned int', 'uint32_t', 'unsigned long'))} {acc} = 0;"]
    return decls


def _indent(line: str, unit: str) -> str:
    if not line:
        return line
    stripped = line.lstrip(" ")
    return unit * ((len(line) - len(stripped)) // 4 + 1) + stripped


def _render(
    rng: random.Random,
    core: _Core,
    name: str,
    params: Sequence[str],
    decls: Sequence[str],
    lines: Sequence[str],
) -> str:
    unit = rng.choice(("    ", "    ", "\t", "  "))
    sig = f"{core.ret}{name}" if core.ret.endswith("*") else f"{core.ret} {name}"
    head = f"{sig}({', '.join(params) if params else 'void'})"
    out = [f"{head} {{"] if rng.random() < 0.5 else [head, "{"]
    out += [unit + decl for decl in decls]
    if decls and rng.random() < 0.8:
        out.append("")
    out += [_indent(line, unit) for line in lines]
    out.append("}")
    return "\n".join(out) + "\n"


def _assemble(rng: random.Random, nm: _Names, core: _Core, pad: float) -> str:
    """Decorate a core with filler, nesting, decoy guards and parameters, then render it."""
    body = _nest(rng, nm, core.body)
    n_fill = rng.randint(0, 3) + int(pad) + (1 if rng.random() < pad - int(pad) else 0)
    fills = [_filler(rng, nm) for _ in range(n_fill)]
    cut = rng.randint(0, n_fill)
    lines = [line for chunk in fills[:cut] for line in chunk] + body
    lines += [line for chunk in fills[cut:] for line in chunk] + core.tail
    code = "\n".join(core.params + lines)
    params = _finish_params(rng, nm, core.params, code)
    lines = _decoy_guard(rng, params, core.fail) + lines
    decls = list(core.decls)
    rng.shuffle(decls)
    decls = _extra_decls(rng, nm, decls, "\n".join(lines))
    return _render(rng, core, nm.func, params, decls, lines)


def _slots(rng: random.Random, n: int) -> list[tuple[str, bool]]:
    """(family, vulnerable) pairs in shuffled blocks: exact balance without positional leaks."""
    slots: list[tuple[str, bool]] = []
    while len(slots) < n:
        block = [(family, vul) for family in CWE_FAMILIES for vul in (True, False)]
        rng.shuffle(block)
        slots.extend(block)
    return slots[:n]


def generate_demo(
    n_functions: int, seed: int, label_noise: float = 0.05
) -> list[dict[str, object]]:
    """Generate a deterministic synthetic corpus of labelled C functions.

    Args:
        n_functions: number of functions to generate (>= 0).
        seed: RNG seed; identical ``(n_functions, seed, label_noise)`` give byte-identical output.
        label_noise: probability of independently flipping each label (0 <= p <= 1).  Noise is
            drawn from a separate stream, so the functions themselves do not depend on it.

    Returns:
        One dict per function: ``{"func": str, "target": int, "cwe": str, "project": "demo"}``
        where ``target`` is 1 for the flawed variant (after noise) and ``cwe`` is the family id.
    """
    if n_functions < 0:
        raise ValueError(f"n_functions must be >= 0, got {n_functions}")
    if not 0.0 <= label_noise <= 1.0:
        raise ValueError(f"label_noise must be in [0, 1], got {label_noise}")
    rng = random.Random(seed)
    noise_rng = random.Random(rng.getrandbits(64))
    out: list[dict[str, object]] = []
    for family, vul in _slots(rng, n_functions):
        nm = _draw_names(rng)
        pad = _PAD_FILLERS[family] if vul else 0.0
        func = _assemble(rng, nm, _BUILDERS[family](rng, nm, vul), pad)
        flip = noise_rng.random() < label_noise
        out.append({"func": func, "target": int(vul != flip), "cwe": family, "project": "demo"})
    return out
