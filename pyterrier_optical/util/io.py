"""The project's cache folder, and atomic writes: a reader sees the old version or the new one, never half of one."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def optical_home() -> Path:
    """The cache folder of the project: ``$OPTICAL_HOME`` or ``~/.cache/pyterrier_optical``."""
    return Path(os.environ.get("OPTICAL_HOME", Path.home() / ".cache" / "pyterrier_optical")).expanduser()


def write_folder_atomically(path, write) -> Path:
    """Call ``write(staging_folder)``, then move the folder to ``path`` (replacing an old one) by renames."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        write(staging)
        if path.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
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
    fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(staging))
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return path
