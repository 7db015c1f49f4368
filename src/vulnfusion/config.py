"""Typed, frozen configuration loaded once from ``params.yaml``.

One precedence rule: later sources win — the dataclass defaults below, then ``params.yaml``,
then ``presets.<preset>``, then ``fusion.presets.<fusion.preset>``, then the command line
(``--set key=value`` and a stage's own flags) — and within each source a top-level ``train:``
key stands for that key in every track's ``train:`` that does not set it itself.

A preset is a patch: it overwrites the keys it names and nothing else. The preset names are
chosen by the same order (``presets.<preset>`` may choose ``fusion.preset``; the command line
beats both). ``null`` is a value, allowed only where a key is typed ``X | None`` (``data.path``,
``register.threshold_target``, ``mlflow.tracking_uri``); to use a default, leave the key out.
Float keys accept every spelling DVC and people write (``1e-5``, ``1e-05``, ``5E-4``, ``.001``,
``1.``), although YAML 1.1 reads some of them as strings. Unknown keys, wrong types and
out-of-range values fail with one line naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from vulnfusion.config_schema import ConfigError, flatten, from_dict, to_dict

__all__ = [
    "Config",
    "ConfigError",
    "deep_merge",
    "flatten",
    "from_dict",
    "load_config",
    "resolve",
    "to_dict",
]


def _rng(lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    """Field metadata declaring an inclusive range."""
    return {"ge": lo, "le": hi}


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class DemoConfig:
    n_functions: int = field(default=1600, metadata=_rng(10, 1_000_000))
    seed: int = 13
    label_noise: float = field(default=0.05, metadata=_rng(0.0, 0.5))


@dataclass(frozen=True)
class DataConfig:
    source: Literal["demo", "devign"] = "demo"
    path: str | None = None
    on_bad_record: Literal["error", "skip"] = "error"
    max_chars: int = field(default=200_000, metadata=_rng(1))
    demo: DemoConfig = field(default_factory=DemoConfig)


@dataclass(frozen=True)
class SplitConfig:
    strategy: Literal["auto", "given", "stratified", "cross_project"] = "auto"
    seed: int = 42
    valid_fraction: float = field(default=0.1, metadata=_rng(0.01, 0.5))
    test_fraction: float = field(default=0.1, metadata=_rng(0.01, 0.5))
    train_projects: tuple[str, ...] = ("FFmpeg",)
    test_projects: tuple[str, ...] = ("qemu",)


@dataclass(frozen=True)
class FeaturizeConfig:
    max_nodes: int = field(default=2000, metadata=_rng(16))
    max_chars: int = field(default=100_000, metadata=_rng(64))
    num_workers: int = field(default=2, metadata=_rng(0, 256))
    min_token_freq: int = field(default=2, metadata=_rng(1))
    max_graph_tokens: int = field(default=20_000, metadata=_rng(16))
    chunk_size: int = field(default=64, metadata=_rng(1))
    # rename parameters and locals VAR<i>, the function FUNC, before graphs and tokens
    normalize_identifiers: bool = False
    # abstract data-flow nodes per definition (DeepDFA-style: api, operators, literals, type)
    dataflow_features: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """Knobs of the one training loop shared by every track."""

    epochs: int = field(default=5, metadata=_rng(1, 10_000))
    batch_size: int = field(default=32, metadata=_rng(1, 65_536))
    lr: float = field(default=5e-4, metadata=_rng(0.0, 10.0))
    weight_decay: float = field(default=0.01, metadata=_rng(0.0, 10.0))
    scheduler: Literal["linear", "cosine", "constant"] = "linear"
    warmup_ratio: float = field(default=0.1, metadata=_rng(0.0, 1.0))
    amp_dtype: Literal["none", "fp16", "bf16"] = "none"
    grad_clip_norm: float = field(default=1.0, metadata=_rng(0.0))
    ema: bool = False
    ema_decay: float = field(default=0.999, metadata=_rng(0.0, 1.0))
    pad_to_multiple_of: int = field(default=8, metadata=_rng(1, 4096))
    bucket_by_length: bool = True
    num_workers: int = field(default=0, metadata=_rng(0, 256))
    prefetch_factor: int = field(default=2, metadata=_rng(1, 64))
    loss: Literal["ce", "focal"] = "ce"
    focal_gamma: float = field(default=2.0, metadata=_rng(0.0, 10.0))
    focal_alpha: float = field(default=0.5, metadata=_rng(0.0, 1.0))
    class_weight: Literal["none", "balanced"] = "none"
    patience: int = field(default=3, metadata=_rng(0, 10_000))
    device: Literal["auto", "cpu", "cuda"] = "auto"


@dataclass(frozen=True)
class ScratchConfig:
    """A small RoBERTa trained from scratch when no pretrained weights are available."""

    vocab_size: int = field(default=8000, metadata=_rng(300, 200_000))
    hidden_size: int = field(default=128, metadata=_rng(8))
    num_layers: int = field(default=2, metadata=_rng(1, 48))
    num_heads: int = field(default=4, metadata=_rng(1, 64))
    intermediate_size: int = field(default=256, metadata=_rng(8))
    dropout: float = field(default=0.1, metadata=_rng(0.0, 0.9))
    # Attention dropout draws a (B, H, T, T) mask per layer: ~5x the forward cost on CPU.
    attention_dropout: float = field(default=0.0, metadata=_rng(0.0, 0.9))


@dataclass(frozen=True)
class WindowConfig:
    """How a function longer than ``max_length`` tokens is read: as up to ``max_windows``
    overlapping windows ``stride`` tokens apart, whose first-token embeddings are pooled
    (``max`` or ``mean``) into one. ``max_windows: 1`` reads the head only."""

    max_windows: int = field(default=1, metadata=_rng(1, 64))
    stride: int = field(default=192, metadata=_rng(1, 8192))
    pooling: Literal["max", "mean"] = "max"


@dataclass(frozen=True)
class TransformerConfig:
    model_name: str = "scratch"
    max_length: int = field(default=256, metadata=_rng(8, 8192))
    windows: WindowConfig = field(default_factory=WindowConfig)
    # short name → hub id: params.yaml is the only source (nothing is hard-coded here)
    hub_models: Mapping[str, str] = field(default_factory=dict)
    scratch: ScratchConfig = field(default_factory=ScratchConfig)
    head_dropout: float = field(default=0.1, metadata=_rng(0.0, 0.9))
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def max_tokens(self) -> int:
        """Tokens kept per function, special tokens included: ``max_length`` plus ``stride``
        per further window."""
        return window_capacity(self.max_length, self.windows.max_windows, self.windows.stride)


def window_capacity(max_length: int, max_windows: int, stride: int) -> int:
    """Tokens (special tokens included) that ``max_windows`` windows of ``max_length`` tokens,
    ``stride`` apart, cover: ``max_length + (max_windows - 1) * stride``."""
    return max_length + (max_windows - 1) * stride


@dataclass(frozen=True)
class GNNConfig:
    hidden_size: int = field(default=128, metadata=_rng(8))
    num_layers: int = field(default=3, metadata=_rng(1, 32))
    token_dim: int = field(default=64, metadata=_rng(4))
    dropout: float = field(default=0.2, metadata=_rng(0.0, 0.9))
    pooling: Literal["attention", "meanmax"] = "attention"
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class PairConfig:
    """Vulnerable/fixed twins for a pair-wise ranking loss in the fusion head (issue 18):
    ``source: demo`` draws ``n_pairs`` twins from the demo generator (``seed``; the demo corpus
    and the held-out twins use other seeds); ``source: train`` mines up to ``n_pairs`` from the
    training split itself (same project and function name, opposite labels, TF-IDF cosine at
    least ``min_similarity``: ``vulnfusion.data.fixpairs``); ``weight`` 0 turns the loss off
    (``vulnfusion.training.PairObjective`` has the formula). ``augment`` adds that many
    semantics-preserving edited copies of every twin (``vulnfusion.graphs.edits.augment_pairs``:
    identifiers renamed, re-indented, dead code; each side edited on its own)."""

    source: Literal["none", "demo", "train"] = "none"
    n_pairs: int = field(default=800, metadata=_rng(1, 1_000_000))
    min_similarity: float = field(default=0.9, metadata=_rng(0.0, 1.0))
    seed: int = field(default=101, metadata=_rng(0, 2**32 - 1))
    weight: float = field(default=0.0, metadata=_rng(0.0, 100.0))
    margin: float = field(default=1.0, metadata=_rng(0.0, 100.0))
    batch_size: int = field(default=32, metadata=_rng(1, 65_536))
    augment: int = field(default=0, metadata=_rng(0, 16))

    @property
    def enabled(self) -> bool:
        return self.source != "none" and self.weight > 0


@dataclass(frozen=True)
class FusionConfig:
    preset: str = "fusion_balanced"
    hidden_size: int = field(default=256, metadata=_rng(8))
    dropout: float = field(default=0.25, metadata=_rng(0.2, 0.3))
    freeze_transformer: bool = True
    freeze_gnn: bool = True
    encoder_lr_scale: float = field(default=0.1, metadata=_rng(0.0, 1.0))
    branch_seed: Literal["same", "best"] = "same"
    pairs: PairConfig = field(default_factory=PairConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class AggregateConfig:
    n_bootstrap: int = field(default=1000, metadata=_rng(10, 100_000))
    bootstrap_seed: int = 0


@dataclass(frozen=True)
class RegisterConfig:
    model_name: str = "vulnfusion-ensemble"
    max_chars: int = field(default=200_000, metadata=_rng(64))
    max_rows: int = field(default=1_000, metadata=_rng(1))
    max_request_chars: int = field(default=2_000_000, metadata=_rng(64))
    # how the aggregate stage picks each ensemble's decision threshold on valid (the served
    # label follows it): vulnfusion.thresholds; threshold_target is the FPR or recall target
    threshold_policy: Literal["max_f1", "target_fpr", "target_recall"] = "max_f1"
    threshold_target: float | None = None


@dataclass(frozen=True)
class MlflowConfig:
    experiment: str = "vulnfusion"
    tracking_uri: str | None = None


@dataclass(frozen=True)
class Config:
    preset: str = "demo"
    seeds: tuple[int, ...] = (0, 1, 2)
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    featurize: FeaturizeConfig = field(default_factory=FeaturizeConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    gnn: GNNConfig = field(default_factory=GNNConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    aggregate: AggregateConfig = field(default_factory=AggregateConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)


# --------------------------------------------------------------------------- loading

_MISSING = object()


# The sections with a training loop: ("transformer", "gnn", "fusion").
TRACKS = tuple(
    name
    for name, tp in typing.get_type_hints(Config).items()
    if dataclasses.is_dataclass(tp) and any(f.name == "train" for f in dataclasses.fields(tp))
)


def load_config(
    path: str | Path = "params.yaml", overrides: Sequence[str] | Mapping[str, Any] = ()
) -> Config:
    """Read ``params.yaml``, resolve presets, apply overrides and validate everything.

    ``overrides`` are the command line: ``["gnn.train.epochs=12"]`` or ``{"gnn.train.epochs": 12}``.
    Raises ``ConfigError`` (one line naming the file, line or key) on any bad input.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return resolve(raw, overrides)


def resolve(raw: Mapping[str, Any], overrides: Sequence[str] | Mapping[str, Any] = ()) -> Config:
    """Resolve a raw params mapping into a validated ``Config`` by the module's one rule.

    Sources, later winning: ``raw`` < ``presets.<preset>`` < ``fusion.presets.<fusion.preset>``
    < ``overrides``; each source's top-level ``train:`` is spread over the tracks first.
    """
    base = copy.deepcopy(dict(raw))
    cli = _nest(parse_overrides(overrides))
    # Preset definitions are data like any other key: the command line may edit them too.
    presets = _take_presets(base, cli, ())
    fusion_presets = _take_presets(base, cli, ("fusion",))
    name = _chosen("preset", Config.preset, cli, base)
    bundle = _preset_body(presets, name, "preset", forbidden=("preset", "presets", "seeds"))
    if isinstance(bundle.get("fusion"), Mapping) and "presets" in bundle["fusion"]:
        raise ConfigError(f"presets.{name}.fusion.presets: a preset cannot define presets")
    fusion_name = _chosen("fusion.preset", FusionConfig.preset, cli, bundle, base)
    fusion_bundle = _preset_body(
        fusion_presets, fusion_name, "fusion.preset", forbidden=("preset", "presets")
    )
    sources = [
        ("", base),
        (f"presets.{name}.", bundle),
        (f"fusion.presets.{fusion_name}.", {"fusion": fusion_bundle}),
        ("", cli),
    ]
    data: dict[str, Any] = {}
    for where, source in sources:
        data = deep_merge(data, _spread_train(source, where))
    cfg = from_dict(Config, data, "")
    validate_semantics(cfg)
    return cfg


def _take_presets(
    base: dict[str, Any], cli: dict[str, Any], section: tuple[str, ...]
) -> dict[str, Any]:
    """Remove ``<section>.presets`` from both sources; the command line's edits win."""
    key = ".".join((*section, "presets"))
    found: dict[str, Any] = {}
    for source in (base, cli):
        node: Any = source
        for part in section:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or "presets" not in node:
            continue
        defs = node.pop("presets")
        if not isinstance(defs, Mapping):
            raise ConfigError(f"{key}: expected a mapping of preset name to values, got {defs!r}")
        found = deep_merge(found, defs)
    return found


def _chosen(dotted: str, default: str, *sources: Mapping[str, Any]) -> str:
    """The preset name the first source that sets ``dotted`` gives (sources: highest first)."""
    for source in sources:
        node: Any = source
        for part in dotted.split("."):
            node = node.get(part, _MISSING) if isinstance(node, Mapping) else _MISSING
        if node is not _MISSING:
            if not isinstance(node, str):
                raise ConfigError(f"{dotted}: expected a preset name, got {node!r}")
            return node
    return default


def _preset_body(
    presets: Mapping[str, Any], name: str, key: str, forbidden: tuple[str, ...]
) -> dict[str, Any]:
    defs = key.replace("preset", "presets")
    if name not in presets:
        default = Config.preset if key == "preset" else FusionConfig.preset
        if name == default:
            return {}  # the default may stay undefined: "this file as written"
        raise ConfigError(
            f"{key}: unknown preset {name!r} (known: {', '.join(sorted(presets))}); if "
            "`dvc exp run -S` wrote it into params.yaml, `git checkout params.yaml` undoes it"
        )
    body = presets[name]
    if not isinstance(body, Mapping):
        raise ConfigError(f"{defs}.{name}: expected a mapping (use {{}} for none), got {body!r}")
    for bad in forbidden:
        if bad in body:
            # seeds drive DVC's matrix expansion straight from params.yaml: presets can't move them
            raise ConfigError(f"{defs}.{name}.{bad}: a preset cannot set {bad}")
    return dict(body)


def _spread_train(source: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """``{train: {a: 1}, gnn: {train: {a: 2}}}`` → every track's ``train`` gets ``a`` unless set."""
    if "train" not in source:
        return source
    out = dict(source)
    shared = out.pop("train")
    from_dict(TrainConfig, shared, f"{where}train.")  # names a bad shared key as train.<key>
    for track in TRACKS:
        section = out.get(track, {})
        if isinstance(section, Mapping) and isinstance(section.get("train", {}), Mapping):
            out[track] = {**section, "train": {**shared, **section.get("train", {})}}
    return out


def deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_overrides(overrides: Sequence[str] | Mapping[str, Any]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → ``{"a.b": 1, "c": "x"}`` (values parsed as YAML; a mapping passes)."""
    if isinstance(overrides, Mapping):
        return dict(overrides)
    out: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r}: expected key=value")
        try:
            out[key.strip()] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"override {key}: cannot parse value {text!r}") from None
    return out


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"gnn.train.epochs": 3}`` → ``{"gnn": {"train": {"epochs": 3}}}``."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{dotted}: {part!r} is not a section")
            node = child
        both = isinstance(value, Mapping) and isinstance(node.get(leaf), Mapping)
        node[leaf] = deep_merge(node[leaf], value) if both else value
    return out


# --------------------------------------------------------------------------- validation


def validate_semantics(cfg: Config) -> None:
    """Cross-field checks that single-field types cannot express."""
    if cfg.split.valid_fraction + cfg.split.test_fraction >= 0.9:
        raise ConfigError("split: valid_fraction + test_fraction must be below 0.9")
    if not cfg.seeds:
        raise ConfigError("seeds: at least one seed is required")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"seeds: duplicate seeds in {list(cfg.seeds)}")
    if cfg.data.source == "devign" and not cfg.data.path:
        raise ConfigError("data.path: required when data.source is devign")
    pairs = cfg.fusion.pairs
    if pairs.source == "none":  # the settings that act on twins need some
        for key, value, does in (
            ("weight", pairs.weight, "needs"),
            ("augment", pairs.augment, "edits"),
        ):
            if value > 0:
                raise ConfigError(
                    f"fusion.pairs.{key}={value} {does} twins: set fusion.pairs.source "
                    "(demo or train)"
                )
    if pairs.source == "train" and pairs.augment > 0:
        raise ConfigError(
            f"fusion.pairs.augment={pairs.augment}: edits demo twins only; the pairs mined "
            "from the training split (source train) are its own rows, read unedited"
        )
    if cfg.transformer.scratch.hidden_size % cfg.transformer.scratch.num_heads:
        raise ConfigError("transformer.scratch.hidden_size: must be divisible by num_heads")
    t = cfg.transformer
    if t.windows.max_windows > 1 and t.windows.stride > t.max_length - 2:
        raise ConfigError(
            f"transformer.windows.stride: {t.windows.stride} leaves tokens unread between "
            f"windows (at most max_length - 2 = {t.max_length - 2})"
        )
    _validate_threshold_policy(cfg.register)


def _validate_threshold_policy(reg: RegisterConfig) -> None:
    """``register.threshold_target``: none for max_f1; an FPR in [0, 1) for target_fpr; a
    recall in (0, 1] for target_recall."""
    policy, target = reg.threshold_policy, reg.threshold_target
    key = "register.threshold_target"
    if policy == "max_f1":
        if target is not None:
            raise ConfigError(
                f"{key}: threshold_policy max_f1 takes no target (got {target}); "
                "leave it out (or null), or choose target_fpr / target_recall"
            )
        return
    if target is None:
        raise ConfigError(f"{key}: required when register.threshold_policy is {policy}")
    if policy == "target_fpr" and not 0.0 <= target < 1.0:
        raise ConfigError(f"{key}: a false-positive rate in [0, 1) for target_fpr, got {target}")
    if policy == "target_recall" and not 0.0 < target <= 1.0:
        raise ConfigError(f"{key}: a recall in (0, 1] for target_recall, got {target}")
