"""The artist20 downloader against a loopback HTTP server: resume, checks, safe extraction."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import random
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from singerid.recipes.artist20 import (
    ARCHIVE_NAME,
    ArchiveError,
    DownloadError,
    check_archive,
    download,
    fetch_artist20,
    partial_path,
    safe_extract,
)
from singerid.commands.download_artist20 import main

# artist -> album -> tracks, in the real archive's naming style.
LAYOUT = {
    "aerosmith": {"Pump": ["01-Young_Lust", "02-F.I.N.E."], "Permanent_Vacation": ["01-Heart_s_Done_Time"]},
    "beatles": {"Abbey_Road": ["01-Come_Together", "02-Something"], "Revolver": ["01-Taxman"]},
}
TRACKS = [f"{a}/{al}/{t}" for a, albums in LAYOUT.items() for al, tracks in albums.items() for t in tracks]
LISTS = {
    "a20-all-tracks.list": TRACKS,
    "a20-trn-tracks.list": [t for t in TRACKS if "/Pump/" in t or "/Abbey_Road/" in t],
    "a20-val-tracks.list": [t for t in TRACKS if "/Permanent_Vacation/" in t],
    "a20-tst-tracks.list": [t for t in TRACKS if "/Revolver/" in t],
}


def build_corpus_archive(folder: Path) -> bytes:
    """A small .tgz laid out like artist20-mp3s-32k.tgz, with incompressible fake mp3s."""
    rng = random.Random(0)
    root = folder / "artist20"
    for track in TRACKS:
        path = root / "mp3s-32k" / f"{track}.mp3"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"ID3" + rng.randbytes(6000))
    (root / "lists").mkdir()
    for name, tracks in LISTS.items():
        (root / "lists" / name).write_text("\n".join(tracks) + "\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(root, arcname="artist20")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def archive_bytes(tmp_path_factory) -> bytes:
    return build_corpus_archive(tmp_path_factory.mktemp("corpus"))


class ArchiveHandler(BaseHTTPRequestHandler):
    """Serves ``server.payload`` at /<ARCHIVE_NAME> with Range support and a few failure modes."""

    def do_GET(self):
        server = self.server
        server.ranges.append(self.headers.get("Range"))
        if self.path != f"/{ARCHIVE_NAME}":
            self.send_error(404)
            return
        if server.auth and self.headers.get("Authorization") != server.auth:
            self.send_error(401)
            return
        data = server.payload
        start = 0
        requested = self.headers.get("Range")
        if requested and server.mode != "ignore-range":
            start = int(requested.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.mode == "drop-once":
            server.mode = "normal"
            self.wfile.write(body[: len(body) // 2])  # then the connection closes early
            return
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server(archive_bytes):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ArchiveHandler)
    httpd.daemon_threads = True
    httpd.payload, httpd.mode, httpd.auth, httpd.ranges = archive_bytes, "normal", None, []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/{ARCHIVE_NAME}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- download


def test_full_fetch_gives_the_artist20_layout(server, archive_bytes, tmp_path, capsys):
    out = tmp_path / "data"
    root = fetch_artist20(out, url=server.url, progress=False)

    assert root == (out / "artist20").resolve()
    for track in TRACKS:
        assert (root / "mp3s-32k" / f"{track}.mp3").is_file()
    for name, tracks in LISTS.items():
        assert (root / "lists" / name).read_text().split() == tracks
    digest = sha256_of(archive_bytes)
    assert (out / f"{ARCHIVE_NAME}.sha256").read_text() == f"{digest}  {ARCHIVE_NAME}\n"
    assert digest in capsys.readouterr().out
    assert (out / ARCHIVE_NAME).read_bytes() == archive_bytes
    assert not partial_path(out / ARCHIVE_NAME).exists()

    # A second run finds the complete archive and does not ask the server again.
    requests = len(server.ranges)
    assert fetch_artist20(out, url=server.url, progress=False) == root
    assert len(server.ranges) == requests


def test_resume_after_broken_download_fetches_only_the_rest(server, archive_bytes, tmp_path):
    server.mode = "drop-once"
    dest = tmp_path / ARCHIVE_NAME
    with pytest.raises(DownloadError, match="run again to resume") as caught:
        download(server.url, dest, progress=False)
    assert server.url in str(caught.value)
    kept = partial_path(dest).stat().st_size
    assert 0 < kept < len(archive_bytes)
    assert not dest.exists()

    download(server.url, dest, expected_size=len(archive_bytes), progress=False)
    assert server.ranges == [None, f"bytes={kept}-"]
    assert dest.read_bytes() == archive_bytes
    assert not partial_path(dest).exists()


def test_server_ignoring_range_restarts_cleanly(server, archive_bytes, tmp_path):
    server.mode = "ignore-range"
    dest = tmp_path / ARCHIVE_NAME
    partial_path(dest).write_bytes(b"stale bytes that must not survive")
    download(server.url, dest, progress=False)
    assert server.ranges == [f"bytes={len(b'stale bytes that must not survive')}-"]
    assert dest.read_bytes() == archive_bytes


def test_already_complete_part_file_is_accepted_on_416(server, archive_bytes, tmp_path):
    dest = tmp_path / ARCHIVE_NAME
    partial_path(dest).write_bytes(archive_bytes)
    download(server.url, dest, progress=False)
    assert server.ranges == [f"bytes={len(archive_bytes)}-"]
    assert dest.read_bytes() == archive_bytes


def test_size_mismatch_and_http_error_are_clear(server, archive_bytes, tmp_path):
    with pytest.raises(DownloadError, match=f"downloaded {len(archive_bytes)} bytes, expected {len(archive_bytes) + 1}"):
        download(server.url, tmp_path / "a.tgz", expected_size=len(archive_bytes) + 1, progress=False)
    missing = server.url.replace(ARCHIVE_NAME, "nothing-here.tgz")
    with pytest.raises(DownloadError, match="HTTP 404") as caught:
        download(missing, tmp_path / "b.tgz", progress=False)
    assert missing in str(caught.value) and "\n" not in str(caught.value)


def test_credentials_in_the_url_become_basic_auth(server, archive_bytes, tmp_path):
    server.auth = "Basic " + base64.b64encode(b"reader:s3cret").decode()
    with pytest.raises(DownloadError, match="HTTP 401"):
        download(server.url, tmp_path / "a.tgz", progress=False)
    with_password = server.url.replace("http://", "http://reader:s3cret@")
    assert download(with_password, tmp_path / "b.tgz", progress=False).read_bytes() == archive_bytes
    server.auth = "Basic wrong"
    with pytest.raises(DownloadError) as caught:
        download(with_password, tmp_path / "c.tgz", progress=False)
    assert "s3cret" not in str(caught.value)  # the password never shows in messages


# ---------------------------------------------------------------- check


def test_sha256_match_passes_and_mismatch_names_both_hashes(archive_bytes, tmp_path):
    path = tmp_path / ARCHIVE_NAME
    path.write_bytes(archive_bytes)
    good = sha256_of(archive_bytes)
    check = check_archive(path, sha256=good.upper(), expected_size=len(archive_bytes))
    assert check.sha256 == good
    assert check.mp3_files == len(TRACKS)
    folders = 1 + 2 + len(LAYOUT) + sum(len(albums) for albums in LAYOUT.values())  # artist20/, its two, artists, albums
    assert check.members == len(TRACKS) + len(LISTS) + folders
    list_bytes = sum(len("\n".join(tracks) + "\n") for tracks in LISTS.values())
    assert check.content_bytes == len(TRACKS) * (3 + 6000) + list_bytes
    assert check.archive_bytes == len(archive_bytes)
    wrong = "0" * 64
    with pytest.raises(ArchiveError) as caught:
        check_archive(path, sha256=wrong)
    assert wrong in str(caught.value) and good in str(caught.value)


@pytest.mark.parametrize("damage", ["truncated-middle", "truncated-trailer", "corrupted"])
def test_damaged_archive_fails_the_full_listing(archive_bytes, tmp_path, damage):
    data = bytearray(archive_bytes)
    if damage == "truncated-middle":
        data = data[: len(data) // 2]
    elif damage == "truncated-trailer":
        data = data[:-4]  # only the gzip trailer's length field is missing
    else:
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(64)
    path = tmp_path / ARCHIVE_NAME
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="damaged or incomplete"):
        check_archive(path)


def test_fetch_with_wrong_sha256_fails_without_extracting(server, tmp_path):
    out = tmp_path / "data"
    with pytest.raises(ArchiveError, match="sha256 mismatch"):
        fetch_artist20(out, url=server.url, sha256="f" * 64, progress=False)
    assert not (out / "artist20").exists()


# ---------------------------------------------------------------- safe extraction


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    """An archive member that is a symbolic (or, with LNKTYPE, hard) link to `target`."""
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member


def malicious_archive(path: Path, kind: str, outside: Path) -> str:
    """Write a .tgz with one good file and one hostile member; return the hostile member's name."""
    with tarfile.open(path, "w:gz") as tar:
        good = tarfile.TarInfo("artist20/mp3s-32k/a/b/01-ok.mp3")
        good.size = 3
        tar.addfile(good, io.BytesIO(b"ok!"))
        members: list[tuple[tarfile.TarInfo, bytes | None]] = []
        hostile = None
        if kind == "dotdot":
            members.append((tarfile.TarInfo("../evil"), b"evil"))
        elif kind == "absolute":
            members.append((tarfile.TarInfo(str(outside / "abs-evil")), b"evil"))
        elif kind in ("symlink-etc", "symlink-up"):
            members.append((_link("artist20/escape", "/etc" if kind == "symlink-etc" else "../.."), None))
        elif kind == "link-chain":
            # Each link looks inside on its own; followed on disk they reach the parent.
            members += [(_link("q/r", ".."), None), (_link("p", "q/r"), None), (_link("p/up", ".."), None)]
        elif kind == "link-chain-dotdot":
            # x/y/d is the target itself, so d/../.. is above it; lexically each stays inside.
            members += [(_link("x/y/d", "../.."), None), (_link("x/y/e", "d/../.."), None)]
        elif kind == "link-chain-reordered":
            # a/l is inside while c is a folder; the later link c -> . takes a/l out.
            members += [(_link("a/l", "../c/../x"), None), (_link("c", "."), None)]
            hostile = "a/l"
        elif kind == "hardlink-to-symlink":
            # The link itself is inside; a hard link to it copies its text one folder up.
            members += [(_link("artist20/s", ".."), None), (_link("h", "artist20/s", tarfile.LNKTYPE), None)]
        elif kind == "hardlink-out":
            members.append((_link("artist20/hard", "../../etc/passwd", tarfile.LNKTYPE), None))
        elif kind == "fifo":
            fifo = tarfile.TarInfo("artist20/pipe")
            fifo.type = tarfile.FIFOTYPE
            members.append((fifo, None))
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return hostile or members[-1][0].name


@pytest.mark.parametrize("data_filter", [True, False], ids=["data-filter", "no-data-filter"])
@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink-etc", "symlink-up", "link-chain",
                                  "link-chain-dotdot", "link-chain-reordered", "hardlink-to-symlink",
                                  "hardlink-out", "fifo"])
def test_malicious_archive_is_refused_and_nothing_escapes(tmp_path, monkeypatch, kind, data_filter):
    if not data_filter:  # Python before 3.11.4: singerid's own checks are all there is
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = outside / "bad.tgz"
    hostile = malicious_archive(archive, kind, outside)
    target = outside / "deep" / "target"

    with pytest.raises(ArchiveError, match="unsafe archive member") as caught:
        safe_extract(archive, target)
    assert repr(hostile) in str(caught.value)
    # Validation happens before extraction: nothing at all was written, inside or out.
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in outside.rglob("*")) == ["bad.tgz", "deep", "target"]


@pytest.mark.parametrize("data_filter", [True, False], ids=["data-filter", "no-data-filter"])
def test_a_link_already_in_the_target_is_checked_too(archive_bytes, tmp_path, monkeypatch, data_filter):
    if not data_filter:
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    archive, elsewhere, target = tmp_path / ARCHIVE_NAME, tmp_path / "elsewhere", tmp_path / "target"
    archive.write_bytes(archive_bytes)
    elsewhere.mkdir()
    target.mkdir()
    (target / "artist20").symlink_to(elsewhere)
    with pytest.raises(ArchiveError, match="unsafe archive member 'artist20': it lands outside"):
        safe_extract(archive, target)
    assert list(elsewhere.iterdir()) == []


def test_a_reused_archive_that_no_longer_matches_its_sha256_file_is_refused(server, archive_bytes, tmp_path):
    out = tmp_path / "data"
    fetch_artist20(out, url=server.url, progress=False)
    archive, recorded = out / ARCHIVE_NAME, out / f"{ARCHIVE_NAME}.sha256"
    # Another valid archive with the same songs, as a half-finished copy or edit would leave.
    archive.write_bytes(gzip.compress(gzip.decompress(archive_bytes), compresslevel=1))
    with pytest.raises(ArchiveError) as caught:
        fetch_artist20(out, url=server.url, progress=False)
    message = str(caught.value)
    assert str(recorded) in message and sha256_of(archive_bytes) in message
    assert f"delete {archive}" in message
    assert recorded.read_text() == f"{sha256_of(archive_bytes)}  {ARCHIVE_NAME}\n"  # kept as it was


def test_safe_extract_returns_the_corpus_root(archive_bytes, tmp_path):
    archive = tmp_path / ARCHIVE_NAME
    archive.write_bytes(archive_bytes)
    root = safe_extract(archive, tmp_path / "x")
    assert root == (tmp_path / "x" / "artist20").resolve()
    assert (root / "lists" / "a20-tst-tracks.list").is_file()


# ---------------------------------------------------------------- command


def test_command_prints_the_next_step(server, tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["--output", str(out), "--url", server.url, "--no-keep-archive"]) == 0
    printed = capsys.readouterr().out
    root = (out / "artist20").resolve()
    assert f"python scripts/preprocess.py --input {root / 'mp3s-32k'} --output" in printed
    assert f"--split-lists {root / 'lists'}" in printed
    assert not (out / ARCHIVE_NAME).exists()  # --no-keep-archive
    assert (out / f"{ARCHIVE_NAME}.sha256").is_file()


def test_command_unreachable_url_is_one_line_and_exit_1(tmp_path, capsys):
    with socket.socket() as sock:  # a loopback port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{ARCHIVE_NAME}"
    assert main(["--output", str(tmp_path / "data"), "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and url in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_command_rejects_a_malformed_sha256(tmp_path):
    with pytest.raises(SystemExit) as caught:
        main(["--output", str(tmp_path), "--sha256", "abc"])
    assert caught.value.code == 2
