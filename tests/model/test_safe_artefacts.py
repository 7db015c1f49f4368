"""Nothing a user could swap is unpickled: checkpoints are safetensors + JSON, every
``torch.load`` uses ``weights_only=True``, the served model is built from code, and a
booby-trapped resume file is refused (not executed) while training carries on."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import torch
import yaml

from tests.helpers import ROOT

pytestmark = pytest.mark.reliability

UNSAFE_MODULES = {"pickle", "cPickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}


def _sources() -> list[Path]:
    return sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "pipelines").glob("*.py")])


def test_no_unsafe_deserialisation_in_the_code(reliability: object) -> None:
    torch_loads = 0
    for path in _sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                assert not {n.split(".")[0] for n in names} & UNSAFE_MODULES, (
                    f"{path}:{node.lineno}"
                )
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                torch_loads += 1
                kw = {k.arg: k.value for k in node.keywords}
                assert "weights_only" in kw and ast.literal_eval(kw["weights_only"]) is True, (
                    f"{path}:{node.lineno}: torch.load without weights_only=True"
                )
    reliability(
        "code audit: unpickling of user-swappable files",
        f"no pickle/cloudpickle/joblib/dill import; {torch_loads} torch.load call(s), all "
        "weights_only=True",
    )


def test_outputs_and_registered_model_hold_no_pickles(
    trained_workspace: Path, reliability: object
) -> None:
    ws = trained_workspace
    suspicious = [
        p
        for p in [*(ws / "outputs").rglob("*"), *(ws / "mlruns").rglob("*")]
        if p.is_file() and p.suffix in {".pkl", ".pickle", ".pt", ".pth", ".bin", ".joblib"}
    ]
    assert suspicious == []
    mlmodels = list((ws / "mlruns").rglob("MLmodel"))
    assert mlmodels, "no logged model found"
    for m in mlmodels:
        flavor = yaml.safe_load(m.read_text())["flavors"]["python_function"]
        assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"  # built from code
        assert "python_model" not in flavor and not (m.parent / "python_model.pkl").exists()
    reliability(
        "artefact audit: seed outputs and the registered pyfunc",
        f"only safetensors/JSON/CSV/PNG; {len(mlmodels)} MLmodel(s) logged from code, no "
        "python_model.pkl",
    )


class _Trap:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch TRAP_EXECUTED",))


def test_booby_trapped_resume_file_is_refused_not_run(
    tiny_workspace: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    reliability: object,
) -> None:
    from vulnfusion.config import load_config
    from vulnfusion.paths import resume_path_for
    from vulnfusion.runs.branch import train_branch

    monkeypatch.chdir(tmp_path)
    cfg = load_config(tiny_workspace / "params.yaml", ["gnn.train.epochs=1"])
    out = tmp_path / "run"
    trap = resume_path_for(out)
    trap.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"key": "x", "evil": _Trap()}, trap)  # what an attacker would drop there
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    metrics = train_branch(cfg, "gnn", 0, tiny_workspace / "data/features", out, "test")
    assert not (tmp_path / "TRAP_EXECUTED").exists()
    assert "not a safely loadable resume state" in caplog.text
    # training started over: the run equals one that never met the file
    assert metrics == train_branch(
        cfg, "gnn", 0, tiny_workspace / "data/features", tmp_path / "clean", "test"
    )
    reliability(
        "resume file swapped for a pickle that runs a shell command",
        "refused by torch.load(weights_only=True); warning logged; training started "
        "over and finished; the command never ran",
    )
