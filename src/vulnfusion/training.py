"""The one training loop shared by the transformer, GNN and fusion tracks.

Knobs (all from ``TrainConfig``): linear/cosine/constant schedule with warmup, AMP autocast
(fp16 with a grad scaler on CUDA, bf16 anywhere), gradient clipping, EMA of the weights
(evaluation and the saved best checkpoint use them), length-bucketed dynamic padding,
DataLoader workers/prefetch, class weighting or focal loss, an optional pair-wise ranking
loss on vulnerable/fixed twins (:class:`PairObjective`), early stopping on valid F1,
deterministic seeding (every epoch reseeds from (seed, epoch), so a resumed run replays the
same randomness), resumable state, and ``torchrun`` data parallelism (rank 0 alone writes).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from vulnfusion import stop
from vulnfusion.batching import Batch, BatchLayout, BucketBatchSampler, Collator, FeatureDataset
from vulnfusion.config import TrainConfig
from vulnfusion.devices import init_distributed
from vulnfusion.features import SplitFeatures
from vulnfusion.io import atomic_path
from vulnfusion.metrics import best_threshold, sigmoid, threshold_sweep
from vulnfusion.progress import ProgressLog

log = logging.getLogger(__name__)

EpochLogger = Callable[[dict[str, float], int], None]
# Step-level metrics (``train/step_loss``, ``train/step_examples_per_s``) go to the step logger
# every this many optimizer steps: long epochs get a curve, the store stays bounded.
STEP_METRICS_EVERY = 50


# --------------------------------------------------------------------------- pieces


def lr_factor(step: int, total: int, warmup: int, kind: str) -> float:
    """Multiplier of the base learning rate at ``step`` (linear warmup, then decay)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, 1.0 - progress)


class EMA:
    """Exponential moving average of parameters and float buffers."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
            else:
                self.shadow[k].copy_(v)

    @contextlib.contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Temporarily swap the EMA weights into ``model``."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(backup)


def loss_fn(
    logits: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig, pos_weight: float
) -> torch.Tensor:
    """Cross-entropy (binary) or focal loss; ``pos_weight`` up-weights positives."""
    logits = logits.float()
    weight = torch.where(labels > 0.5, pos_weight, 1.0)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    if cfg.loss == "focal":
        p_t = torch.exp(-bce)  # probability of the true class
        alpha_t = torch.where(labels > 0.5, cfg.focal_alpha, 1 - cfg.focal_alpha)
        # alpha 0.5 is neutral; the factor 2 keeps the scale comparable with plain BCE
        bce = 2 * alpha_t * (1 - p_t) ** cfg.focal_gamma * bce
    return (weight * bce).sum() / weight.sum()


def amp_context(device: torch.device, amp_dtype: str) -> contextlib.AbstractContextManager[Any]:
    if amp_dtype == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp_dtype == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class PairObjective:
    """Vulnerable/fixed twins for a pair-wise ranking loss beside the classification loss.

    Each optimizer step draws ``batch_size`` pairs (with replacement, from a generator seeded by
    (seed, step), so a resumed run draws the same) and adds
    ``weight · mean softplus(margin − (z_vul − z_fix))`` to the loss: RankNet's logistic pair
    loss (Burges et al., ICML 2005) on the logit difference, with a margin so a pair already
    apart by ``margin`` logits still pushes a little and not at all by much more.

    ``feats``: the twins' features (labels are not read); ``rows``: 2P row indices into
    ``feats``, pair k's vulnerable version at ``rows[k]`` and its fix at ``rows[P + k]``
    (``None``: ``feats`` holds exactly the 2P twins in that order). ``cached``: frozen branch
    features of ``feats``'s rows (as ``Trainer``'s). Pairs mined from the training split
    (``fusion.pairs.source: train``) pass the train split itself and their rows in it.
    """

    feats: SplitFeatures
    weight: float
    margin: float
    batch_size: int
    cached: dict[str, np.ndarray] | None = None
    rows: np.ndarray | None = None

    @property
    def n_pairs(self) -> int:
        return (len(self.feats) if self.rows is None else len(self.rows)) // 2


def pair_loss(z_vul: torch.Tensor, z_fix: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean ``softplus(margin − (z_vul − z_fix))`` over pairs; shapes (P,) each, logits."""
    return nn.functional.softplus(margin - (z_vul.float() - z_fix.float())).mean()


# --------------------------------------------------------------------------- the loop


@dataclass
class FitState:
    epoch: int = 0  # epochs completed
    step: int = 0
    best_score: float = -1.0
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class FitResult:
    best_epoch: int
    history: list[dict[str, float]]
    best_state: dict[str, torch.Tensor]  # the weights to ship (EMA when on), on CPU


class Trainer:
    """Fits one model on one split set; returns the best weights by valid F1."""

    def __init__(
        self,
        model: nn.Module,
        spec: BatchLayout,
        cfg: TrainConfig,
        seed: int,
        train: SplitFeatures,
        valid: SplitFeatures,
        resume_path: Path | None = None,
        resume_key: str = "",
        epoch_logger: EpochLogger | None = None,
        param_groups: list[dict[str, Any]] | None = None,
        cached: dict[str, dict[str, np.ndarray]] | None = None,
        step_logger: EpochLogger | None = None,
        pairs: PairObjective | None = None,
    ) -> None:
        """``epoch_logger(row, epoch)`` receives each epoch's metrics; ``step_logger(row,
        global_step)`` every :data:`STEP_METRICS_EVERY` optimizer steps (rank 0 only).

        Raises:
            ValueError: ``pairs`` under ``torchrun`` (DDP allows one forward per backward) or
                with fewer than one pair.
        """
        self.dist, self.device = init_distributed(cfg.device)
        self.cfg, self.spec, self.seed = cfg, spec, seed
        self.model = model.to(self.device)
        self.train_feats, self.valid_feats = train, valid
        self.resume_path, self.resume_key = resume_path, resume_key
        self.epoch_logger, self.step_logger = epoch_logger, step_logger
        cached = cached or {}
        self.train_loader = self._loader(train, shuffle=True, cached=cached.get("train"))
        self.valid_loader = self._loader(valid, shuffle=False, cached=cached.get("valid"))
        self.total_steps = max(1, len(self.train_loader) * cfg.epochs)
        self.optimizer = torch.optim.AdamW(
            param_groups or [{"params": [p for p in model.parameters() if p.requires_grad]}],
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
        )
        warmup = int(cfg.warmup_ratio * self.total_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, self.total_steps, warmup, cfg.scheduler)
        )
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=cfg.amp_dtype == "fp16" and self.device.type == "cuda"
        )
        self.ema = EMA(self.model, cfg.ema_decay) if cfg.ema else None
        labels = train.arrays["labels"]
        pos = float(labels.sum())
        self.pos_weight = (
            (len(labels) - pos) / max(pos, 1.0) if cfg.class_weight == "balanced" else 1.0
        )
        self.ddp_model = self._wrap_ddp()
        self.pairs = pairs
        if pairs is not None:
            if self.dist.world > 1:
                raise ValueError("the pair-wise loss runs on one process, not under torchrun")
            if pairs.n_pairs < 1:
                raise ValueError("the pair-wise loss needs at least one pair")
            self.pair_collate = Collator(
                pairs.feats,
                spec.tokens,
                spec.graphs,
                spec.pad_id,
                cfg.pad_to_multiple_of,
                pairs.cached,
            )

    def _wrap_ddp(self) -> nn.Module:
        if self.dist.world == 1:
            return self.model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(self.model, device_ids=ids)

    def _loader(
        self, feats: SplitFeatures, shuffle: bool, cached: dict[str, np.ndarray] | None
    ) -> DataLoader[Any]:
        c = self.cfg
        ds = FeatureDataset(feats)
        rank, world = (self.dist.rank, self.dist.world) if shuffle else (0, 1)
        sampler = BucketBatchSampler(
            ds.lengths(self.spec.length_kind),
            c.batch_size,
            shuffle,
            self.seed,
            c.bucket_by_length,
            rank,
            world,
        )
        collate = Collator(
            feats,
            self.spec.tokens,
            self.spec.graphs,
            self.spec.pad_id,
            c.pad_to_multiple_of,
            cached,
        )
        extra: dict[str, Any] = {}
        if c.num_workers > 0:
            extra = {"prefetch_factor": c.prefetch_factor, "persistent_workers": True}
        return DataLoader(
            ds,
            batch_sampler=sampler,
            collate_fn=collate,
            num_workers=c.num_workers,
            pin_memory=self.device.type == "cuda",
            **extra,
        )

    # ----------------------------------------------------------------- epochs

    def fit(self) -> FitResult:
        state, best = self._load_resume()
        while state.epoch < self.cfg.epochs and not self._stop(state):
            row = self._run_epoch(state)
            weights = self._eval_weights()
            if row["valid/f1"] > state.best_score:
                state.best_score, state.best_epoch, state.bad_epochs = (
                    row["valid/f1"],
                    state.epoch,
                    0,
                )
                best = weights
            else:
                state.bad_epochs += 1
            state.epoch += 1
            state.history.append(row)
            self._log_epoch(row, state)
            self._save_resume(state, best)
        assert best is not None, "no epoch ran"
        return FitResult(state.best_epoch, state.history, best)

    def _stop(self, state: FitState) -> bool:
        return self.cfg.patience > 0 and state.bad_epochs >= self.cfg.patience

    def _run_epoch(self, state: FitState) -> dict[str, float]:
        # Reseed per epoch: dropout and shuffling depend only on (seed, epoch) → exact resume.
        torch.manual_seed(self.seed * 100_003 + state.epoch)
        self.train_loader.batch_sampler.set_epoch(state.epoch)  # type: ignore[union-attr]
        start = time.perf_counter()
        train_loss, seen = self._train_epoch(state)
        train_s = time.perf_counter() - start  # training alone: validation is not throughput
        with self._ema_weights():
            valid_logits, valid_loss = predict(
                self.model,
                self.valid_loader,
                self.device,
                self.cfg.amp_dtype,
                loss_cfg=(self.cfg, self.pos_weight),
            )
        y = self.valid_feats.arrays["labels"]
        sweep = threshold_sweep(y, sigmoid(valid_logits))
        thr = best_threshold(sweep)
        f1 = next(p["f1"] for p in sweep if p["threshold"] == thr)
        return {
            "epoch": float(state.epoch),
            "train/loss": train_loss,
            "valid/loss": valid_loss,
            "valid/f1": float(f1),
            "valid/best_threshold": float(thr),
            "lr": float(self.scheduler.get_last_lr()[0]),
            "train/examples_per_s": seen / max(train_s, 1e-9),
            "epoch_s": time.perf_counter() - start,
        }

    def _train_epoch(self, state: FitState) -> tuple[float, int]:
        self.ddp_model.train()
        total, n = 0.0, 0
        desc = f"epoch {state.epoch + 1}/{self.cfg.epochs}"
        bar = tqdm(
            self.train_loader,
            desc=desc,
            leave=False,
            disable=None if self.dist.is_main else True,
            mininterval=1.0,
        )
        # tqdm is silent off a terminal; these lines are not (rank 0 only)
        progress = ProgressLog(f"train {desc}", len(self.train_loader), "ex", log)
        for i, batch in enumerate(bar, start=1):
            stop.raise_if_requested()  # a SIGTERM whose SystemExit Python dropped
            loss = self._step(batch.to(self.device), state.step)
            state.step += 1
            total += loss * batch.size
            n += batch.size
            bar.set_postfix(loss=f"{total / max(n, 1):.4f}", refresh=False)
            if self.dist.is_main:
                progress.update(i, n * self.dist.world, loss=total / max(n, 1))
                elapsed = progress.clock() - progress.start
                self._log_step(state.step, loss, n * self.dist.world, elapsed)
        return total / max(n, 1), n * self.dist.world

    def _log_step(self, step: int, loss: float, seen: int, elapsed: float) -> None:
        """Step-level metrics every STEP_METRICS_EVERY global steps: the batch loss and the
        epoch's examples/s so far (all ranks' examples)."""
        if self.step_logger is None or step % STEP_METRICS_EVERY:
            return
        rate = seen / elapsed if elapsed > 0 else 0.0
        self.step_logger({"train/step_loss": loss, "train/step_examples_per_s": rate}, step)

    def _step(self, batch: Batch, step: int = 0) -> float:
        with amp_context(self.device, self.cfg.amp_dtype):
            logits = self.ddp_model(batch)
        loss = loss_fn(logits, batch.labels, self.cfg, self.pos_weight)
        if self.pairs is not None:
            loss = loss + self.pairs.weight * self._pair_loss(step)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip_norm > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        return float(loss.detach())

    def _pair_loss(self, step: int) -> torch.Tensor:
        """The ranking term on ``batch_size`` pairs drawn for this (seed, step)."""
        assert self.pairs is not None
        n, p = self.pairs.n_pairs, self.pairs.batch_size
        k = np.random.default_rng((self.seed, step)).integers(0, n, size=p)
        idx = np.concatenate([k, k + n])
        if self.pairs.rows is not None:
            idx = self.pairs.rows[idx]
        batch = self.pair_collate(idx.tolist()).to(self.device)
        with amp_context(self.device, self.cfg.amp_dtype):
            z = self.ddp_model(batch)
        return pair_loss(z[:p], z[p:], self.pairs.margin)

    def _ema_weights(self) -> contextlib.AbstractContextManager[None]:
        return self.ema.applied(self.model) if self.ema is not None else contextlib.nullcontext()

    def _eval_weights(self) -> dict[str, torch.Tensor]:
        src = self.ema.shadow if self.ema is not None else self.model.state_dict()
        return {k: v.detach().to("cpu", copy=True) for k, v in src.items()}

    def _log_epoch(self, row: dict[str, float], state: FitState) -> None:
        if not self.dist.is_main:
            return
        log.info(
            "epoch %d/%d  train/loss %.4f  valid/loss %.4f  valid/f1 %.4f  %.0f ex/s  %.1fs%s",
            state.epoch,
            self.cfg.epochs,
            row["train/loss"],
            row["valid/loss"],
            row["valid/f1"],
            row["train/examples_per_s"],
            row["epoch_s"],
            "  *best*" if state.best_epoch == state.epoch - 1 else "",
        )
        if self.epoch_logger is not None:
            self.epoch_logger({k: v for k, v in row.items() if k != "epoch"}, state.epoch)

    # ----------------------------------------------------------------- resume

    def _save_resume(self, state: FitState, best: dict[str, torch.Tensor] | None) -> None:
        if self.resume_path is None or not self.dist.is_main:
            return
        payload = {
            "state": {k: copy.deepcopy(v) for k, v in vars(state).items()},
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.shadow if self.ema is not None else {},
            "best": best or {},
            "key": self.resume_key,
        }
        with atomic_path(self.resume_path) as tmp:
            torch.save(payload, tmp)

    def _read_resume(self) -> dict[str, Any] | None:
        if self.resume_path is None or not self.resume_path.exists():
            return None
        # weights_only: a swapped file cannot run code on load. The resume state is only a
        # cache of progress, so one that cannot be loaded safely is ignored (training starts
        # over), never executed and never fatal.
        try:
            payload: dict[str, Any] = torch.load(
                self.resume_path, map_location="cpu", weights_only=True
            )
        except Exception as exc:  # UnpicklingError (unsafe content), truncated file, ...
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            log.warning(
                "ignoring %s: not a safely loadable resume state (%s)", self.resume_path, first
            )
            return None
        if not isinstance(payload, dict) or payload.get("key") != self.resume_key:
            log.warning("ignoring %s: it was made with other params or data", self.resume_path)
            return None
        return payload

    def _load_resume(self) -> tuple[FitState, dict[str, torch.Tensor] | None]:
        payload = self._read_resume()
        if payload is None:
            return FitState(), None
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.scaler.load_state_dict(payload["scaler"])
        if self.ema is not None and payload["ema"]:
            self.ema.shadow = {k: v.to(self.device) for k, v in payload["ema"].items()}
        state = FitState(**payload["state"])
        log.info("resumed from %s after epoch %d", self.resume_path, state.epoch)
        return state, payload["best"] or None


@torch.no_grad()
def predict(
    model: nn.Module,
    loader: DataLoader[Any],
    device: torch.device,
    amp_dtype: str = "none",
    loss_cfg: tuple[TrainConfig, float] | None = None,
) -> tuple[np.ndarray, float]:
    """Logits for every row of the loader's split, in row order, and the mean loss."""
    was_training = model.training
    model.eval()
    n = len(loader.dataset)  # type: ignore[arg-type]
    out = np.zeros(n, dtype=np.float32)
    total = 0.0
    for batch in loader:
        batch = batch.to(device)
        with amp_context(device, amp_dtype):
            logits = model(batch).float()
        if loss_cfg is not None:
            total += float(loss_fn(logits, batch.labels, *loss_cfg)) * batch.size
        out[batch.index.cpu().numpy()] = logits.cpu().numpy()
    model.train(was_training)
    return out, total / max(n, 1)


def eval_loader(
    feats: SplitFeatures,
    spec: BatchLayout,
    batch_size: int,
    pad_to_multiple_of: int,
    num_workers: int = 0,
    cached: dict[str, np.ndarray] | None = None,
) -> DataLoader[Any]:
    """A deterministic, length-sorted loader for scoring a whole split."""
    ds = FeatureDataset(feats)
    sampler = BucketBatchSampler(ds.lengths(spec.length_kind), batch_size, False, 0, True)
    collate = Collator(feats, spec.tokens, spec.graphs, spec.pad_id, pad_to_multiple_of, cached)
    return DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=num_workers)
