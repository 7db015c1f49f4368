"""The malformed-input corpus: one entry per kind of bad record a user can feed us.

Each case is a whole ``.jsonl`` file (the bad record sits on line 2, after one good record,
unless the whole file is the problem) and the one-line error fragment it must produce, or
``None`` when the record is valid input that later stages handle (e.g. C that does not
parse cleanly is kept; its parse error is counted by featurize).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

GOOD = {"func": "int add(int a, int b) { return a + b; }", "target": 0, "idx": 0}
GOOD_LINE = json.dumps(GOOD).encode()


@dataclass(frozen=True)
class BadCase:
    name: str
    content: bytes
    error: str | None  # expected fragment of the one-line error; None = accepted
    line: int | None = 2  # line named in the error (None: the file as a whole)
    reason: str | None = None  # the stats.json reason key in skip mode


def _rec(**kw: object) -> bytes:
    return json.dumps({"idx": 1, **kw}).encode()


def _file(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


LONG = "int big(int x) {\n" + "  x = x + 1;\n" * 12_500 + "  return x;\n}\n"  # 150,033 chars

CASES = [
    BadCase(
        "invalid_json",
        _file(GOOD_LINE, b'{"func": "int f(){}", "target": 0'),
        "invalid JSON",
        reason="invalid JSON",
    ),
    BadCase(
        "missing_func",
        _file(GOOD_LINE, _rec(target=1)),
        "missing field 'func'",
        reason="missing field 'func'",
    ),
    BadCase(
        "missing_target",
        _file(GOOD_LINE, _rec(func="int f(void) { return 1; }")),
        "missing field 'target'",
        reason="missing field 'target'",
    ),
    BadCase(
        "label_not_binary",
        _file(GOOD_LINE, _rec(func="int f(void) { return 1; }", target=2)),
        "label is not 0 or 1",
        reason="label is not 0 or 1",
    ),
    BadCase(
        "label_is_string",
        _file(GOOD_LINE, _rec(func="int f(void) { return 1; }", target="1")),
        "label is not 0 or 1",
        reason="label is not 0 or 1",
    ),
    BadCase(
        "empty_function",
        _file(GOOD_LINE, _rec(func="   \n", target=0)),
        "empty function",
        reason="empty function",
    ),
    BadCase(
        "non_utf8",
        _file(GOOD_LINE, b'{"idx": 1, "func": "int f() { \xff\xfe }", "target": 0}'),
        "not valid UTF-8",
        reason="not valid UTF-8",
    ),
    BadCase(
        "too_long",
        _file(GOOD_LINE, _rec(func=LONG, target=1)),
        "function too long",
        reason="function too long",
    ),
    BadCase(
        "binary_garbage",
        _file(GOOD_LINE, _rec(func="".join(chr(i % 256) for i in range(7, 900)), target=0)),
        "binary content",
        reason="binary content",
    ),
    BadCase(
        "macro_only",
        _file(GOOD_LINE, _rec(func="#define MAX_LEN 16\n#define MIN(a,b) a", target=0)),
        "no function body",
        reason="no function body",
    ),
    BadCase(
        "not_an_object",
        _file(GOOD_LINE, b"[1, 2, 3]"),
        "record is not a JSON object",
        reason="record is not a JSON object",
    ),
    BadCase(
        "lone_surrogate",
        _file(GOOD_LINE, b'{"idx": 1, "func": "int f() { \\ud800 }", "target": 1}'),
        "invalid unicode",
        reason="text has invalid unicode",
    ),
    BadCase(
        "duplicated_ids",
        _file(GOOD_LINE, json.dumps({**GOOD, "func": "int g(void) { return 2; }"}).encode()),
        "duplicate id (idx:0",
        reason="duplicate id",
    ),
    BadCase("empty_file", b"", "empty file", line=None),
    BadCase("unparsable_c", _file(GOOD_LINE, _rec(func="int f( { return ; ]] }", target=1)), None),
]

# The long-function case only fails under a tighter cap: the shipped default (200,000) accepts
# Devign's longest function (142,346 chars) and featurize truncates what it parses instead.
MAX_CHARS_FOR_TESTS = 100_000
