"""Which device and which ``torchrun`` rank a process is: decided here, and only here.

``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; a plain ``python`` run is rank 0
of 1. ``train.device`` is ``auto`` (CUDA when present), ``cuda`` (required) or ``cpu``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vulnfusion.config import ConfigError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a ``torchrun`` job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """Rank, world size and local rank from the ``torchrun`` environment."""
    env = os.environ
    return DistInfo(
        int(env.get("RANK", "0")), int(env.get("WORLD_SIZE", "1")), int(env.get("LOCAL_RANK", "0"))
    )


def is_main_process() -> bool:
    """Rank 0: the one process that writes outputs and logs to MLflow."""
    return dist_info().is_main


def select_device(pref: str, local_rank: int = 0) -> torch.device:
    """The device for ``train.device=pref`` on this rank.

    Raises ``ConfigError`` (one line, exit code 2 from a stage) when ``pref`` is ``cuda``
    and no CUDA device is available.
    """
    if pref == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA device is available")
    use_cuda = pref == "cuda" or (pref == "auto" and torch.cuda.is_available())
    return torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")


def init_distributed(device_pref: str) -> tuple[DistInfo, torch.device]:
    """Join the ``torchrun`` process group if launched by it; pick and set the device."""
    info = dist_info()
    device = select_device(device_pref, info.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if info.world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device
