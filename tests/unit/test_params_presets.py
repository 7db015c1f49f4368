"""The resolved values of the shipped presets, pinned, and the one precedence rule.

The expected values below were dumped from the loader before params.yaml was restructured
(commit 366acab): the restructure had to leave every one of them unchanged.

Rule under test: later sources win (params.yaml < presets.<preset> <
fusion.presets.<fusion.preset> < command line), and in each source a top-level ``train:`` key
stands for that key in every track's ``train:`` that does not set it itself.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from vulnfusion.config import ConfigError, resolve

ROOT = Path(__file__).resolve().parents[2]

TRANSFORMER_TRAIN = {
    "epochs": 6, "batch_size": 32, "lr": 0.0005, "weight_decay": 0.01, "scheduler": "linear",
    "warmup_ratio": 0.1, "amp_dtype": "none", "grad_clip_norm": 1.0, "ema": False,
    "ema_decay": 0.999, "pad_to_multiple_of": 8, "bucket_by_length": True, "num_workers": 0,
    "prefetch_factor": 2, "loss": "ce", "focal_gamma": 2.0, "focal_alpha": 0.5,
    "class_weight": "none", "patience": 3, "device": "auto",
}  # fmt: skip
GNN_TRAIN = {
    **TRANSFORMER_TRAIN, "epochs": 8, "lr": 0.001, "weight_decay": 0.0001,
    "scheduler": "cosine", "warmup_ratio": 0.05, "pad_to_multiple_of": 1,
}  # fmt: skip
FUSION_TRAIN = {**TRANSFORMER_TRAIN, "batch_size": 64, "lr": 0.001}

DEFAULT_TRACKS = {
    "transformer": {
        "model_name": "scratch",
        "max_length": 256,
        "windows": {"max_windows": 1, "stride": 192, "pooling": "max"},
        "hub_models": {
            "codebert": "microsoft/codebert-base",
            "graphcodebert": "microsoft/graphcodebert-base",
            "unixcoder": "microsoft/unixcoder-base",
        },
        "scratch": {
            "vocab_size": 8000,
            "hidden_size": 128,
            "num_layers": 2,
            "num_heads": 4,
            "intermediate_size": 256,
            "dropout": 0.1,
            "attention_dropout": 0.0,
        },
        "head_dropout": 0.1,
        "train": TRANSFORMER_TRAIN,
    },
    "gnn": {
        "hidden_size": 128,
        "num_layers": 3,
        "token_dim": 64,
        "dropout": 0.2,
        "pooling": "attention",
        "train": GNN_TRAIN,
    },
    "fusion": {
        "preset": "fusion_balanced",
        "hidden_size": 256,
        "dropout": 0.25,
        "freeze_transformer": True,
        "freeze_gnn": True,
        "encoder_lr_scale": 0.1,
        "branch_seed": "same",
        "pairs": {
            "source": "none",
            "n_pairs": 800,
            "min_similarity": 0.9,
            "seed": 101,
            "weight": 0.0,
            "margin": 1.0,
            "batch_size": 32,
            "augment": 0,
        },
        "train": FUSION_TRAIN,
    },
}

DEVIGN_DATA = {
    "data.source": "devign",
    "data.path": "../shared/data/devign/devign.jsonl.gz",
    "data.on_bad_record": "skip",
}
# Every key a preset changes relative to the default run, with its exact value: nothing else
# may differ (a preset overwrites only the keys it names).
PRESET_CHANGES: dict[str, tuple[list[str], dict[str, Any]]] = {
    "demo": (["preset=demo"], {}),
    "devign": (
        ["preset=devign"],
        {
            "preset": "devign",
            **DEVIGN_DATA,
            "featurize.max_nodes": 1000,
            "transformer.scratch.vocab_size": 16000,
            "transformer.train.epochs": 1,
            "transformer.train.patience": 0,
            "featurize.dataflow_features": True,
            "transformer.windows.max_windows": 3,
            "transformer.windows.stride": 254,
            "transformer.windows.pooling": "mean",
            "gnn.hidden_size": 96,
            "gnn.train.epochs": 4,
            "gnn.train.batch_size": 64,
            "gnn.train.patience": 0,
            "fusion.train.batch_size": 128,
            "fusion.pairs.source": "demo",
            "fusion.pairs.weight": 0.5,
            "fusion.pairs.margin": 0.5,
        },
    ),
    "devign_gpu": (
        ["preset=devign_gpu"],
        {
            "preset": "devign_gpu",
            **DEVIGN_DATA,
            "transformer.model_name": "codebert",
            "transformer.max_length": 512,
            "transformer.windows.max_windows": 4,
            "transformer.windows.stride": 384,
            "featurize.dataflow_features": True,
            "transformer.train.epochs": 5,
            "transformer.train.lr": 2e-05,
            "transformer.train.amp_dtype": "bf16",
            "transformer.train.num_workers": 4,
            "gnn.hidden_size": 256,
            "gnn.train.epochs": 10,
            "gnn.train.batch_size": 64,
            "gnn.train.amp_dtype": "bf16",
            "gnn.train.num_workers": 4,
            "fusion.preset": "fusion_gpu",
            "fusion.train.amp_dtype": "bf16",
            "fusion.train.scheduler": "cosine",
            "fusion.train.num_workers": 4,
            "fusion.train.ema": True,
        },
    ),
    "fusion_balanced": (["fusion.preset=fusion_balanced"], {}),
    "fusion_high_recall": (
        ["fusion.preset=fusion_high_recall"],
        {
            "fusion.preset": "fusion_high_recall",
            "fusion.train.epochs": 8,
            "fusion.train.loss": "focal",
            "fusion.train.focal_alpha": 0.75,
            "fusion.train.class_weight": "balanced",
        },
    ),
    "fusion_gpu": (
        ["fusion.preset=fusion_gpu"],
        {
            "fusion.preset": "fusion_gpu",
            "fusion.train.amp_dtype": "bf16",
            "fusion.train.scheduler": "cosine",
            "fusion.train.num_workers": 4,
            "fusion.train.ema": True,
        },
    ),
}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v and k != "hub_models":
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def resolved(raw: dict[str, Any], *over: str) -> dict[str, Any]:
    return flat(dataclasses.asdict(resolve(raw, list(over))))


def test_default_run_tracks_exactly(raw: dict[str, Any]) -> None:
    cfg = dataclasses.asdict(resolve(raw))
    assert {k: cfg[k] for k in DEFAULT_TRACKS} == DEFAULT_TRACKS
    assert (cfg["preset"], cfg["seeds"]) == ("demo", (0, 1, 2))


@pytest.mark.parametrize("name", sorted(PRESET_CHANGES))
def test_preset_changes_exactly_the_keys_it_names(raw: dict[str, Any], name: str) -> None:
    over, expected = PRESET_CHANGES[name]
    base, got = resolved(raw), resolved(raw, *over)
    changed = {k: v for k, v in got.items() if base[k] != v}
    assert changed == expected


def test_each_source_beats_the_one_before() -> None:
    raw = {
        "gnn": {"train": {"epochs": 1, "lr": 0.1, "patience": 1}},
        "fusion": {
            "train": {"epochs": 1, "lr": 0.1},
            "presets": {"fp": {"train": {"epochs": 3, "lr": 0.3}}},
        },
        "presets": {"p": {"gnn": {"train": {"epochs": 2}}, "fusion": {"train": {"epochs": 2}}}},
    }
    cfg = resolve(raw, ["preset=p"])
    assert (cfg.gnn.train.epochs, cfg.gnn.train.lr, cfg.gnn.train.patience) == (2, 0.1, 1)
    cfg = resolve(raw, ["preset=p", "fusion.preset=fp"])
    assert (cfg.fusion.train.epochs, cfg.fusion.train.lr) == (3, 0.3)  # fusion preset > preset
    cfg = resolve(raw, ["preset=p", "fusion.preset=fp", "fusion.train.epochs=4", "gnn.train.lr=5"])
    assert (cfg.fusion.train.epochs, cfg.fusion.train.lr, cfg.gnn.train.lr) == (4, 0.3, 5.0)


def test_dvc_style_file_edit_is_beaten_by_the_preset_but_cli_is_not(raw: dict[str, Any]) -> None:
    # `dvc exp run -S gnn.train.epochs=12` writes the file: the devign preset (4) still wins …
    edited = {**raw, "gnn": {**raw["gnn"], "train": {**raw["gnn"]["train"], "epochs": 12}}}
    assert resolve(edited, ["preset=devign"]).gnn.train.epochs == 4
    # … so the preset's own key is edited instead, from the file or the command line
    edit_preset = ["preset=devign", "presets.devign.gnn.train.epochs=12"]
    assert resolve(raw, edit_preset).gnn.train.epochs == 12
    assert resolve(raw, ["preset=devign", "gnn.train.epochs=12"]).gnn.train.epochs == 12
    edited = {**raw, "fusion": {**raw["fusion"], "train": {**raw["fusion"]["train"], "epochs": 3}}}
    assert resolve(edited).fusion.train.epochs == 3  # fusion_balanced names no epochs
    assert resolve(edited, ["fusion.preset=fusion_high_recall"]).fusion.train.epochs == 8


def test_shared_train_fills_every_track_that_does_not_set_the_key() -> None:
    raw = {"train": {"patience": 5, "lr": 0.2}, "gnn": {"train": {"patience": 1}}}
    cfg = resolve(raw)
    assert (cfg.transformer.train.patience, cfg.gnn.train.patience, cfg.fusion.train.patience) == (
        5, 1, 5,
    )  # fmt: skip
    assert (cfg.transformer.train.lr, cfg.gnn.train.lr, cfg.fusion.train.lr) == (0.2, 0.2, 0.2)


def test_shared_train_in_a_later_source_beats_a_track_key_in_an_earlier_one() -> None:
    raw = {
        "train": {"patience": 5},
        "gnn": {"train": {"patience": 1, "amp_dtype": "none"}},
        "presets": {"p": {"train": {"amp_dtype": "bf16"}}},
    }
    cfg = resolve(raw, ["preset=p"])
    assert (cfg.gnn.train.amp_dtype, cfg.transformer.train.amp_dtype) == ("bf16", "bf16")
    cfg = resolve(raw, ["train.patience=0"])
    assert (cfg.gnn.train.patience, cfg.transformer.train.patience) == (0, 0)
    # within one source the track's own key still wins
    cfg = resolve(raw, ["train.patience=0", "gnn.train.patience=7"])
    assert (cfg.gnn.train.patience, cfg.fusion.train.patience) == (7, 0)


def test_command_line_choice_of_fusion_preset_beats_the_presets_choice(
    raw: dict[str, Any],
) -> None:
    cfg = resolve(raw, ["preset=devign_gpu"])
    assert (cfg.fusion.preset, cfg.fusion.train.scheduler) == ("fusion_gpu", "cosine")
    cfg = resolve(raw, ["preset=devign_gpu", "fusion.preset=fusion_balanced"])
    assert (cfg.fusion.preset, cfg.fusion.train.scheduler, cfg.fusion.train.ema) == (
        "fusion_balanced", "linear", False,
    )  # fmt: skip
    assert cfg.fusion.train.amp_dtype == "bf16"  # devign_gpu's shared train: still applies


def test_stage_flag_preset_selects_the_fusion_preset(raw: dict[str, Any]) -> None:
    # pipelines/train_fusion.py --preset fusion_high_recall --epochs 1
    cfg = resolve(raw, {"fusion.preset": "fusion_high_recall", "fusion.train.epochs": 1})
    t = cfg.fusion.train
    assert (t.loss, t.class_weight, t.focal_alpha, t.epochs) == ("focal", "balanced", 0.75, 1)


@pytest.mark.parametrize(
    ("params", "over", "message"),
    [
        ({"presets": {"p": {"seeds": [1]}}}, ["preset=p"], "presets.p.seeds: a preset cannot set"),
        ({"presets": {"p": {"preset": "q"}}}, ["preset=p"], "presets.p.preset: a preset cannot"),
        ({"presets": {"p": None}}, ["preset=p"], "presets.p: expected a mapping"),
        ({"presets": [1]}, [], "presets: expected a mapping of preset name"),
        ({"presets": {"p": {}}}, ["preset=q"], "preset: unknown preset 'q' (known: p)"),
        (
            {"fusion": {"presets": {"f": {"preset": "g"}}}},
            ["fusion.preset=f"],
            "fusion.presets.f.preset: a preset cannot set preset",
        ),
        (
            {"presets": {"p": {"fusion": {"presets": {}}}}},
            ["preset=p"],
            "presets.p.fusion.presets: a preset cannot define presets",
        ),
        ({}, ["preset=[1]"], "preset: expected a preset name, got [1]"),
        ({"train": {"colour": 1}}, [], "train.colour: unknown key"),
        ({"presets": {"p": {"train": {"lr": "x"}}}}, ["preset=p"], "presets.p.train.lr: expected"),
        ({}, ["train.lr=fast"], "train.lr: expected a number, got 'fast'"),
        ({"gnn": {"train": {"epochs": None}}}, [], "gnn.train.epochs: null is not allowed"),
        ({"gnn": None}, [], "gnn: null is not allowed"),
        ({}, ["fusion.train.epochs="], "fusion.train.epochs: null is not allowed"),
    ],
)
def test_bad_preset_and_null_use_fail_with_one_line(
    params: dict[str, Any], over: list[str], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(params, over)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_null_means_none_where_a_key_allows_it() -> None:
    cfg = resolve({"data": {"path": None}, "mlflow": {"tracking_uri": None}})
    assert (cfg.data.path, cfg.mlflow.tracking_uri) == (None, None)
    cfg = resolve({"data": {"path": "x.jsonl"}}, ["data.path=null"])
    assert cfg.data.path is None  # the command line's null wins like any value


def test_default_preset_names_may_stay_undefined() -> None:
    cfg = resolve({})
    assert (cfg.preset, cfg.fusion.preset, cfg.gnn.train.epochs) == ("demo", "fusion_balanced", 5)


def test_hub_models_come_from_params_only(raw: dict[str, Any]) -> None:
    assert resolve({}).transformer.hub_models == {}
    assert resolve(raw).transformer.hub_models["unixcoder"] == "microsoft/unixcoder-base"
    edited = {**raw, "transformer": {**raw["transformer"], "hub_models": {"mine": "me/mine"}}}
    assert resolve(edited).transformer.hub_models == {"mine": "me/mine"}
