"""The ``featurize`` stage: code graphs and token ids, computed once for every seed and branch.

Output directory layout (all loadable without executing code — no pickles):

* ``{train,valid,test}.safetensors`` — flat, concatenated arrays with ``*_ptr`` offsets:
  ``labels (N,)``, ``tok_ids``/``tok_ptr``, ``node_type``/``node_token``/``node_ptr``,
  ``edge_src``/``edge_dst``/``edge_type``/``edge_ptr`` (node indices local to each graph);
  the example ids are in the file's metadata (``ids``, a JSON list, in row order).
* ``graph_vocab.json`` — node-type and token vocabularies, built on train only.
* ``tokenizer/`` — the Transformer tokenizer (``save_pretrained``), trained BPE or hub.
* ``stats.json`` — parse errors, truncation, graph sizes per edge type: a pure function of
  the inputs (byte-identical on a re-run), because later stages depend on this directory.
  Throughput (``timing``) is returned, not written here: the stage script writes it to a
  DVC metric outside ``data/features`` (``reports/featurize_timing.json``).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import multiprocessing as mp
import signal
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vulnfusion.config import Config
from vulnfusion.features import SplitFeatures, save_split
from vulnfusion.graphs import EDGE_TYPES, CodeGraph, GraphVocab, build_graph
from vulnfusion.graphs.rename import normalize_identifiers
from vulnfusion.graphs.vocab import VocabCounts
from vulnfusion.io import atomic_dir, read_jsonl, write_json, write_text
from vulnfusion.paths import SPLITS
from vulnfusion.progress import ProgressLog
from vulnfusion.tokenization import encode, load_hub_tokenizer, train_bpe

log = logging.getLogger(__name__)


@contextlib.contextmanager
def graph_stream(funcs: Sequence[str], cfg: Config) -> Iterator[Iterator[CodeGraph]]:
    """Code graphs for ``funcs`` in input order, on ``featurize.num_workers`` processes.

    The workers start on entry: the caller can do other work (tokenizing) in this process
    before it iterates, and the graphs are then mostly waiting in the pool's result queue.
    With one worker, or too few functions for a pool, graphs are built lazily as iterated.
    """
    f = cfg.featurize
    build = partial(
        build_graph, max_nodes=f.max_nodes, max_chars=f.max_chars, dataflow=f.dataflow_features
    )
    if f.num_workers <= 1 or len(funcs) < 4 * f.chunk_size:
        yield (build(code) for code in funcs)
        return
    # fork shares the already-imported parser module; chunks amortise IPC per function
    pool = mp.get_context("fork").Pool(f.num_workers, initializer=_default_sigterm)
    try:
        yield pool.imap(build, funcs, chunksize=f.chunk_size)
        pool.close()  # every result is in: let the workers finish on their own
        pool.join()
    finally:
        pool.terminate()


def _default_sigterm() -> None:
    """Workers die on SIGTERM without running Python code.

    The stage's own SIGTERM handler (``cli.run_stage``: print and ``sys.exit``) is inherited
    through fork; in a worker that is blocked on the pool's queue lock, or that holds a lock
    another thread of the parent held at fork time, running it can hang, and with it the
    parent's ``terminate`` (seen once: a featurize run waiting for ever on its last worker).
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def collect_graphs(
    graphs: Iterator[CodeGraph],
    total: int,
    desc: str,
    progress: ProgressLog | None = None,
    counts: tuple[VocabCounts, int] | None = None,
    start: int = 0,
    stop: int | None = None,
) -> list[CodeGraph]:
    """Drain ``graphs`` into a list, with a progress bar and log lines.

    ``progress``: a log started when the graphs started building (its rate and ETA count
    from then); by default one starts now. ``counts = (vocab_counts, n)``: the first ``n``
    graphs of the stream are also counted into ``vocab_counts`` as they arrive, while the
    workers build the rest (the train split comes first). ``start``/``stop``: read only
    graphs ``start`` to ``stop`` (default: to the end) of a stream of ``total``, of which
    the first ``start`` were read by an earlier call.
    """
    bar = tqdm(
        total=total,
        initial=start,
        desc=desc,
        unit="fn",
        mininterval=1.0,
        leave=False,
        disable=None,
    )  # also off a terminal
    progress = progress or ProgressLog(f"featurize {desc}", total, "fn", log)
    out: list[CodeGraph] = []
    counter, n_counted = counts if counts is not None else (None, 0)
    for g in graphs if stop is None else itertools.islice(graphs, stop - start):
        if counter is not None and start + len(out) < n_counted:
            counter.add(g)
        out.append(g)
        bar.update()
        progress.update(start + len(out), start + len(out))
    bar.close()
    return out


def build_graphs(funcs: Sequence[str], cfg: Config, desc: str = "graphs") -> list[CodeGraph]:
    """Code graphs for ``funcs`` in input order, on ``featurize.num_workers`` processes."""
    with graph_stream(funcs, cfg) as graphs:
        return collect_graphs(graphs, len(funcs), desc)


def pack_graphs(graphs: Sequence[CodeGraph], vocab: GraphVocab) -> dict[str, np.ndarray]:
    """Concatenate encoded graphs into flat arrays with ``*_ptr`` offsets."""
    types, tokens, src, dst, etype = [], [], [], [], []
    node_ptr = np.zeros(len(graphs) + 1, dtype=np.int64)
    edge_ptr = np.zeros(len(graphs) + 1, dtype=np.int64)
    for i, g in enumerate(graphs):
        t, k = vocab.encode(g)
        types.append(t)
        tokens.append(k)
        src.append(g.src)
        dst.append(g.dst)
        etype.append(g.etype)
        node_ptr[i + 1] = node_ptr[i] + len(t)
        edge_ptr[i + 1] = edge_ptr[i] + len(g.src)
    return {
        "node_type": _cat(types, np.int32),
        "node_token": _cat(tokens, np.int32),
        "node_ptr": node_ptr,
        "edge_src": _cat(src, np.int32),
        "edge_dst": _cat(dst, np.int32),
        "edge_type": _cat(etype, np.int8),
        "edge_ptr": edge_ptr,
    }


def pack_tokens(ids: Sequence[Sequence[int]]) -> dict[str, np.ndarray]:
    ptr = np.zeros(len(ids) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(x) for x in ids])
    flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(ptr[-1]))
    return {"tok_ids": flat, "tok_ptr": ptr}


def _cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def graph_stats(graphs: Sequence[CodeGraph]) -> dict[str, Any]:
    n = max(len(graphs), 1)
    per_type = np.zeros(len(EDGE_TYPES))
    for g in graphs:
        per_type += np.bincount(g.etype, minlength=len(EDGE_TYPES))[: len(EDGE_TYPES)]
    return {
        "functions": len(graphs),
        "parse_error_rate": round(sum(g.has_error for g in graphs) / n, 4),
        "truncated": sum(g.truncated for g in graphs),
        "fallback": sum(g.fallback for g in graphs),
        "mean_nodes": round(sum(len(g.node_type) for g in graphs) / n, 2),
        "mean_edges": {
            t: round(float(c) / n, 2) for t, c in zip(EDGE_TYPES, per_type, strict=True)
        },
    }


def make_tokenizer(cfg: Config, train_funcs: Sequence[str]) -> Any:
    t = cfg.transformer
    if t.model_name == "scratch":
        return train_bpe(train_funcs, t.scratch.vocab_size, t.max_length)
    return load_hub_tokenizer(t.model_name, t.hub_models)


def source_texts(funcs: list[str], normalize: bool) -> list[str]:
    """The texts graphs and tokens are built from: ``funcs`` themselves, or with ``normalize``
    (``featurize.normalize_identifiers``) their identifier-normalised versions (same lines).
    The featurize stage, the served scorer and the tests' rescoring all go through here."""
    if not normalize:
        return funcs
    return [normalize_identifiers(f) for f in funcs]


def text_features(
    funcs: Sequence[str],
    token_ids: Sequence[Sequence[int]],
    vocab: GraphVocab,
    max_nodes: int,
    max_chars: int,
    dataflow: bool,
    labels: Sequence[int] | None = None,
) -> SplitFeatures:
    """Features of texts outside the stage's splits (a served request, the fusion head's
    twins): their graphs built here in this process, their ``token_ids`` (from
    ``tokenization.encode``), with the stage's vocabulary; ``labels`` default to 0, row ids
    are ``"0".."N-1"``. ``funcs`` are the texts the model reads (:func:`source_texts`)."""
    graphs = [build_graph(f, max_nodes, max_chars, dataflow) for f in funcs]
    arrays = pack_graphs(graphs, vocab)
    arrays.update(pack_tokens(token_ids))
    y = np.zeros(len(funcs)) if labels is None else np.asarray(labels)
    arrays["labels"] = y.astype(np.int64)
    return SplitFeatures([str(i) for i in range(len(funcs))], arrays)


def featurize(cfg: Config, prepared_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Run the stage: graphs + vocab + tokenizer + token ids for every split.

    Returns the stats written to ``stats.json`` plus ``timing`` (``graph_functions_per_s``,
    ``total_s``), which is not written there (see the module docstring)."""
    with cyclic_gc_paused():
        return _featurize(cfg, prepared_dir, out_dir)


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for the block (``gc.disable``), then restore
    it; forked workers inherit the pause.

    The stage keeps millions of small objects alive until it writes (rows, every graph's
    node lists), and each generation-2 collection re-traverses all of them: on all of Devign
    that was ~2 CPU-s in the main process, ~10% of the stage. Nothing is lost by pausing:
    reference counting still frees everything acyclic, and building graphs makes no cycles
    (``gc.collect()`` finds no garbage after 5,000 Devign graphs built with it paused);
    the few cycles the tokenizer's objects make wait for the first collection after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _featurize(cfg: Config, prepared_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    prepared = Path(prepared_dir)
    rows = {s: read_jsonl(prepared / f"{s}.jsonl") for s in SPLITS}
    start = time.perf_counter()
    normalize = cfg.featurize.normalize_identifiers
    funcs = {s: source_texts([r["func"] for r in rows[s]], normalize) for s in SPLITS}
    graphs, tokenizer, token_ids, vocab, train = _graphs_and_tokens(cfg, rows, funcs)
    graph_s = time.perf_counter() - start  # graphs overlap tokenizing: the two together
    stats: dict[str, Any] = {
        "splits": {},
        "graph_vocab": {"num_types": vocab.num_types, "num_tokens": vocab.num_tokens},
    }
    with atomic_dir(out_dir) as tmp:
        for s in SPLITS:
            feats = (
                train if s == "train" else _split_features(rows[s], graphs[s], vocab, token_ids[s])
            )
            save_split(tmp / f"{s}.safetensors", feats)
            stats["splits"][s] = {**graph_stats(graphs[s]), **_token_stats(feats, cfg)}
        write_text(tmp / "graph_vocab.json", vocab.to_json())
        tokenizer.save_pretrained(str(tmp / "tokenizer"))
        total = sum(len(rows[s]) for s in SPLITS)
        elapsed = time.perf_counter() - start
        stats["timing"] = {
            "graph_functions_per_s": round(total / max(graph_s, 1e-9), 1),
            "total_s": round(elapsed, 2),
        }
        # timings differ on every run: kept out of the directory later stages depend on
        write_json(tmp / "stats.json", {k: v for k, v in stats.items() if k != "timing"})
    return stats


def _graphs_and_tokens(
    cfg: Config, rows: dict[str, list[dict[str, Any]]], funcs: dict[str, list[str]]
) -> tuple[dict[str, list[CodeGraph]], Any, dict[str, list[list[int]]], GraphVocab, SplitFeatures]:
    """Every split's graphs, the tokenizer, every split's token ids, the graph vocabulary
    (counted from the train graphs as they arrive) and the train split's features.

    One worker pool builds the graphs of all splits (one start-up, no small serial splits)
    while this process trains the tokenizer and encodes (the tokenizer needs only the texts),
    then counts the train graphs, and packs the train split while the workers build the
    validation and test graphs: on two cores neither side waits long for the other.
    """
    everything = [f for s in SPLITS for f in funcs[s]]
    n_train = len(funcs["train"])
    counts = VocabCounts()
    with graph_stream(everything, cfg) as stream:
        # started with the workers: the rate counts the time they built while we tokenized
        progress = ProgressLog("featurize graphs", len(everything), "fn", log)
        tokenizer = make_tokenizer(cfg, funcs["train"])
        token_ids = {s: encode(tokenizer, funcs[s], cfg.transformer.max_tokens) for s in SPLITS}
        total, train = len(everything), (counts, n_train)
        graphs = {"train": collect_graphs(stream, total, "graphs", progress, train, 0, n_train)}
        vocab = counts.vocab(cfg.featurize.min_token_freq, cfg.featurize.max_graph_tokens)
        feats = _split_features(rows["train"], graphs["train"], vocab, token_ids["train"])
        rest = collect_graphs(stream, total, "graphs", progress, start=n_train)
    at = 0
    for s in SPLITS[1:]:
        graphs[s], at = rest[at : at + len(funcs[s])], at + len(funcs[s])
    return graphs, tokenizer, token_ids, vocab, feats


def _split_features(
    rows: Sequence[dict[str, Any]],
    graphs: Sequence[CodeGraph],
    vocab: GraphVocab,
    token_ids: Sequence[Sequence[int]],
) -> SplitFeatures:
    arrays = pack_graphs(graphs, vocab)
    arrays.update(pack_tokens(token_ids))
    arrays["labels"] = np.asarray([r["target"] for r in rows], dtype=np.int64)
    return SplitFeatures([r["id"] for r in rows], arrays)


def _token_stats(feats: SplitFeatures, cfg: Config) -> dict[str, Any]:
    """Mean tokens kept; the share cut at ``max_tokens`` (what no window reads) and, with
    windows, the share read as more than one window."""
    lengths = np.diff(feats.arrays["tok_ptr"])
    n = max(len(lengths), 1)
    t = cfg.transformer
    out = {
        "mean_tokens": round(float(lengths.mean()) if len(lengths) else 0.0, 1),
        "token_truncated_rate": round(float((lengths >= t.max_tokens).sum()) / n, 4),
    }
    if t.windows.max_windows > 1:
        out["token_windowed_rate"] = round(float((lengths > t.max_length).sum()) / n, 4)
    return out
