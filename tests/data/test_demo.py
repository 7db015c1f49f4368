"""Tests for the deterministic synthetic demo corpus (real tree-sitter parses, real processes)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
from collections import defaultdict

import pytest
import tree_sitter
import tree_sitter_c

from vulnfusion.data.demo import CWE_FAMILIES, generate_demo

# Substrings that must not occur anywhere in an identifier or string (lower-cased).
_TELLTALE_SUBSTRINGS = (
    "safe",
    "vuln",
    "overflow",
    "check_ok",
    "fixed",
    "exploit",
    "cwe",
    "patch",
    "sanitiz",
    "insecure",
)
# Whole sub-words (split on "_" and camelCase) that must not occur; "debug" is fine, "bug" is not.
_TELLTALE_WORDS = frozenset({"bad", "good", "bug", "fix", "ok", "flaw", "evil", "secure", "leak"})
_IDENT_NODES = frozenset({"identifier", "field_identifier", "type_identifier"})


@pytest.fixture(scope="module")
def parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_c.language()))


@pytest.fixture(scope="module")
def clean_2000() -> list[dict[str, object]]:
    return generate_demo(2000, seed=11, label_noise=0.0)


def _digest(rows: list[dict[str, object]]) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def _identifiers(parser: tree_sitter.Parser, code: str) -> set[str]:
    """Identifier, field and type names, minus the (per-sample unique) function name."""
    root = parser.parse(code.encode()).root_node
    out: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in _IDENT_NODES and node.text is not None:
            out.add(node.text.decode())
        stack.extend(node.children)
    declarator = root.children[0].child_by_field_name("declarator")
    while declarator is not None and declarator.type != "function_declarator":
        declarator = declarator.child_by_field_name("declarator")
    name = declarator.child_by_field_name("declarator") if declarator is not None else None
    if name is not None and name.text is not None:
        out.discard(name.text.decode())
    return out


def _has_comment(parser: tree_sitter.Parser, code: str) -> bool:
    stack = [parser.parse(code.encode()).root_node]
    while stack:
        node = stack.pop()
        if node.type == "comment":
            return True
        stack.extend(node.children)
    return False


def test_schema_and_families() -> None:
    rows = generate_demo(50, seed=1)
    assert len(rows) == 50
    assert len(CWE_FAMILIES) >= 8 and len(set(CWE_FAMILIES)) == len(CWE_FAMILIES)
    for row in rows:
        assert set(row) - {"flaw_lines", "fix_lines"} == {"func", "target", "cwe", "project"}
        assert isinstance(row["func"], str) and row["func"].strip()
        assert row["target"] in (0, 1) and type(row["target"]) is int
        assert row["cwe"] in CWE_FAMILIES
        assert row["project"] == "demo"


def test_argument_validation() -> None:
    assert generate_demo(0, seed=3) == []
    with pytest.raises(ValueError):
        generate_demo(-1, seed=3)
    with pytest.raises(ValueError):
        generate_demo(10, seed=3, label_noise=1.5)


def test_deterministic_in_process_and_seed_sensitive() -> None:
    first = generate_demo(200, seed=5, label_noise=0.1)
    assert first == generate_demo(200, seed=5, label_noise=0.1)
    five, six = generate_demo(200, seed=5), generate_demo(200, seed=6)
    assert sum(a["func"] != b["func"] for a, b in zip(five, six, strict=True)) == 200
    assert {r["func"] for r in five} & {r["func"] for r in six} == set()


@pytest.mark.slow
def test_deterministic_across_processes() -> None:
    script = (
        "import hashlib, json\n"
        "from vulnfusion.data.demo import generate_demo\n"
        "rows = generate_demo(300, seed=7, label_noise=0.1)\n"
        "print(hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest())\n"
    )
    digests = []
    # Different hash seeds would expose any reliance on hash() or set/dict iteration order.
    for hash_seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        proc = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        digests.append(proc.stdout.strip())
    assert digests[0] == digests[1]
    assert digests[0] == _digest(generate_demo(300, seed=7, label_noise=0.1))


def test_every_function_parses(parser: tree_sitter.Parser) -> None:
    rows = generate_demo(600, seed=2, label_noise=0.0)
    failures = []
    for row in rows:
        code = str(row["func"])
        root = parser.parse(code.encode()).root_node
        if root.has_error or [c.type for c in root.children] != ["function_definition"]:
            failures.append(code)
    assert not failures, f"{len(failures)} unparsable, first:\n{failures[0]}"


def test_each_family_has_both_labels_and_balance(clean_2000: list[dict[str, object]]) -> None:
    rows = generate_demo(600, seed=4, label_noise=0.0)
    seen = {(row["cwe"], row["target"]) for row in rows}
    assert seen == {(family, label) for family in CWE_FAMILIES for label in (0, 1)}
    positive = sum(int(str(row["target"])) for row in clean_2000) / len(clean_2000)
    assert positive == 0.5  # slots come in shuffled balanced blocks: exactly half


def test_label_noise_rate() -> None:
    clean = generate_demo(4000, seed=9, label_noise=0.0)
    noisy = generate_demo(4000, seed=9, label_noise=0.1)
    # Noise must only touch labels, never the code.
    assert [r["func"] for r in clean] == [r["func"] for r in noisy]
    flipped = sum(a["target"] != b["target"] for a, b in zip(clean, noisy, strict=True))
    assert flipped == 378  # 9.45% of 4000 for a 10% rate: the seeded noise stream
    everything = generate_demo(200, seed=9, label_noise=1.0)
    baseline = generate_demo(200, seed=9, label_noise=0.0)
    assert [r["target"] for r in everything] == [1 - r["target"] for r in baseline]


def test_no_telltale_tokens_or_comments(
    parser: tree_sitter.Parser, clean_2000: list[dict[str, object]]
) -> None:
    for row in clean_2000:
        code = str(row["func"])
        assert "//" not in code and "/*" not in code, code
        assert not _has_comment(parser, code)
        for token in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code):
            lower = token.lower()
            assert not any(s in lower for s in _TELLTALE_SUBSTRINGS), (token, code)
            words = {w.lower() for w in re.split(r"_+|(?<=[a-z])(?=[A-Z])", token) if w}
            assert not words & _TELLTALE_WORDS, (token, code)


def _best_threshold_accuracy(rows: list[dict[str, object]]) -> float:
    """Training accuracy of the best single length threshold (either direction)."""
    pairs = sorted((len(str(r["func"])), int(str(r["target"]))) for r in rows)
    n, positives = len(pairs), sum(t for _, t in pairs)
    best, below_pos = max(positives, n - positives), 0
    for i, (_, target) in enumerate(pairs, start=1):
        below_pos += target
        longer_is_pos = (i - below_pos) + (positives - below_pos)
        best = max(best, longer_is_pos, n - longer_is_pos)
    return best / n


def test_length_distributions_overlap(clean_2000: list[dict[str, object]]) -> None:
    def median_len(target: int) -> float:
        return statistics.median(len(str(r["func"])) for r in clean_2000 if r["target"] == target)

    vul, fixed = median_len(1), median_len(0)
    assert abs(vul - fixed) / max(vul, fixed) < 0.15
    # Length alone must stay close to chance, overall and within every family.
    assert _best_threshold_accuracy(clean_2000) < 0.60
    for family in CWE_FAMILIES:
        rows = [r for r in clean_2000 if r["cwe"] == family]
        assert _best_threshold_accuracy(rows) < 0.72, family


def test_identifier_vocabulary_shared_between_variants(
    parser: tree_sitter.Parser, clean_2000: list[dict[str, object]]
) -> None:
    vocab: dict[tuple[object, object], set[str]] = defaultdict(set)
    for row in clean_2000:
        vocab[(row["cwe"], row["target"])] |= _identifiers(parser, str(row["func"]))
    for family in CWE_FAMILIES:
        vul, fixed = vocab[(family, 1)], vocab[(family, 0)]
        jaccard = len(vul & fixed) / len(vul | fixed)
        assert jaccard >= 0.5, (family, jaccard, sorted(vul ^ fixed)[:20])


def test_duplicates_are_rare(clean_2000: list[dict[str, object]]) -> None:
    unique = len({str(r["func"]) for r in clean_2000})
    assert (len(clean_2000) - unique) / len(clean_2000) < 0.02
