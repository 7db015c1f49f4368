"""The registry's bundle digest: what decides the scores counts, re-run noise does not."""

from __future__ import annotations

import json
from pathlib import Path

from vulnfusion.registry import bundle_digest


def _bundle(root: Path, created: str, commit: str, weights: bytes, threshold: float) -> Path:
    seed = root / "seeds" / "seed_0"
    seed.mkdir(parents=True)
    (seed / "model.safetensors").write_bytes(weights)
    meta = {"created": created, "git_commit": commit, "features_hash": commit[:4]}
    meta |= {"track": "fusion", "seed": 0, "model": {"kind": "fusion", "hidden": 8}}
    (seed / "checkpoint.json").write_text(json.dumps(meta))
    (root / "serving.json").write_text(json.dumps({"threshold": threshold}))
    (root / "graph_vocab.json").write_text("{}")
    return root


def test_re_run_noise_in_checkpoint_json_keeps_the_digest(tmp_path: Path) -> None:
    a = _bundle(tmp_path / "a", "2026-11-30T04:39:52", "366acab", b"w1", 0.5)
    b = _bundle(tmp_path / "b", "2026-12-01T10:00:00", "deadbee", b"w1", 0.5)
    assert bundle_digest(a) == bundle_digest(b)


def test_weights_threshold_or_spec_change_the_digest(tmp_path: Path) -> None:
    base = bundle_digest(_bundle(tmp_path / "a", "t", "c", b"w1", 0.5))
    assert bundle_digest(_bundle(tmp_path / "b", "t", "c", b"w2", 0.5)) != base
    assert bundle_digest(_bundle(tmp_path / "c", "t", "c", b"w1", 0.6)) != base
    spec = _bundle(tmp_path / "d", "t", "c", b"w1", 0.5)
    meta_path = spec / "seeds" / "seed_0" / "checkpoint.json"
    meta = json.loads(meta_path.read_text())
    meta["model"]["hidden"] = 16
    meta_path.write_text(json.dumps(meta))
    assert bundle_digest(spec) != base
