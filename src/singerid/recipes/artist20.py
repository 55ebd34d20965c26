"""Fetch the artist20 corpus: resumable download, full archive check, safe extraction.

The archive (LabROSA, Columbia) unpacks to::

    artist20/mp3s-32k/<artist>/<album>/<NN-track>.mp3   1,413 tracks, 16 kHz mono mp3
    artist20/lists/a20-{all,trn,val,tst}-tracks.list      artist20's own splits

Standard library and tqdm only, so it runs before any of the heavy dependencies are needed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import os.path
import re
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ..errors import SingeridError

# The artist20 project page; it describes the data and how to obtain it.
ARCHIVE_PAGE = "http://labrosa.ee.columbia.edu/projects/artistid/"
# The mp3 archive sits in the page's download folder. No trustworthy byte count is published
# (the page only says "1.3GB"), so there is no size constant: pass --sha256 to pin a copy.
ARCHIVE_URL = "http://labrosa.ee.columbia.edu/projects/artistid/download/artist20-mp3s-32k.tgz"
ARCHIVE_NAME = "artist20-mp3s-32k.tgz"
SONGS_DIR = "mp3s-32k"  # the songs' folder in the archive, <artist>/<album>/<track>.mp3
EXPECTED_TRACKS = 1413  # "six albums by each of 20 artists, making a total of 1,413 tracks"

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60
USER_AGENT = "singerid-artist20-downloader"


class DownloadError(SingeridError):
    """The archive could not be downloaded; the message is one line naming the URL."""


class ArchiveError(SingeridError):
    """The archive is incomplete, corrupt, not the expected one, or unsafe to extract."""


@dataclass(frozen=True)
class ArchiveCheck:
    sha256: str
    archive_bytes: int   # size of the .tgz on disk
    members: int         # every entry of the tar listing (files, folders, links)
    content_bytes: int   # sum of the members' sizes once extracted
    mp3_files: int


# ---------------------------------------------------------------- download


def partial_path(dest_path: Path) -> Path:
    """Where an unfinished download of ``dest_path`` is kept between runs."""
    return dest_path.with_suffix(dest_path.suffix + ".part")


def download(url: str, dest_path: str | Path, expected_size: int | None = None, progress: bool = True) -> Path:
    """Stream ``url`` to ``dest_path``, resuming an earlier broken download; returns ``dest_path``.

    Bytes go to ``<dest_path>.part`` first, which survives errors and is continued with an
    HTTP Range request next time; it is renamed to ``dest_path`` only once complete.
    """
    dest_path = Path(dest_path)
    dest_path.parent.mkdir(parents=True, exist_ok=True)
    part = partial_path(dest_path)
    try:
        url, auth = _split_credentials(url)
    except ValueError as error:  # e.g. a port that is not a number; keep any password out
        raise DownloadError(f"cannot download {re.sub(r'//[^/@]*@', '//', url)}: {error}") from None

    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset > expected_size:
        part.unlink()  # longer than the archive can be: not ours, start over
        offset = 0

    try:
        response = _open(url, auth, offset)
    except _RangeRefused as refused:
        if refused.total in (None, offset):
            response = None  # the .part already holds the whole file
        else:
            part.unlink()  # the .part is not a prefix of this file
            offset = 0
            response = _open(url, auth, offset)
    if response is not None:
        with response:
            offset, total = _resume_point(response, offset, url)
            _stream(response, part, offset, total, progress, url)

    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink()  # a complete but wrong file would otherwise be "resumed" forever
        raise DownloadError(f"{url}: downloaded {size} bytes, expected {expected_size}; removed the file")
    part.replace(dest_path)
    return dest_path


class _RangeRefused(Exception):
    """HTTP 416 to a resume request; ``total`` is the file size the server reported, if any."""

    def __init__(self, total: int | None):
        super().__init__(total)
        self.total = total


def _split_credentials(url: str) -> tuple[str, str | None]:
    """(url without user:password, so it is safe to print; Basic auth header or None)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url, None
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host  # IPv6 literal
    netloc = f"{host}:{parts.port}" if parts.port else host
    plain = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    user = urllib.parse.unquote(parts.username)
    password = urllib.parse.unquote(parts.password or "")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return plain, f"Basic {token}"


def _open(url: str, auth: str | None, offset: int):
    """The HTTP response for bytes from ``offset`` on; _RangeRefused on a 416, DownloadError otherwise."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    if auth:
        # Unredirected: a redirect to another host must not receive the password.
        request.add_unredirected_header("Authorization", auth)
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            raise _RangeRefused(_total_from_content_range(error.headers.get("Content-Range", ""))) from None
        raise DownloadError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"cannot download {url}: {error.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise DownloadError(f"cannot download {url}: {error}") from None


def _total_from_content_range(value: str) -> int | None:
    # "bytes 100-199/200" or "bytes */200"; "*" as the total means unknown.
    match = re.search(r"/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


def _resume_point(response, offset: int, url: str) -> tuple[int, int | None]:
    """(where the body starts in the file, the file's total size or None)."""
    length = response.headers.get("Content-Length")
    length = int(length) if length and length.isdigit() else None
    if response.status == 206:
        content_range = response.headers.get("Content-Range", "")
        match = re.match(r"bytes (\d+)-\d+/", content_range)
        if not match or int(match.group(1)) != offset:
            raise DownloadError(f"{url}: asked for bytes from {offset}, got {content_range!r}")
        return offset, _total_from_content_range(content_range)
    # 200: the server ignored the Range request and sends everything, so start clean.
    return 0, length


def _stream(response, part: Path, offset: int, total: int | None, progress: bool, url: str) -> None:
    """Append the body to ``part`` (truncating it first when ``offset`` is 0)."""
    written = offset
    bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
               desc=part.name.removesuffix(".part"), disable=not progress)
    try:
        with open(part, "ab" if offset else "wb") as out, bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                written += len(chunk)
                bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"{url}: connection lost after {written} bytes ({error}); "
                            "run again to resume") from None
    # urllib returns b"" when the peer closes early, so compare with the announced size.
    if total is not None and written != total:
        raise DownloadError(f"{url}: connection closed after {written} of {total} bytes; "
                            "run again to resume")


# ---------------------------------------------------------------- check


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def check_archive(path: str | Path, sha256: str | None = None, expected_size: int | None = None) -> ArchiveCheck:
    """Verify size, sha256 and the complete tar listing of a .tgz; raise ArchiveError if anything is off."""
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise ArchiveError(f"{path}: {size} bytes, expected {expected_size}")
    digest = file_sha256(path)
    if sha256 is not None and digest != sha256.strip().lower():
        raise ArchiveError(f"{path}: sha256 mismatch: expected {sha256.strip().lower()}, got {digest}")
    members, content_bytes, mp3_files = _list_archive(path)
    return ArchiveCheck(digest, size, members, content_bytes, mp3_files)


def _list_archive(path: Path) -> tuple[int, int, int]:
    """(members, their total size, .mp3 files), reading the whole gzip stream so truncation shows."""
    members = content_bytes = mp3_files = 0
    try:
        with gzip.open(path, "rb") as stream:
            with tarfile.open(fileobj=stream, mode="r:") as tar:
                for member in tar:  # skipping each member's data decompresses it too
                    members += 1
                    content_bytes += member.size
                    if member.isreg() and member.name.lower().endswith(".mp3"):
                        mp3_files += 1
            # The tar end marker comes before the gzip trailer: drain to check its CRC and length.
            while stream.read(CHUNK_BYTES):
                pass
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(f"{path}: damaged or incomplete archive ({error or type(error).__name__})") from None
    if members == 0:
        raise ArchiveError(f"{path}: the archive is empty")
    return members, content_bytes, mp3_files


# ---------------------------------------------------------------- extract


def safe_extract(archive: str | Path, target: str | Path) -> Path:
    """Extract ``archive`` under ``target`` and return the corpus root (the folder with mp3s-32k/).

    Every member is validated before anything is written, so one bad member aborts the whole
    extraction; Python's "data" filter (3.11.4+) then guards the extraction itself as well.
    """
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            links: set[str] = set()
            for member in members:
                _check_member(member, target, links)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, members=members, filter="data")
            else:  # older Pythons: the explicit checks above are the protection
                tar.extractall(target, members=members)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(f"{archive}: cannot extract ({error})") from None
    return archive_root(target)


def _check_member(member: tarfile.TarInfo, target: Path, links: set[str]) -> None:
    """Refuse a member that could write, or point, outside ``target``; ``links`` collects symlinks seen."""
    name = member.name
    path = _relative_member_path(name, name)
    _refuse_through_link(path, name, links)
    if member.isreg() or member.isdir():
        return
    if member.issym():
        link = PurePosixPath(member.linkname)
        if link.is_absolute() or not _inside(target, target / path.parent / link):
            raise ArchiveError(f"unsafe archive member {name!r}: symlink to {member.linkname!r} leaves the target")
        links.add(str(path))
        return
    if member.islnk():
        # A hard link names another archive path; it must obey the same rules.
        _refuse_through_link(_relative_member_path(member.linkname, name), name, links)
        return
    raise ArchiveError(f"unsafe archive member {name!r}: device, fifo or other special file")


def _relative_member_path(text: str, member: str) -> PurePosixPath:
    """``text`` as a relative path without '..' parts, or ArchiveError naming ``member``."""
    path = PurePosixPath(text)
    if path.is_absolute():
        raise ArchiveError(f"unsafe archive member {member!r}: absolute path {text!r}")
    if ".." in path.parts:
        raise ArchiveError(f"unsafe archive member {member!r}: path {text!r} climbs out of the target")
    return path


def _refuse_through_link(path: PurePosixPath, member: str, links: set[str]) -> None:
    # A path through an archived symlink is resolved on disk, where the checks here cannot
    # follow it (links to links can escape), so such members are refused outright.
    for parent in path.parents:
        if str(parent) in links:
            raise ArchiveError(f"unsafe archive member {member!r}: it goes through the link {str(parent)!r}")


def _inside(target: Path, candidate: Path) -> bool:
    # Lexical check: normpath folds '..' without touching the disk.
    return Path(os.path.normpath(candidate)).is_relative_to(target)


def archive_root(folder: str | Path) -> Path:
    """The folder holding ``mp3s-32k/`` (``folder`` itself or one level down, e.g. ``folder/artist20``)."""
    folder = Path(folder)
    candidates = [folder] + sorted(p for p in folder.iterdir() if p.is_dir())
    for candidate in candidates:
        if (candidate / SONGS_DIR).is_dir():
            return candidate
    raise ArchiveError(f"{folder}: no mp3s-32k/ folder after extraction; is this the artist20 mp3 archive?")


# ---------------------------------------------------------------- all together


def fetch_artist20(output_dir: str | Path, url: str = ARCHIVE_URL, sha256: str | None = None,
                   keep_archive: bool = True, progress: bool = True) -> Path:
    """Download (resumably), check and safely extract artist20 into ``output_dir``; return the corpus root."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = output_dir / ARCHIVE_NAME
    if archive.is_file():
        print(f"{archive} is already complete; skipping the download")
    else:
        download(url, archive, progress=progress)

    try:
        check = check_archive(archive, sha256=sha256)
    except ArchiveError as error:
        raise ArchiveError(f"{error}; delete {archive} to download it again") from None
    print(f"sha256 {check.sha256}  {archive.name}")
    print(f"{check.members} archive members, {check.mp3_files} mp3 files, {check.content_bytes} bytes unpacked")
    if check.mp3_files != EXPECTED_TRACKS:
        print(f"note: artist20 has {EXPECTED_TRACKS} tracks, this archive holds {check.mp3_files} mp3 files")
    # sha256sum's format, so `sha256sum -c` can re-check the archive later.
    (output_dir / f"{ARCHIVE_NAME}.sha256").write_text(f"{check.sha256}  {archive.name}\n", encoding="utf-8")

    root = safe_extract(archive, output_dir)
    if not keep_archive:
        archive.unlink()
    return root
