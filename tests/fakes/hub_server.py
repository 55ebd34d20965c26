"""A small stand-in for the Hugging Face Hub HTTP API, for tests.

It speaks just enough of the protocol for the real `huggingface_hub`, `datasets` and `transformers` clients
to create repos (models, datasets, and spaces, which never run), commit files (regular and LFS, via the basic
LFS transfer) and download them again, with history, so files at older revisions stay downloadable.
It binds to 127.0.0.1 on an ephemeral port.

    with HubServer(tmp_path / "hub") as hub:
        env = hub_env(hub, tmp_path / "hf_home")  # environment for a client subprocess
        subprocess.run([sys.executable, "-c", code], env=env, check=True)

Blobs are stored on disk under `storage_dir/blobs/<sha256>`; repos, commits and branches live in memory.
Xet is not spoken: clients must run with HF_HUB_DISABLE_XET=1 (see `hub_env`).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

# Files the server stores through LFS: binary formats, anything large, anything with a NUL byte in its sample.
LFS_EXTENSIONS = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".arrow", ".parquet",
                  ".png", ".jpg", ".jpeg", ".flac", ".wav", ".mp3", ".ogg", ".npy", ".npz", ".zip", ".gz", ".tar")
LFS_MIN_SIZE = 1_000_000

URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
URL_TYPES = {prefix[:-1]: repo_type for repo_type, prefix in URL_PREFIX.items() if prefix}  # "spaces" -> "space"
API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
SPACE_SDKS = ("gradio", "streamlit", "docker", "static")
COMMIT_SHA = re.compile(r"[0-9a-f]{40}")

GITATTRIBUTES = "".join(f"*{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in LFS_EXTENSIONS).encode()


class HubError(Exception):
    """An HTTP error reply. `code` goes into X-Error-Code, which the clients map to their exception types."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.extra = extra or {}  # more JSON fields for the error body


def wants_lfs(path: str, size: int, sample: bytes) -> bool:
    """The server's choice between LFS and a regular git blob, from the name, size and first 512 bytes."""
    return path.lower().endswith(LFS_EXTENSIONS) or size > LFS_MIN_SIZE or b"\0" in sample


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_blob_sha1(data: bytes) -> str:
    """What git calls the blob's oid; the clients compare it with their own hash of regular files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def card_metadata(readme: str) -> dict | None:
    """The YAML header of a README.md, parsed; None without one, or without PyYAML (not in the standard library,
    but a dependency of huggingface_hub). Raises ValueError for YAML that does not parse."""
    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", readme, re.DOTALL)
    if match is None:
        return None
    try:
        import yaml
    except ImportError:  # cardData is a convenience; the README itself is always served
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as error:
        raise ValueError(f"Invalid YAML in README.md: {error}") from error
    return data if isinstance(data, dict) else None


class BlobStore:
    """Content-addressed file contents, by sha256, on disk."""

    def __init__(self, root: Path):
        self.root = Path(root) / "blobs"
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256

    def has(self, sha256: str) -> bool:
        return bool(re.fullmatch(r"[0-9a-f]{64}", sha256)) and self.path(sha256).is_file()

    def put(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.has(sha256):
            tmp = self.root / f".{sha256}.{uuid.uuid4().hex}"
            tmp.write_bytes(data)
            os.replace(tmp, self.path(sha256))  # atomic: a concurrent reader never sees half a blob
        return sha256

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str
    blob_id: str  # git oid: of the content for regular files, of the pointer file for LFS ones
    lfs: bool
    last_commit: str

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))

    @property
    def etag(self) -> str:
        # The Hub's convention: sha256 for LFS files, git blob oid for the others.
        return self.sha256 if self.lfs else self.blob_id


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, FileEntry]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str = field(default_factory=now_iso)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha; "refs/pr/N" for pull requests
    pull_requests: int = 0
    sdk: str | None = None  # spaces only, like hardware: what create_repo asked for
    hardware: str | None = None

    def resolve(self, revision: str) -> Commit:
        """A branch name, a full commit sha or an unambiguous prefix of at least 7 characters."""
        revision = revision.removeprefix("refs/heads/")
        if revision in self.branches:
            return self.commits[self.branches[revision]]
        if revision in self.commits:
            return self.commits[revision]
        if re.fullmatch(r"[0-9a-f]{7,39}", revision):
            found = [sha for sha in self.commits if sha.startswith(revision)]
            if len(found) == 1:
                return self.commits[found[0]]
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def history(self, commit: Commit) -> list[Commit]:
        out = [commit]
        while out[-1].parent is not None:
            out.append(self.commits[out[-1].parent])
        return out


class HubState:
    """Repos, blobs and upload tickets, behind one lock: requests are served by concurrent threads."""

    def __init__(self, storage_dir: Path, token: str, user: str):
        self.blobs = BlobStore(storage_dir)
        self.token, self.user = token, user
        self.repos: dict[tuple[str, str], Repo] = {}
        self.upload_tickets: dict[str, tuple[str, int]] = {}  # ticket -> (sha256, size), our "signed URLs"
        self.lock = threading.RLock()

    def repo(self, repo_type: str, repo_id: str, authorized: bool) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and not authorized):
            # As on the Hub: 401 for anyone without a token, so that private and missing repos look the same.
            raise HubError(404 if authorized else 401, "Repository not found", "RepoNotFound")
        return repo

    def create_repo(self, repo_type: str, repo_id: str, private: bool, url: str = "", sdk: str | None = None,
                    hardware: str | None = None) -> Repo:
        if repo_type == "space" and sdk not in SPACE_SDKS:  # huggingface_hub refuses too, before sending
            raise HubError(400, f"A space needs an sdk, one of {', '.join(SPACE_SDKS)}; got {sdk!r}")
        if (repo_type, repo_id) in self.repos:
            # create_repo(exist_ok=True) swallows the 409 and then reads "url" from this very reply.
            raise HubError(409, f"You already created this {repo_type} repo", extra={"url": url})
        repo = Repo(repo_type, repo_id, private, sdk=sdk, hardware=hardware)
        self.repos[(repo_type, repo_id)] = repo
        # The Hub starts every repo with a .gitattributes that routes binary files to LFS.
        entry = self.regular_entry(".gitattributes", GITATTRIBUTES, "")
        self.commit(repo, "main", "initial commit", "", [("add", entry)])
        return repo

    def regular_entry(self, path: str, data: bytes, commit_sha: str) -> FileEntry:
        sha256 = self.blobs.put(data)
        return FileEntry(path, len(data), sha256, git_blob_sha1(data), False, commit_sha)

    def lfs_entry(self, path: str, sha256: str, size: int | None, commit_sha: str) -> FileEntry:
        if not self.blobs.has(sha256):
            raise HubError(422, f"LFS object {sha256} for {path} was never uploaded")
        actual = self.blobs.path(sha256).stat().st_size
        if size is not None and size != actual:
            raise HubError(422, f"LFS object {sha256} has size {actual}, not {size}")
        return FileEntry(path, actual, sha256, git_blob_sha1(lfs_pointer(sha256, actual)), True, commit_sha)

    def commit(self, repo: Repo, branch: str, title: str, message: str, operations: list) -> Commit:
        """Apply ("add", FileEntry) / ("delete", path) / ("delete_folder", path) on top of the branch head."""
        parent = repo.commits[repo.branches[branch]] if branch in repo.branches else None
        files = dict(parent.files) if parent else {}
        sha = hashlib.sha1(f"{repo.repo_id}\n{parent and parent.sha}\n{title}\n{uuid.uuid4()}".encode()).hexdigest()
        for kind, value in operations:
            if kind == "add":
                files[value.path] = dataclasses.replace(value, last_commit=sha)
            elif kind == "delete":
                if value not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {value}", "EntryNotFound")
                del files[value]
            else:
                folder = value.rstrip("/") + "/"
                doomed = [path for path in files if path.startswith(folder)]
                if not doomed:
                    raise HubError(404, f"A folder with this name doesn't exist: {value}", "EntryNotFound")
                for path in doomed:
                    del files[path]
        commit = Commit(sha, parent.sha if parent else None, title, message, now_iso(), files)
        repo.commits[sha] = commit
        repo.branches[branch] = sha
        return commit


def tree_entry(entry: FileEntry, expand: bool, repo: Repo) -> dict:
    out = {"type": "file", "oid": entry.blob_id, "size": entry.size, "path": entry.path}
    if entry.lfs:
        out["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": entry.pointer_size}
    if expand:
        out["lastCommit"] = commit_summary(repo.commits[entry.last_commit])
    return out


def folder_entry(path: str, commit: Commit, expand: bool) -> dict:
    inside = sorted(f"{e.path}:{e.blob_id}" for e in commit.files.values() if e.path.startswith(path + "/"))
    out = {"type": "directory", "oid": hashlib.sha1("\n".join(inside).encode()).hexdigest(), "size": 0, "path": path}
    if expand:
        out["lastCommit"] = commit_summary(commit)
    return out


def commit_summary(commit: Commit) -> dict:
    return {"id": commit.sha, "title": commit.title, "date": commit.date}


def folders_of(commit: Commit) -> set[str]:
    folders = set()
    for path in commit.files:
        parts = path.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return folders


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply carries a Content-Length
    server_version = "HubServer/1.0"

    # ---- plumbing -------------------------------------------------------------------------------------------

    @property
    def hub(self) -> "HubServer":
        return self.server.hub  # type: ignore[attr-defined]

    @property
    def state(self) -> HubState:
        return self.hub.state

    def log_message(self, format, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        # Split before unquoting: revisions and tree paths arrive with their "/" quoted as %2F.
        segments = [unquote(s) for s in url.path.split("/")[1:]]
        self.query = parse_qs(url.query, keep_blank_values=True)
        self.hub.requests.append((method, unquote(url.path)))
        body = self.read_body()  # always drained, so that keep-alive connections stay in sync
        try:
            self.route(method, segments, body)
        except HubError as error:
            headers = dict(error.headers)
            if error.code:
                headers["X-Error-Code"] = error.code
            # Header values must be one latin-1 line; the JSON body carries the full message.
            headers["X-Error-Message"] = error.message.splitlines()[0][:300].encode("ascii", "replace").decode()
            self.send_json({**error.extra, "error": error.message}, error.status, headers)
        except Exception as error:  # a server bug: tell the client, and keep the traceback for the test to show
            self.hub.errors.append(traceback.format_exc())
            self.send_json({"error": f"{type(error).__name__}: {error}"}, 500)

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":  # streamed uploads of file objects
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, body: bytes = b"", content_type: str = "application/json",
             headers: dict | None = None, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, data, status: int = 200, headers: dict | None = None, content_type="application/json"):
        self.send(status, json.dumps(data).encode(), content_type, headers)

    def authorized(self) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and token.strip() == self.state.token

    def require_token(self) -> None:
        if not self.authorized():
            raise HubError(401, "Invalid credentials in Authorization header")

    def json_body(self, body: bytes) -> dict:
        try:
            return json.loads(body or b"{}")
        except json.JSONDecodeError as error:
            raise HubError(400, f"Invalid JSON body: {error}")

    def flag(self, name: str) -> bool:
        return self.query.get(name, ["false"])[-1].lower() in ("1", "true")

    def repo_url(self, repo: Repo) -> str:
        return f"{self.hub.url}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    # ---- routing --------------------------------------------------------------------------------------------

    def route(self, method: str, seg: list[str], body: bytes) -> None:
        with self.state.lock:
            if seg[:1] == ["api"]:
                return self.route_api(method, seg[1:], body)
            if seg[:1] == ["_lfs"] and len(seg) >= 2:
                return self.route_lfs_storage(method, seg[1:], body)
            repo_type = "model"
            if seg[:1] and seg[0] in URL_TYPES:
                repo_type, seg = URL_TYPES[seg[0]], seg[1:]
            if len(seg) >= 4 and seg[1].endswith(".git") and seg[2:5] == ["info", "lfs", "objects"]:
                if method == "POST" and seg[5:] == ["batch"]:
                    return self.lfs_batch(repo_type, f"{seg[0]}/{seg[1][:-4]}", body)
            if len(seg) >= 5 and seg[2] == "resolve" and method in ("GET", "HEAD"):
                return self.resolve(repo_type, f"{seg[0]}/{seg[1]}", seg[3], "/".join(seg[4:]))
        raise HubError(404, f"No route for {method} {self.path}")

    def route_api(self, method: str, seg: list[str], body: bytes) -> None:
        if seg == ["whoami-v2"] and method == "GET":
            return self.whoami()
        if seg == ["repos", "create"] and method == "POST":
            return self.create_repo(body)
        if seg == ["repos", "delete"] and method == "DELETE":
            return self.delete_repo(body)
        if seg == ["validate-yaml"] and method == "POST":
            return self.validate_yaml(body)
        if len(seg) >= 3 and seg[0] in API_TYPES:
            repo_type, repo_id, rest = API_TYPES[seg[0]], f"{seg[1]}/{seg[2]}", seg[3:]
            write = method in ("POST", "PUT", "DELETE") and rest[:1] != ["paths-info"]
            if write:
                self.require_token()
            repo = self.state.repo(repo_type, repo_id, self.authorized())
            action, args = (rest[0], rest[1:]) if rest else ("", [])
            revision = args[0] if args else "main"
            if method == "GET" and action == "":
                return self.repo_info(repo, "main")
            if method == "GET" and action == "revision" and args:
                return self.repo_info(repo, revision)
            if method == "GET" and action == "tree" and args:
                return self.tree(repo, revision, "/".join(args[1:]))
            if method == "POST" and action == "paths-info" and args:
                return self.paths_info(repo, revision, body)
            if method == "POST" and action == "preupload" and args:
                return self.preupload(repo, revision, body)
            if method == "POST" and action == "commit" and args:
                return self.create_commit(repo, revision, body)
            if method == "GET" and action == "refs":
                return self.refs(repo)
            if method == "GET" and action == "commits" and args:
                return self.list_commits(repo, revision)
            if method in ("POST", "DELETE") and action == "branch" and args:
                return self.branch(repo, method, "/".join(args), body)
        raise HubError(404, f"No route for {method} {self.path}")

    # ---- account and repos ----------------------------------------------------------------------------------

    def whoami(self) -> None:
        self.require_token()
        user = self.state.user
        self.send_json({
            "type": "user", "id": hashlib.sha1(user.encode()).hexdigest()[:24], "name": user, "fullname": user,
            "email": f"{user}@example.invalid", "emailVerified": True, "canPay": False, "isPro": False, "orgs": [],
            "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}},
        })

    def create_repo(self, body: bytes) -> None:
        self.require_token()
        payload = self.json_body(body)
        repo_type = payload.get("type") or "model"
        if repo_type not in URL_PREFIX:
            raise HubError(400, f"Unsupported repo type {repo_type!r}")
        name = payload.get("name") or ""
        if not re.fullmatch(r"[\w.-]+", name) or "--" in name or ".." in name:
            raise HubError(400, f"Invalid repo name {name!r}")
        repo_id = f"{payload.get('organization') or self.state.user}/{name}"
        private = payload.get("visibility", "private" if payload.get("private") else "public") == "private"
        url = f"{self.hub.url}/{URL_PREFIX[repo_type]}{repo_id}"
        repo = self.state.create_repo(repo_type, repo_id, private, url, payload.get("sdk"), payload.get("hardware"))
        self.send_json({"url": self.repo_url(repo), "name": repo_id, "id": repo_id})

    def delete_repo(self, body: bytes) -> None:
        self.require_token()
        payload = self.json_body(body)
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or self.state.user}/{payload.get('name')}"
        if self.state.repos.pop((repo_type, repo_id), None) is None:
            raise HubError(404, "Repository not found", "RepoNotFound")
        self.send_json({})

    def validate_yaml(self, body: bytes) -> None:
        try:
            card_metadata(self.json_body(body).get("content", ""))
        except ValueError as error:  # the client reads the messages from "errors"
            raise HubError(400, str(error), extra={"errors": [{"message": str(error)}]})
        self.send_json({"errors": [], "warnings": []})

    def repo_info(self, repo: Repo, revision: str) -> None:
        commit = repo.resolve(revision)
        blobs = self.flag("blobs")
        siblings = []
        for entry in sorted(commit.files.values(), key=lambda e: e.path):
            sibling: dict = {"rfilename": entry.path}
            if blobs:
                sibling.update(size=entry.size, blobId=entry.blob_id)
                if entry.lfs:
                    sibling["lfs"] = {"size": entry.size, "sha256": entry.sha256, "pointerSize": entry.pointer_size}
            siblings.append(sibling)
        namespace = repo.repo_id.split("/")[0]
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id, "author": namespace,
            "sha": commit.sha, "lastModified": commit.date, "createdAt": repo.created_at, "private": repo.private,
            "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [], "siblings": siblings,
            "usedStorage": sum(e.size for e in commit.files.values()),
        }
        if "README.md" in commit.files:
            try:
                card_data = card_metadata(self.state.blobs.read(commit.files["README.md"].sha256).decode())
            except (ValueError, UnicodeDecodeError):
                card_data = None
            if card_data is not None:
                info["cardData"] = card_data
                info["tags"] = [t for t in card_data.get("tags") or [] if isinstance(t, str)]
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
        if repo.repo_type == "space":  # nothing ever runs here: a space that is stopped, on the hardware asked for
            info["sdk"] = repo.sdk
            info["runtime"] = {"stage": "STOPPED", "hardware": {"current": None, "requested": repo.hardware},
                               "storage": None, "gcTimeout": None}
        self.send_json(info)

    def refs(self, repo: Repo) -> None:
        def ref(name: str, sha: str) -> dict:
            full = name if name.startswith("refs/") else f"refs/heads/{name}"
            return {"name": name, "ref": full, "targetCommit": sha}

        branches = [ref(n, s) for n, s in repo.branches.items() if not n.startswith("refs/pr/")]
        prs = [ref(n, s) for n, s in repo.branches.items() if n.startswith("refs/pr/")]
        self.send_json({"branches": branches, "converts": [], "tags": [],
                        **({"pullRequests": prs} if self.flag("include_prs") else {})})

    def branch(self, repo: Repo, method: str, name: str, body: bytes) -> None:
        if method == "DELETE":
            if name not in repo.branches or name == "main":
                raise HubError(404 if name != "main" else 403, f"Cannot delete branch {name}")
            del repo.branches[name]
            return self.send_json({})
        if name in repo.branches:
            raise HubError(409, f"Reference already exists: {name}")
        start = self.json_body(body).get("startingPoint") or "main"
        repo.branches[name] = repo.resolve(start).sha
        self.send_json({})

    def list_commits(self, repo: Repo, revision: str) -> None:
        user = [{"user": self.state.user}]
        self.send_json([{"id": c.sha, "title": c.title, "message": c.message, "date": c.date, "authors": user}
                        for c in repo.history(repo.resolve(revision))])

    # ---- listing --------------------------------------------------------------------------------------------

    def tree(self, repo: Repo, revision: str, path: str) -> None:
        commit = repo.resolve(revision)
        path = path.strip("/")
        recursive, expand = self.flag("recursive"), self.flag("expand")
        folders = folders_of(commit)
        if path and path not in folders:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        prefix = f"{path}/" if path else ""

        def wanted(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix):])

        out = [folder_entry(f, commit, expand) for f in sorted(folders) if wanted(f)]
        out += [tree_entry(e, expand, repo) for p, e in sorted(commit.files.items()) if wanted(p)]
        self.send_json(out)

    def paths_info(self, repo: Repo, revision: str, body: bytes) -> None:
        commit = repo.resolve(revision)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            payload = self.json_body(body)
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:  # huggingface_hub posts a form: paths=a&paths=b&expand=False
            form = parse_qs(body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), form.get("expand", ["false"])[-1].lower() == "true"
        folders = folders_of(commit)
        out = []
        for path in paths:
            path = path.strip("/")
            if path in commit.files:
                out.append(tree_entry(commit.files[path], expand, repo))
            elif path in folders:
                out.append(folder_entry(path, commit, expand))
        self.send_json(out)

    # ---- uploads --------------------------------------------------------------------------------------------

    def preupload(self, repo: Repo, revision: str, body: bytes) -> None:
        try:
            current = repo.resolve(revision).files
        except HubError:  # a branch about to be created: nothing to compare with
            current = {}
        out = []
        for file in self.json_body(body).get("files", []):
            path, size = file["path"], int(file.get("size", 0))
            sample = base64.b64decode(file.get("sample", ""))
            lfs = wants_lfs(path, size, sample)
            existing = current.get(path)
            # The client skips files whose oid it can reproduce: sha256 for LFS, git blob oid otherwise.
            oid = (existing.sha256 if lfs else existing.blob_id) if existing and existing.lfs == lfs else None
            out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self.send_json({"files": out})

    def lfs_batch(self, repo_type: str, repo_id: str, body: bytes) -> None:
        self.require_token()
        self.state.repo(repo_type, repo_id, True)  # RepoNotFound for missing repos
        payload = self.json_body(body)
        if payload.get("operation") != "upload":
            raise HubError(400, "Only the upload operation is supported")
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            item: dict = {"oid": oid, "size": size, "authenticated": True}
            if not (self.state.blobs.has(oid) and self.state.blobs.path(oid).stat().st_size == size):
                ticket = uuid.uuid4().hex  # stands in for the pre-signed storage URL of the real Hub
                self.state.upload_tickets[ticket] = (oid, size)
                item["actions"] = {
                    "upload": {"href": f"{self.hub.url}/_lfs/{oid}?ticket={ticket}"},
                    "verify": {"href": f"{self.hub.url}/_lfs/{oid}/verify"},
                }
            objects.append(item)
        self.send_json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                       content_type="application/vnd.git-lfs+json")

    def route_lfs_storage(self, method: str, seg: list[str], body: bytes) -> None:
        oid = seg[0]
        if method == "PUT" and len(seg) == 1:
            ticket = self.query.get("ticket", [""])[-1]
            if self.state.upload_tickets.get(ticket, (None,))[0] != oid:
                raise HubError(403, "Invalid or expired upload ticket")
            expected_oid, expected_size = self.state.upload_tickets.pop(ticket)
            if len(body) != expected_size or hashlib.sha256(body).hexdigest() != expected_oid:
                raise HubError(400, "Uploaded content does not match its sha256 or size")
            self.state.blobs.put(body)
            return self.send(200, b"", headers={"ETag": f'"{oid}"'})
        if method == "POST" and seg[1:] == ["verify"]:
            self.require_token()
            size = self.json_body(body).get("size")
            if not self.state.blobs.has(oid) or self.state.blobs.path(oid).stat().st_size != size:
                raise HubError(404, f"LFS object {oid} not found", "EntryNotFound")
            return self.send_json({"success": True})
        raise HubError(404, f"No route for {method} {self.path}")

    def create_commit(self, repo: Repo, revision: str, body: bytes) -> None:
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "The commit payload must start with a header line")
        header = lines[0]["value"]
        branch = revision.removeprefix("refs/heads/")
        if branch not in repo.branches:
            raise HubError(404 if not COMMIT_SHA.fullmatch(branch) else 400,
                           f"Can only commit to a branch, not {revision!r}", "RevisionNotFound")
        parent = header.get("parentCommit")
        head = repo.branches[branch]
        if parent and not head.startswith(parent):  # datasets' push_to_hub retries on this 412
            raise HubError(412, f"Parent commit {parent} is not the head of {branch} ({head})")
        operations = []
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            if key == "file":
                data = base64.b64decode(value["content"]) if value.get("encoding") == "base64" else \
                    value["content"].encode()
                operations.append(("add", self.state.regular_entry(value["path"], data, "")))
            elif key == "lfsFile":
                operations.append(("add", self.state.lfs_entry(value["path"], value["oid"], value.get("size"), "")))
            elif key == "deletedFile":
                operations.append(("delete", value["path"]))
            elif key == "deletedFolder":
                operations.append(("delete_folder", value["path"]))
            else:
                raise HubError(400, f"Unknown commit operation {key!r}")
        new_pr = self.flag("create_pr")
        if new_pr:  # the commit goes to a new refs/pr/N branch, made from the target's head
            branch = f"refs/pr/{repo.pull_requests + 1}"
            repo.branches[branch] = head
        try:
            commit = self.state.commit(repo, branch, header.get("summary") or "Commit",
                                       header.get("description", ""), operations)
        except HubError:
            if new_pr:
                del repo.branches[branch]  # no pull request for a commit that failed
            raise
        repo.pull_requests += new_pr
        url = self.repo_url(repo)
        self.send_json({
            "success": True, "commitOid": commit.sha, "commitUrl": f"{url}/commit/{commit.sha}", "hookOutput": "",
            "pullRequestUrl": f"{url}/discussions/{branch[8:]}" if branch.startswith("refs/pr/") else None,
        })

    # ---- downloads ------------------------------------------------------------------------------------------

    def resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = self.state.repo(repo_type, repo_id, self.authorized())
        commit = repo.resolve(revision)
        entry = commit.files.get(path)
        if entry is None:
            # X-Repo-Commit lets the client cache the absence of the file for this commit.
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{entry.etag}"', "Accept-Ranges": "bytes",
                   "Content-Disposition": f'inline; filename="{path.rsplit("/", 1)[-1]}"'}
        if entry.lfs:  # the client prefers these over ETag/Content-Length (which on the Hub describe a redirect)
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        if self.command == "HEAD":  # the metadata call of hf_hub_download: headers only, with the real length
            return self.send(200, b"", "application/octet-stream", headers, length=entry.size)
        data, status = self.state.blobs.read(entry.sha256), 200
        if self.headers.get("Range"):  # HfFileSystem reads blocks; http_get resumes
            start, end = byte_range(self.headers["Range"], entry.size)
            data, status = data[start : end + 1], 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        self.send(status, data, "application/octet-stream", headers)


def byte_range(header: str, size: int) -> tuple[int, int]:
    """First and last byte (inclusive) of a single-range "bytes=a-b", "bytes=a-" or "bytes=-n" header."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", header.strip())
    unsatisfiable = HubError(416, f"Range not satisfiable: {header}", headers={"Content-Range": f"bytes */{size}"})
    if match is None or match.groups() == ("", ""):
        raise unsatisfiable
    first, last = match.groups()
    if first == "":  # suffix range: the last n bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    if start >= size or start > end:
        raise unsatisfiable
    return start, end


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # snapshot_download and HfFileSystem open several connections at once


class HubServer:
    """The server, run in a daemon thread; a context manager that starts and stops it."""

    def __init__(self, storage_dir: str | os.PathLike, token: str = "hf_test", user: str = "test-user"):
        self.state = HubState(Path(storage_dir), token, user)
        self.token, self.user = token, user
        self.requests: list[tuple[str, str]] = []  # (method, unquoted path), so tests can check what was asked
        self.errors: list[str] = []  # tracebacks of requests the server failed on (answered with a 500)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{host}:{port}"

    @property
    def server_address(self) -> tuple[str, int]:
        if self._httpd is None:
            raise RuntimeError("HubServer is not started")
        return self._httpd.server_address[:2]

    def start(self) -> "HubServer":
        httpd = _ThreadingServer(("127.0.0.1", 0), HubHandler)  # loopback only, ephemeral port
        httpd.hub = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ---- direct access to the state, for seeding repos and asserting without a client ----------------------

    def create_repo(self, repo_id: str, repo_type: str = "model", private: bool = False, sdk: str | None = None,
                    hardware: str | None = None) -> None:
        """A space needs an `sdk` ("gradio", "streamlit", "docker" or "static")."""
        with self.state.lock:
            self.state.create_repo(repo_type, repo_id, private, f"{self.url}/{URL_PREFIX[repo_type]}{repo_id}", sdk,
                                   hardware)

    def upload(self, repo_id: str, files: dict[str, bytes], repo_type: str = "model", message: str = "Upload",
               branch: str = "main") -> str:
        """Commit `files` (path -> content) and return the commit sha; binary or large files go to LFS."""
        with self.state.lock:
            repo = self.state.repo(repo_type, repo_id, True)
            operations = []
            for path, data in files.items():
                if wants_lfs(path, len(data), data[:512]):
                    entry = self.state.lfs_entry(path, self.state.blobs.put(data), len(data), "")
                else:
                    entry = self.state.regular_entry(path, data, "")
                operations.append(("add", entry))
            return self.state.commit(repo, branch, message, "", operations).sha

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo:
        """The stored repo: `.private`, `.branches`, `.commits[sha].files[path]` (a FileEntry with `.lfs`...)."""
        return self.state.repo(repo_type, repo_id, True)

    def file_at(self, repo_id: str, path: str, repo_type: str = "model", revision: str = "main") -> bytes:
        """A file's content as stored at a revision."""
        with self.state.lock:
            entry = self.state.repo(repo_type, repo_id, True).resolve(revision).files[path]
            return self.state.blobs.read(entry.sha256)


# Variables that would point a client at another Hub, another cache, or offline mode.
_CLIENT_VARS = re.compile(r"^(HF_|HUGGINGFACE_|TRANSFORMERS_|DATASETS_)|^(https?|all|no)_proxy$", re.IGNORECASE)


def hub_env(hub: HubServer, hf_home: str | os.PathLike) -> dict[str, str]:
    """Environment for a subprocess whose real Hub clients should talk to `hub` only.

    huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import time, hence a subprocess per client call.
    Any other host goes through a proxy that does not exist, so a stray request fails instead of leaving the machine.
    """
    env = {k: v for k, v in os.environ.items() if not _CLIENT_VARS.match(k)}
    dead_proxy = "http://127.0.0.1:9"  # the discard port: nothing listens there
    env.update({
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": hub.token,
        "HF_HOME": str(hf_home),
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",  # the server speaks the basic LFS transfer, not Xet
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",  # datasets would otherwise ping S3
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_ETAG_TIMEOUT": "5",
        "HF_HUB_DOWNLOAD_TIMEOUT": "20",
        "DO_NOT_TRACK": "1",
        "HTTP_PROXY": dead_proxy,
        "HTTPS_PROXY": dead_proxy,
        "ALL_PROXY": dead_proxy,
        "NO_PROXY": "127.0.0.1,localhost",
    })
    return env


@pytest.fixture
def hub_server(tmp_path):
    """A started HubServer storing its blobs under tmp_path/"hub_storage"."""
    with HubServer(tmp_path / "hub_storage") as hub:
        yield hub
