"""The demo generator's line-level ground truth: ``flaw_lines`` / ``fix_lines``.

Every flawed sample names the lines of its text that carry the flaw, every repaired one the
lines of its fix; ``prepare`` writes them into the prepared rows. The texts themselves are
the same as before the annotation existed (same seed → same corpus, same trained model).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from vulnfusion.data.demo import (
    CWE_FAMILIES,
    FIX_LINES,
    FLAW_LINES,
    annotated_demo_pairs,
    generate_demo,
    generate_demo_pairs,
)

# Any flaw line of a family holds one of these (the statement where the flaw happens).
FLAW_TOKENS: dict[str, tuple[str, ...]] = {
    "CWE-121": ("strcpy", "strcat", "sprintf", "["),
    "CWE-193": ("<=", "["),
    "CWE-476": ("memcpy", "memset", "->", "[", "strlen"),
    "CWE-416": ("free",),
    "CWE-415": ("free",),
    "CWE-190": ("alloc(",),
    "CWE-134": ("printf", "syslog"),
    "CWE-787": ("memcpy",),
    "CWE-125": ("[",),
    "CWE-369": ("/", "%"),
}
# sha256 of [func, target, cwe] of generate_demo(1600, 13, 0.05) — params.yaml's demo corpus —
# before the annotations were added: the texts must never change with them
DEMO_CORPUS_SHA256 = "ba594102481ef9d3dd246e3fef350aff910a298ee028b3324dc77a061feea106"


@pytest.fixture(scope="module")
def corpus() -> list[dict[str, object]]:
    return generate_demo(2000, seed=11, label_noise=0.0)


def _lines(row: dict[str, object], key: str) -> list[str]:
    text = str(row["func"]).split("\n")
    return [text[i - 1] for i in row[key]]  # type: ignore[attr-defined]


def test_every_sample_has_exactly_one_annotation(corpus: list[dict[str, object]]) -> None:
    for row in corpus:
        key = FLAW_LINES if row["target"] == 1 else FIX_LINES
        other = FIX_LINES if key == FLAW_LINES else FLAW_LINES
        assert other not in row
        lines = row[key]
        assert isinstance(lines, list) and lines, row
        n = str(row["func"]).count("\n")
        assert lines == sorted(set(lines)) and lines[0] >= 1 and lines[-1] <= n, row
        # never the signature or a blank line
        assert all(s.strip() for s in _lines(row, key)), row
        assert 1 not in lines, row


@pytest.mark.parametrize("family", CWE_FAMILIES)
def test_flaw_lines_hold_the_family_flaw_token(
    corpus: list[dict[str, object]], family: str
) -> None:
    rows = [r for r in corpus if r["cwe"] == family and r["target"] == 1]
    assert len(rows) == 100
    for row in rows:
        text = " ".join(_lines(row, FLAW_LINES))
        assert any(tok in text for tok in FLAW_TOKENS[family]), (family, text, row["func"])


def test_fix_lines_of_added_guards_are_if_statements(corpus: list[dict[str, object]]) -> None:
    """Families whose repair adds a check: the first fix line opens an ``if``."""
    guards = {"CWE-476", "CWE-787", "CWE-369", "CWE-190"}
    for row in corpus:
        if row["cwe"] in guards and row["target"] == 0:
            first = _lines(row, FIX_LINES)[0].strip()
            assert first.startswith("if ("), (first, row["func"])


def test_exact_lines_of_known_samples() -> None:
    """Hand-checked: the first samples of seed 3 and the lines that carry their flaw/fix."""
    rows = generate_demo(6, seed=3, label_noise=0.0)
    got = [(r["cwe"], r.get(FLAW_LINES), r.get(FIX_LINES)) for r in rows]
    assert got == [
        ("CWE-121", None, [5]),
        ("CWE-134", None, [9]),
        ("CWE-125", [7], None),
        ("CWE-476", None, [8, 9, 10, 11]),
        ("CWE-190", [15, 20], None),
        ("CWE-416", [10, 11], None),
    ]
    keys = [FLAW_LINES if FLAW_LINES in r else FIX_LINES for r in rows]
    texts = [[s.strip() for s in _lines(r, k)] for r, k in zip(rows, keys, strict=True)]
    assert texts[0] == ['snprintf(tag, sizeof(tag), "%s/%s", "cfg", src);']
    assert texts[2] == ["error = vec[sel];"]
    assert texts[3] == [
        "if (!chunk) {",
        'log_info("%s: unsupported mode", __func__);',
        "return NULL;",
        "}",
    ]
    assert texts[4] == [
        "dup = kmalloc(rows * (int)sizeof(int16_t), GFP_KERNEL);",
        "dup[i] = p_in[i];",
    ]
    assert texts[5] == ["kfree(item);", "s->num -= item->data_len;"]


def test_twins_annotated_and_unchanged() -> None:
    pairs = annotated_demo_pairs(40, seed=0)
    assert [(p.family, p.vulnerable, p.fixed) for p in pairs] == generate_demo_pairs(40, seed=0)
    for p in pairs:
        bad, good = p.vulnerable.split("\n"), p.fixed.split("\n")
        assert p.flaw_lines and p.fix_lines
        flaw = " ".join(bad[i - 1] for i in p.flaw_lines)
        assert any(tok in flaw for tok in FLAW_TOKENS[p.family]), (p.family, flaw)
        assert all(1 <= i <= len(good) for i in p.fix_lines)


def test_corpus_texts_unchanged_by_annotation() -> None:
    rows = generate_demo(1600, 13, 0.05)
    digest = hashlib.sha256(
        json.dumps([[r["func"], r["target"], r["cwe"]] for r in rows]).encode()
    ).hexdigest()
    assert digest == DEMO_CORPUS_SHA256


def test_prepare_writes_the_lines(tmp_path: Path) -> None:
    from tests.helpers import tiny_params
    from vulnfusion.config import resolve
    from vulnfusion.data.prepare import prepare
    from vulnfusion.io import read_jsonl

    cfg = resolve(tiny_params())
    prepare(cfg, tmp_path / "prepared")
    demo = cfg.data.demo
    by_text = {
        str(r["func"]): r for r in generate_demo(demo.n_functions, demo.seed, demo.label_noise)
    }
    n = 0
    for split in ("train", "valid", "test"):
        for row in read_jsonl(tmp_path / "prepared" / f"{split}.jsonl"):
            src = by_text[row["func"]]
            for key in (FLAW_LINES, FIX_LINES):
                assert row.get(key) == src.get(key)
            n += 1
    assert n > 0
