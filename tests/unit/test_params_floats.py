"""Float params take every spelling DVC and people write, from the file, --set, flags and -S.

YAML 1.1 (PyYAML) reads ``1e-05``, ``5E-4`` and ``1e5`` as strings, and ``dvc exp run -S
transformer.train.lr=1e-5`` writes ``lr: 1e-05`` into params.yaml: before the fix the stage then
stopped with ``expected a number, got '1e-05'`` (issue 14, item 9).
"""

from __future__ import annotations

import dataclasses
import shutil
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from vulnfusion.cli import add_train_flags, base_parser, load, train_overrides
from vulnfusion.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]

FORMS = [
    ("1e-5", 1e-05),
    ("1e-05", 1e-05),
    ("1E-5", 1e-05),
    ("5E-4", 0.0005),
    ("5e-4", 0.0005),
    (".001", 0.001),
    ("1.", 1.0),
    ("0.0005", 0.0005),
    ("+2.5e-3", 0.0025),
    ("2", 2.0),
    ("1e0", 1.0),
    (" 3e-4 ", 0.0003),
]


def params_with_lr(tmp_path: Path, text: str) -> Path:
    """The shipped params.yaml with the transformer's ``lr:`` line written as ``text``."""
    lines = (ROOT / "params.yaml").read_text().splitlines()
    start = lines.index("transformer:")
    i = next(n for n in range(start, len(lines)) if lines[n].strip().startswith("lr:"))
    lines[i] = f"    lr: {text}"
    p = tmp_path / "params.yaml"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize(("text", "value"), FORMS)
def test_yaml_text_forms(tmp_path: Path, text: str, value: float) -> None:
    lr = load_config(params_with_lr(tmp_path, text.strip())).transformer.train.lr
    assert lr == value and type(lr) is float


def test_lr_1e05_exactly_as_dvc_writes_it(tmp_path: Path) -> None:
    p = tmp_path / "params.yaml"
    p.write_text("transformer:\n  train:\n    lr: 1e-05\n")
    assert load_config(p).transformer.train.lr == 1e-05


@pytest.mark.parametrize(("text", "value"), FORMS)
def test_set_override_forms(text: str, value: float) -> None:
    cfg = load_config(ROOT / "params.yaml", [f"transformer.train.lr={text}"])
    assert cfg.transformer.train.lr == value


@pytest.mark.parametrize(("text", "value"), FORMS[:8])
def test_stage_flag_forms(text: str, value: float) -> None:
    p = base_parser("t")
    add_train_flags(p)
    args = p.parse_args(["--params", str(ROOT / "params.yaml"), "--lr", text, "--set",
                         f"gnn.train.weight_decay={text}"])  # fmt: skip
    cfg = load(args, train_overrides(args, "transformer"))
    assert (cfg.transformer.train.lr, cfg.gnn.train.weight_decay) == (value, value)


def _float_keys(cls: type, prefix: str = "") -> list[str]:
    out: list[str] = []
    for name, tp in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(tp):
            out += _float_keys(tp, f"{prefix}{name}.")  # type: ignore[arg-type]
        elif tp is float or tp == float | None:
            out.append(f"{prefix}{name}")
    return out


FLOAT_KEYS = _float_keys(Config)


def _no_dot(v: float) -> str:
    """``0.0005`` → ``5E-4``: a spelling PyYAML leaves as a string."""
    t = Decimal(repr(v)).normalize().as_tuple()
    return f"{'-' if t.sign else ''}{int(''.join(map(str, t.digits)))}E{t.exponent}"


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


def test_every_float_key_is_covered() -> None:
    assert len(FLOAT_KEYS) == 34  # 7 per training loop × 3 tracks, and 13 others
    assert sum(k.startswith("gnn.train.") for k in FLOAT_KEYS) == 7
    assert {"transformer.train.lr", "train.lr"} & set(FLOAT_KEYS) == {"transformer.train.lr"}


@pytest.mark.parametrize("key", FLOAT_KEYS)
def test_every_float_key_takes_an_exponent_spelling(key: str) -> None:
    extra: list[str] = []
    if key == "register.threshold_target":  # shipped null (max_f1): a policy that takes one
        shipped, extra = 0.005, ["register.threshold_policy=target_fpr"]
    else:
        shipped = _get(load_config(ROOT / "params.yaml"), key)
    text = _no_dot(shipped)
    assert "." not in text
    assert _get(load_config(ROOT / "params.yaml", [*extra, f"{key}={text}"]), key) == shipped


def test_shared_train_float_spelling_reaches_every_track() -> None:
    cfg = load_config(ROOT / "params.yaml", ["train.grad_clip_norm=5E-1"])
    assert {cfg.transformer.train.grad_clip_norm, cfg.gnn.train.grad_clip_norm,
            cfg.fusion.train.grad_clip_norm} == {0.5}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "shown"),
    [("fast", "'fast'"), ("1e-5x", "'1e-5x'"), ("nan", "'nan'"), (".nan", "nan"),
     ("1e-5e3", "'1e-5e3'"), ("true", "True"), ("[1]", "[1]"), ("0x10", "16")],
)  # fmt: skip
def test_non_numbers_fail_with_one_line_naming_the_key(text: str, shown: str) -> None:
    # 0x10: YAML 1.1 reads it as the int 16, a number; it fails on the range, not the type
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "params.yaml", [f"transformer.train.lr={text}"])
    msg = str(err.value)
    assert "\n" not in msg
    if text == "0x10":
        assert msg == "transformer.train.lr: 16.0 is above the maximum 10.0"
    else:
        assert msg == f"transformer.train.lr: expected a number, got {shown}"


def test_non_number_in_the_file_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(params_with_lr(tmp_path, "fast"))
    assert str(err.value) == "transformer.train.lr: expected a number, got 'fast'"


def test_range_is_checked_after_coercion() -> None:
    with pytest.raises(ConfigError, match=r"^transformer\.train\.lr: -1e-05 is below the minimum"):
        load_config(ROOT / "params.yaml", ["transformer.train.lr=-1e-5"])


# --------------------------------------------------------------------------- DVC's own -S code

dvc_hydra = pytest.importorskip("dvc.utils.hydra")


@pytest.mark.parametrize(
    ("text", "written", "value"),
    [("1e-5", "lr: 1e-05", 1e-05), ("1e-05", "lr: 1e-05", 1e-05), ("5E-4", "lr: 0.0005", 0.0005),
     (".001", "lr: 0.001", 0.001), ("2e-5", "lr: 2e-05", 2e-05)],
)  # fmt: skip
def test_dvc_set_param_round_trip(tmp_path: Path, text: str, written: str, value: float) -> None:
    """``dvc exp run -S transformer.train.lr=<text>``: DVC rewrites params.yaml; the stage loads."""
    p = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", p)
    dvc_hydra.apply_overrides(str(p), [f"transformer.train.lr={text}"])
    assert written in p.read_text()
    assert load_config(p).transformer.train.lr == value
