"""Atomic file writing: an interrupted write leaves the old file or none, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path, write) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file onto ``path``.

    The temporary file lives in the destination folder, so the rename is atomic
    on POSIX and Windows; on any exception (Ctrl-C included) it is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
