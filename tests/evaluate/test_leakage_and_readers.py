"""Training overlap (exact and whitespace/comment-only duplicates), the evaluation readers
(every format prepare reads, plus CSV), their one-line errors and ``--on-bad-record skip``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from vulnfusion.data.fingerprint import (
    Fingerprints,
    exact_hash,
    normalize_for_overlap,
    strip_comments,
)
from vulnfusion.data.prepare import example_id
from vulnfusion.data.sources import DataError
from vulnfusion.evaluation.dataset import read_eval_data
from vulnfusion.evaluation.figures import Scored, find_overlap, rows_without_overlap

TRAIN = [
    "int add(int a)\n{\n    return a + 1; // one more\n}\n",
    'char *greet(void) { return "hi // not a comment"; }\n',
]


def test_normalisation_drops_comments_and_spacing_only() -> None:
    assert normalize_for_overlap(TRAIN[0]) == "int add(int a){return a+1;}"
    # a comment marker inside a string literal is code
    assert normalize_for_overlap(TRAIN[1]) == 'char*greet(void){return"hi // not a comment";}'
    assert strip_comments("a /* x */ b // y\nc") == "a   b  \nc"
    assert normalize_for_overlap("unsigned  int x;") == "unsigned int x;"  # words stay apart


def test_leakage_counter_finds_planted_duplicates() -> None:
    train = Fingerprints.of(TRAIN)
    evaluated = [
        TRAIN[0],  # exact copy
        "int add(int a) { return a+1; }",  # whitespace and comment changed
        "int add(int a)\n{\n    /* bump */\n    return a + 1;\n}\n",  # another comment
        "int add(int b) { return b + 1; }",  # renamed: not a duplicate
        'char *greet(void) { return "hi // other"; }\n',  # the string differs
    ]
    found = find_overlap(evaluated, train)
    assert found.exact.tolist() == [True, False, False, False, False]
    assert found.normalized.tolist() == [True, True, True, False, False]
    assert found.summary() == {
        "available": True, "n_exact": 1, "n_normalized_only": 2, "n_overlap": 3, "share": 0.6
    }  # fmt: skip
    # the exact fingerprint is prepare's example id of the text
    assert exact_hash(TRAIN[0]) == example_id(TRAIN[0])


def test_a_pair_leaves_with_its_overlapping_twin(tmp_path: Path) -> None:
    funcs = [TRAIN[0], "int f(void) { return 0; }", "int g(void) { return 1; }", "int h;{}"]
    data = Scored(
        np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.8, 0.2]), ["p", "p", None, None],
        [None] * 4, [None] * 4,
    )  # fmt: skip
    overlap = find_overlap(funcs, Fingerprints.of(TRAIN))
    assert rows_without_overlap(data, overlap).tolist() == [2, 3]
    path = Fingerprints.of(TRAIN).write(tmp_path / "h.json")
    assert Fingerprints.read(path) == Fingerprints.of(TRAIN)


def _jsonl(path: Path, rows: list[object], gz: bool = False) -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    return path


ROWS = [
    {"func": "int a(void) { return 0; }", "target": 1, "pair_id": 7, "cwe": "CWE-787"},
    {"func": "int a(void) { return 1; }", "target": 0, "pair_id": 7, "cwe": ["CWE-787"]},
    {"func": "int b(void) { return 2; }", "target": 1, "project": "qemu"},
]


@pytest.mark.parametrize("shape", ["jsonl", "jsonl.gz", "function.json", "dir", "csv"])
def test_every_format_reads_with_optional_fields(tmp_path: Path, shape: str) -> None:
    if shape == "jsonl":
        path = _jsonl(tmp_path / "x.jsonl", ROWS)
    elif shape == "jsonl.gz":
        path = _jsonl(tmp_path / "x.jsonl.gz", ROWS, gz=True)
    elif shape == "function.json":
        path = tmp_path / "function.json"
        path.write_text(json.dumps(ROWS))
    elif shape == "dir":
        path = tmp_path / "d"
        path.mkdir()
        _jsonl(path / "train.jsonl", ROWS[:1])
        _jsonl(path / "valid.jsonl", ROWS[1:2])
        _jsonl(path / "test.jsonl", ROWS)
    else:
        path = tmp_path / "x.csv"
        path.write_text(
            "func,target,pair_id,cwe,project\n"
            '"int a(void) { return 0; }",1,7,CWE-787,\n'
            '"int a(void) { return 1; }",0,7,CWE-787,\n'
            '"int b(void)\n{ return 2; }",1,,,qemu\n'
        )
    data = read_eval_data(path, split="test" if shape == "dir" else None)
    rows = data.rows
    assert [r.label for r in rows] == [1, 0, 1]
    assert [r.pair_id for r in rows] == ["7", "7", None]
    assert [r.cwe for r in rows] == ["CWE-787", "CWE-787", None]
    assert rows[2].project == "qemu"
    assert len(data.digest) == 16


def _error(path: Path, skip: bool = False) -> str:
    with pytest.raises(DataError) as info:
        read_eval_data(path, skip_bad=skip)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_bad_records_give_one_line_errors_naming_file_and_line(tmp_path: Path) -> None:
    bad_json = tmp_path / "a.jsonl"
    bad_json.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    assert _error(bad_json).startswith(f"{bad_json}:2: invalid JSON")
    bad_label = _jsonl(tmp_path / "b.jsonl", [ROWS[0], {"func": "int f(){}", "target": 3}])
    assert _error(bad_label) == f"{bad_label}:2: label is not 0 or 1 (target=3)"
    bad_pair = _jsonl(tmp_path / "c.jsonl", [{**ROWS[0], "pair_id": {"x": 1}}])
    assert _error(bad_pair) == f"{bad_pair}:1: field 'pair_id' is not a string (dict)"
    # CSV: the record's first line, even after a multi-line function
    csv_path = tmp_path / "d.csv"
    csv_path.write_text('func,target\n"int f()\n{ }",1\n"int g() { }",maybe\n')
    assert _error(csv_path) == f"{csv_path}:4: label is not 0 or 1 (target='maybe')"
    no_header = tmp_path / "e.csv"
    no_header.write_text("code,label\nx,1\n")
    assert _error(no_header).startswith(f"{no_header}:1: CSV header lacks 'func' or 'target'")
    odd = tmp_path / "f.txt"
    odd.write_text("x")
    assert "unsupported file type" in _error(odd)


def test_skip_counts_bad_records(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "x.jsonl",
        [ROWS[0], {"func": "int f(){}", "target": 2}, {"target": 1}, ROWS[2], {"func": 3}],
    )
    data = read_eval_data(path, skip_bad=True)
    assert len(data.rows) == 2
    skipped = data.rejects.as_dict()
    assert skipped["total"] == 3
    assert skipped["by_reason"] == {
        "label is not 0 or 1": 1, "missing field 'func'": 1, "field 'func' is not a string": 1
    }  # fmt: skip
    assert skipped["examples"]["missing field 'func'"] == [f"{path}:3"]
    only_bad = _jsonl(tmp_path / "y.jsonl", [{"target": 1}])
    assert _error(only_bad, skip=True) == f"{only_bad}: no valid records"
