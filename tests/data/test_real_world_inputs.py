"""Data files as practitioners have them (issue 14, items 4-8), each kind with exact values.

Line endings and BOMs, boolean labels and Hugging Face split names, ``.json`` files that are
JSON Lines, a given train/valid/test split kept as given, and a skip-mode run that rejects
everything still leaving its ``stats.json``.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_script, tiny_params
from vulnfusion.config import resolve
from vulnfusion.data.prepare import prepare
from vulnfusion.data.sources import DataError, RejectLog, check_function_text, read_source
from vulnfusion.data.text import normalize_code
from vulnfusion.io import read_jsonl, write_jsonl
from vulnfusion.paths import SPLITS

# Every test here is a case of issue 14 and records its observed outcome in
# reports/reliability.md (`make reliability`); they stay fast (small files, no model).
pytestmark = pytest.mark.reliability

FUNC_LF = "static int\nadd_one(int x)\n{\n\tint y = x + 1;  \n\treturn y;\n}\n"
FUNCS = [f"int f{i}(int x) {{ return x + {i}; }}" for i in range(8)]


def _jsonl(rows: list[dict[str, Any]], eol: str = "\n") -> bytes:
    return "".join(json.dumps(r) + eol for r in rows).encode()


def _read(path: Path, skip: bool = False) -> tuple[list[Any], RejectLog]:
    rejects = RejectLog()
    return read_source(path, 10_000, skip_bad=skip, rejects=rejects), rejects


def _prepare(path: Path, out: Path, **split: Any) -> dict[str, Any]:
    data = {"source": "devign", "path": str(path), "on_bad_record": "skip"}
    return prepare(resolve(tiny_params(data=data, split=split)), out)


def _split_dir(root: Path, splits: dict[str, list[dict[str, Any]]], eol: str = "\n") -> Path:
    root.mkdir()
    for name, rows in splits.items():
        (root / f"{name}.jsonl").write_bytes(_jsonl(rows, eol))
    return root


# --- item 4: line endings and BOM --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\nb\n", "a\nb\n"),
        ("a\r\nb\r\n", "a\nb\n"),
        ("a\rb\r", "a\nb\n"),
        ("\ufeffa\r\nb", "a\nb"),
        ("a\r\r\nb", "a\n\nb"),  # lone CR then CRLF: two line breaks
        ("a\n\rb", "a\n\nb"),
        ("\ufeff\ufeffa", "a"),  # re-saved with a BOM twice
        ("a\n\ufeffb\n", "a\nb\n"),  # files saved with a BOM joined by `cat`
        ("\ufeffa\r\n\ufeff\ufeffb\r\ufeff", "a\nb\n"),
        ("x\ufeffy\t \n", "x\ufeffy\t \n"),  # a BOM inside a line, tabs and trailing blanks stay
        ("", ""),
    ],
)
def test_normalize_code(text: str, expected: str, reliability: Any) -> None:
    assert normalize_code(text) == expected
    assert normalize_code(expected) == expected
    reliability(f"code text {text!r} (line endings / BOMs)", f"normalised to {expected!r}")


VARIANTS = {
    "lf": FUNC_LF,
    "crlf": FUNC_LF.replace("\n", "\r\n"),
    "cr": FUNC_LF.replace("\n", "\r"),
    "bom_crlf": "\ufeff" + FUNC_LF.replace("\n", "\r\n"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_check_function_text_returns_the_lf_text(variant: str, reliability: Any) -> None:
    assert check_function_text(VARIANTS[variant], "row 0") == FUNC_LF
    reliability(
        f"function text with {variant} line endings (check_function_text)",
        "returns the LF text, identical to the LF variant",
    )


def test_line_endings_give_identical_prepared_records(tmp_path: Path, reliability: Any) -> None:
    """LF, CRLF, CR and BOM+CRLF copies of one corpus (the file itself CRLF+BOM for the last)."""
    outputs: dict[str, dict[str, bytes]] = {}
    for name, func in VARIANTS.items():
        conv = {
            "lf": lambda s: s,
            "crlf": lambda s: s.replace("\n", "\r\n"),
            "cr": lambda s: s.replace("\n", "\r"),
            "bom_crlf": lambda s: "\ufeff" + s.replace("\n", "\r\n"),
        }[name]
        rows = {
            "train": [{"func": func, "target": 1}, {"func": conv(FUNCS[0] + "\n"), "target": 0}],
            "valid": [{"func": conv("int v(void)\n{\n  return 0;\n}\n"), "target": 0}],
            "test": [{"func": conv("int t(char *p)\n{\n  return *p;\n}\n"), "target": 1}],
        }
        root = _split_dir(tmp_path / name, rows, eol="\r\n" if name == "bom_crlf" else "\n")
        if name == "bom_crlf":  # the file starts with a BOM too
            for f in root.iterdir():
                f.write_bytes(codecs.BOM_UTF8 + f.read_bytes())
        stats = _prepare(root, tmp_path / f"{name}_out")
        assert stats["records_rejected"]["total"] == 0
        outputs[name] = {s: (tmp_path / f"{name}_out" / f"{s}.jsonl").read_bytes() for s in SPLITS}
    for name in VARIANTS:
        assert outputs[name] == outputs["lf"], name
    train = [json.loads(x) for x in outputs["lf"]["train"].decode().splitlines()]
    assert sorted(r["func"] for r in train) == sorted([FUNC_LF, FUNCS[0] + "\n"])
    reliability(
        "one corpus with LF, CRLF, CR and BOM+CRLF functions (prepare, given split)",
        f"0 rejects; the {len(VARIANTS)} prepared train/valid/test files are byte-identical",
    )


# --- item 5: boolean labels, the 'validation' split, all-rejected skip runs --------------------
def test_boolean_targets_are_one_and_zero(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "hf.jsonl"
    targets = [True, False, 1, 0]
    rows = [{"func": f, "target": t} for f, t in zip(FUNCS, targets, strict=False)]
    path.write_bytes(_jsonl(rows))
    recs, _ = _read(path)
    assert [(r.target, type(r.target)) for r in recs] == [(1, int), (0, int), (1, int), (0, int)]
    reliability("target true/false (Hugging Face CodeXGLUE export)", "read as 1/0 (int)")


def test_label_siblings_that_stay_rejected(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "labels.jsonl"
    lines = [
        json.dumps({"func": FUNCS[0], "target": True}),
        json.dumps({"func": FUNCS[1], "target": "true"}),  # a string, not a boolean
        json.dumps({"func": FUNCS[2], "target": "false"}),
        f'{{"func": "{FUNCS[3]}", "target": True}}',  # Python's True is not JSON
        json.dumps({"func": FUNCS[4], "target": 1.0}),
        json.dumps({"func": FUNCS[5], "target": None}),
    ]
    path.write_text("\n".join(lines) + "\n")
    recs, rejects = _read(path, skip=True)
    assert [(r.func, r.target) for r in recs] == [(FUNCS[0], 1)]
    assert rejects.counts == {"label is not 0 or 1": 4, "invalid JSON": 1}
    assert rejects.examples["label is not 0 or 1"] == [f"{path}:{n}" for n in (2, 3, 5, 6)]
    with pytest.raises(DataError) as err:
        _read(path)
    assert str(err.value) == f"{path}:2: label is not 0 or 1 (target='true')"
    reliability(
        'target "true", "false", 1.0, null, Python\'s True (skip, then error mode)',
        f"skip: 1 kept, rejects {dict(rejects.counts)}; error mode: "
        + str(err.value).replace(f"{tmp_path}/", ""),
        lost="nothing (rejects counted with file:line)",
    )


def test_validation_is_the_valid_split(tmp_path: Path, reliability: Any) -> None:
    rows = {
        "train": [{"func": FUNCS[0], "target": 1, "idx": 0}],
        "validation": [{"func": FUNCS[1], "target": 0, "idx": 1}],
        "test": [{"func": FUNCS[2], "target": True, "idx": 2}],
    }
    root = _split_dir(tmp_path / "hf", rows)
    recs, _ = _read(root)
    assert [(r.orig_split, r.target, r.source_id) for r in recs] == [
        ("train", 1, "idx:0"),
        ("valid", 0, "idx:1"),
        ("test", 1, "idx:2"),
    ]
    reliability(
        "split directory with validation.jsonl (Hugging Face name)",
        f"read as valid: {[r.orig_split for r in recs]}",
    )


def test_split_dir_errors(tmp_path: Path, reliability: Any) -> None:
    both = _split_dir(tmp_path / "both", {s: [] for s in ("train", "valid", "validation", "test")})
    with pytest.raises(DataError) as err:
        _read(both)
    assert str(err.value) == f"{both}: valid.jsonl and validation.jsonl both hold valid"
    lacks = _split_dir(tmp_path / "lacks", {s: [] for s in ("train", "test")})
    with pytest.raises(DataError) as err:
        _read(lacks)
    assert str(err.value) == (
        f"{lacks}: directory lacks valid.jsonl or validation.jsonl "
        "(CodeXGLUE layout: train, valid or validation, test)"
    )
    reliability(
        "split directory with both valid.jsonl and validation.jsonl, or without either",
        f"one-line errors: {both.name}: ...both hold valid; {lacks.name}: directory lacks ...",
    )


def test_split_field_in_records(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "one.jsonl"
    names = ["train", "validation", "valid", "test", "dev", 3]
    rows = [{"func": f, "target": 0, "split": s} for f, s in zip(FUNCS, names, strict=False)]
    path.write_bytes(_jsonl(rows))
    recs, rejects = _read(path, skip=True)
    assert [r.orig_split for r in recs] == ["train", "valid", "valid", "test"]
    assert rejects.counts == {"split is not train, valid, validation or test": 2}
    reliability(
        "records with a split field train/validation/valid/test/dev/3 (skip mode)",
        f"kept as {[r.orig_split for r in recs]}; rejects {dict(rejects.counts)}",
    )


def test_skip_mode_all_rejected_writes_stats_then_fails(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        _jsonl(
            [
                {"func": "int f(){}", "target": "true"},
                {"target": 1},
                {"func": "int g(){}", "target": 2},
            ]
        )
    )
    out = tmp_path / "prepared"
    with pytest.raises(DataError) as err:
        _prepare(path, out)
    assert str(err.value) == (
        f"{path}: no valid records (3 rejected: label is not 0 or 1: 2, missing field 'func': 1;"
        f" see {out / 'stats.json'})"
    )
    assert sorted(p.name for p in out.iterdir()) == ["stats.json"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["records_read"] == 3 and stats["error"] == f"{path}: no valid records"
    assert (stats["strategy"], stats["strategy_requested"]) == (None, "auto")
    assert stats["records_rejected"] == {
        "total": 3,
        "by_reason": {"label is not 0 or 1": 2, "missing field 'func'": 1},
        "examples": {
            "label is not 0 or 1": [f"{path}:1", f"{path}:3"],
            "missing field 'func'": [f"{path}:2"],
        },
    }
    reliability(
        "skip mode, every record rejected",
        "stats.json alone with the per-reason counts, then one-line error naming them",
    )


def test_prepare_cli_all_rejected_exit_2_with_stats(tmp_path: Path, reliability: Any) -> None:
    import yaml

    path = tmp_path / "bad.jsonl"
    path.write_bytes(_jsonl([{"func": "int f(){}", "target": "1"}]))
    params = tiny_params(data={"source": "devign", "path": str(path), "on_bad_record": "skip"})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "prepared"
    res = run_script("prepare.py", "--output-dir", str(out), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    last = [ln for ln in res.stderr.splitlines() if ln.strip()][-1]
    assert last == (
        f"error: {path}: no valid records (1 rejected: label is not 0 or 1: 1; "
        f"see {out / 'stats.json'})"
    )
    by_reason = json.loads((out / "stats.json").read_text())["records_rejected"]["by_reason"]
    assert by_reason == {"label is not 0 or 1": 1}
    reliability(
        "prepare stage (CLI), skip mode, every record rejected",
        f"exit {res.returncode}, stats.json by_reason {by_reason}, last stderr line: "
        + last.replace(f"{tmp_path}/", ""),
    )


# --- items 6 and 7: format by content, BOM ------------------------------------------------------
ROWS = [{"func": FUNCS[0], "target": 1}, {"func": FUNCS[1], "target": 0}]


# ids are the file names: the contents hold bytes (gzip), and test ids must be the same in
# every pytest-xdist worker (gzip's header time made two workers collect different tests)
FORMAT_CASES = [
    ("array.json", json.dumps(ROWS).encode(), ["[0]", "[1]"]),
    ("lines.json", _jsonl(ROWS), [":1", ":2"]),  # DiverseVul's JSON Lines named .json
    ("trailing_blank.json", _jsonl(ROWS) + b"\n  \n", [":1", ":2"]),
    ("array_pretty.json", b"\n  " + json.dumps(ROWS, indent=2).encode(), ["[0]", "[1]"]),
    ("array_named.jsonl", json.dumps(ROWS).encode(), ["[0]", "[1]"]),
    ("bom_lines.jsonl", codecs.BOM_UTF8 + _jsonl(ROWS), [":1", ":2"]),
    ("bom_crlf.jsonl", codecs.BOM_UTF8 + _jsonl(ROWS, "\r\n"), [":1", ":2"]),
    ("bom_array.json", codecs.BOM_UTF8 + json.dumps(ROWS).encode(), ["[0]", "[1]"]),
    ("gz_named.json", gzip.compress(_jsonl(ROWS), mtime=0), [":1", ":2"]),
    ("lines.json.gz", gzip.compress(codecs.BOM_UTF8 + _jsonl(ROWS), mtime=0), [":1", ":2"]),
]


@pytest.mark.parametrize(
    ("name", "content", "where"), FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES]
)
def test_format_told_by_content(
    tmp_path: Path, name: str, content: bytes, where: list[str], reliability: Any
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    recs, rejects = _read(path, skip=True)
    assert [(r.func, r.target) for r in recs] == [(FUNCS[0], 1), (FUNCS[1], 0)]
    assert rejects.counts == {}
    expected_ids = [f"row:{w.strip('[]:')}" for w in where]
    assert [r.source_id for r in recs] == expected_ids
    reliability(
        f"data file `{name}` (format told by content, not name)",
        f"both records read, 0 rejects, ids {expected_ids}",
    )


def test_json_lines_named_json_skips_a_bad_line(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "diversevul.json"
    path.write_bytes(_jsonl(ROWS[:1]) + b'{"func": "int f(){}", "target": 0\n' + _jsonl(ROWS[1:]))
    recs, rejects = _read(path, skip=True)
    assert [r.func for r in recs] == [FUNCS[0], FUNCS[1]]
    assert rejects.counts == {"invalid JSON": 1}
    assert rejects.examples["invalid JSON"] == [f"{path}:2"]
    reliability(
        "DiverseVul-style .json of JSON Lines with a broken line 2 (skip mode)",
        "2 good records kept; 1 'invalid JSON' reject at line 2",
        lost="the broken line only (counted)",
    )


@pytest.mark.parametrize("content", [b"", b"\n \n", codecs.BOM_UTF8, codecs.BOM_UTF8 + b"\r\n"])
def test_blank_files_are_empty(tmp_path: Path, content: bytes, reliability: Any) -> None:
    path = tmp_path / "blank.json"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        _read(path, skip=True)
    assert str(err.value) == f"{path}: empty file"
    reliability(f"blank data file {content!r}", "one-line error '<file>: empty file'")


def test_unsupported_file_type(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "data.csv"
    path.write_text("func,target\n")
    with pytest.raises(DataError) as err:
        _read(path)
    assert str(err.value) == (
        f"{path}: unsupported file type (want .jsonl, .jsonl.gz, .json, .json.gz or a directory)"
    )
    reliability("data.path is a .csv file", "one-line error: unsupported file type")


# --- item 8: the given split ---------------------------------------------------------------------
def _given_corpus(root: Path) -> Path:
    """11 records: a train-internal copy, a text in all three splits, a cross-split conflict."""
    a, b, c, x, y, v, t = (f"int {n}(int q) {{ return q * {i}; }}" for i, n in enumerate("abcxyvt"))
    return _split_dir(
        root,
        {
            "train": [
                {"func": a, "target": 1},
                {"func": b, "target": 0},
                {"func": c, "target": 1},
                {"func": x, "target": 0},
                {"func": a, "target": 1},
                {"func": y, "target": 1},
            ],
            "valid": [{"func": v, "target": 0}, {"func": x, "target": 0}],
            "test": [{"func": t, "target": 1}, {"func": x, "target": 0}, {"func": y, "target": 0}],
        },
    )


def test_given_split_kept_and_cross_split_duplicates_counted(
    tmp_path: Path, reliability: Any
) -> None:
    root = _given_corpus(tmp_path / "cx")
    stats = _prepare(root, tmp_path / "out")  # split.strategy: auto → given (a split directory)
    assert (stats["strategy"], stats["strategy_requested"]) == ("given", "auto")
    assert stats["records_read"] == 11
    assert stats["duplicates_dropped"] == 3  # a once (within train), x twice (train, valid)
    assert stats["cross_split_duplicates_dropped"] == 2
    assert stats["conflicting_duplicates_dropped"] == 2  # y: 1 in train, 0 in test
    assert [stats["splits"][s]["count"] for s in SPLITS] == [3, 1, 2]
    assert [stats["splits"][s]["positives"] for s in SPLITS] == [2, 0, 1]
    test_rows = [json.loads(x) for x in (tmp_path / "out" / "test.jsonl").read_text().splitlines()]
    assert sorted(r["source_id"] for r in test_rows) == ["test/row:1", "test/row:2"]
    assert all(r["orig_split"] == "test" for r in test_rows)
    on_disk = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert on_disk["cross_split_duplicates_dropped"] == 2 and on_disk["strategy"] == "given"
    reliability(
        "CodeXGLUE train/valid/test directory with copies across splits (split.strategy auto)",
        f"strategy given, split sizes {[stats['splits'][s]['count'] for s in SPLITS]}, "
        f"{stats['cross_split_duplicates_dropped']} cross-split copies dropped (test kept whole)",
        lost="duplicate copies only (counted in stats.json)",
    )


def test_explicit_given_equals_auto(tmp_path: Path, reliability: Any) -> None:
    root = _given_corpus(tmp_path / "cx")
    auto = _prepare(root, tmp_path / "auto")
    given = _prepare(root, tmp_path / "given", strategy="given")
    assert {**auto, "strategy_requested": "given"} == given
    reliability("split.strategy given on a split directory", "same stats as auto")


def test_stratified_resplits_a_split_directory(tmp_path: Path, reliability: Any) -> None:
    funcs = [f"int g{i}(int x) {{ return x - {i}; }}" for i in range(40)]
    rows = [{"func": f, "target": i % 2} for i, f in enumerate(funcs)]
    root = _split_dir(
        tmp_path / "cx", {"train": rows[:36], "valid": rows[36:38], "test": rows[38:]}
    )
    stats = _prepare(root, tmp_path / "out", strategy="stratified")
    assert (stats["strategy"], stats["strategy_requested"]) == ("stratified", "stratified")
    assert "cross_split_duplicates_dropped" not in stats
    assert [stats["splits"][s]["count"] for s in SPLITS] == [32, 4, 4]
    reliability("split directory with split.strategy stratified", "re-split 32/4/4 on request")


def test_auto_without_a_split_is_stratified_and_given_needs_one(
    tmp_path: Path, reliability: Any
) -> None:
    path = tmp_path / "flat.jsonl"
    path.write_bytes(
        _jsonl(
            [{"func": f"int f{i}(int x) {{ return x + {i}; }}", "target": i % 2} for i in range(40)]
        )
    )
    stats = _prepare(path, tmp_path / "auto")
    assert (stats["strategy"], stats["strategy_requested"]) == ("stratified", "auto")
    assert [stats["splits"][s]["count"] for s in SPLITS] == [32, 4, 4]
    with pytest.raises(DataError) as err:
        _prepare(path, tmp_path / "given", strategy="given")
    assert str(err.value) == (
        "split.strategy given: 40 of 40 records have no split (a train/valid/test directory or "
        "a 'split' field gives one); set split.strategy: stratified to split them here "
        f"(0 rejected; see {tmp_path / 'given' / 'stats.json'})"
    )
    stats = json.loads((tmp_path / "given" / "stats.json").read_text())
    assert (stats["strategy"], stats["records_read"], stats["records_rejected"]["total"]) == (
        None,
        40,
        0,
    )
    reliability(
        "flat file without splits (split.strategy auto, then given)",
        "auto → stratified 32/4/4; given → stats.json, then: "
        + str(err.value).replace(f"{tmp_path}/", ""),
    )


def test_auto_with_some_records_split_fails(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "mixed.jsonl"
    rows: list[dict[str, Any]] = [{"func": f, "target": i % 2} for i, f in enumerate(FUNCS)]
    rows[0]["split"] = "test"
    path.write_bytes(_jsonl(rows))
    with pytest.raises(DataError) as err:
        _prepare(path, tmp_path / "out")
    assert str(err.value).startswith("split.strategy auto: 7 of 8 records have no split")
    assert str(err.value).endswith(f"(0 rejected; see {tmp_path / 'out' / 'stats.json'})")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["stats.json"]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["error"].startswith("split.strategy auto: 7 of 8 records have no split")
    reliability(
        "flat file where 1 of 8 records has a split field (split.strategy auto)",
        "stats.json alone (error recorded), then one-line error: 7 of 8 records have no split",
    )


def test_given_split_with_every_valid_record_rejected(tmp_path: Path, reliability: Any) -> None:
    """The empty split is named with the rejects that emptied it; stats.json comes first."""
    rows = {
        "train": [{"func": f, "target": i % 2} for i, f in enumerate(FUNCS[:4])],
        "valid": [{"func": f, "target": "yes"} for f in FUNCS[4:7]],
        "test": [{"func": FUNCS[7], "target": 1}, {"target": 0}],
    }
    root = _split_dir(tmp_path / "cx", rows)
    out = tmp_path / "out"
    with pytest.raises(DataError) as err:
        _prepare(root, out)
    assert str(err.value) == (
        "split: the valid split is empty (5 records kept in all) (4 rejected: "
        f"label is not 0 or 1: 3, missing field 'func': 1; see {out / 'stats.json'})"
    )
    assert sorted(p.name for p in out.iterdir()) == ["stats.json"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["error"] == "split: the valid split is empty (5 records kept in all)"
    assert (stats["strategy"], stats["records_read"]) == ("given", 9)
    assert stats["records_rejected"]["by_reason"] == {
        "label is not 0 or 1": 3,
        "missing field 'func'": 1,
    }
    assert stats["records_rejected"]["examples"]["label is not 0 or 1"] == [
        f"{root / 'valid.jsonl'}:{n}" for n in (1, 2, 3)
    ]
    assert [stats["splits"][s]["count"] for s in SPLITS] == [4, 0, 1]
    reliability(
        'given split whose every valid record is rejected (target "yes", skip mode)',
        "stats.json alone with per-reason counts and split sizes 4/0/1, then: "
        "split: the valid split is empty (...) (4 rejected: label is not 0 or 1: 3, ...)",
        lost="nothing (rejects counted with file:line)",
    )


# --- line ends and BOMs inside data files --------------------------------------------------------
LINE_END_CASES = [
    ("cr_only", _jsonl(ROWS, "\r")),
    ("cr_only_no_final_end", _jsonl(ROWS, "\r")[:-1]),
    ("crlf", _jsonl(ROWS, "\r\n")),
    ("mixed", _jsonl(ROWS[:1], "\r") + _jsonl(ROWS[1:], "\r\n")),
    ("cr_only_gz", gzip.compress(codecs.BOM_UTF8 + _jsonl(ROWS, "\r"), mtime=0)),
]


@pytest.mark.parametrize(("name", "content"), LINE_END_CASES, ids=[c[0] for c in LINE_END_CASES])
def test_cr_line_ends_read_like_lf(
    tmp_path: Path, name: str, content: bytes, reliability: Any
) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(content)
    recs, rejects = _read(path, skip=True)
    assert [(r.func, r.target, r.source_id) for r in recs] == [
        (FUNCS[0], 1, "row:1"),
        (FUNCS[1], 0, "row:2"),
    ]
    assert rejects.counts == {}
    reliability(f"JSON Lines file with {name} line ends", "2 records read as from LF, ids row:1/2")


def test_cr_only_bad_line_keeps_its_line_number(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "mac.jsonl"
    bad = b'{"func": "int f(){}", "target": 0\r'
    # line 1 good, 2 broken, 3 blank, 4 good; every line ends with a lone CR
    path.write_bytes(_jsonl(ROWS[:1], "\r") + bad + b"\r" + _jsonl(ROWS[1:], "\r"))
    recs, rejects = _read(path, skip=True)
    assert [(r.func, r.source_id) for r in recs] == [(FUNCS[0], "row:1"), (FUNCS[1], "row:4")]
    assert rejects.examples == {"invalid JSON": [f"{path}:2"]}
    with pytest.raises(DataError) as err:
        _read(path)
    assert str(err.value) == (f"{path}:2: invalid JSON (Expecting ',' delimiter at column 34)")
    reliability(
        "CR-only JSON Lines file with a broken line 2",
        f"skip: 2 kept (lines 1, 4), reject at :2; error mode: {path.name}:2: invalid JSON",
        lost="the broken line only (counted)",
    )


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_json_array_error_line_counts_any_line_end(
    tmp_path: Path, eol: str, reliability: Any
) -> None:
    path = tmp_path / "function.json"
    text = json.dumps(ROWS, indent=1).replace("\n", eol).replace('"target": 0', '"target": 0,')
    path.write_bytes(codecs.BOM_UTF8 + text.encode())
    with pytest.raises(DataError) as err:
        _read(path, skip=True)
    assert str(err.value) == (
        f"{path}:9: invalid JSON (Expecting property name enclosed in double quotes)"
    )
    reliability(
        f"function.json (one JSON array) with {eol!r} line ends and a trailing comma on line 8",
        "one-line error at line 9, the line an editor shows",
    )


def test_files_joined_with_cat_keep_every_record(tmp_path: Path, reliability: Any) -> None:
    """Each part saved with a BOM; `cat a b c > all.jsonl` puts BOMs at line starts."""
    parts = [codecs.BOM_UTF8 + _jsonl([{"func": FUNCS[i], "target": i % 2}]) for i in range(3)]
    crlf_part = codecs.BOM_UTF8 + _jsonl([{"func": FUNCS[3], "target": 1}], "\r\n")
    path = tmp_path / "all.jsonl"
    path.write_bytes(b"".join(parts) + crlf_part + codecs.BOM_UTF8 + b"\n")
    recs, rejects = _read(path, skip=True)
    assert [(r.func, r.target, r.source_id) for r in recs] == [
        (FUNCS[0], 0, "row:1"),
        (FUNCS[1], 1, "row:2"),
        (FUNCS[2], 0, "row:3"),
        (FUNCS[3], 1, "row:4"),
    ]
    assert rejects.counts == {}
    reliability(
        "4 BOM-prefixed JSON Lines files joined with cat (one CRLF)",
        "4 of 4 records read, 0 rejects",
    )


def test_a_record_text_keeps_no_line_start_bom(tmp_path: Path, reliability: Any) -> None:
    func = '\ufeffint f(void)\r\n\ufeff{\r\n  return "\ufeff";\r\n}\r\n'
    path = tmp_path / "bom_text.jsonl"
    path.write_bytes(_jsonl([{"func": func, "target": 1}]))
    recs, _ = _read(path)
    assert recs[0].func == 'int f(void)\n{\n  return "\ufeff";\n}\n'
    reliability(
        "function text with BOMs at line starts and inside a string literal, CRLF",
        "line-start BOMs and CRs removed; the literal's U+FEFF kept",
    )


# --- the length limit applies to the normalised text --------------------------------------------
FUNC_95 = (  # 95 characters on 13 lines: 108 with CRLF
    "int f(int x)\n{\n"
    + "".join(f"  x += {i};\n" for i in range(4))
    + "x++;\n" * 4
    + "x += 9;\n"
    + "return x;\n}\n"
)


def test_length_limit_counts_normalised_characters(reliability: Any) -> None:
    crlf = FUNC_95.replace("\n", "\r\n")
    assert (len(FUNC_95), len(crlf)) == (95, 108)
    assert check_function_text(crlf, "row 0", max_chars=100) == FUNC_95
    assert check_function_text(FUNC_95, "row 0", max_chars=95) == FUNC_95
    with pytest.raises(DataError) as err:
        check_function_text(crlf, "row 3", max_chars=94)
    assert str(err.value) == (
        "row 3: function has 95 characters once line endings are normalised, above the limit of 94"
    )
    reliability(
        "95-char function sent with CRLF (108 chars), limit 100",
        f"accepted as its LF text; at limit 94: {err.value}",
    )


def test_prepare_max_chars_counts_normalised_characters(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "crlf.jsonl"
    crlf = FUNC_95.replace("\n", "\r\n")
    path.write_bytes(_jsonl([{"func": crlf, "target": 1}, {"func": crlf + "\r\n", "target": 0}]))
    rejects = RejectLog()
    recs = read_source(path, 95, skip_bad=True, rejects=rejects)
    assert [r.func for r in recs] == [FUNC_95]
    assert rejects.examples == {"function too long": [f"{path}:2"]}
    reliability(
        "CRLF records of 95 and 96 normalised chars, data.max_chars 95 (skip mode)",
        "the 95-char one kept as LF text; the other rejected as 'function too long' at :2",
        lost="the over-long record only (counted)",
    )


# sha256 of the tiny demo's prepared splits before split.strategy auto existed (commit 366acab)
DEMO_DIGESTS = {
    "train": "a9d4927c0390f0b81341d157cc47f3becdb0fdd70c6a255a46823d90d63678dd",
    "valid": "96841b9c030e9b791df98c86c7952a430f60faac8892f755950239a49c13b2a0",
    "test": "1a25f7dcf735467ef5516ca5157724eec7fa0b0e804428ef30b7e827436fe853",
}


BASE_KEYS = {"id", "func", "target", "source_id", "project", "cwe"}


def test_demo_prepared_data_is_unchanged(tmp_path: Path, reliability: Any) -> None:
    """auto on the demo (no given split) is the stratified split the demo always had."""
    stats = prepare(resolve(tiny_params()), tmp_path / "demo")
    assert (stats["strategy"], stats["strategy_requested"]) == ("stratified", "auto")
    digests = {}
    for s in SPLITS:
        rows = read_jsonl(tmp_path / "demo" / f"{s}.jsonl")
        # the line annotations (issue 15) are the only addition: without them, same bytes
        assert {k for r in rows for k in r} - BASE_KEYS <= {"flaw_lines", "fix_lines"}
        assert any("flaw_lines" in r for r in rows) and any("fix_lines" in r for r in rows)
        plain = write_jsonl(
            tmp_path / f"{s}.plain.jsonl",
            [{k: v for k, v in r.items() if k in BASE_KEYS} for r in rows],
        )
        digests[s] = hashlib.sha256(plain.read_bytes()).hexdigest()
    assert digests == DEMO_DIGESTS
    reliability(
        "demo data after split.strategy auto, normalisation and flaw-line annotations were added",
        "auto → stratified; prepared files, less the line annotations, byte-identical to "
        "commit 366acab",
    )


def _spec(max_input_chars: int) -> Any:
    from vulnfusion.serving import ServingSpec

    return ServingSpec(
        threshold=0.5,
        max_length=64,
        max_nodes=100,
        max_chars_parse=1000,
        max_input_chars=max_input_chars,
        max_rows=10,
        seeds=[0],
    )


def test_served_model_scores_the_normalised_text(reliability: Any) -> None:
    """The request validation hands the scorer LF text, whatever the client sent."""
    import pandas as pd

    from vulnfusion.serving import validate_frame

    frame = pd.DataFrame({"func": list(VARIANTS.values())})
    assert validate_frame(frame, _spec(1000)) == [FUNC_LF] * 4
    reliability(
        "scoring request with LF, CRLF, CR and BOM+CRLF copies of one function",
        "the scorer receives 4 identical LF texts",
    )


def test_served_length_limit_counts_normalised_characters(reliability: Any) -> None:
    import pandas as pd

    from vulnfusion.serving import InputError, validate_frame

    crlf = FUNC_95.replace("\n", "\r\n")
    frame = pd.DataFrame({"func": [FUNC_95, crlf]})
    assert validate_frame(frame, _spec(100)) == [FUNC_95, FUNC_95]
    with pytest.raises(InputError) as err:
        validate_frame(pd.DataFrame({"func": [FUNC_95, crlf + "\r\n" * 6]}), _spec(100))
    assert str(err.value) == (
        "1 of 2 rows rejected, nothing scored: row 1: function has 101 characters "
        "once line endings are normalised, above the limit of 100"
    )
    reliability(
        "scoring request: 95-char function as LF and as CRLF (108 chars), max_input_chars 100",
        f"both accepted and scored as the same LF text; 101 normalised chars refused: {err.value}",
    )
