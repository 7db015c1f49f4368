"""The held-out paired demo set: twins with a pair_id and a CWE, none in the demo corpus."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import ROOT
from vulnfusion.config import load_config
from vulnfusion.data.demo import CWE_FAMILIES, generate_demo
from vulnfusion.data.demo.heldout import heldout_rows, main
from vulnfusion.data.fingerprint import Fingerprints, normalized_hash


def test_pairs_are_labelled_twins_with_ids_and_cwes() -> None:
    rows = heldout_rows(20, 7)
    assert len(rows) == 40
    assert [r["target"] for r in rows[:4]] == [1, 0, 1, 0]
    assert rows[0]["pair_id"] == rows[1]["pair_id"] == "demo-pair-0"
    assert len({r["pair_id"] for r in rows}) == 20
    assert {r["cwe"] for r in rows} == set(CWE_FAMILIES)
    assert all(a["func"] != b["func"] for a, b in zip(rows[::2], rows[1::2], strict=True))
    assert heldout_rows(20, 7) == rows  # deterministic


def test_no_heldout_function_is_in_the_shipped_demo_corpus() -> None:
    demo = load_config(ROOT / "params.yaml").data.demo
    corpus = Fingerprints.of(str(r["func"]) for r in generate_demo(demo.n_functions, demo.seed))
    rows = heldout_rows()
    assert len(rows) == 400
    assert not [r for r in rows if normalized_hash(r["func"]) in corpus.normalized]


def test_command_writes_jsonl(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "sub" / "pairs.jsonl"
    main([str(out), "--pairs", "3"])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 6 and lines[5]["pair_id"] == "demo-pair-2"
    assert capsys.readouterr().out == f"wrote 6 functions (3 pairs) to {out}\n"
