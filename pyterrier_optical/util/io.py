"""The project's cache folder, folder locks, and atomic writes: a reader sees the old version or the new one, never
half of one; what a killed writer left behind is removed by the next one; created files follow the umask; a full disk
is named with the path being written and the space left there.

What this package may replace or write into is decided by content, never by a file's name alone: a folder is
replaced only when it is new, empty, or recognised by a :class:`Marker` (a file this package wrote, with fields only
it writes, or the exact list of files it writes); a folder it writes into next to what it holds (a training run's
output) is claimed first (:func:`claim_folder`)."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import glob
import json
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

logger = logging.getLogger(__name__)
_held = {}  # lock file -> depth, for the locks this process holds (re-entrant)
PACKAGE = "pyterrier-optical"
CLAIM_FILE = ".optical-folder.json"  # written by claim_folder: {"package": PACKAGE, "kind": ...}
FULL_DISK_FREE = 2**20  # a write that fails where less than this is left failed for want of space


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


# --- a full disk -----------------------------------------------------------------------------------------------

def free_bytes(path) -> int:
    """The bytes an unprivileged user may still write on the file system of ``path`` (or of its nearest parent)."""
    where = nearest_existing(Path(path).absolute())
    stat = os.statvfs(where)
    return stat.f_bavail * stat.f_frsize


class DiskFullError(OSError):
    """No space left on the device: the message names the path being written and the space left there when the
    write failed (``errno`` is ENOSPC, ``filename`` the path)."""

    def __init__(self, path, free: int):
        self.free = free
        message = (f"no space left on the device while writing {path} ({free / 2**20:.0f} MiB free there when the "
                   "write failed; the partial write was removed): free some space and run the same command again; "
                   "what was finished is kept")
        super().__init__(errno.ENOSPC, message, str(path))

    def __str__(self):
        return self.strerror


def is_full_disk(error: BaseException) -> bool:
    """Whether ``error`` (or an error it was raised from) means the disk is full: ENOSPC or EDQUOT, or a
    dependency's error that says so in words only (safetensors' ``SafetensorError``)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if re.search(r"No space left on device|os error 28|Disk quota exceeded|os error 122", str(error)):
            return True
        error = error.__cause__ or error.__context__
    return False


def _full_disk_error(error: BaseException, path: Path, where: Path | None = None):
    """A :class:`DiskFullError` for ``path`` when ``error`` is a full disk (None otherwise): one that says so, or a
    write error that does not say why (torch's ``unexpected pos``) where less than 1 MiB is left."""
    if isinstance(error, DiskFullError):
        return None
    try:
        free = free_bytes(where or path)
    except OSError:
        return None
    quiet = isinstance(error, (RuntimeError, OSError)) and free < FULL_DISK_FREE
    return DiskFullError(path, free) if is_full_disk(error) or quiet else None


@contextlib.contextmanager
def naming_full_disk(path, where=None):
    """Inside the block, a full disk (whichever library's error says so) is raised as a :class:`DiskFullError`
    naming ``path`` and the space left on the file system of ``where`` (default: ``path``)."""
    try:
        yield
    except Exception as error:
        full = _full_disk_error(error, Path(path), Path(where) if where is not None else None)
        if full is not None:
            raise full from error
        raise


def explain_full_disk(error: BaseException) -> str:
    """A one-line message for a full disk: the path being written and the space left on its file system."""
    if isinstance(error, DiskFullError):
        return str(error)
    where = Path(getattr(error, "filename", None) or optical_home())
    free = free_bytes(where) / 2**20
    return (f"no space left on the device while writing {where} ({free:.0f} MiB free there): free some space and run "
            "the same command again; what was finished is kept")


# --- modes and locks -------------------------------------------------------------------------------------------

class FolderBusyError(OSError):
    """Another process holds the lock of a folder."""


def _umask() -> int:
    try:  # read without changing it (os.umask sets it, for a moment, for every thread)
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0)
    os.umask(current)
    return current


def follow_umask(path, directory: bool):
    """Give ``path`` the mode a plain ``mkdir``/``open`` would (``mkdtemp``/``mkstemp`` make them private)."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def follow_umask_tree(folder) -> None:
    """:func:`follow_umask` for ``folder`` and everything in it (an executable file keeps its execute bits); links
    are left alone, never followed. Writers that make their files private (safetensors writes a temporary file,
    0600, and renames it) cannot leave them unreadable to the other users of a shared cache."""
    mask = _umask()
    for root, folders, files in os.walk(folder):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if not os.path.islink(path):  # os.walk does not enter links to folders either
                os.chmod(path, (0o777 if mode & 0o111 else 0o666) & ~mask)


def _lock_file(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def _open_lock(lock: Path) -> int:
    """The lock file opened (created when missing) without following a link: a link planted at its name in a shared
    folder cannot make this process write where it points."""
    try:
        return os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise FileExistsError(errno.EEXIST, f"the lock file {lock} is a symbolic link (to {os.readlink(lock)}): "
                                  "refusing to follow it; remove the link", str(lock)) from None
        raise


@contextlib.contextmanager
def folder_lock(path, purpose: str, wait: bool = False):
    """Hold an exclusive lock on folder ``path`` (a ``.<name>.lock`` file beside it) while inside the block.

    When another process holds it, ``wait`` blocks until it is free (saying once whom it waits for); otherwise a
    :class:`FolderBusyError` names the holder. A process may take a lock it holds again (re-entrant). The lock file
    is removed on release; a killed holder's lock is released by the system. A link at the lock file's name is
    refused, never followed.
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
        fd = _open_lock(lock)
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
            same = os.fstat(fd).st_ino == os.lstat(lock).st_ino
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


# --- staging ---------------------------------------------------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_TEMP_SUFFIX = r"[a-z0-9_]{8}"  # what mkdtemp and mkstemp append


def remove_stale_staging(folder: Path, prefix: str):
    """Remove ``<prefix><pid>.XXXXXXXX`` entries of ``folder`` (the names :func:`staging_folder` and
    :func:`write_file_atomically` make, exactly) whose writing process is gone: a killed writer's litter."""
    if not folder.is_dir():
        return
    name = re.compile(re.escape(prefix) + r"(\d+)\." + _TEMP_SUFFIX)
    for entry in folder.glob(f"{glob.escape(prefix)}*"):
        match = name.fullmatch(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            logger.info("removing %s, left by a writer that is gone", entry)
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def staging_folder(parent: Path, prefix: str) -> Path:
    """A new folder ``<prefix><pid>.XXXXXXXX`` in ``parent``, with the umask's mode, after removing dead writers'
    ones."""
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(parent, prefix)
    staging = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}.", dir=parent))
    follow_umask(staging, directory=True)
    return staging


def _identity(path: Path):
    """What is at ``path`` now (None: nothing), to tell whether another process replaced it meanwhile."""
    try:
        return os.lstat(path).st_ino
    except FileNotFoundError:
        return None


# --- what is this package's ------------------------------------------------------------------------------------

def _type_names(expected) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


@dataclass(frozen=True)
class Marker:
    """How this package tells a folder it wrote from anyone else's: by the content of a file it writes there, never
    by the file's name alone (another tool's index, a user's project may hold a file of that name).

    Args:
        name: the file (a path inside the folder) this package writes into such a folder.
        fields: JSON fields that file holds, ``{field: value}``; a value that is a type (or a tuple of types) is
            matched by ``isinstance``, anything else by equality.
        check: for a file that is not JSON, a function of its path: True when its content is this package's.
        files: the complete list of what such a folder holds (names, or glob patterns such as ``*.safetensors``),
            every one of them present but for those in ``optional``: a folder holding exactly these is this
            package's even when the marker itself is damaged (a corrupt settings file of an index).
        optional: entries such a folder may hold besides ``files`` (a log).
    """

    name: str
    fields: dict = field(default_factory=dict)
    check: Callable | None = None
    files: tuple = ()
    optional: tuple = ()

    def __post_init__(self):
        if not (self.fields or self.check or self.files):
            raise TypeError(f"Marker({self.name!r}) needs fields, a check or the folder's files: a file's name alone "
                            "does not tell this package's folder from another's")

    def mismatch(self, folder) -> str | None:
        """None when ``folder`` is this package's by this marker; otherwise why not, in words."""
        folder = Path(folder)
        file = folder / self.name
        if not file.is_file() or file.is_symlink():
            return f"it has no {self.name}"
        problem = self._content_problem(file) if self.fields or self.check else None
        if problem is None and (self.fields or self.check):
            return None
        if self.files:  # the exact list: this package's folder, even with a damaged marker
            files_problem = self._files_problem(folder)
            if files_problem is None:
                return None
            return problem or files_problem
        return problem

    def found(self, folder) -> bool:
        return self.mismatch(folder) is None

    def _content_problem(self, file: Path) -> str | None:
        if self.check is not None:
            try:
                ours = self.check(file)
            except Exception as e:  # an unreadable file is not this package's
                return f"its {self.name} cannot be read ({e.__class__.__name__})"
            if not ours:
                return f"its {self.name} is not one this package writes"
        if self.fields:
            try:
                content = json.loads(file.read_text(encoding="utf-8-sig"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                return f"its {self.name} is not JSON"
            if not isinstance(content, dict):
                return f"its {self.name} is not a JSON object"
            for key, expected in self.fields.items():
                if key not in content:
                    return f"its {self.name} has no {key!r} field"
                value = content[key]
                if isinstance(expected, (type, tuple)):
                    if not isinstance(value, expected):
                        return f"its {self.name} has {key} {json.dumps(value)[:40]}, not a {_type_names(expected)}"
                elif value != expected:
                    return f"its {self.name} has {key} {json.dumps(value)[:40]}, not {json.dumps(expected)}"
        return None

    def _files_problem(self, folder: Path) -> str | None:
        """None when ``folder`` holds all of ``files`` and nothing but them and ``optional``; else what differs."""
        entries = sorted(entry.name for entry in folder.iterdir())
        known = (*self.files, *self.optional)
        foreign = [e for e in entries if not any(fnmatch.fnmatchcase(e, pattern) for pattern in known)]
        if foreign:
            shown = ", ".join(foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            return f"{shown} {'is' if len(foreign) == 1 else 'are'} not among the files this package writes there"
        missing = [p for p in self.files if not any(fnmatch.fnmatchcase(e, p) for e in entries)]
        return f"it has no {', '.join(missing)}" if missing else None


def claim_marker(kind: str) -> Marker:
    """The marker :func:`claim_folder` writes into a folder it claims for ``kind``."""
    return Marker(CLAIM_FILE, {"package": PACKAGE, "kind": kind})


def _checked_markers(markers) -> tuple:
    if isinstance(markers, (str, Marker)):
        markers = (markers,)
    markers = tuple(markers)
    names = [m for m in markers if not isinstance(m, Marker)]
    if names:
        raise TypeError(f"markers must be Marker objects (a file and the content this package writes in it), got "
                        f"{names!r}: a file's name alone does not tell this package's folder from another's")
    return markers


def _holdings(path: Path) -> str:
    entries = sorted(entry.name for entry in path.iterdir())
    return ", ".join(entries[:3]) + (f", ... ({len(entries)} entries)" if len(entries) > 3 else "")


def ours(path, markers) -> bool:
    """True when folder ``path`` is recognised as this package's by one of ``markers``."""
    path = Path(path)
    return path.is_dir() and any(m.found(path) for m in _checked_markers(markers))


def check_replaceable(path, markers, kind: str = "index") -> None:
    """Refuse, naming ``path`` and saying why, to replace anything but nothing, an empty folder, or a folder that one
    of ``markers`` recognises as this package's ``kind``: a user's folder or file, another tool's index, is never
    deleted."""
    markers = _checked_markers(markers)
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        what = "a link" if path.is_symlink() else "a file"
        raise FileExistsError(f"{path} is {what}, not a {kind} folder: refusing to replace it; choose another path")
    if not any(path.iterdir()):
        return
    reasons = [m.mismatch(path) for m in markers]
    if any(reason is None for reason in reasons):
        return
    why = "; ".join(dict.fromkeys(reasons))
    raise FileExistsError(f"{path} is not a {kind} written by {PACKAGE} (it holds {_holdings(path)}; {why}): "
                          "refusing to replace it; choose an empty or new folder")


def claim_folder(path, kind: str, markers=()) -> Path:
    """Make folder ``path`` this package's ``kind`` (a training run's output) before anything is written into it,
    next to what it may already hold from an earlier run: it must be new, empty, claimed for ``kind`` before (its
    :data:`CLAIM_FILE`), or recognised by one of ``markers`` (such a folder written before claims existed); anything
    else is refused as :func:`check_replaceable` refuses it, and nothing is written."""
    path = Path(path)
    claim = claim_marker(kind)
    check_replaceable(path.resolve() if path.is_symlink() else path, (claim, *_checked_markers(markers)), kind)
    path.mkdir(parents=True, exist_ok=True)
    if not claim.found(path):
        write_file_atomically(path / CLAIM_FILE, lambda f: f.write_text(json.dumps(
            {"package": PACKAGE, "kind": kind}) + "\n", encoding="utf-8"))
    return path


# --- atomic writes ---------------------------------------------------------------------------------------------

def write_folder_atomically(path, write, markers, kind: str = "index") -> Path:
    """Call ``write(staging_folder)``, then move the folder to ``path`` (replacing an old one) by renames, under the
    folder's lock so that concurrent writers replace it one after the other.

    ``markers`` (:class:`Marker`) recognise a ``kind`` this package wrote: ``path`` must be absent, empty or such a
    folder (:func:`check_replaceable`), checked before any work and again before the replacement; a ``kind`` that
    another process put at ``path`` while this one was writing is kept: this one is refused, saying so. The files
    written follow the umask; a full disk raises :class:`DiskFullError` naming ``path``; the staging folder is
    removed whatever happens.
    """
    path = Path(path)
    markers = _checked_markers(markers)
    check_replaceable(path, markers, kind)
    before = _identity(path)
    staging = staging_folder(path.parent, f".{path.name}.")
    try:
        with naming_full_disk(path, staging):
            write(staging)
        follow_umask_tree(staging)
        with folder_lock(path, "replacing the folder", wait=True):
            if _identity(path) != before:
                if ours(path, markers):
                    raise FileExistsError(f"another process wrote the {kind} {path} while this one was writing it: "
                                          "theirs is kept")
                check_replaceable(path, markers, kind)  # something else appeared there meanwhile
            if path.exists() or path.is_symlink():
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
    """Call ``write(staging_file)``, then rename it to ``path`` (the umask's mode; a full disk raises
    :class:`DiskFullError` naming ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", dir=path.parent)
    os.close(fd)
    try:
        with naming_full_disk(path, path.parent):
            write(Path(staging))
        follow_umask(staging, directory=False)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return path
