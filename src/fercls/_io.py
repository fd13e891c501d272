"""Atomic file writing: an interrupted write leaves the old file or none, never half of one."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path, PurePosixPath


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


def checked_zip_entries(archive: zipfile.ZipFile, path, *, max_bytes: int) -> list:
    """The archive's file entries, after refusing the unsafe: entries that escape
    the archive (``../``, absolute names) and a total uncompressed size above
    ``max_bytes`` (a zip bomb announces itself in its directory)."""
    infos = [i for i in archive.infolist() if not i.is_dir()]
    total = sum(i.file_size for i in infos)
    if total > max_bytes:
        raise ValueError(
            f"{path}: archive claims {total / 1e9:.2f} GB uncompressed "
            f"(limit {max_bytes / 1e9:.2f} GB)"
        )
    for info in infos:
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts:
            raise ValueError(f"{path}: unsafe entry name {info.filename!r} in archive")
    return infos
