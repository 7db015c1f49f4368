"""Per-seed fusion training: frozen (cached) or lightly fine-tuned branches + an MLP head.

Frozen branches (the default) are run once per checkpoint over train/valid/test and their
features cached on disk, keyed by the checkpoint's content hash and the features' hash, so
each seed's head trains on cached tensors in seconds. A missing branch checkpoint degrades
to the other branch alone (warning, ``degraded: true``); both missing is an error.

With ``fusion.pairs`` on, the head also learns from vulnerable/fixed twins (a pair-wise
ranking loss, ``training.PairObjective``): the twins are featurized here with the stage's
tokenizer and graph vocabulary, and the frozen branches' features of them cached like a split's.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from torch import nn

from vulnfusion.batching import BatchLayout
from vulnfusion.checkpoints import WEIGHTS, CheckpointError, read_meta, resolve_checkpoint_dir
from vulnfusion.config import Config, flatten, to_dict
from vulnfusion.devices import dist_info, select_device
from vulnfusion.errors import StageError
from vulnfusion.features import Features, SplitFeatures, load_features
from vulnfusion.io import atomic_path, read_json, read_jsonl, sha256_file
from vulnfusion.models.build import load_model
from vulnfusion.models.fusion import FusionClassifier, embed_dim, new_fusion
from vulnfusion.paths import SPLITS, seed_dir
from vulnfusion.runs.seed_run import SeedModel, train_seed
from vulnfusion.training import PairObjective, eval_loader, seed_everything

log = logging.getLogger(__name__)
EMB_KEY = {"transformer": "t_emb", "gnn": "g_emb"}


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A trained branch checkpoint, loaded for fusion."""

    track: str
    path: Path
    model: nn.Module
    meta: dict[str, Any]
    weights_hash: str  # content hash of model.safetensors: the feature-cache key


def default_branch_dir(cfg: Config, outputs: Path, track: str, seed: int) -> Path:
    """Seed k's branch, or the branch's best seed by valid F1 (``fusion.branch_seed: best``)."""
    if cfg.fusion.branch_seed == "same":
        return seed_dir(outputs, track, seed)
    scores = {}
    for s in cfg.seeds:
        m = seed_dir(outputs, track, s) / "metrics.json"
        if m.exists():
            scores[s] = read_json(m)["f1_at_best_threshold"]  # chosen on valid, never test
    best = max(scores, key=lambda s: (scores[s], -s)) if scores else seed
    return seed_dir(outputs, track, best)


def load_branch(
    track: str, path: Path | None, cfg: Config, feats: Features
) -> LoadedCheckpoint | None:
    """Load a branch checkpoint, or ``None`` (with a warning) when it is missing."""
    if path is None:
        return None
    try:
        d = resolve_checkpoint_dir(path)
    except CheckpointError as exc:
        log.warning("%s branch unavailable (%s): fusion degrades to the other branch", track, exc)
        return None
    meta = read_meta(d)
    if meta["model"]["kind"] != track:
        raise StageError(f"{path}: is a {meta['model']['kind']} checkpoint, not {track}")
    if track == "transformer" and meta["model"]["source"] != cfg.transformer.model_name:
        raise StageError(
            f"--model-name {cfg.transformer.model_name} differs from the transformer checkpoint "
            f"{path}, which was made with model_name={meta['model']['source']}"
        )
    if meta.get("features_hash") != feats.features_hash:
        raise StageError(
            f"{path}: trained on other features ({meta.get('features_hash')}) than "
            f"{feats.root} ({feats.features_hash}); retrain the branch or featurize again"
        )
    model, _ = load_model(d)
    return LoadedCheckpoint(track, d, model, meta, sha256_file(d / WEIGHTS)[:16])


def cached_features(
    branch: LoadedCheckpoint,
    feats: Features,
    cache_dir: Path,
    device: torch.device,
    batch_size: int = 128,
) -> dict[str, np.ndarray]:
    """Branch features (N, D) per split, computed once per checkpoint content and cached."""
    key = f"{branch.track}-{branch.weights_hash}-{feats.features_hash}"
    path = cache_dir / f"{key}.safetensors"
    return _cached(path, lambda: compute_features(branch, feats, device, batch_size))


def _cached(path: Path, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()`` saved at ``path`` (safetensors, atomically), or what is already there."""
    if path.exists():
        return load_file(str(path))
    out = compute()
    with atomic_path(path) as tmp:
        save_file(out, str(tmp))
    log.info("cached branch features at %s", path)
    return out


@torch.no_grad()
def compute_features(
    branch: LoadedCheckpoint, feats: Features, device: torch.device, batch_size: int = 128
) -> dict[str, np.ndarray]:
    """A branch's ``embed`` output (N, D) float32 for every split, in row order."""
    return {s: embed_rows(branch, feats.splits[s], device, batch_size) for s in SPLITS}


@torch.no_grad()
def embed_rows(
    branch: LoadedCheckpoint, split: SplitFeatures, device: torch.device, batch_size: int = 128
) -> np.ndarray:
    """A branch's ``embed`` output (N, D) float32 for the rows of one split, in row order."""
    model = branch.model.to(device).eval()
    layout = BatchLayout(
        tokens=branch.track == "transformer",
        graphs=branch.track == "gnn",
        pad_id=branch.meta["model"].get("pad_id", 1),
    )
    arr = np.zeros((len(split), embed_dim(model)), dtype=np.float32)
    for batch in eval_loader(split, layout, batch_size, 8):
        batch = batch.to(device)
        arr[batch.index.cpu().numpy()] = model.embed(batch).float().cpu().numpy()  # type: ignore[operator]
    return arr


def _rows(b: LoadedCheckpoint, split: SplitFeatures, device: torch.device) -> dict[str, np.ndarray]:
    return {"rows": embed_rows(b, split, device)}


def stage_features(
    cfg: Config, features_dir: Path, funcs: list[str], labels: list[int] | None = None
) -> SplitFeatures:
    """Features of texts outside the splits, read as the stage read its own: identifier
    normalisation when ``featurize.normalize_identifiers``, the stage's saved tokenizer and
    graph vocabulary, ``max_tokens`` tokens and the graph settings of ``featurize``."""
    from vulnfusion.featurize import source_texts, text_features
    from vulnfusion.graphs import GraphVocab
    from vulnfusion.tokenization import encode, load_tokenizer_dir

    texts = source_texts(funcs, cfg.featurize.normalize_identifiers)
    tokenizer = load_tokenizer_dir(features_dir / "tokenizer")
    vocab = GraphVocab.from_json((features_dir / "graph_vocab.json").read_text(encoding="utf-8"))
    ids = encode(tokenizer, texts, cfg.transformer.max_tokens)
    f = cfg.featurize
    return text_features(texts, ids, vocab, f.max_nodes, f.max_chars, f.dataflow_features, labels)


def twin_features(cfg: Config, features_dir: Path) -> SplitFeatures | None:
    """The fusion head's vulnerable/fixed twins (``fusion.pairs``) as :func:`stage_features`:
    pair k's vulnerable version at row k, its fix at row P + k, the ``augment`` edited copies
    after the originals (P = ``n_pairs · (1 + augment)``). ``None`` when the pair loss is
    off."""
    p = cfg.fusion.pairs
    if not p.enabled:
        return None
    from vulnfusion.data.demo import generate_demo_pairs
    from vulnfusion.graphs.edits import augment_pairs

    base = [(vul, fix) for _, vul, fix in generate_demo_pairs(p.n_pairs, p.seed)]
    twins = augment_pairs(base, p.augment, p.seed)
    funcs = [vul for vul, _ in twins] + [fix for _, fix in twins]
    return stage_features(cfg, features_dir, funcs, [1] * len(twins) + [0] * len(twins))


# what decides how a text becomes features (prefixes of flattened config keys): the twins
# must be read as the branches' splits were
READER_KEYS = (
    "featurize.max_nodes",
    "featurize.max_chars",
    "featurize.normalize_identifiers",
    "featurize.dataflow_features",
    "transformer.max_length",
    "transformer.windows.",
)


def _check_reader(cfg: Config, branches: list[LoadedCheckpoint]) -> None:
    """The twins are featurized with ``cfg``; refuse (one line) when it reads texts otherwise
    than the features the branches were trained on (a ``--set`` outside DVC, say)."""
    now = flatten(to_dict(cfg))
    for b in branches:
        then = flatten(b.meta.get("config") or {})
        for key, was in then.items():
            if key.startswith(READER_KEYS) and now.get(key) != was:
                raise StageError(
                    f"fusion.pairs: {key}={now.get(key)!r} here but {was!r} for the {b.track} "
                    f"branch ({b.path}): the twins would be read otherwise than its features; "
                    "featurize and train again, or drop the override"
                )


def _content_hash(split: SplitFeatures) -> str:
    """Hash of a split's arrays (token ids, graphs): the twins' cache key follows what the
    branches read, whatever changed it (params, tokenizer, vocabulary, generator code)."""
    h = hashlib.sha256()
    for name in sorted(split.arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(split.arrays[name]).tobytes())
    return h.hexdigest()[:16]


def pair_objective(
    cfg: Config,
    features_dir: Path,
    branches: list[LoadedCheckpoint],
    model: FusionClassifier,
    feats: Features,
    cache_dir: Path | None,
    device: torch.device,
    split_cached: dict[str, dict[str, np.ndarray]],
) -> PairObjective | None:
    """``fusion.pairs`` as the Trainer's pair objective: demo twins with the frozen branches'
    features of them cached beside the splits' (keyed by checkpoint and the twins' own
    arrays), or pairs mined from the train split, read from its rows and ``split_cached``."""
    p = cfg.fusion.pairs
    if p.enabled and dist_info().world > 1:
        raise StageError(
            "fusion.pairs: the twin ranking loss trains on one process; run train_fusion "
            "without torchrun (its head trains on cached features in seconds) or set "
            "fusion.pairs.weight=0"
        )
    if p.enabled and p.source == "train":
        return mined_pair_objective(cfg, features_dir, feats, split_cached.get("train"))
    if p.enabled:
        _check_reader(cfg, branches)
    twins = twin_features(cfg, features_dir)
    if twins is None:
        return None
    cached: dict[str, np.ndarray] = {}
    if cache_dir is not None:
        tag = f"{p.source}-{p.n_pairs}x{1 + p.augment}-{p.seed}-{_content_hash(twins)}"
        for b in branches:
            if model.frozen[b.track]:
                path = cache_dir / f"{b.track}-{b.weights_hash}-pairs-{tag}.safetensors"
                arr = _cached(path, partial(_rows, b, twins, device))
                cached[EMB_KEY[b.track]] = arr["rows"]
    return PairObjective(twins, p.weight, p.margin, p.batch_size, cached or None)


def prepared_train(features_dir: Path) -> Path:
    """The prepared train split beside ``features_dir`` (``data/prepared/train.jsonl`` for
    ``data/features``): the texts and projects pairs are mined from."""
    return features_dir.parent / "prepared" / "train.jsonl"


def mined_pair_rows(
    prepared: Path, ids: list[str], min_similarity: float, max_pairs: int | None
) -> tuple[np.ndarray, int]:
    """The pairs mined from the prepared split file ``prepared`` as row indices into that
    split's features (``ids``: their row order): P vulnerable rows, then their fixes in the
    same order, shape (2P,); and how many pairs were mined (some may have no features)."""
    from vulnfusion.data.fixpairs import mine_fix_pairs

    mined = mine_fix_pairs(read_jsonl(prepared), min_similarity, max_pairs)
    row_of = {example: i for i, example in enumerate(ids)}
    kept = [m for m in mined if m.vul_id in row_of and m.fix_id in row_of]
    rows = [row_of[m.vul_id] for m in kept] + [row_of[m.fix_id] for m in kept]
    return np.array(rows, dtype=np.int64), len(mined)


def mined_pair_objective(
    cfg: Config,
    features_dir: Path,
    feats: Features,
    train_cached: dict[str, np.ndarray] | None,
) -> PairObjective:
    """``fusion.pairs.source: train``: up to ``n_pairs`` vulnerable/fixed pairs mined from the
    prepared train split (:func:`vulnfusion.data.fixpairs.mine_fix_pairs`), as row indices
    into the train split's features, so their branch features are the split's cached ones.

    Raises:
        StageError: the prepared train split is missing, or it yields no pair.
    """
    p = cfg.fusion.pairs
    path = prepared_train(features_dir)
    if not path.is_file():
        raise StageError(
            f"fusion.pairs.source train: {path} not found (the prepared train split the pairs "
            "are mined from; run the prepare stage)"
        )
    train = feats.splits["train"]
    rows, n_mined = mined_pair_rows(path, train.ids, p.min_similarity, p.n_pairs)
    if not len(rows):
        raise StageError(
            f"fusion.pairs.source train: no vulnerable/fixed pair in {path} at "
            f"min_similarity {p.min_similarity} (same project and function name, opposite "
            "labels); lower fusion.pairs.min_similarity or use source demo"
        )
    log.info(
        "fusion.pairs: %d vulnerable/fixed pairs mined from %s (min_similarity %.2f; %d not "
        "in the features)",
        len(rows) // 2,
        path,
        p.min_similarity,
        n_mined - len(rows) // 2,
    )
    return PairObjective(train, p.weight, p.margin, p.batch_size, train_cached, rows)


def build_fusion(
    cfg: Config, t: LoadedCheckpoint | None, g: LoadedCheckpoint | None
) -> tuple[FusionClassifier, dict[str, Any]]:
    """A fresh fusion model over the loaded branches, and its architecture spec."""
    return new_fusion(
        cfg.fusion,
        (t.model, t.meta["model"]) if t else None,
        (g.model, g.meta["model"]) if g else None,
    )


def param_groups(model: FusionClassifier, cfg: Config) -> list[dict[str, Any]]:
    """Head at the base lr; an unfrozen encoder at lr × ``encoder_lr_scale``."""
    lr = cfg.fusion.train.lr
    groups: list[dict[str, Any]] = [{"params": list(model.head.parameters()), "lr": lr}]
    for name in ("transformer", "gnn"):
        branch = getattr(model, name)
        if branch is not None and not model.frozen[name]:
            groups.append(
                {"params": list(branch.parameters()), "lr": lr * cfg.fusion.encoder_lr_scale}
            )
    return groups


def split_cache(
    branches: list[LoadedCheckpoint],
    model: FusionClassifier,
    cfg: Config,
    feats: Features,
    cache_dir: Path | None,
    device: torch.device,
) -> dict[str, dict[str, np.ndarray]]:
    """Per split, the cached features of each frozen branch (empty when caching is off)."""
    if cache_dir is None:
        return {}
    per_branch = {
        b.track: cached_features(b, feats, cache_dir, device)
        for b in branches
        if model.frozen[b.track]
    }
    return {s: {EMB_KEY[t]: arrs[s] for t, arrs in per_branch.items()} for s in SPLITS}


def fusion_layout(model: FusionClassifier, cached: dict[str, Any], pad_id: int) -> BatchLayout:
    """What fusion batches carry: the inputs of every branch whose features are not cached."""
    have = cached.get("train", {})
    tokens = model.transformer is not None and "t_emb" not in have
    graphs = model.gnn is not None and "g_emb" not in have
    # bucket on token length in every mode so cached and uncached runs see the same batches
    return BatchLayout(tokens=tokens, graphs=graphs, pad_id=pad_id, lengths="tokens")


def train_fusion(
    cfg: Config,
    seed: int,
    features_dir: str | Path,
    out_dir: str | Path,
    transformer_ckpt: Path | None,
    gnn_ckpt: Path | None,
    cache_dir: Path | None,
    stage: str,
) -> dict[str, Any]:
    """Train the fusion head for one seed; returns its ``metrics.json`` content."""
    out_dir = Path(out_dir)
    feats = load_features(features_dir)
    t = load_branch("transformer", transformer_ckpt, cfg, feats)
    g = load_branch("gnn", gnn_ckpt, cfg, feats)
    if t is None and g is None:
        raise StageError(
            "fusion: both branch checkpoints are missing "
            f"({transformer_ckpt}, {gnn_ckpt}); train the branches first"
        )
    degraded = t is None or g is None
    if degraded:
        log.warning(
            "fusion seed %d is DEGRADED: running the %s branch alone",
            seed,
            "gnn" if t is None else "transformer",
        )
    seed_everything(seed)  # before the head is built: its initial weights are seeded too
    model, arch = build_fusion(cfg, t, g)
    tcfg = cfg.fusion.train
    device = select_device(tcfg.device, dist_info().local_rank)
    loaded = [b for b in (t, g) if b]
    cached = split_cache(loaded, model, cfg, feats, cache_dir, device)
    pad_id = t.meta["model"].get("pad_id", 1) if t else 1
    pairs = pair_objective(cfg, Path(features_dir), loaded, model, feats, cache_dir, device, cached)
    sm = SeedModel(
        model,
        arch,
        fusion_layout(model, cached, pad_id),
        tcfg,
        resume_extra=[b.weights_hash for b in loaded],
        param_groups=param_groups(model, cfg),
        cached=cached,
        pairs=pairs,
    )
    branches = {"transformer": str(t.path) if t else None, "gnn": str(g.path) if g else None}
    extra: dict[str, Any] = {"degraded": degraded, "branches": branches}
    if pairs is not None:
        extra["pairs"] = {**to_dict(cfg.fusion.pairs), "n_used": pairs.n_pairs}
    return train_seed(cfg, "fusion", seed, feats, Path(out_dir), sm, stage, degraded, extra)
