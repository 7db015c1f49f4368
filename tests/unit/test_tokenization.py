"""`encode` tokenizes only each function's head: it must equal plain truncation exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from vulnfusion.tokenization import encode, load_tokenizer_dir

TEXTS = [
    "int f(int x) { return x; }",
    "int g(void) {\n" + "    x = x + 1;\n" * 400 + "}",  # long: the head is cut
    "int h(void) {" + " " * 5000 + "return 0; }",  # whitespace run across the cut
    'void k(void) { puts("' + "=" * 3000 + '"); }',  # a huge literal/punctuation run
    "int m(void) {" + "\n\n\t" * 900 + "a = b;" * 50 + "}",
    "",
]


@pytest.mark.parametrize("max_length", [8, 64, 256])
def test_head_encoding_equals_full_truncation(tiny_workspace: Path, max_length: int) -> None:
    tok = load_tokenizer_dir(tiny_workspace / "data/features/tokenizer")
    ref = tok(TEXTS, truncation=True, max_length=max_length)["input_ids"]
    assert encode(tok, TEXTS, max_length) == ref
