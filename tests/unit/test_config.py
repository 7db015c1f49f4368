"""The typed config loader: presets, override order, one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT
from vulnfusion.config import Config, ConfigError, load_config, resolve


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_shipped_params_load(raw: dict) -> None:
    cfg = resolve(raw)
    assert isinstance(cfg, Config)
    assert cfg.data.source == "demo" and cfg.seeds == (0, 1, 2)
    assert cfg.fusion.train.epochs == 6  # from fusion_balanced


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("gnn.train.lr=abc", "gnn.train.lr: expected a number"),
        ("gnn.colour=red", "gnn.colour: unknown key"),
        ("fusion.dropout=0.5", "fusion.dropout: 0.5 is above the maximum 0.3"),
        ("transformer.train.scheduler=step", "transformer.train.scheduler: 'step' is not one of"),
        ("transformer.train.ema=1", "transformer.train.ema: expected true/false"),
        ("transformer.train.epochs=0", "transformer.train.epochs: 0 is below the minimum 1"),
        ("seeds=[1,1]", "seeds: duplicate"),
        ("preset=nope", "preset: unknown preset 'nope'"),
        ("fusion.preset=nope", "fusion.preset: unknown preset 'nope'"),
        ("data.source=devign", "data.path: required"),
        ("split=3", "split: expected a mapping"),
        ("transformer.hub_models.mine=5", "transformer.hub_models.mine: expected a string, got 5"),
        ("featurize.dataflow_features=2", "featurize.dataflow_features: expected true/false"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_key(
    raw: dict, override: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(raw, [override])
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_fusion_order_params_below_preset_below_cli(raw: dict) -> None:
    cfg = resolve(raw, ["fusion.preset=fusion_high_recall"])
    assert cfg.fusion.train.loss == "focal" and cfg.fusion.train.epochs == 8  # preset
    raw2 = {**raw, "fusion": {**raw["fusion"], "train": {**raw["fusion"]["train"], "epochs": 3}}}
    cfg = resolve(raw2, ["fusion.preset=fusion_high_recall"])
    assert cfg.fusion.train.epochs == 8 and cfg.fusion.train.loss == "focal"  # preset > params
    assert resolve(raw2).fusion.train.epochs == 3  # fusion_balanced is the section as written
    cfg = resolve(raw2, ["fusion.preset=fusion_high_recall", "fusion.train.epochs=5"])
    assert cfg.fusion.train.epochs == 5  # CLI > preset


def test_top_level_preset_overlays_sections(raw: dict) -> None:
    cfg = resolve(raw, ["preset=devign_gpu"])
    assert cfg.data.source == "devign" and cfg.transformer.model_name == "codebert"
    assert cfg.transformer.max_length == 512 and cfg.fusion.train.amp_dtype == "bf16"
    assert cfg.transformer.max_tokens == 512 + 3 * 384 and cfg.featurize.dataflow_features
    assert cfg.gnn.num_layers == resolve(raw).gnn.num_layers  # untouched keys stay


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "params.yaml"
    p.write_text("seeds: [0, 1\ndata: {\n")
    with pytest.raises(ConfigError, match=r"params.yaml: line \d+ invalid YAML"):
        load_config(p)


def test_config_is_frozen(raw: dict) -> None:
    cfg = resolve(raw)
    with pytest.raises(AttributeError):
        cfg.seeds = (1,)  # type: ignore[misc]
