"""Where things live: split names, the project root, and the layout of a track's outputs.

Imports nothing from the package (every layer may use it), and touches no file.

``outputs/<track>/seed_<k>/`` holds one seed run; ``outputs/<track>/manifests/seed_<k>.json``
its receipt (what downstream DVC stages depend on); ``outputs/<track>/.seed_<k>.resume.pt``
its resume state while it trains.
"""

from __future__ import annotations

from pathlib import Path

SPLITS = ("train", "valid", "test")
"""The three splits, in the order every stage writes and reads them."""

EVAL_SPLITS = ("valid", "test")
"""The splits a trained model is scored on (valid chooses thresholds, test reports)."""


def project_root(start: Path | None = None) -> Path:
    """The main checkout, also from inside ``.dvc/tmp/exps/<tmp>`` experiment workspaces."""
    here = (start or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return here


def seed_dir(outputs: Path, track: str, seed: int) -> Path:
    """``outputs/<track>/seed_<seed>``: one seed run's directory."""
    return outputs / track / f"seed_{seed}"


def manifest_path(out_dir: Path) -> Path:
    """The manifest of the seed run in ``out_dir`` (beside it, under ``manifests/``)."""
    return out_dir.parent / "manifests" / f"{out_dir.name}.json"


def resume_path_for(out_dir: Path) -> Path:
    """Resume state lives beside (not inside) the DVC output, which DVC wipes before a run."""
    return out_dir.parent / f".{out_dir.name}.resume.pt"
