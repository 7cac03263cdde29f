"""The project's cache folder, folder locks, and atomic writes: a reader sees the old version or the new one, never
half of one; what a killed writer left behind is removed by the next one; created files follow the umask."""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)
_held = {}  # lock file -> depth, for the locks this process holds (re-entrant)


def optical_home() -> Path:
    """The cache folder of the project: ``$OPTICAL_HOME`` or ``~/.cache/pyterrier_optical``."""
    return Path(os.environ.get("OPTICAL_HOME", Path.home() / ".cache" / "pyterrier_optical")).expanduser()


def nearest_existing(path: Path) -> Path:
    """``path`` itself or its nearest parent that exists (an absolute path always has one: the root)."""
    return next(p for p in (path, *path.parents) if p.exists())


def check_writable(path) -> Path:
    """``path`` if it (or, when it does not exist yet, its nearest existing parent) is a folder where a file can be
    created (tried, not guessed: root passes permission checks on file systems that refuse writes); a
    PermissionError naming it otherwise, before any work starts."""
    path = Path(path).expanduser().absolute()
    existing = nearest_existing(path)
    if not existing.is_dir():
        raise NotADirectoryError(f"{existing} is a file, not a folder (needed for {path}); set OPTICAL_HOME or --out "
                                 "to a folder you can write")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".optical-probe."):
            pass
    except OSError:
        raise PermissionError(f"{existing} is not a writable folder (needed for {path}); set OPTICAL_HOME or --out "
                              "to a folder you can write") from None
    return path


def explain_full_disk(error: OSError) -> str:
    """A one-line message for a full disk: the path being written and the space left on its file system."""
    import shutil

    where = Path(error.filename or optical_home())
    free = shutil.disk_usage(nearest_existing(where.absolute())).free / 2**20
    return (f"no space left on the device while writing {where} ({free:.0f} MiB free there): free some space and run "
            "the same command again; what was finished is kept")


class FolderBusyError(OSError):
    """Another process holds the lock of a folder."""


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def follow_umask(path, directory: bool):
    """Give ``path`` the mode a plain ``mkdir``/``open`` would (``mkdtemp``/``mkstemp`` make them private)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _lock_file(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextlib.contextmanager
def folder_lock(path, purpose: str, wait: bool = False):
    """Hold an exclusive lock on folder ``path`` (a ``.<name>.lock`` file beside it) while inside the block.

    When another process holds it, ``wait`` blocks until it is free (saying once whom it waits for); otherwise a
    :class:`FolderBusyError` names the holder. A process may take a lock it holds again (re-entrant). The lock file
    is removed on release; a killed holder's lock is released by the system.
    """
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_file(path)
    if lock in _held:
        _held[lock] += 1
        try:
            yield
        finally:
            _held[lock] -= 1
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1000, 0).decode("utf-8", "replace") or "another process"
            if not wait:
                os.close(fd)
                raise FolderBusyError(f"{path} is in use by {holder}; wait for it to finish or stop it") from None
            logger.warning("%s is in use by %s: waiting for it", path, holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:  # the previous holder removed the file after this process opened it
            same = False
        if same:
            break
        os.close(fd)
    holder = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose,
                         "command": " ".join(sys.argv)[:200]})
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode(), 0)
    _held[lock] = 1
    try:
        yield
    finally:
        del _held[lock]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)


def made_once(path: Path, ready, make, purpose: str) -> Path:
    """``path`` once ``ready(path)``: made by ``make(path)`` under its build lock, one maker at a time (a process
    that waited for another finds it made, and does not make it again)."""
    path = Path(path)
    if not ready(path):
        check_writable(optical_home())
        with folder_lock(path.with_name(path.name + ".build"), purpose, wait=True):
            if not ready(path):
                make(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(folder: Path, prefix: str):
    """Remove ``<prefix><pid>.*`` entries of ``folder`` whose writing process is gone (a killed writer's litter)."""
    if not folder.is_dir():
        return
    for entry in folder.glob(f"{prefix}*"):
        pid = entry.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            logger.info("removing %s, left by a writer that is gone", entry)
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)


def staging_folder(parent: Path, prefix: str) -> Path:
    """A new folder ``<prefix><pid>.XXXX`` in ``parent``, with the umask's mode, after removing dead writers' ones."""
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(parent, prefix)
    staging = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}.", dir=parent))
    follow_umask(staging, directory=True)
    return staging


def _identity(path: Path):
    """What is at ``path`` now (None: nothing), to tell whether another process replaced it meanwhile."""
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def check_replaceable(path, markers=(), kind: str = "index") -> None:
    """Refuse, naming ``path``, to replace anything but nothing, an empty folder, or a folder holding one of
    ``markers`` (the files that make it a ``kind``): a user's folder or file is never deleted for an index."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise FileExistsError(f"{path} is a file, not a {kind} folder: refusing to replace it; choose another path")
    if any((path / marker).exists() for marker in markers):
        return
    entries = sorted(entry.name for entry in path.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise FileExistsError(f"{path} is not a {kind} (it holds {shown}): refusing to replace it; choose an empty "
                              "or new folder")


def write_folder_atomically(path, write, markers=None, kind: str = "index") -> Path:
    """Call ``write(staging_folder)``, then move the folder to ``path`` (replacing an old one) by renames, under the
    folder's lock so that concurrent writers replace it one after the other.

    With ``markers`` (the files that make a folder a ``kind``), ``path`` must be absent, empty or such a folder
    (:func:`check_replaceable`), checked before any work; and a ``kind`` that another process put at ``path``
    while this one was writing is kept: this one is refused, saying so.
    """
    path = Path(path)
    if markers is not None:
        check_replaceable(path, markers, kind)
    before = _identity(path)
    staging = staging_folder(path.parent, f".{path.name}.")
    try:
        write(staging)
        with folder_lock(path, "replacing the folder", wait=True):
            if markers is not None and _identity(path) != before and any((path / m).exists() for m in markers):
                raise FileExistsError(f"another process wrote the {kind} {path} while this one was writing it: "
                                      "theirs is kept")
            if path.exists():
                retired = staging_folder(path.parent, f".{path.name}.old.")
                os.replace(path, retired / path.name)
                os.replace(staging, path)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def write_file_atomically(path, write) -> Path:
    """Call ``write(staging_file)``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(staging))
        follow_umask(staging, directory=False)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return path
