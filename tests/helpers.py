"""Plain helpers shared by test modules: real configs shrunk, project copies, subprocesses.

Fixtures live in ``conftest.py`` files; everything a test module imports lives here.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from vulnfusion.config import deep_merge

ROOT = Path(__file__).resolve().parents[1]
DEVIGN = ROOT.parent / "shared" / "data" / "devign" / "devign.jsonl.gz"

# Tiny sizes for every stage: the real params.yaml, shrunk (never a hand-made config).
TINY: dict[str, Any] = {
    "seeds": [0, 1],
    "data": {"demo": {"n_functions": 160}},
    "featurize": {"num_workers": 1},
    "transformer": {
        "max_length": 64,
        "scratch": {
            "vocab_size": 400,
            "hidden_size": 32,
            "num_layers": 1,
            "num_heads": 2,
            "intermediate_size": 64,
        },
        "train": {"epochs": 2, "batch_size": 16},
    },
    "gnn": {"hidden_size": 32, "num_layers": 2, "token_dim": 16, "train": {"epochs": 2}},
    "fusion": {"train": {"epochs": 2}},
    "aggregate": {"n_bootstrap": 50},
}


def devign_sample(n: int, every: int) -> Iterator[str]:
    """The ``func`` of every ``every``-th Devign record (spread over the file's projects),
    ``n`` of them at most."""
    with gzip.open(DEVIGN, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % every == 0:
                yield json.loads(line)["func"]
                n -= 1
                if n == 0:
                    return


def tiny_params(**extra: Any) -> dict[str, Any]:
    """The project's params.yaml shrunk by :data:`TINY`, then ``extra`` merged on top."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    return deep_merge(deep_merge(raw, TINY), extra)


def run_script(
    script: str, *args: str, cwd: Path, env: dict[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a pipeline script the way DVC does, as a real subprocess."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    if env and "MLFLOW_TRACKING_URI" in env:  # registry follows the store a test chose
        full_env["MLFLOW_REGISTRY_URI"] = env["MLFLOW_TRACKING_URI"]
    return subprocess.run(
        [sys.executable, str(ROOT / "pipelines" / script), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        check=check,
        timeout=900,
    )


def copy_project(dst: Path) -> Path:
    """A throwaway copy of the project (code + params + dvc.yaml) to run real DVC in."""
    for name in (
        "pipelines",
        "src",
        "dvc.yaml",
        "params.yaml",
        "pyproject.toml",
        ".dvcignore",
        "MLproject",
        "python_env.yaml",
    ):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / name)
    return dst


def dvc_env() -> dict[str, str]:
    """The environment for git/DVC/MLflow subprocesses: this venv first on PATH, offline,
    no inherited ``MLFLOW_*`` (each project copy uses its own default store)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "HF_HUB_OFFLINE": "1",
            "DVC_NO_ANALYTICS": "1",
            "PYTHONUNBUFFERED": "1",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        }
    )
    return env


def sh(cmd: list[str], root: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in ``root`` with :func:`dvc_env`; fail the test (with its output) on a
    non-zero exit."""
    res = subprocess.run(
        cmd, cwd=root, env=dvc_env(), capture_output=True, text=True, timeout=timeout
    )
    assert res.returncode == 0, f"{cmd}: {res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def dvc_project(root: Path, **extra: Any) -> Path:
    """A committed git + DVC copy of the project with tiny params (``extra`` merged in)."""
    copy_project(root)
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(**extra), sort_keys=False))
    for cmd in (
        ["git", "init", "-q"],
        ["dvc", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "init"],
    ):
        sh(cmd, root)
    return root


def cloned_project(root: Path, **extra: Any) -> Path:
    """:func:`dvc_project` plus what a clone of the repository has and it leaves out: the
    real ``.gitignore``, ``.dvc/config`` (autostage, the offline plots template) and
    ``.dvc/plots``, committed."""
    dvc_project(root, **extra)
    shutil.copy2(ROOT / ".gitignore", root / ".gitignore")
    shutil.copy2(ROOT / ".dvc/config", root / ".dvc/config")
    shutil.copytree(ROOT / ".dvc/plots", root / ".dvc/plots")
    sh(["git", "add", "-A"], root)
    sh(["git", "commit", "-qm", "gitignore and plots"], root)
    return root


def mlflow_run(root: Path, entry: str, *params: str) -> subprocess.CompletedProcess[str]:
    """``mlflow run . -e <entry> --env-manager local`` in ``root`` with ``-P`` ``params``
    (experiment ``vulnfusion``, the environment of :func:`dvc_env`); not checked."""
    cmd = ["mlflow", "run", ".", "-e", entry, "--env-manager", "local"]
    cmd += ["--experiment-name", "vulnfusion"]
    for p in params:
        cmd += ["-P", p]
    return subprocess.run(
        cmd, cwd=root, env=dvc_env(), capture_output=True, text=True, timeout=1800
    )


def score_functions(seed_dir: Path, features_dir: Path, funcs: list[str]) -> Any:
    """Logits (float32, input order) of one seed checkpoint of any track on raw C functions.

    Featurized the way the checkpoint's run was: graphs with its ``featurize`` limits and the
    features' graph vocabulary, tokens with the features' tokenizer and its ``max_length``.
    """
    import numpy as np
    import torch

    from vulnfusion.batching import BatchLayout
    from vulnfusion.config import window_capacity
    from vulnfusion.features import SplitFeatures
    from vulnfusion.featurize import pack_graphs, pack_tokens, source_texts
    from vulnfusion.graphs import GraphVocab, build_graph
    from vulnfusion.models.build import load_model
    from vulnfusion.tokenization import encode, load_tokenizer_dir
    from vulnfusion.training import eval_loader, predict

    model, meta = load_model(seed_dir)
    config = meta["config"]
    vocab = GraphVocab.from_json((features_dir / "graph_vocab.json").read_text())
    tokenizer = load_tokenizer_dir(features_dir / "tokenizer")
    limits = config["featurize"]
    funcs = source_texts(funcs, bool(limits.get("normalize_identifiers")))
    dataflow = bool(limits.get("dataflow_features"))
    graphs = [build_graph(f, limits["max_nodes"], limits["max_chars"], dataflow) for f in funcs]
    arrays = pack_graphs(graphs, vocab)
    t = config["transformer"]
    w = t.get("windows") or {}
    budget = window_capacity(t["max_length"], w.get("max_windows", 1), w.get("stride", 192))
    arrays.update(pack_tokens(encode(tokenizer, funcs, budget)))
    arrays["labels"] = np.zeros(len(funcs), dtype=np.int64)
    feats = SplitFeatures([str(i) for i in range(len(funcs))], arrays)
    spec = BatchLayout.for_track(meta["model"]["kind"], int(tokenizer.pad_token_id))
    logits, _ = predict(model, eval_loader(feats, spec, 64, 8), torch.device("cpu"))
    return logits


@contextlib.contextmanager
def mlflow_state_restored() -> Iterator[None]:
    """Whatever the block does to MLflow's process-wide tracking/registry URIs and to the
    ``MLFLOW_*`` env vars (``mlflow.set_*_uri`` exports them), put back exactly afterwards:
    a ``models:/`` URI resolves through those, so a leftover would send a later test to
    another store."""
    env = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    saved = _mlflow_uris()
    try:
        yield
    finally:
        if "mlflow" in sys.modules:  # not imported before: its URIs were unset (None)
            from mlflow.tracking._model_registry import utils as registry_utils
            from mlflow.tracking._tracking_service import utils as tracking_utils

            tracking_utils._tracking_uri, registry_utils._registry_uri = saved
        for k in [k for k in os.environ if k.startswith("MLFLOW_")]:
            del os.environ[k]
        os.environ.update(env)


def _mlflow_uris() -> tuple[str | None, str | None]:
    """MLflow's process-wide (tracking, registry) URIs as ``mlflow.set_*_uri`` left them;
    (None, None) while MLflow is not imported (importing it here would slow every test)."""
    if "mlflow" not in sys.modules:
        return None, None
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    return tracking_utils._tracking_uri, registry_utils._registry_uri


@contextlib.contextmanager
def mlflow_store(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking and registry URIs set to ``uri`` for the block only."""
    import mlflow

    with mlflow_state_restored():
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        yield
