"""``io.atomic_path`` / ``write_text`` against what may already sit at the path: a regular
file, a symlink (DVC's link into its cache must be replaced, never written through; a user's
``-o`` link is written through), a device, a FIFO, a missing directory."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from vulnfusion.io import is_special_file, nearest_existing, unwritable_reason, write_text


def test_a_regular_file_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old and longer\n")
    write_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no temp file left


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    private = tmp_path / "private.json"
    private.write_text("secret\n")
    private.chmod(0o600)
    write_text(private, "new\n")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    shared = tmp_path / "shared.json"
    shared.write_text("x\n")
    shared.chmod(0o664)
    write_text(shared, "y\n")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664


def test_a_symlink_is_replaced_by_default_so_a_dvc_cache_is_never_written(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cached = cache / "3f2a"
    cached.write_text("cached bytes\n")
    out = tmp_path / "metrics.json"
    out.symlink_to(cached)
    write_text(out, "new\n")
    assert not out.is_symlink() and out.read_text() == "new\n"
    assert cached.read_text() == "cached bytes\n"


def test_follow_symlinks_writes_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "scan.sarif"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "latest.sarif"
    link.symlink_to(target)
    write_text(link, "new\n", follow_symlinks=True)
    assert link.is_symlink() and target.read_text() == "new\n"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "made" / "here.txt")
    write_text(dangling, "x\n", follow_symlinks=True)  # as '>' would: creates the target
    assert (tmp_path / "made" / "here.txt").read_text() == "x\n" and dangling.is_symlink()


def test_a_device_is_written_into_not_replaced(tmp_path: Path) -> None:
    before = os.stat("/dev/null")
    write_text("/dev/null", "discarded\n")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev
    assert is_special_file("/dev/null") and not is_special_file(tmp_path)
    assert not is_special_file(tmp_path / "missing")


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    write_text(fifo, "through the pipe\n")
    reader.join(10)
    assert got == ["through the pipe\n"] and stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_full_device_fails_with_the_systems_reason() -> None:
    with pytest.raises(OSError) as err:
        write_text("/dev/full", "x" * 100_000)
    assert err.value.strerror == "No space left on device"


def test_probes(tmp_path: Path) -> None:
    assert nearest_existing(tmp_path / "a" / "b") == tmp_path
    assert unwritable_reason(tmp_path) is None
    assert unwritable_reason("/proc") == "No such file or directory"
