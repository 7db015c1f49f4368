"""The feature containers every later layer reads: one split's arrays, and a loaded
``data/features`` directory.

Light on purpose: numpy and safetensors only (no parser, tokenizer or data readers), so
batching, training, the models and the ensemble can use features without pulling in the
``featurize`` stage. The on-disk layout is described in ``vulnfusion.featurize``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from vulnfusion.graphs import GraphVocab
from vulnfusion.io import hash_files, read_json
from vulnfusion.paths import EVAL_SPLITS, SPLITS

__all__ = [
    "EVAL_SPLITS",
    "SPLITS",
    "Features",
    "SplitFeatures",
    "load_features",
    "load_split",
    "save_split",
]


@dataclass(frozen=True)
class SplitFeatures:
    """One split's features as flat numpy arrays with ``*_ptr`` offsets.

    ``ids`` (N example ids, row order); ``arrays``: ``labels (N,)``, ``tok_ids``/``tok_ptr``,
    ``node_type``/``node_token``/``node_ptr``, ``edge_src``/``edge_dst``/``edge_type``/
    ``edge_ptr`` (node indices local to each graph).
    """

    ids: list[str]
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Features:
    """Everything featurize produced, loaded once."""

    root: Path
    splits: dict[str, SplitFeatures]
    graph_vocab: GraphVocab
    tokenizer_dir: Path
    data_hash: str
    features_hash: str


def save_split(path: Path, feats: SplitFeatures) -> None:
    """Write one split as safetensors (the ids go in the file's metadata)."""
    save_file(feats.arrays, str(path), metadata={"ids": json.dumps(feats.ids)})
    path.chmod(0o644)  # safetensors creates 0600 files; features are shared read-only data


def load_split(path: str | Path) -> SplitFeatures:
    """Load one split's features (safetensors: no code runs on load).

    Raises ``FileNotFoundError`` when the file is missing (featurize has not run).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: features not found (run the featurize stage first)")
    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata() or {}
        arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (safe_open API)
    return SplitFeatures(json.loads(meta["ids"]), arrays)


def load_features(root: str | Path) -> Features:
    """A ``data/features`` directory: every split, the graph vocabulary and the hashes.

    ``data_hash`` comes from ``../prepared/stats.json`` when present (``"unknown"`` else);
    ``features_hash`` is the content hash of the split files and the vocabulary.
    """
    root = Path(root)
    splits = {s: load_split(root / f"{s}.safetensors") for s in SPLITS}
    vocab = GraphVocab.from_json((root / "graph_vocab.json").read_text())
    files = [root / f"{s}.safetensors" for s in SPLITS] + [root / "graph_vocab.json"]
    prepared_stats = root.parent / "prepared" / "stats.json"
    data_hash = read_json(prepared_stats)["data_hash"] if prepared_stats.exists() else "unknown"
    return Features(root, splits, vocab, root / "tokenizer", data_hash, hash_files(files))
