"""The test Hub server against the real huggingface_hub / datasets / transformers clients.

Every client call runs in a subprocess: huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import time,
and this test session runs with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from fakes.hub_server import HubServer, hub_env, hub_server  # noqa: F401  (hub_server is a fixture)

RESULT = "RESULT:"
PRELUDE = f"""
import json as _json
def emit(value):
    print({RESULT!r} + _json.dumps(value), flush=True)
"""


def run_client(hub: HubServer, hf_home, code: str, drop_token: bool = False, **extra_env) -> dict:
    """Run `code` in a fresh interpreter pointed at `hub`; return what it passed to `emit(...)`."""
    env = hub_env(hub, hf_home)
    if drop_token:
        del env["HF_TOKEN"]
    env.update({k: str(v) for k, v in extra_env.items()})
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=180)
    assert not hub.errors, f"the server failed on a request:\n{hub.errors[-1]}"
    assert proc.returncode == 0, f"client failed:\n{proc.stdout}\n{proc.stderr}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT)]
    assert lines, f"client emitted nothing:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1][len(RESULT):])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wav_bytes(freq: float, frames: int = 1600, rate: int = 16000) -> bytes:
    import numpy as np
    import soundfile as sf

    buffer = io.BytesIO()
    t = np.arange(frames) / rate
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_server_listens_on_loopback_only(hub_server):
    host, port = hub_server.server_address
    assert host == "127.0.0.1" and port > 0
    assert hub_server.url == f"http://127.0.0.1:{port}"
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    # Another loopback address reaches this machine too, but nothing listens there: the socket is not on 0.0.0.0.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.2", port), timeout=2).close()
    env = hub_env(hub_server, "/nonexistent")
    assert env["HF_ENDPOINT"] == hub_server.url and env["HF_HUB_OFFLINE"] == "0"
    assert env["HTTPS_PROXY"].startswith("http://127.0.0.1:")  # stray requests to other hosts go nowhere


def test_whoami_and_create_repo(hub_server, tmp_path):
    out = run_client(hub_server, tmp_path / "hf_home", """
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError
        api = HfApi()
        result = {"whoami": api.whoami()["name"]}
        model = api.create_repo("test-user/tiny-model", private=True)
        dataset = api.create_repo("test-user/tiny-data", repo_type="dataset")
        again = api.create_repo("test-user/tiny-model", exist_ok=True)
        try:
            api.create_repo("test-user/tiny-data", repo_type="dataset")
            result["duplicate"] = "no error"
        except HfHubHTTPError as error:
            result["duplicate"] = error.response.status_code
        result["urls"] = [str(model), model.repo_id, model.repo_type, str(dataset), dataset.repo_type, str(again)]
        result["private"] = [api.model_info("test-user/tiny-model").private,
                             api.dataset_info("test-user/tiny-data").private]
        emit(result)
    """)
    assert out["whoami"] == "test-user"
    url = hub_server.url
    assert out["urls"] == [f"{url}/test-user/tiny-model", "test-user/tiny-model", "model",
                           f"{url}/datasets/test-user/tiny-data", "dataset", f"{url}/test-user/tiny-model"]
    assert out["duplicate"] == 409
    assert out["private"] == [True, False]
    assert hub_server.repo("test-user/tiny-model").private
    assert not hub_server.repo("test-user/tiny-data", "dataset").private


def test_upload_folder_then_download(hub_server, tmp_path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    files = {
        "config.json": b'{"hidden_size": 8}\n',
        "README.md": b"---\nlicense: mit\ntags:\n- audio\n---\n# Tiny model\nSings along.\n",
        "sub/notes.txt": b"some notes\n",
        "weights.bin": os.urandom(1_500_000),  # over 1 MB and binary: the LFS path
    }
    for path, data in files.items():
        (folder / path).write_bytes(data)
    repo = "test-user/tiny-model"

    written = run_client(hub_server, tmp_path / "hf_home_writer", f"""
        from huggingface_hub import HfApi, CommitOperationAdd, CommitOperationDelete
        api = HfApi()
        api.create_repo({repo!r}, exist_ok=True)
        first = api.upload_folder(repo_id={repo!r}, folder_path={str(folder)!r}, commit_message="Add model")
        listed = api.list_repo_files({repo!r})
        info = api.model_info({repo!r}, files_metadata=True)
        siblings = {{s.rfilename: [s.size, s.lfs.sha256 if s.lfs else None] for s in info.siblings}}
        second = api.create_commit({repo!r}, commit_message="v2", operations=[
            CommitOperationAdd("config.json", b'{{"hidden_size": 16}}\\n'),
            CommitOperationDelete("sub/notes.txt"),
        ])
        emit({{"first": first.oid, "second": second.oid, "listed": listed, "siblings": siblings,
               "sha": info.sha, "license": info.card_data.license, "after": api.list_repo_files({repo!r})}})
    """)
    first, second = written["first"], written["second"]
    assert len(first) == 40 and len(second) == 40 and first != second
    assert written["sha"] == first
    assert written["listed"] == [".gitattributes", "README.md", "config.json", "sub/notes.txt", "weights.bin"]
    assert written["after"] == [".gitattributes", "README.md", "config.json", "weights.bin"]
    assert written["siblings"]["weights.bin"] == [1_500_000, sha256(files["weights.bin"])]
    assert written["siblings"]["config.json"] == [len(files["config.json"]), None]
    assert written["license"] == "mit"
    # One commit for the whole folder; only the big binary went through the LFS upload.
    stored = hub_server.repo(repo)
    assert stored.commits[first].files["weights.bin"].lfs and not stored.commits[first].files["config.json"].lfs
    puts = [path for method, path in hub_server.requests if method == "PUT"]
    assert puts == [f"/_lfs/{sha256(files['weights.bin'])}"]
    commits = [path for method, path in hub_server.requests if method == "POST" and "/commit/" in path]
    assert commits == [f"/api/models/{repo}/commit/main"] * 2

    read = run_client(hub_server, tmp_path / "hf_home_reader", f"""
        import hashlib, os
        from huggingface_hub import HfApi, HfFileSystem, ModelCard, hf_hub_download, snapshot_download
        def read(path):
            with open(path, "rb") as f:
                return f.read()
        weights = read(hf_hub_download({repo!r}, "weights.bin"))
        snapshot = snapshot_download({repo!r})
        card = ModelCard.load({repo!r})
        with HfFileSystem().open({repo!r} + "/weights.bin", "rb", block_size=4096) as f:  # ranged GETs
            f.seek(1_000_000)
            block = f.read(16)
        paths_info = HfApi().get_paths_info({repo!r}, ["sub", "weights.bin", "missing"], revision={first!r})
        emit({{
            "block": block.hex(),
            "paths_info": [[type(p).__name__, p.path, getattr(p, "lfs", None) is not None] for p in paths_info],
            "weights": hashlib.sha256(weights).hexdigest(),
            "config_main": read(hf_hub_download({repo!r}, "config.json")).decode(),
            "config_old": read(hf_hub_download({repo!r}, "config.json", revision={first!r})).decode(),
            "notes_old": read(hf_hub_download({repo!r}, "sub/notes.txt", revision={first!r})).decode(),
            "snapshot": sorted(os.path.relpath(os.path.join(d, f), snapshot)
                               for d, _, fs in os.walk(snapshot) for f in fs),
            "snapshot_commit": os.path.basename(snapshot),
            "snapshot_weights": hashlib.sha256(read(os.path.join(snapshot, "weights.bin"))).hexdigest(),
            "card": [card.data.license, card.data.tags, card.text],
        }})
    """)
    assert read["weights"] == sha256(files["weights.bin"])
    assert read["config_main"] == '{"hidden_size": 16}\n'
    assert read["config_old"] == files["config.json"].decode()
    assert read["notes_old"] == files["sub/notes.txt"].decode()
    assert read["snapshot"] == [".gitattributes", "README.md", "config.json", "weights.bin"]
    assert read["snapshot_commit"] == second
    assert read["snapshot_weights"] == sha256(files["weights.bin"])
    assert read["card"] == ["mit", ["audio"], "# Tiny model\nSings along.\n"]
    assert read["block"] == files["weights.bin"][1_000_000:1_000_016].hex()
    assert read["paths_info"] == [["RepoFolder", "sub", False], ["RepoFile", "weights.bin", True]]


def test_writes_need_a_token(hub_server, tmp_path):
    hub_server.create_repo("test-user/public-model")
    before = hub_server.repo("test-user/public-model").branches["main"]
    out = run_client(hub_server, tmp_path / "hf_home", """
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, RepositoryNotFoundError
        def failure(call):
            try:
                call()
            except RepositoryNotFoundError as error:
                return ["RepositoryNotFoundError", error.response.status_code]
            except HfHubHTTPError as error:
                return ["HfHubHTTPError", error.response.status_code]
            except LocalTokenNotFoundError:
                return ["LocalTokenNotFoundError", None]
            return ["no error", None]
        api = HfApi()
        emit({
            "create": failure(lambda: api.create_repo("test-user/new-model")),
            "upload": failure(lambda: api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt",
                                                      repo_id="test-user/public-model")),
            "whoami": failure(api.whoami),
            "wrong_token": failure(lambda: HfApi(token="hf_wrong").create_repo("test-user/new-model")),
            "read": HfApi().list_repo_files("test-user/public-model"),
        })
    """, drop_token=True)
    assert out["create"] == ["HfHubHTTPError", 401]
    assert out["upload"] == ["HfHubHTTPError", 401]
    assert out["whoami"] == ["LocalTokenNotFoundError", None]
    assert out["wrong_token"] == ["HfHubHTTPError", 401]
    assert out["read"] == [".gitattributes"]  # public reads need no token
    assert hub_server.repo("test-user/public-model").branches["main"] == before
    with pytest.raises(Exception, match="Repository not found"):
        hub_server.repo("test-user/new-model")


def test_missing_files_repos_and_revisions(hub_server, tmp_path):
    hub_server.create_repo("test-user/present")
    hub_server.create_repo("test-user/secret", private=True)
    hub_server.upload("test-user/present", {"a.txt": b"a\n"})
    out = run_client(hub_server, tmp_path / "hf_home", """
        from huggingface_hub import hf_hub_download, HfApi
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
        def failure(call):
            try:
                call()
            except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as error:
                return [kind.__name__ for kind in (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError)
                        if isinstance(error, kind)]
            return ["no error"]
        emit({
            "file": failure(lambda: hf_hub_download("test-user/present", "missing.txt")),
            "repo": failure(lambda: hf_hub_download("test-user/absent", "a.txt")),
            "type": failure(lambda: hf_hub_download("test-user/present", "a.txt", repo_type="dataset")),
            "revision": failure(lambda: hf_hub_download("test-user/present", "a.txt", revision="no-such-branch")),
            "private": failure(lambda: HfApi(token=False).model_info("test-user/secret")),
            "private_with_token": HfApi().model_info("test-user/secret").private,
            "present": open(hf_hub_download("test-user/present", "a.txt")).read(),
        })
    """)
    assert out["file"] == ["EntryNotFoundError"]
    assert out["repo"] == ["RepositoryNotFoundError"]
    assert out["type"] == ["RepositoryNotFoundError"]
    assert out["revision"] == ["RevisionNotFoundError"]
    assert out["private"] == ["RepositoryNotFoundError"]
    assert out["private_with_token"] is True
    assert out["present"] == "a\n"


def test_dataset_push_to_hub_then_load_dataset(hub_server, tmp_path):
    rows = {"id": [1, 2, 3], "text": ["do", "re", "mi"], "score": [0.5, 1.5, -2.0]}
    run_client(hub_server, tmp_path / "hf_home_writer", f"""
        import datasets
        datasets.Dataset.from_dict({rows!r}).push_to_hub("test-user/plain", private=True)
        emit("pushed")
    """)
    repo = hub_server.repo("test-user/plain", "dataset")
    head = repo.commits[repo.branches["main"]]
    parquet = [entry for path, entry in head.files.items() if path.endswith(".parquet")]
    assert repo.private and len(parquet) == 1 and parquet[0].lfs

    out = run_client(hub_server, tmp_path / "hf_home_reader", """
        import datasets
        datasets.config.USE_PARQUET_EXPORT = False
        loaded = datasets.load_dataset("test-user/plain")
        emit({"splits": list(loaded), "rows": loaded["train"].to_dict()})
    """)
    assert out == {"splits": ["train"], "rows": rows}
    assert not any("refs/convert" in path for _, path in hub_server.requests)


def test_audio_dataset_dict_push_to_hub_then_load_dataset(hub_server, tmp_path):
    """Our real use: a card of our own first, then an audio DatasetDict with three splits."""
    splits = ["train", "validation", "test"]
    audio = {split: [wav_bytes(180.0 + 40 * i + 10 * k) for k in range(2)] for i, split in enumerate(splits)}
    (tmp_path / "card").mkdir()
    (tmp_path / "card" / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# Singers\nOur own words.\n")
    (tmp_path / "audio.json").write_text(json.dumps({s: [b.hex() for b in v] for s, v in audio.items()}))
    run_client(hub_server, tmp_path / "hf_home_writer", f"""
        import json
        import datasets
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo("test-user/singers", repo_type="dataset", exist_ok=True)
        api.upload_folder(repo_id="test-user/singers", repo_type="dataset", folder_path={str(tmp_path / "card")!r})
        audio = json.load(open({str(tmp_path / "audio.json")!r}))
        features = datasets.Features({{"audio": datasets.Audio(sampling_rate=16000),
                                       "singer": datasets.ClassLabel(names=["alto", "tenor"])}})
        dataset = datasets.DatasetDict({{
            split: datasets.Dataset.from_dict(
                {{"audio": [{{"bytes": bytes.fromhex(b), "path": f"{{split}}_{{k}}.wav"}} for k, b in enumerate(clips)],
                  "singer": [k % 2 for k in range(len(clips))]}}, features=features)
            for split, clips in audio.items()
        }})
        dataset.push_to_hub("test-user/singers", embed_external_files=True)
        emit("pushed")
    """)
    card = hub_server.file_at("test-user/singers", "README.md", "dataset").decode()
    assert "Our own words." in card and "dataset_info" in card and "cc-by-4.0" in card

    out = run_client(hub_server, tmp_path / "hf_home_reader", """
        import hashlib
        import datasets
        datasets.config.USE_PARQUET_EXPORT = False
        loaded = datasets.load_dataset("test-user/singers")
        decoded = loaded["validation"][1]["audio"].get_all_samples()
        raw = loaded.cast_column("audio", datasets.Audio(decode=False))
        emit({
            "splits": sorted(loaded),
            "singers": {split: list(loaded[split]["singer"]) for split in loaded},
            "names": loaded["train"].features["singer"].names,
            "audio": {split: [hashlib.sha256(a["bytes"]).hexdigest() for a in raw[split]["audio"]] for split in raw},
            "decoded": [decoded.sample_rate, list(decoded.data.shape)],
        })
    """)
    assert out["splits"] == sorted(splits)
    assert out["singers"] == {split: [0, 1] for split in splits}
    assert out["names"] == ["alto", "tenor"]
    assert out["audio"] == {split: [sha256(b) for b in clips] for split, clips in audio.items()}
    assert out["decoded"] == [16000, [1, 1600]]


def test_transformers_push_to_hub_then_from_pretrained(hub_server, tmp_path):
    pushed = run_client(hub_server, tmp_path / "hf_home_writer", """
        import torch
        from transformers import WavLMConfig, WavLMModel
        torch.manual_seed(0)
        config = WavLMConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                             conv_dim=(8, 8), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
                             num_conv_pos_embedding_groups=2, num_buckets=8, max_bucket_distance=16)
        model = WavLMModel(config)
        model.push_to_hub("test-user/tiny-wavlm")
        emit(float(sum(p.double().sum() for p in model.parameters())))
    """)
    stored = hub_server.repo("test-user/tiny-wavlm")
    assert stored.commits[stored.branches["main"]].files["model.safetensors"].lfs
    out = run_client(hub_server, tmp_path / "hf_home_reader", """
        from transformers import AutoModel
        model = AutoModel.from_pretrained("test-user/tiny-wavlm")
        emit([type(model).__name__, model.config.hidden_size, float(sum(p.double().sum() for p in model.parameters()))])
    """)
    assert out[:2] == ["WavLMModel", 16]
    assert out[2] == pytest.approx(pushed, rel=1e-9)


def wheel_bytes() -> bytes:
    """A small real wheel (a zip): binary, with NUL bytes in its first 512, so the server routes it to LFS."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as wheel:
        wheel.writestr("tiny/__init__.py", "VALUE = 1\n")
        wheel.writestr("tiny/data.bin", os.urandom(200_000))
    return buffer.getvalue()


def test_create_space_repos(hub_server, tmp_path):
    out = run_client(hub_server, tmp_path / "hf_home", """
        from huggingface_hub import HfApi, constants
        from huggingface_hub.utils import build_hf_headers, get_session
        api = HfApi()
        private = api.create_repo("test-user/demo", repo_type="space", space_sdk="gradio", private=True,
                                  space_hardware="t4-small")
        public = api.create_repo("test-user/open-demo", repo_type="space", space_sdk="static")
        again = api.create_repo("test-user/demo", repo_type="space", space_sdk="gradio", exist_ok=True)
        def create_raw(payload):  # huggingface_hub itself refuses a space without a known sdk before sending
            response = get_session().post(f"{constants.ENDPOINT}/api/repos/create", headers=build_hf_headers(),
                                          json={"name": "raw-demo", "type": "space", **payload})
            return response.status_code
        infos = [api.space_info("test-user/demo"), api.repo_info("test-user/open-demo", repo_type="space")]
        emit({
            "urls": [str(private), private.repo_type, private.repo_id, str(public), str(again)],
            "info": [[type(i).__name__, i.id, i.private, i.sdk, i.runtime.stage, i.runtime.requested_hardware,
                      [s.rfilename for s in i.siblings]] for i in infos],
            "no_sdk": create_raw({}),
            "bad_sdk": create_raw({"sdk": "flask"}),
        })
    """)
    url = hub_server.url
    assert out["urls"] == [f"{url}/spaces/test-user/demo", "space", "test-user/demo",
                           f"{url}/spaces/test-user/open-demo", f"{url}/spaces/test-user/demo"]
    assert out["info"] == [
        ["SpaceInfo", "test-user/demo", True, "gradio", "STOPPED", "t4-small", [".gitattributes"]],
        ["SpaceInfo", "test-user/open-demo", False, "static", "STOPPED", None, [".gitattributes"]],
    ]
    assert out["no_sdk"] == 400 and out["bad_sdk"] == 400
    assert ("space", "test-user/raw-demo") not in hub_server.state.repos
    assert hub_server.repo("test-user/demo", "space").private
    with pytest.raises(Exception, match="Repository not found"):
        hub_server.repo("test-user/demo")  # a space, not a model
    with pytest.raises(Exception, match="needs an sdk"):
        hub_server.create_repo("test-user/seeded", "space")


def test_space_upload_folder_then_snapshot_download(hub_server, tmp_path):
    """A gradio space as one would ship it, next to a model of the same name that must not mix with it."""
    folder = tmp_path / "space"
    (folder / "wheels").mkdir(parents=True)
    files = {
        "README.md": b"---\ntitle: Demo\nsdk: gradio\napp_file: app.py\ntags:\n- singing\n---\n# Demo\n",
        "app.py": b"import gradio as gr\n\ngr.Interface(lambda x: x, 'text', 'text').launch()\n",
        "requirements.txt": b"gradio\nwheels/tiny-0.1-py3-none-any.whl\n",
        "wheels/tiny-0.1-py3-none-any.whl": wheel_bytes(),
    }
    for path, data in files.items():
        (folder / path).write_bytes(data)
    repo = "test-user/demo"
    hub_server.create_repo(repo)
    model_commit = hub_server.upload(repo, {"README.md": b"# A model\n", "app.py": b"print('model')\n"})

    written = run_client(hub_server, tmp_path / "hf_home_writer", f"""
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo({repo!r}, repo_type="space", space_sdk="gradio", private=True)
        commit = api.upload_folder(repo_id={repo!r}, repo_type="space", folder_path={str(folder)!r},
                                   commit_message="Add app")
        info = api.space_info({repo!r}, files_metadata=True)
        emit({{"commit": commit.oid, "sha": info.sha, "sdk": info.sdk, "tags": info.tags,
               "lfs": sorted(s.rfilename for s in info.siblings if s.lfs),
               "model": [api.model_info({repo!r}).sha, api.list_repo_files({repo!r})]}})
    """)
    assert written["sha"] == written["commit"] and written["sdk"] == "gradio" and written["tags"] == ["singing"]
    assert written["lfs"] == ["wheels/tiny-0.1-py3-none-any.whl"]
    assert written["model"] == [model_commit, [".gitattributes", "README.md", "app.py"]]
    wheel_sha = sha256(files["wheels/tiny-0.1-py3-none-any.whl"])
    asked = hub_server.requests
    assert ("POST", f"/api/spaces/{repo}/preupload/main") in asked
    assert ("POST", f"/spaces/{repo}.git/info/lfs/objects/batch") in asked
    assert ("PUT", f"/_lfs/{wheel_sha}") in asked
    assert ("POST", f"/api/spaces/{repo}/commit/main") in asked

    target = tmp_path / "downloaded"
    target.mkdir()
    read = run_client(hub_server, tmp_path / "hf_home_reader", f"""
        import os
        from huggingface_hub import hf_hub_download, snapshot_download
        local = snapshot_download({repo!r}, repo_type="space", local_dir={str(target)!r})
        emit({{"local": local, "files": sorted(os.path.relpath(os.path.join(d, f), local)
                                               for d, _, fs in os.walk(local) for f in fs
                                               if ".cache" not in os.path.relpath(d, local).split(os.sep)),
               "app": open(hf_hub_download({repo!r}, "app.py", repo_type="space")).read(),
               "model_app": open(hf_hub_download({repo!r}, "app.py")).read()}})
    """)
    assert os.path.realpath(read["local"]) == os.path.realpath(target)
    assert read["files"] == sorted([".gitattributes", *files])
    for path, data in files.items():
        assert (target / path).read_bytes() == data, path
    assert read["app"] == files["app.py"].decode()
    assert read["model_app"] == "print('model')\n"
    assert ("GET", f"/spaces/{repo}/resolve/{written['commit']}/app.py") in hub_server.requests
    assert hub_server.file_at(repo, "README.md") == b"# A model\n"  # the model's own README is untouched


def test_private_space_needs_the_token(hub_server, tmp_path):
    hub_server.create_repo("test-user/secret-demo", "space", private=True, sdk="gradio")
    hub_server.create_repo("test-user/open-demo", "space", sdk="docker")
    for name in ("secret-demo", "open-demo"):
        hub_server.upload(f"test-user/{name}", {"app.py": f"# {name}\n".encode()}, "space")
    code = """
        import os
        from huggingface_hub import HfApi, hf_hub_download, snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError
        def outcome(call):
            try:
                return call()
            except RepositoryNotFoundError as error:
                return ["RepositoryNotFoundError", error.response.status_code]
        def app(name):
            return open(hf_hub_download(name, "app.py", repo_type="space")).read()
        api = HfApi()
        emit({
            "info": outcome(lambda: api.space_info("test-user/secret-demo").sdk),
            "file": outcome(lambda: app("test-user/secret-demo")),
            "snapshot": outcome(lambda: sorted(os.listdir(snapshot_download("test-user/secret-demo",
                                                                             repo_type="space")))),
            "public": outcome(lambda: [api.space_info("test-user/open-demo").sdk, app("test-user/open-demo")]),
        })
    """
    stranger = run_client(hub_server, tmp_path / "hf_home_stranger", code, drop_token=True)
    owner = run_client(hub_server, tmp_path / "hf_home_owner", code)
    assert stranger["info"] == stranger["file"] == stranger["snapshot"] == ["RepositoryNotFoundError", 401]
    assert stranger["public"] == owner["public"] == ["docker", "# open-demo\n"]
    assert owner["info"] == "gradio"
    assert owner["file"] == "# secret-demo\n"
    assert owner["snapshot"] == [".gitattributes", "app.py"]
