"""Safe, streaming extraction of a user's zip or tar (gzip, bzip2, xz): each entry is checked before it is written.

Refused (422, or 413 for size), naming the entry: absolute paths and `..`, symlinks, hard links, devices and
fifos, duplicates, encrypted entries, truncated or corrupt data, more entries or unpacked bytes than allowed, and
a compression ratio over the limit, measured on the bytes really written, never on what headers claim.
OS litter and hidden files are skipped without a word.
"""

import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from app.core.errors import Invalid, TooLarge

CHUNK = 1024 * 1024
LOC = ["body"]
LITTER_NAMES = {"__macosx", "thumbs.db", "desktop.ini"}
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveLimits:
    max_entries: int
    max_unpacked_bytes: int
    max_compression_ratio: float


@dataclass
class Extracted:
    """What an archive held: its regular files and folders, as relative paths under the destination."""

    files: list[PurePosixPath] = field(default_factory=list)
    folders: set[PurePosixPath] = field(default_factory=set)
    unpacked_bytes: int = 0


def is_litter(path: PurePosixPath) -> bool:
    """Hidden files and what operating systems leave in archives (__MACOSX/, .DS_Store, Thumbs.db)."""
    return any(part.startswith(".") or part.lower() in LITTER_NAMES for part in path.parts)


def safe_relative(name: str) -> PurePosixPath:
    """The entry's path relative to the destination; refuses anything that could land outside it."""
    if "\x00" in name:
        raise Invalid(LOC, f"archive entry {name!r}: a NUL byte in its name")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _WINDOWS_DRIVE.match(unified):
        raise Invalid(LOC, f"archive entry {name!r}: an absolute path")
    parts = [part for part in unified.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Invalid(LOC, f"archive entry {name!r}: '..' leads outside the archive (zip-slip)")
    return PurePosixPath(*parts)


def extract(archive: Path, dest: Path, limits: ArchiveLimits) -> Extracted:
    """Unpack `archive` (zip or tar, recognised by content) into the empty folder `dest`."""
    with archive.open("rb") as f:
        head = f.read(4)
    writer = _Writer(dest, limits, archive_bytes=archive.stat().st_size)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        _extract_zip(archive, writer)
    else:
        _extract_tar(archive, writer)
    return writer.extracted


class _Writer:
    """Writes entries under dest, counting entries and the bytes really written against the limits."""

    def __init__(self, dest: Path, limits: ArchiveLimits, archive_bytes: int) -> None:
        self.dest = dest
        self.limits = limits
        self.max_bytes = min(limits.max_unpacked_bytes, int(limits.max_compression_ratio * max(archive_bytes, 1)))
        self.entries = 0
        self.extracted = Extracted()
        self.seen: set[PurePosixPath] = set()

    def entry(self, name: str) -> PurePosixPath:
        """Count one entry and check its name; the relative path it unpacks to."""
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise TooLarge(
                f"archive entry {name!r}: the archive has more than {self.limits.max_entries} entries "
                "(FLASHJOBS_DATASET_MAX_ENTRIES)"
            )
        relative = safe_relative(name)
        if relative in self.seen and relative.parts:
            raise Invalid(LOC, f"archive entry {name!r}: a second entry with the same path")
        self.seen.add(relative)
        return relative

    def folder(self, relative: PurePosixPath) -> None:
        if relative.parts and not is_litter(relative):
            self.extracted.folders.add(relative)

    def count_skipped(self, name: str, size: int) -> None:
        """Bytes unpacked only to be passed over (a tar stream's litter) count towards the limits too."""
        self.extracted.unpacked_bytes += size
        self._check(name, written=0)

    def file(self, name: str, relative: PurePosixPath, source: IO[bytes]) -> None:
        target = self.dest.joinpath(*relative.parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            out = target.open("xb")
        except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
            raise Invalid(LOC, f"archive entry {name!r}: its path collides with another entry's") from exc
        with out:
            while chunk := source.read(CHUNK):
                out.write(chunk)
                self.extracted.unpacked_bytes += len(chunk)
                self._check(name, written=len(chunk))
        self.extracted.files.append(relative)
        for parent in list(relative.parents)[:-1]:
            self.extracted.folders.add(parent)

    def _check(self, name: str, *, written: int) -> None:
        unpacked = self.extracted.unpacked_bytes
        if unpacked > self.limits.max_unpacked_bytes:
            raise TooLarge(
                f"archive entry {name!r}: the archive unpacks to more than "
                f"{self.limits.max_unpacked_bytes} bytes (FLASHJOBS_DATASET_MAX_UNPACKED_BYTES)"
            )
        if unpacked > self.max_bytes:
            raise Invalid(
                LOC,
                f"archive entry {name!r}: unpacks to more than {self.limits.max_compression_ratio:g} "
                "times the archive's size, a zip bomb (FLASHJOBS_DATASET_MAX_COMPRESSION_RATIO)",
            )


@contextmanager
def _corrupt_names(name: str, what: str) -> Iterator[None]:
    """Decoder errors of a damaged archive become a 422 that names the entry being read."""
    try:
        yield
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        zlib.error,
        EOFError,
        OSError,
        NotImplementedError,
        ValueError,
    ) as exc:
        raise Invalid(LOC, f"{what} {name!r}: truncated or corrupt ({exc})") from exc


def _extract_zip(archive: Path, writer: _Writer) -> None:
    with _corrupt_names(archive.name, "zip archive"):
        opened = zipfile.ZipFile(archive)
    with opened:
        for info in opened.infolist():
            name = info.filename
            relative = writer.entry(name)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise Invalid(LOC, f"archive entry {name!r}: a symbolic link")
            if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise Invalid(LOC, f"archive entry {name!r}: not a regular file or folder (a device?)")
            if info.is_dir():
                writer.folder(relative)
                continue
            if is_litter(relative):
                continue
            if info.flag_bits & 0x1:
                raise Invalid(LOC, f"archive entry {name!r}: encrypted")
            with _corrupt_names(name, "archive entry"), opened.open(info) as source:
                writer.file(name, relative, source)


def _extract_tar(archive: Path, writer: _Writer) -> None:
    try:
        with tarfile.open(archive, "r:*") as opened:
            _extract_tar_members(opened, writer)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:  # from open: the members' errors are Invalid
        raise Invalid(
            LOC,
            "the body is not a zip or tar archive (tar may be gzip, bzip2 or xz compressed), or it "
            f"is cut off at its start ({exc})",
        ) from exc


def _extract_tar_members(opened: tarfile.TarFile, writer: _Writer) -> None:
    last = "the start"
    while True:
        with _corrupt_names(last, "archive data after entry"):
            member = opened.next()
        if member is None:
            return
        opened.members.clear()  # tarfile keeps every header it read; a 200k-entry tar would pile them up
        last = member.name
        relative = writer.entry(member.name)
        if member.issym():
            raise Invalid(LOC, f"archive entry {member.name!r}: a symbolic link")
        if member.islnk():
            raise Invalid(LOC, f"archive entry {member.name!r}: a hard link")
        if member.isdir():
            writer.folder(relative)
            continue
        if not member.isreg():
            raise Invalid(LOC, f"archive entry {member.name!r}: not a regular file or folder (a device or fifo?)")
        if is_litter(relative):
            writer.count_skipped(member.name, member.size)
            continue
        with _corrupt_names(member.name, "archive entry"):
            source = opened.extractfile(member)
            assert source is not None  # a regular file always has data
            writer.file(member.name, relative, source)
            if source.tell() != member.size:
                raise EOFError(f"{source.tell()} of {member.size} bytes")
