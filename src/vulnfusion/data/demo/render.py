"""Shared decoration: filler, nesting, decoy guards, parameters and rendering of one function.

Filler and wrappers are label-independent so they add variety without leaking the label.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from vulnfusion.data.demo.pools import EVENTS, FLAGS, MESSAGES, STATES
from vulnfusion.data.demo.snippets import Core, Names, guard_lines, is_null

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
PAD_FILLERS: dict[str, float] = {
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


def _template_values(rng: random.Random, nm: Names) -> dict[str, str]:
    return {
        "ctx": nm.v["ctx"],
        "acc": nm.v["acc"],
        "flags": nm.v["flags"],
        "f_stat": nm.f["f_stat"],
        "f_state": nm.f["f_state"],
        "msg": rng.choice(MESSAGES),
        "k": str(rng.randint(1, 64)),
        "shift": str(rng.randint(1, 15)),
        "case": str(rng.randint(1, 3)),
        "flag": rng.choice(FLAGS),
        "event": rng.choice(EVENTS),
        "state": rng.choice(STATES),
    }


def _filler(rng: random.Random, nm: Names) -> list[str]:
    template = rng.choice(_FILLERS)
    return template.format_map(_template_values(rng, nm)).split("\n")


def _nest(rng: random.Random, nm: Names, body: list[str]) -> tuple[list[str], int]:
    """Wrap the core statements in 0-2 random control-flow layers; also returns where the
    first core statement now is (the wrappers' head lines come before it)."""
    depth = rng.choices((0, 1, 2), weights=(55, 35, 10))[0]
    offset = 0
    for _ in range(depth):
        head, foot = rng.choice(_WRAPPERS)
        values = _template_values(rng, nm)
        heads = head.format_map(values).split("\n")
        offset += len(heads)
        body = [*heads, *("    " + line for line in body), *foot.format_map(values).split("\n")]
    return body, offset


def _uses(text: str, name: str) -> bool:
    return re.search(rf"\b{re.escape(name)}\b", text) is not None


def _finish_params(rng: random.Random, nm: Names, params: list[str], code: str) -> list[str]:
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
    return guard_lines(rng, is_null(rng, rng.choice(pointers)), fail)


def _extra_decls(rng: random.Random, nm: Names, decls: list[str], code: str) -> list[str]:
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
    core: Core,
    name: str,
    params: Sequence[str],
    decls: Sequence[str],
    lines: Sequence[str],
) -> tuple[str, int]:
    """The function text, and the 0-based text line where ``lines[0]`` landed."""
    unit = rng.choice(("    ", "    ", "\t", "  "))
    sig = f"{core.ret}{name}" if core.ret.endswith("*") else f"{core.ret} {name}"
    head = f"{sig}({', '.join(params) if params else 'void'})"
    out = [f"{head} {{"] if rng.random() < 0.5 else [head, "{"]
    out += [unit + decl for decl in decls]
    if decls and rng.random() < 0.8:
        out.append("")
    first = len(out)
    out += [_indent(line, unit) for line in lines]
    out.append("}")
    return "\n".join(out) + "\n", first


def assemble(rng: random.Random, nm: Names, core: Core, pad: float) -> tuple[str, list[int]]:
    """Decorate a core with filler, nesting, decoy guards and parameters, then render it.

    Returns the function text and the 1-based lines of it that hold ``core.marked`` (the
    lines carrying the flaw or the fix), ascending. Decoration only adds whole lines
    around the core's and moves none of them, so each marked index maps to one text line.
    """
    body, offset = _nest(rng, nm, core.body)
    n_fill = rng.randint(0, 3) + int(pad) + (1 if rng.random() < pad - int(pad) else 0)
    fills = [_filler(rng, nm) for _ in range(n_fill)]
    cut = rng.randint(0, n_fill)
    before = [line for chunk in fills[:cut] for line in chunk]
    lines = before + body
    lines += [line for chunk in fills[cut:] for line in chunk] + core.tail
    # position in ``lines`` of each core line: body lines after the fill and the wrapper
    # heads, tail lines at the very end
    n_body = len(core.body)
    where = [
        len(before) + offset + i if i < n_body else len(lines) - len(core.tail) + i - n_body
        for i in core.marked
    ]
    code = "\n".join(core.params + lines)
    params = _finish_params(rng, nm, core.params, code)
    decoy = _decoy_guard(rng, params, core.fail)
    lines = decoy + lines
    decls = list(core.decls)
    rng.shuffle(decls)
    decls = _extra_decls(rng, nm, decls, "\n".join(lines))
    text, first = _render(rng, core, nm.func, params, decls, lines)
    return text, sorted(first + len(decoy) + w + 1 for w in where)
