"""``io.atomic_path`` / ``write_text`` against what may already sit at the path: a regular
file, a symlink (DVC's link into its cache must be replaced, never written through; a user's
``-o`` link is written through), a device, a FIFO, a missing directory."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from vulnfusion.io import (
    _umask,
    is_special_file,
    nearest_existing,
    staged_dir,
    unwritable_reason,
    write_text,
)


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
    cached.chmod(0o444)  # as DVC protects its cache
    write_text(out, "new\n")
    assert not out.is_symlink() and out.read_text() == "new\n"
    assert cached.read_text() == "cached bytes\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~_umask()  # not the cache's 0444


def test_follow_symlinks_writes_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "scan.sarif"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "latest.sarif"
    link.symlink_to(target)
    write_text(link, "new\n", user_target=True)
    assert link.is_symlink() and target.read_text() == "new\n"
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "made" / "here.txt")
    write_text(dangling, "x\n", user_target=True)  # as '>' would: creates the target
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


def test_a_users_hard_linked_file_is_written_in_place(tmp_path: Path) -> None:
    """``-o hl1`` where ``hl2`` is another name of the same file: both see the report, as
    with a shell's ``>`` (a rename would leave ``hl2`` with the old bytes). Not for the
    pipeline: DVC's hard-link cache must be replaced, never written into."""
    one, two = tmp_path / "hl1", tmp_path / "hl2"
    one.write_text("old\n")
    os.link(one, two)
    write_text(one, "new\n", user_target=True)
    assert two.read_text() == "new\n" and os.stat(one).st_ino == os.stat(two).st_ino
    write_text(one, "pipeline\n")  # the default: replaced, the other link untouched
    assert two.read_text() == "new\n" and one.read_text() == "pipeline\n"


def test_a_writable_file_in_a_locked_directory_is_written_in_place(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir()
    target = locked / "w.txt"
    target.write_text("old\n")
    locked.chmod(0o555)
    try:
        if unwritable_reason(locked) is None:
            pytest.skip("this process (root) may create files in a 0555 directory")
        write_text(target, "new\n", user_target=True)
        assert target.read_text() == "new\n"
    finally:
        locked.chmod(0o755)


def test_staged_files_merge_into_a_users_directory(tmp_path: Path) -> None:
    """evaluate's ``-o``: the user's files — beside ours and inside our ``figures/`` — stay;
    ours replace theirs by name and keep a replaced file's mode; a symlink in the way is
    replaced, not written through."""
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "mine.txt").write_text("mine\n")
    (out / "figures" / "my.png").write_text("my figure\n")
    (out / "evaluation.json").write_text("old\n")
    (out / "evaluation.json").chmod(0o600)
    shared = tmp_path / "shared.jsonl"
    shared.write_text("shared\n")
    (out / "predictions.jsonl").symlink_to(shared)
    with staged_dir(out) as stage:
        (stage / "figures").mkdir()
        (stage / "figures" / "roc.png").write_text("roc\n")
        (stage / "evaluation.json").write_text("new\n")
        (stage / "predictions.jsonl").write_text("preds\n")
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["my.png", "roc.png"]
    assert (out / "mine.txt").read_text() == "mine\n"
    assert (out / "evaluation.json").read_text() == "new\n"
    assert stat.S_IMODE((out / "evaluation.json").stat().st_mode) == 0o600
    assert not (out / "predictions.jsonl").is_symlink() and shared.read_text() == "shared\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "shared.jsonl"]
    with pytest.raises(KeyboardInterrupt), staged_dir(out) as stage:
        (stage / "evaluation.json").write_text("half\n")
        raise KeyboardInterrupt
    assert (out / "evaluation.json").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "shared.jsonl"]
