"""The ``featurize`` stage's fast path (one worker pool for every split, overlapped with
tokenizer training and head-only encoding through the Rust backend) writes exactly the
features of the straightforward per-function path: every graph built one by one, encoded one
by one with the vocabulary, and every text tokenized in full and truncated by the tokenizer."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import tiny_params
from vulnfusion.config import Config, resolve
from vulnfusion.data.prepare import prepare
from vulnfusion.features import load_split
from vulnfusion.featurize import featurize
from vulnfusion.graphs import GraphVocab, build_graph
from vulnfusion.io import read_jsonl
from vulnfusion.paths import SPLITS
from vulnfusion.tokenization import encode, load_tokenizer_dir


def _reference(cfg: Config, prepared: Path, tokenizer: Path) -> dict[str, dict[str, np.ndarray]]:
    """Per-function features, built without pools, batching or head cuts."""
    f, t = cfg.featurize, cfg.transformer
    rows = {s: read_jsonl(prepared / f"{s}.jsonl") for s in SPLITS}
    graphs = {
        s: [build_graph(r["func"], f.max_nodes, f.max_chars) for r in rows[s]] for s in SPLITS
    }
    vocab = GraphVocab.build(graphs["train"], f.min_token_freq, f.max_graph_tokens)
    tok = load_tokenizer_dir(tokenizer)
    out: dict[str, dict[str, np.ndarray]] = {}
    for s in SPLITS:
        types: list[int] = []
        tokens: list[int] = []
        src: list[int] = []
        dst: list[int] = []
        et: list[int] = []
        ids: list[int] = []
        node_ptr, edge_ptr, tok_ptr = [0], [0], [0]
        for r, g in zip(rows[s], graphs[s], strict=True):
            a, b = vocab.encode(g)
            types += a.tolist()
            tokens += b.tolist()
            src += g.src.tolist()
            dst += g.dst.tolist()
            et += g.etype.tolist()
            node_ptr.append(node_ptr[-1] + len(a))
            edge_ptr.append(edge_ptr[-1] + len(g.src))
            one = tok(r["func"], truncation=True, max_length=t.max_length)["input_ids"]
            ids += one
            tok_ptr.append(tok_ptr[-1] + len(one))
        out[s] = {
            "node_type": np.array(types, np.int32),
            "node_token": np.array(tokens, np.int32),
            "node_ptr": np.array(node_ptr, np.int64),
            "edge_src": np.array(src, np.int32),
            "edge_dst": np.array(dst, np.int32),
            "edge_type": np.array(et, np.int8),
            "edge_ptr": np.array(edge_ptr, np.int64),
            "tok_ids": np.array(ids, np.int32),
            "tok_ptr": np.array(tok_ptr, np.int64),
            "labels": np.array([r["target"] for r in rows[s]], np.int64),
        }
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("parity")
    raw = tiny_params(data={"demo": {"n_functions": 240}})
    prepare(resolve(raw), root / "prepared")
    return root, raw


def test_pool_path_equals_per_function_reference(prepared: tuple[Path, dict[str, Any]]) -> None:
    root, raw = prepared
    # 2 workers, chunks of 8: the pool path, with more chunks than workers
    cfg = resolve({**raw, "featurize": {**raw["featurize"], "num_workers": 2, "chunk_size": 8}})
    featurize(cfg, root / "prepared", root / "pool")
    ref = _reference(cfg, root / "prepared", root / "pool" / "tokenizer")
    for s in SPLITS:
        got = load_split(root / "pool" / f"{s}.safetensors")
        assert sorted(got.arrays) == sorted(ref[s]), s
        for name, want in ref[s].items():
            have = got.arrays[name]
            assert have.dtype == want.dtype, (s, name)
            np.testing.assert_array_equal(have, want, err_msg=f"{s}.{name}")


def test_pool_and_serial_paths_write_identical_files(prepared: tuple[Path, dict[str, Any]]) -> None:
    root, raw = prepared
    for name, workers in (("one", 1), ("two", 2)):
        f = {**raw["featurize"], "num_workers": workers, "chunk_size": 4}
        cfg = resolve({**raw, "featurize": f})
        featurize(cfg, root / "prepared", root / name)
    for s in SPLITS:
        a = (root / "one" / f"{s}.safetensors").read_bytes()
        b = (root / "two" / f"{s}.safetensors").read_bytes()
        assert a == b, s
    for rel in ("graph_vocab.json", "tokenizer/tokenizer.json"):
        assert (root / "one" / rel).read_bytes() == (root / "two" / rel).read_bytes(), rel


def test_head_encoding_of_long_functions_equals_full_truncation(tiny_workspace: Path) -> None:
    """Functions longer than the first head cut: the ids still equal full-text truncation."""
    tok = load_tokenizer_dir(tiny_workspace / "data/features/tokenizer")
    body = "".join(f"    buf[{i}] = src[{i}] + {i};\n" for i in range(300))
    texts = [f"int f(char *buf, char *src) {{\n{body}}}", "x" * 5000, " " * 2000 + "int a;"]
    for max_length in (16, 64, 256):
        ref = tok(texts, truncation=True, max_length=max_length)["input_ids"]
        assert encode(tok, texts, max_length) == ref


@pytest.mark.parametrize("enabled", [True, False])
def test_featurize_restores_the_cyclic_gc_state(
    prepared: tuple[Path, dict[str, Any]], enabled: bool
) -> None:
    """The stage pauses the cyclic GC (``cyclic_gc_paused``) and leaves it as it found it,
    also when the stage fails."""
    root, raw = prepared
    cfg = resolve(raw)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        featurize(cfg, root / "prepared", root / f"gc_{enabled}")
        assert gc.isenabled() is enabled
        with pytest.raises(FileNotFoundError):
            featurize(cfg, root / "missing", root / f"gc_missing_{enabled}")
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


NO_CYCLES = """
import gc
from tests.helpers import devign_sample
from vulnfusion.graphs import build_graph

funcs = list(devign_sample(400, 61))
build_graph(funcs[0])
gc.collect()
gc.disable()
for code in [*funcs, "", "}}}{{{", "int f(void) {" + "if (a) {" * 300]:
    build_graph(code)
print(gc.collect())
"""


def test_graph_building_makes_no_reference_cycles() -> None:
    """Why pausing the cyclic GC for the stage loses nothing: building a graph leaves no
    cyclic garbage (real Devign functions: errors, macros, deep nesting, the fallback).

    In a fresh interpreter: a test worker's other threads (a server, an abandoned scoring
    batch of an earlier test) may leave cycles of their own while the GC is off."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", NO_CYCLES], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0"
