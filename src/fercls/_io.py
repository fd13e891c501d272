"""Safe file handling in one place.

- Atomic writes of files and folders: an interrupted write leaves the old
  version or none, never half of one; temporaries have unique names, so two
  writers to the same destination never share one.
- New files get the user's umask (``mkstemp`` alone would make them 0600);
  a replaced file keeps its mode.
- Capped reads of regular files and zip members, with every way a hostile
  archive can fail reported as a ``ValueError`` that names the file.
- Output paths checked before any work starts: never an input, never a file
  where a folder is expected (or the reverse), always in a writable folder,
  and an existing file or folder replaced only by an output of its own kind.
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    # Elsewhere: set and restore (not thread-safe, but only for a moment).
    current = os.umask(0o022)
    os.umask(current)
    return current


def _final_mode(path: Path, *, folder: bool) -> int:
    """The mode a written path should end with: the mode of the file it
    replaces, else what ``open()`` / ``mkdir()`` would give under the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return (0o777 if folder else 0o666) & ~_umask()


def _unique_temporary(path: Path, *, folder: bool) -> Path:
    if folder:
        return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def write_atomic(path, write) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file onto ``path``.

    The temporary file lives in the destination folder under a unique name, so
    the rename is atomic on POSIX and Windows and concurrent writers do not
    collide; on any exception (Ctrl-C included) it is removed. The result gets
    the replaced file's mode, or the umask's for a new file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; expected a file path")
    _check_regular(path)
    mode = _final_mode(path, folder=False)
    temporary = _unique_temporary(path, folder=False)
    try:
        write(str(temporary))
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_folder_atomic(path, write, *, kind: OutputFolder | None = None) -> Path:
    """Call ``write(staging_folder)``, then swap the staging folder into ``path``.

    An existing ``path`` is replaced only if it is empty or an earlier output
    of the same ``kind`` (:class:`OutputFolder`), so a folder fercls did not
    write is never replaced; that is checked before ``write`` runs. The old
    folder is first renamed aside under a unique name and removed after the
    swap, and every failure removes what it staged.
    """
    path = Path(os.path.abspath(path))
    check_replaceable_folder(path, str(path), kind=kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _final_mode(path, folder=True)
    staging = _unique_temporary(path, folder=True)
    try:
        write(str(staging))
        os.chmod(staging, mode)
        if path.exists():
            _swap_folder(staging, path)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _swap_folder(staging: Path, path: Path) -> None:
    """Put ``staging`` where the folder ``path`` is; the old one is removed."""
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    try:
        old = aside / "old"
        os.replace(path, old)
        try:
            os.replace(staging, path)
        except BaseException:
            os.replace(old, path)
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


@dataclass(frozen=True)
class OutputFolder:
    """The names an output folder of one kind holds: ``marker`` is always
    written, ``others`` may be. An existing folder is taken for an earlier
    output of that kind, which may be replaced, only if it holds ``marker``
    and nothing outside these names."""

    marker: str
    others: frozenset[str] = frozenset()
    #: Markers of an earlier layout of the same kind, which a new output replaces.
    former: frozenset[str] = frozenset()

    def foreign_names(self, folder: Path) -> list[str]:
        """What in ``folder`` shows it is not (only) an earlier output of this kind."""
        names = set(os.listdir(folder))
        foreign = sorted(names - {self.marker, *self.others, *self.former})
        if names and not foreign and not names & {self.marker, *self.former}:
            foreign = sorted(names)  # ours would always hold the marker
        return foreign


# Enough of a file's start to tell its kind (magic numbers, text or not).
_HEAD_BYTES = 4096


@dataclass(frozen=True)
class OutputFile:
    """What an output file of one kind holds, told from an existing file's
    first bytes: ``holds(path, head)``. An existing file is taken for an earlier
    output of that kind, which may be replaced, only if it holds it (or is
    empty), so a careless ``--output`` cannot turn a photo, a data set or a
    model of another kind into this output."""

    #: Named in the refusal: "a TFLite model", "text".
    name: str
    holds: Callable[[Path, bytes], bool]


def _is_text(path: Path, head: bytes) -> bool:
    if b"\0" in head:
        return False
    try:  # incremental: the head may end inside a multi-byte character
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


#: JSON, CSV and plain-text reports.
TEXT_FILE = OutputFile("text", _is_text)


def zip_holding(*names: str) -> Callable[[Path, bytes], bool]:
    """``holds`` for a zip archive with at least one of ``names`` inside."""

    def holds(path: Path, head: bytes) -> bool:
        if not head.startswith(b"PK"):
            return False
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name in archive.NameToInfo for name in names)
        except (zipfile.BadZipFile, OSError, ValueError):
            return False

    return holds


def _check_regular(path: Path) -> None:
    """Refuse to replace a device, FIFO or socket: the swap would put a file
    in its place (as root, ``-o /dev/null`` would replace the device)."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise ValueError(
            f"{path}: is not a regular file (a device, FIFO or socket); fercls writes "
            "whole files and would put one in its place: name a regular file"
        )


def check_replaceable_file(path, what: str, *, kind: OutputFile) -> None:
    """Refuse to replace an existing file that is not empty and does not hold
    an earlier output of ``kind`` (devices and FIFOs are refused before this)."""
    path = Path(path)
    if not path.is_file():
        return
    try:
        with open(path, "rb") as stream:
            head = stream.read(_HEAD_BYTES)
    except OSError as exc:
        raise ValueError(f"{what}: exists and cannot be read ({short_reason(exc)})") from None
    if head and not kind.holds(path, head):
        raise ValueError(
            f"{what}: the file exists and does not hold {kind.name}; fercls replaces "
            "only an earlier output of the same kind: choose a new name, or remove the "
            "file first"
        )


def check_replaceable_folder(path, what: str, *, kind: OutputFolder | None) -> None:
    """Refuse to replace an existing folder that is not empty and not an
    earlier output of ``kind``, or the working folder (or one above it),
    which cannot be swapped out from under the process."""
    path = Path(path)
    if not path.exists():
        return
    if not path.is_dir():
        raise ValueError(f"{what}: is a file; expected a folder path")
    here = Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        raise ValueError(f"{what}: is the working folder or holds it; choose a new folder")
    foreign = kind.foreign_names(path) if kind else sorted(os.listdir(path))
    if foreign:
        shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise ValueError(
            f"{what}: the folder exists and holds files fercls did not write there "
            f"({shown}); choose a new or empty folder"
        )


def _same_path(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _is_within(inner: Path, outer: Path) -> bool:
    """Whether ``inner`` is ``outer`` or lies inside it, symlinks resolved."""
    inner, outer = inner.resolve(), outer.resolve()
    return inner == outer or outer in inner.parents


def _existing_ancestor(path: Path) -> Path:
    parent = path.parent.resolve()
    while not parent.exists():
        parent = parent.parent
    return parent


def check_output_path(
    path,
    what: str,
    *,
    folder: bool = False,
    inputs=(),
    kind: OutputFolder | OutputFile | None = None,
) -> None:
    """Refuse an output ``path`` that would destroy something, or cannot be written.

    The rule: ``inputs`` are every path the command reads, a folder standing
    for everything in it. The output may not be an input (by any spelling,
    symlink or hard link), contain one, or be an existing file inside an
    input folder. An output of a ``kind`` (:class:`OutputFolder`,
    :class:`OutputFile`) may not replace (or write into) a folder or file that
    is not empty and not an earlier output of that kind, and no output
    replaces a device, FIFO or socket. It must also have the right kind (a folder for a
    file or the reverse) and lie where something can be written. Errors are
    ``ValueError`` starting with ``what`` (e.g. the option that named it),
    raised before the work, so hours of training never end in a failed save.
    """
    path = Path(path)
    for source in inputs:
        if source is not None:
            _check_not_input(path, Path(source), what)
    if folder and path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file; expected a folder")
    if not folder and path.is_dir():
        raise ValueError(f"{what} {path} is a folder; expected a file path")
    try:
        _check_regular(path)
    except ValueError as exc:
        raise ValueError(f"{what} {exc}") from None
    if isinstance(kind, OutputFolder):
        check_replaceable_folder(path, f"{what} {path}", kind=kind)
    elif isinstance(kind, OutputFile):
        check_replaceable_file(path, f"{what} {path}", kind=kind)
    ancestor = path if folder and path.is_dir() else _existing_ancestor(path)
    if not ancestor.is_dir():
        raise ValueError(f"{what} {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise ValueError(f"{what} {path}: cannot write in {ancestor}")


def _check_not_input(path: Path, source: Path, what: str) -> None:
    if _same_path(path, source):
        raise ValueError(f"{what} {path} is also an input; it would be overwritten")
    if source.exists() and _is_within(source, path):
        raise ValueError(f"{what} {path} holds the input {source}; it would be overwritten")
    if source.is_dir() and path.exists() and _is_within(path, source):
        raise ValueError(
            f"{what} {path} is inside the input folder {source}; it would be overwritten"
        )


def unique_sibling(path, *, suffix: str = "") -> Path:
    """A new, empty, uniquely named file beside ``path`` (for writers such as
    OpenCV's that need a real file name); the caller renames or removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".partial{suffix}", dir=path.parent
    )
    os.close(fd)
    return Path(name)


def finish_sibling(temporary: Path, path) -> Path:
    """Give ``temporary`` the mode ``path`` should have and rename it there."""
    path = Path(path)
    os.chmod(temporary, _final_mode(path, folder=False))
    os.replace(temporary, path)
    return path


def read_regular_file(path, *, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file (after symlinks) of at most
    ``max_bytes``; FIFOs, devices and oversized files are refused, unread."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{path}: not a regular file (a FIFO, device or socket); not read")
    if info.st_size > max_bytes:
        raise ValueError(f"{path}: {info.st_size:,} bytes, more than the limit of {max_bytes:,}")
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we read it
        raise ValueError(f"{path}: more than the limit of {max_bytes:,} bytes")
    return data


# Every way reading a member of a damaged or hostile zip fails.
ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    RuntimeError,
    NotImplementedError,
    EOFError,
    OSError,
)


def read_zip_member(archive: zipfile.ZipFile, name: str, source, *, max_bytes: int) -> bytes:
    """One member's bytes, read with a cap whatever its header claims, and
    every failure (bad CRC, encryption, corrupt or unknown compression) as a
    ``ValueError`` naming the archive and the member."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise ValueError(f"{source}: no member {name!r} in the archive") from None
    if info.file_size > max_bytes:
        raise ValueError(
            f"{source}: {name} claims {info.file_size:,} bytes uncompressed (limit {max_bytes:,})"
        )
    try:
        with archive.open(info) as member:
            data = member.read(max_bytes + 1)
    except ZIP_READ_ERRORS as exc:
        raise ValueError(f"{source}: cannot read {name} ({_reason(exc)})") from None
    if len(data) > max_bytes:
        raise ValueError(f"{source}: {name} inflates beyond the limit of {max_bytes:,} bytes")
    return data


def parse_json(data: bytes, where: str, *, expected: type[dict] | type[list] = dict):
    """``data`` as JSON of type ``expected``; bad UTF-8, bad JSON, nesting deep
    enough to exhaust the parser and a value of another type are each one
    ``ValueError`` starting with ``where`` (a file or member name)."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply") from None
    if not isinstance(value, expected):
        kind = "object" if expected is dict else "list"
        raise ValueError(f"{where}: expected a JSON {kind}, found {type(value).__name__}")
    return value


def _reason(exc: BaseException) -> str:
    kinds: dict[type[BaseException], str] = {
        RuntimeError: "encrypted or password-protected",
        NotImplementedError: "unsupported compression method",
        zlib.error: "corrupt compressed data",
    }
    kind = kinds.get(type(exc))
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{kind}: {text}" if kind else text


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


def short_reason(exc: BaseException, limit: int = 200) -> str:
    """An exception as one short line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
