"""One error base class the CLI catches, and device selection in one place."""

from __future__ import annotations

import pytest
import torch

from vulnfusion.checkpoints import CheckpointError
from vulnfusion.cli import EXPECTED_ERRORS
from vulnfusion.config import ConfigError
from vulnfusion.data.sources import DataError
from vulnfusion.devices import DistInfo, dist_info, select_device
from vulnfusion.ensemble import AggregationError
from vulnfusion.errors import StageError, VulnfusionError
from vulnfusion.serving import InputError
from vulnfusion.tokenization import ModelNotAvailableError
from vulnfusion.tracking import TrackingError

USER_ERRORS = [
    (ConfigError, ValueError),
    (DataError, ValueError),
    (CheckpointError, ValueError),
    (AggregationError, ValueError),
    (InputError, ValueError),
    (ModelNotAvailableError, RuntimeError),
    (TrackingError, RuntimeError),
    (StageError, RuntimeError),
]


@pytest.mark.parametrize(("error", "builtin"), USER_ERRORS)
def test_user_errors_share_the_base_and_keep_their_builtin(
    error: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(error, VulnfusionError)
    assert issubclass(error, builtin)  # `except ValueError` callers keep working
    assert isinstance(error("x"), EXPECTED_ERRORS)


def test_the_cli_catches_the_base_and_os_errors_only() -> None:
    assert list(EXPECTED_ERRORS) == [VulnfusionError, OSError]
    assert not isinstance(KeyError("bug"), EXPECTED_ERRORS)  # a bug keeps its traceback


def test_rank_comes_from_the_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert dist_info() == DistInfo(0, 1, 0)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dist_info() == DistInfo(3, 4, 1)
    assert not dist_info().is_main


def test_device_selection() -> None:
    assert select_device("cpu", 2) == torch.device("cpu")
    if torch.cuda.is_available():
        assert select_device("auto", 1) == torch.device("cuda:1")
        return
    assert select_device("auto", 1) == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"^train\.device=cuda but no CUDA device is available$"):
        select_device("cuda")


def test_a_recorded_stop_is_raised_again_at_the_next_safe_point() -> None:
    """The SIGTERM handler records the stop: if Python drops the SystemExit it raised (it does
    inside __del__ or GC callbacks), the training loop raises it at its next step."""
    from vulnfusion import stop

    stop.raise_if_requested()  # nothing recorded: a no-op
    stop.request(143)
    try:
        with pytest.raises(SystemExit) as exc:
            stop.raise_if_requested()
        assert exc.value.code == 143
    finally:
        stop.clear()
    stop.raise_if_requested()
