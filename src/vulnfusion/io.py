"""Small, safe file helpers: atomic writes, JSON lines, content hashes, provenance."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path, user_target: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path``; it replaces ``path`` only if the block succeeds.

    An existing file keeps its permission bits (and, where the process may, its owner): a
    replaced ``0600`` report must not come back world-readable. An existing ``path`` that is
    not a regular file — a device such as ``/dev/null``, a FIFO — cannot be replaced without
    destroying it: the finished bytes are copied into it instead (not atomic; such a target
    has no partial state to protect).

    ``user_target`` (a user's ``-o``) writes as a shell's ``>`` would where a rename would
    change what the path is: through a symlink (the link stays), and in place into a file with
    other hard links (they keep seeing it) or in a directory the process may not create files
    in. Not by default: a pipeline output may be DVC's symlink or hard link into its cache,
    which must be replaced, never written through.

    Raises:
        OSError: the parent cannot be created or written, or the copy into a non-regular
            target fails (e.g. ``ENXIO`` for a socket).
    """
    path = Path(os.path.realpath(path)) if user_target and os.path.islink(path) else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # missing parents are created
    in_place = is_special_file(path) or (user_target and _shared_or_locked(path))
    where = tempfile.gettempdir() if in_place else path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=where)
    os.close(fd)
    try:
        yield Path(tmp)
        if in_place:
            with open(tmp, "rb") as src, open(path, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:  # mkstemp makes 0600: an existing file keeps its mode, a new one the usual;
            # not a link into DVC's cache (read-only there, 0444): that is not the file's own
            like = path if user_target or not _dvc_linked(path) else None
            keep_identity(Path(tmp), like, 0o666 & ~_umask())
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _dvc_linked(path: Path) -> bool:
    """A symlink, or a file with other hard links: how DVC's symlink/hardlink cache types
    place an output (its cache copy is read-only)."""
    try:
        return path.is_symlink() or os.stat(path).st_nlink > 1
    except OSError:
        return False


def _shared_or_locked(path: Path) -> bool:
    """An existing regular file with other hard links, or in a directory where no new file
    can be made (a rename would break the links, or fail)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and (
        st.st_nlink > 1 or unwritable_reason(path.parent) is not None
    )


def keep_identity(new: Path, old: Path | None, default_mode: int) -> None:
    """Give ``new`` the permission bits of ``old`` (``default_mode`` when ``old`` is ``None``
    or does not exist) and, when the process may (root, or already the owner), its owner and
    group."""
    st = None
    if old is not None:
        with contextlib.suppress(OSError):
            st = os.stat(old)
    if st is None:
        os.chmod(new, default_mode)
        return
    with contextlib.suppress(OSError):  # EPERM for anyone but root: the owner is then us
        os.chown(new, st.st_uid, st.st_gid)
    os.chmod(new, stat.S_IMODE(st.st_mode))


def is_special_file(path: str | Path) -> bool:
    """Whether ``path`` (symlinks followed) exists and is neither a regular file nor a
    directory: a device, a FIFO or a socket, which a rename over it would destroy."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str, user_target: bool = False) -> Path:
    """Write ``text`` atomically (temp file + rename; see :func:`atomic_path`)."""
    with atomic_path(path, user_target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> Path:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return Path(path)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_files(paths: Iterable[str | Path]) -> str:
    """One short hash over several files' contents (order-sensitive)."""
    h = hashlib.sha256()
    for p in paths:
        h.update(sha256_file(p).encode())
    return h.hexdigest()[:16]


def git_commit(cwd: str | Path | None = None) -> str:
    """The current git SHA (with ``-dirty`` when the tree has changes), or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def unwritable_reason(directory: str | Path) -> str | None:
    """Why a new file cannot be made in the existing ``directory`` (the system's words), or
    ``None`` when it can. Probed by creating and removing a real file, not ``os.access``:
    root passes that check even where writes fail (``/proc``, a read-only mount)."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe.", suffix=".tmp"):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def nearest_existing(path: str | Path) -> Path:
    """``path`` (absolute) if it exists, else its closest ancestor that does."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` and prove it is writable, before any expensive work starts."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".probe."):
            pass
    except OSError as exc:
        raise OSError(f"{path}: output directory is not writable ({exc.strerror})") from None
    return path


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temp directory that replaces ``path`` only when the block succeeds.

    A killed or failed stage leaves at most a hidden ``.<name>.*.tmp`` directory, never a
    half-written ``path`` that a later stage could take as complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed earlier run
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def staged_dir(path: str | Path) -> Iterator[Path]:
    """Yield a fresh temp directory beside ``path``; when the block succeeds its files are
    moved into ``path`` (created if missing), each replacing the file of that name, through
    subdirectories (merged, not swapped: a user's other files in ``path/figures/`` stay).
    Other entries of ``path`` are left alone, unlike :func:`atomic_dir`. A replaced file keeps
    its permissions; a symlink in the way is replaced by the new file or directory (never
    written through). An interrupted or failed block leaves ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _merge_into(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _merge_into(src: Path, dst: Path) -> None:
    if dst.is_symlink() or (dst.exists() and not dst.is_dir()):
        dst.unlink()
    dst.mkdir(exist_ok=True)
    for entry in sorted(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir():
            _merge_into(entry, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)  # our file's name, held by a directory: ours wins
        keep_identity(entry, target, stat.S_IMODE(entry.stat().st_mode))
        os.replace(entry, target)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` now (the OS picks it; another process may still
    take it before the caller binds, so a server started on it must be checked to answer)."""
    import socket  # local only so that adding this helper was a pure append; may be hoisted

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
