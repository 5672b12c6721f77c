"""Output files: checked before any work, written atomically, and no debris after a crash.

Every command that writes (the training scripts, ``parity convert``, JSON reports) goes
through this module, so a write failure reads the same everywhere: one line naming the
path and the reason (permission denied, no space left on device, not a directory, ...).

- ``check_writable(path)`` runs before any work starts: it creates the folder if needed
  and creates and removes a probe file there, so a read-only folder, ``/proc``, a path
  under a file or a full disk is noticed before a model is built or an epoch trained.
- ``atomic_write(path, write)`` writes through a temporary file in the same folder, then
  renames it over ``path``: a crash leaves the old file or the new one, never a torn one.
  The file gets the permissions the umask gives (0644 under the usual 022), as ``open``
  would, even when the library that writes it creates files 0600.
- The temporary file is named ``.NAME.PID.zoo-partial``. A process killed mid-write
  (``kill -9``, power loss) leaves one behind; ``remove_stale_temps(folder)``, which each
  writing command runs on its output folder at start, deletes those whose process is gone.
"""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import Callable

TEMP_SUFFIX = ".zoo-partial"
# .NAME.PID.zoo-partial, and .NAME.tmp-PID as zoo/training.py named them before.
_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d+)" + re.escape(TEMP_SUFFIX) + r"$|^\..+\.tmp-(?P<old_pid>\d+)$")

REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "it is a directory",
    errno.ENOENT: "no such file or directory",
    errno.ENAMETOOLONG: "file name too long",
    errno.EFBIG: "file too large",
}


class WriteError(OSError):
    """A file or folder that cannot be written; ``str()`` is one line with the path and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str, code: int | None = None) -> None:
        super().__init__(code, reason, str(path))
        self.path, self.reason = str(path), reason

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.reason}"


def reason(exc: BaseException) -> str:
    """The cause of an OSError in words (``errno``'s meaning, not the library's wording)."""
    if isinstance(exc, WriteError):
        return exc.reason
    if isinstance(exc, OSError) and exc.errno in REASONS:
        return REASONS[exc.errno]
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary file ``atomic_write`` writes ``path`` through (same folder, so the rename is atomic)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's included): its temporary files are its own."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OverflowError:
        return False
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of writes whose process no longer exists; returns what was removed.

    A live process's temp file (another run writing into the same folder) is left alone.
    """
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:  # absent or unreadable: nothing to clean, and check_writable reports the rest
        return removed
    for entry in entries:
        m = _TEMP_NAME.match(entry.name)
        if not m or not entry.is_file() or alive(int(m["pid"] or m["old_pid"])):
            continue
        try:
            entry.unlink()
            removed.append(entry)
        except FileNotFoundError:
            pass
    return removed


def _ensure_folder(folder: Path, shown: Path) -> None:
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise WriteError(shown, f"{existing} is a file, not a directory", errno.ENOTDIR)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(shown, reason(e), e.errno) from None


def _disk_full(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_blocks > 0 and (st.f_bavail == 0 or st.f_bfree == 0)


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Raise a WriteError now if the file ``path`` (or, with ``folder=True``, files inside the
    folder ``path``) could not be written later. Creates the folder when it is missing."""
    path = Path(path)
    where = path if folder else path.parent
    if not folder and path.is_dir():
        raise WriteError(path, REASONS[errno.EISDIR], errno.EISDIR)
    _ensure_folder(where, path)
    probe = temp_path(where / ".write-check")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        # /proc answers "no such file" to a new file in a folder that exists
        why = f"{where} does not accept new files" if e.errno == errno.ENOENT and where.is_dir() else reason(e)
        raise WriteError(path, why, e.errno) from None
    if _disk_full(where):
        raise WriteError(path, REASONS[errno.ENOSPC], errno.ENOSPC)


def umask() -> int:
    """The process's umask (read without changing it for longer than two calls)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Write ``path`` by calling ``write(tmp)`` on a temporary file in the same folder, then renaming it.

    A failure leaves the old file (if any) untouched, removes the temporary file, and is a
    WriteError naming ``path`` and the reason. A library that reports a full disk with its own
    exception type (torch.save raises RuntimeError) is recognised by the free space left.
    """
    path = Path(path)
    _ensure_folder(path.parent, path)
    tmp = temp_path(path)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except OSError as e:
        raise WriteError(path, reason(e), e.errno) from e
    except Exception as e:
        if _disk_full(path.parent):
            raise WriteError(path, REASONS[errno.ENOSPC], errno.ENOSPC) from e
        raise
    finally:
        try:
            tmp.unlink()
        except OSError:  # renamed (the usual case), or never created
            pass


def write_text(path: str | os.PathLike, text: str) -> None:
    """``atomic_write`` of a text file."""
    atomic_write(path, lambda tmp: tmp.write_text(text))
