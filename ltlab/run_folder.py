"""Output folders of ``ltlab run`` / ``ltlab run --full`` / ``ltlab train --json``: checked
before any work, written atomically, and held by one run at a time.

`ensure_writable` makes the folder and proves it takes a file (before a kernel starts, not
after an hour of training); `write_text_atomic` writes beside the target and renames into
place; `FolderLock` is a lock file (``.ltlab-run.lock``, holding the owner's PID and host)
that a second run into the same folder meets and reports; a lock left by a process that no
longer exists on this host is stale and taken over.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path

__all__ = ["FolderInUseError", "FolderLock", "ensure_writable", "ensure_writable_file",
           "write_text_atomic"]

LOCK_NAME = ".ltlab-run.lock"


class FolderInUseError(RuntimeError):
    """Another run holds the output folder."""


def ensure_writable(folder: str | os.PathLike, what: str = "--out") -> Path:
    """Create ``folder`` if needed and check that a file can be written there; a
    ``PermissionError`` naming ``what`` and the folder otherwise."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".ltlab-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise PermissionError(
            f"{what} {str(folder)!r} is not a writable folder ({err.strerror or err}); "
            f"choose another {what} or fix its permissions. Nothing was run.") from err
    return folder


def ensure_writable_file(path: str | os.PathLike, what: str) -> Path:
    """Check that ``path`` can be written (its folder exists and takes a file, and it is
    not a folder itself), before the work whose result it will hold."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is a folder; give a file name.")
    if not path.parent.is_dir():
        why = ("is a file, not a folder" if path.parent.exists()
               else "does not exist; create it first")
        raise FileNotFoundError(
            f"{what} {str(path)!r}: the folder {str(path.parent)!r} {why}. Nothing was run.")
    ensure_writable(path.parent, what)
    if path.exists() and not os.access(path, os.W_OK):
        raise PermissionError(f"{what} {str(path)!r} is not writable. Nothing was run.")
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class FolderLock:
    """``with FolderLock(folder):`` holds ``folder/.ltlab-run.lock`` for this process."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / LOCK_NAME
        self.held = False

    def __enter__(self) -> FolderLock:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                pid = owner.get("pid") if owner else None
                if owner is not None and (owner.get("host") != me["host"]
                                          or not isinstance(pid, int) or _alive(pid)):
                    since = time.strftime("%H:%M:%S", time.localtime(owner.get("since", 0)))
                    raise FolderInUseError(
                        f"output folder {str(self.path.parent)!r} is in use by another ltlab "
                        f"run (PID {owner.get('pid')} on {owner.get('host')}, since {since}); "
                        f"wait for it to finish or give another --out. (A stale lock: delete "
                        f"{str(self.path)!r}.)") from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as handle:
                json.dump(me, handle)
            self.held = True
            return self
        raise FolderInUseError(f"could not take the lock {str(self.path)!r}; try again.")

    def _owner(self) -> dict | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):  # being written this instant, or left half-written
            try:
                young = time.time() - self.path.stat().st_mtime < 5
            except OSError:
                return None
            return {"pid": "?", "host": "?", "since": time.time()} if young else None

    def __exit__(self, *exc) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
