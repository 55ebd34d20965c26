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


def check_archive(path: str | Path, sha256: str | None = None, expected_size: int | None = None,
                  sha256_from: str | None = None) -> ArchiveCheck:
    """Verify size, sha256 and the complete tar listing of a .tgz; raise ArchiveError if anything is off.
    ``sha256_from``: where the expected ``sha256`` comes from, for the message."""
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        raise ArchiveError(f"{path}: {size} bytes, expected {expected_size}")
    digest = file_sha256(path)
    if sha256 is not None and digest != sha256.strip().lower():
        source = f" ({sha256_from})" if sha256_from else ""
        raise ArchiveError(f"{path}: sha256 mismatch: expected {sha256.strip().lower()}{source}, got {digest}")
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

    Every member is checked before anything is written, so one bad member aborts the whole
    extraction: singerid's own checks (`_ArchiveTree`), then Python's "data" filter (3.11.4+)
    on every member, which guards the extraction itself as well.
    """
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _checked_members(tar.getmembers(), target)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(target, members=members, filter="data")
            else:  # older Pythons: the checks above are the protection
                tar.extractall(target, members=members)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ArchiveError(f"{archive}: cannot extract ({error})") from None
    return archive_root(target)


def _checked_members(members: list[tarfile.TarInfo], target: Path) -> list[tarfile.TarInfo]:
    """``members`` as they may be extracted into ``target``, or ArchiveError naming the first bad one."""
    tree = _ArchiveTree(target)
    for member in members:
        tree.add(member)
    tree.check_links()
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is None:
        for member in members:
            member.mode &= 0o755  # as the data filter does: no setuid, no write for group or others
        return members
    checked = []
    for member in members:
        try:
            checked.append(data_filter(member, str(target)))
        except tarfile.FilterError as error:
            raise ArchiveError(f"unsafe archive member {member.name!r}: {error}") from None
    return checked


class _ArchiveTree:
    """The target as the members checked so far will leave it, without writing anything:
    the archive's symlinks over the links already on disk, resolved as the kernel would.

    A member may not go through or replace an archived symlink (the member name is resolved
    on disk, where a link to a link can lead anywhere); a symlink's target is resolved
    through the links before it, and once more through all of them at the end, since a later
    link can move an earlier one's target; a hard link must name a file extracted before it.
    """

    MAX_LINKS = 40  # links followed in one path before giving up, as Linux does (ELOOP)

    def __init__(self, target: Path):
        self.target = str(target)
        self.links: dict[str, tuple[str, str]] = {}  # location -> (link text, member name)
        self.files: set[str] = set()  # locations of regular files, which hard links may name
        self.on_disk: dict[str, str | None] = {}  # location -> link text on disk, or None

    def add(self, member: tarfile.TarInfo) -> None:
        name = member.name
        relative = _relative_member_path(name, name)
        path = f"{self.target}/{relative}"
        if member.issym():
            if not relative.parts:
                raise ArchiveError(f"unsafe archive member {name!r}: a link in place of the target itself")
            if PurePosixPath(member.linkname).is_absolute():
                raise ArchiveError(f"unsafe archive member {name!r}: symlink to {member.linkname!r} leaves the target")
            head, _, last = path.rpartition("/")
            location = f"{self._resolve(head, name, follow_archived=False)}/{last}"
            if not self._inside(location):
                raise ArchiveError(f"unsafe archive member {name!r}: it lands outside the target, at {location}")
            if location in self.links:
                raise ArchiveError(f"unsafe archive member {name!r}: it replaces the link {self._shown(location)!r}")
            self._check_link(location, member.linkname, name)
            self.links[location] = (member.linkname, name)
            return
        if not (member.isreg() or member.isdir() or member.islnk()):
            raise ArchiveError(f"unsafe archive member {name!r}: device, fifo or other special file")
        location = self._resolve(path, name, follow_archived=False)
        if not self._inside(location):
            raise ArchiveError(f"unsafe archive member {name!r}: it lands outside the target, at {location}")
        if member.islnk():
            # A hard link names another archive path; it must obey the same rules.
            source = f"{self.target}/{_relative_member_path(member.linkname, name)}"
            if self._resolve(source, name, follow_archived=False) not in self.files:
                raise ArchiveError(f"unsafe archive member {name!r}: hard link to {member.linkname!r}, "
                                   "which is not a file extracted before it")
        if not member.isdir():
            self.files.add(location)

    def check_links(self) -> None:
        """Every symlink stays inside with all the archive's links in place."""
        for location, (text, name) in self.links.items():
            self._check_link(location, text, name)

    def _check_link(self, location: str, text: str, name: str) -> None:
        folder = location.rpartition("/")[0]
        if not self._inside(self._resolve(f"{folder}/{text}", name, follow_archived=True)):
            raise ArchiveError(f"unsafe archive member {name!r}: symlink to {text!r} leaves the target")

    def _inside(self, location: str) -> bool:
        return os.path.commonpath([location, self.target]) == self.target

    def _resolve(self, path: str, name: str, follow_archived: bool) -> str:
        """The absolute ``path`` with every link followed, like os.path.realpath on the tree to be."""
        resolved, pending, followed = "", path.split("/")[::-1], 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                resolved = resolved.rpartition("/")[0]
                continue
            candidate = f"{resolved}/{part}"
            if candidate in self.links:
                if not follow_archived:
                    raise ArchiveError(f"unsafe archive member {name!r}: it goes through the link "
                                       f"{self._shown(candidate)!r}")
                text = self.links[candidate][0]
            else:
                text = self._disk_link(candidate)
            if text is None:
                resolved = candidate
                continue
            followed += 1
            if followed > self.MAX_LINKS:
                raise ArchiveError(f"unsafe archive member {name!r}: too many links in a row (a loop?)")
            if text.startswith("/"):
                resolved = ""
            pending += text.split("/")[::-1]
        return resolved or "/"

    def _disk_link(self, location: str) -> str | None:
        if location not in self.on_disk:
            self.on_disk[location] = os.readlink(location) if os.path.islink(location) else None
        return self.on_disk[location]

    def _shown(self, location: str) -> str:
        return os.path.relpath(location, self.target)


def _relative_member_path(text: str, member: str) -> PurePosixPath:
    """``text`` as a relative path without '..' parts, or ArchiveError naming ``member``."""
    path = PurePosixPath(text)
    if path.is_absolute():
        raise ArchiveError(f"unsafe archive member {member!r}: absolute path {text!r}")
    if ".." in path.parts:
        raise ArchiveError(f"unsafe archive member {member!r}: path {text!r} climbs out of the target")
    return path


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
    recorded = archive.with_name(f"{ARCHIVE_NAME}.sha256")
    sha256_from = None
    if archive.is_file():
        print(f"{archive} is already complete; skipping the download")
        if sha256 is None and recorded.is_file():  # the hash written when it was downloaded
            sha256, sha256_from = _recorded_sha256(recorded), f"recorded in {recorded} at download"
    else:
        download(url, archive, progress=progress)

    try:
        check = check_archive(archive, sha256=sha256, sha256_from=sha256_from)
    except ArchiveError as error:
        raise ArchiveError(f"{error}; delete {archive} to download it again") from None
    print(f"sha256 {check.sha256}  {archive.name}")
    print(f"{check.members} archive members, {check.mp3_files} mp3 files, {check.content_bytes} bytes unpacked")
    if check.mp3_files != EXPECTED_TRACKS:
        print(f"note: artist20 has {EXPECTED_TRACKS} tracks, this archive holds {check.mp3_files} mp3 files")
    # sha256sum's format, so `sha256sum -c` can re-check the archive later.
    recorded.write_text(f"{check.sha256}  {archive.name}\n", encoding="utf-8")

    root = safe_extract(archive, output_dir)
    if not keep_archive:
        archive.unlink()
    return root


def _recorded_sha256(path: Path) -> str:
    """The hash in a `sha256sum` line, as fetch_artist20 writes it."""
    digest = path.read_text(encoding="utf-8").split(maxsplit=1)[:1]
    if not digest or not re.fullmatch(r"[0-9a-fA-F]{64}", digest[0]):
        raise ArchiveError(f"{path}: not a sha256sum line; delete it to trust the archive beside it as it is, "
                           "or delete both to download again")
    return digest[0].lower()
