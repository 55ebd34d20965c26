"""Sharing on the Hub, against our loopback Hub server: push, then pull back as a stranger would.

Every client runs in a fresh subprocess with an empty HF_HOME (huggingface_hub reads
HF_ENDPOINT at import time); the server runs in this process on 127.0.0.1.
"""

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import load_from_disk

from helpers import make_album_corpus
from fakes.hub_server import HubServer, hub_env
from singerid import SingerClassifier
from singerid.commands.preprocess import main as preprocess_main

ROOT = Path(__file__).resolve().parents[1]
USER = "test-user"


def _python(code, env, timeout=300):
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    with HubServer(root / "storage") as server:
        yield server, root


@pytest.fixture(scope="module")
def pushed(hub):
    """A preprocessed dataset and a trained tiny model, pushed by both routes."""
    server, root = hub
    corpus = make_album_corpus(root / "corpus", artists=2, albums=3, seconds=6.0)
    assert preprocess_main(["--input", str(corpus), "--output", str(root / "dataset"), "--separator", "none",
                            "--sampling-rate", "16000", "--cache-dir", str(root / "cache")]) == 0
    env = hub_env(server, root / "hf_home_pusher")
    train = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "--dataset", str(root / "dataset"), "--backbone", "tiny-mert",
         "--output_dir", str(root / "run"), "--num_train_epochs", "1", "--per_device_train_batch_size", "4",
         "--disable_tqdm", "true", "--report_to", "none", "--push_to_hub", "--hub_model_id", "trained"],
        capture_output=True, text=True, env=env, timeout=600)
    assert train.returncode == 0, train.stderr[-4000:]
    push = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "push_to_hub.py"), "--model", str(root / "run"), "--model-repo",
         f"{USER}/singer", "--dataset", str(root / "dataset"), "--dataset-repo", f"{USER}/segments"],
        capture_output=True, text=True, env=env, timeout=600)
    assert push.returncode == 0, push.stderr[-4000:]
    assert not server.errors, server.errors[0]
    return root


def _fresh_env(hub, tmp_path):
    return hub_env(hub[0], tmp_path / "empty_hf_home")


def _local_probabilities(run, wave):
    model = SingerClassifier.from_pretrained(run).eval()
    with torch.no_grad():
        return model(torch.from_numpy(wave)[None]).logits.softmax(-1)[0].tolist()


def test_pipeline_with_remote_code_and_no_singerid(hub, pushed, tmp_path):
    wave = (0.1 * np.random.default_rng(0).standard_normal(7 * 24000)).astype(np.float32)
    np.save(tmp_path / "clip.npy", wave)
    result = _python(f"""
        import json, sys
        sys.modules["singerid"] = None  # not installed
        import numpy as np
        from transformers import pipeline
        classify = pipeline("audio-classification", model="{USER}/singer", trust_remote_code=True)
        rows = classify(np.load({str(tmp_path / "clip.npy")!r}), top_k=2)
        print(json.dumps({{"rows": rows, "module": type(classify.model).__module__}}))
    """, _fresh_env(hub, tmp_path))
    assert result["module"].startswith("transformers_modules.")
    expected = dict(zip(["artist_0", "artist_1"], _local_probabilities(pushed / "run", wave)))
    assert {row["label"]: pytest.approx(row["score"], abs=1e-5) for row in result["rows"]} == expected


def test_auto_class_with_singerid_and_no_remote_code(hub, pushed, tmp_path):
    result = _python(f"""
        import json
        import singerid, torch
        from transformers import AutoModelForAudioClassification
        model = AutoModelForAudioClassification.from_pretrained("{USER}/singer")
        torch.manual_seed(0)
        wave = torch.randn(1, 24000) * 0.1
        print(json.dumps({{"class": type(model).__module__ + "." + type(model).__name__,
                           "logits": model.eval()(wave).logits[0].tolist()}}))
    """, _fresh_env(hub, tmp_path))
    assert result["class"] == "singerid.models.singer.modeling_singer.SingerClassifier"
    torch.manual_seed(0)
    wave = torch.randn(1, 24000) * 0.1
    local = SingerClassifier.from_pretrained(pushed / "run").eval()
    with torch.no_grad():
        np.testing.assert_allclose(result["logits"], local(wave).logits[0].numpy(), atol=1e-6)


def test_from_backbone_by_repo_id_never_fetches_mert_code(hub, mert_folder, tmp_path):
    server, _ = hub
    folder, original = mert_folder
    env = hub_env(server, tmp_path / "uploader")
    _python(f"""
        import json
        from huggingface_hub import HfApi
        api = HfApi()
        api.create_repo("{USER}/mert-tiny", exist_ok=True)
        api.upload_folder(repo_id="{USER}/mert-tiny", folder_path={str(folder)!r})
        print(json.dumps(sorted(api.list_repo_files("{USER}/mert-tiny"))))
    """, env)
    first = len(server.requests)
    modules = tmp_path / "modules"
    result = _python(f"""
        import json
        from singerid import SingerClassifier
        model = SingerClassifier.from_backbone("{USER}/mert-tiny", id2label={{0: "a", 1: "b"}})
        print(json.dumps({{"backbone": type(model.backbone).__name__, "rate": model.config.sampling_rate,
                           "sum": float(sum(p.double().sum() for p in model.backbone.state_dict().values()))}}))
    """, {**_fresh_env(hub, tmp_path), "HF_MODULES_CACHE": str(modules)})
    assert result["backbone"] == "HubertModel" and result["rate"] == 24000
    assert result["sum"] == pytest.approx(float(sum(p.double().sum() for p in original.state_dict().values())))
    fetched = [path for _, path in server.requests[first:]]
    assert fetched and not any("MERT.py" in path for path in fetched)
    assert not modules.exists() or not list(modules.rglob("*MERT*"))


def test_dataset_comes_back_with_splits_rows_labels_and_audio(hub, pushed, tmp_path):
    result = _python(f"""
        import hashlib, json
        import datasets, numpy as np
        datasets.config.USE_PARQUET_EXPORT = False
        data = datasets.load_dataset("{USER}/segments")
        out = {{}}
        for split, part in data.items():
            out[split] = {{"rows": part.num_rows, "labels": list(part["label"]), "songs": list(part["song_id"]),
                          "names": part.features["label"].names,
                          "audio": [hashlib.sha256(np.asarray(row["audio"]["array"], np.float32).tobytes()).hexdigest()
                                    for row in part]}}
        print(json.dumps(out))
    """, _fresh_env(hub, tmp_path))
    local = load_from_disk(str(pushed / "dataset"))
    assert set(result) == set(local)
    import hashlib

    for split, part in local.items():
        assert result[split]["rows"] == part.num_rows
        assert result[split]["labels"] == list(part["label"]) and result[split]["songs"] == list(part["song_id"])
        assert result[split]["names"] == part.features["label"].names
        assert result[split]["audio"] == [hashlib.sha256(np.asarray(row["audio"]["array"], np.float32).tobytes()).hexdigest()
                                          for row in part]


def test_cards_carry_the_metrics(hub, pushed, tmp_path):
    result = _python(f"""
        import json
        from huggingface_hub import DatasetCard, HfApi, ModelCard
        out = {{}}
        for repo in ("{USER}/singer", "{USER}/trained"):
            card = ModelCard.load(repo)
            out[repo] = {{"results": [(r.dataset_split, r.metric_name, r.metric_value) for r in card.data.eval_results],
                         "licence": card.data.license, "text": card.text,
                         "files": HfApi().list_repo_files(repo)}}
        out["dataset"] = DatasetCard.load("{USER}/segments").text
        print(json.dumps(out))
    """, _fresh_env(hub, tmp_path))
    metrics = json.loads((pushed / "run" / "metrics.json").read_text())
    for repo in (f"{USER}/singer", f"{USER}/trained"):
        results = {(split, name): value for split, name, value in result[repo]["results"]}
        assert results[("test", "Song top-1 accuracy")] == pytest.approx(metrics["test"]["song_top1"], abs=1e-4)
        assert results[("validation", "Song macro-F1")] == pytest.approx(metrics["validation"]["song_macro_f1"], abs=1e-4)
        assert "trust_remote_code=True" in result[repo]["text"] and "import singerid" in result[repo]["text"]
        assert "--open-set" in result[repo]["text"] and "false-accept rate on validation songs" in result[repo]["text"]
        assert result[repo]["licence"] == "apache-2.0"  # tiny random backbone: no third-party weights
        files = result[repo]["files"]
        assert {"model.safetensors", "modeling_singer.py", "preprocessor_config.json", "metrics.json",
                "confusion_matrix.png", "README.md", "gallery.safetensors"} <= set(files)
        assert not any(name.startswith("checkpoint-") or name == "training_args.bin" for name in files)
    assert "## Splits" in result["dataset"] and "## Preprocessing" in result["dataset"]


def test_the_gallery_comes_down_with_the_model(hub, pushed, tmp_path):
    result = _python(f"""
        import json
        from singerid.prediction import model_gallery
        gallery = model_gallery("{USER}/singer")
        print(json.dumps({{"singers": gallery.singers, "songs": gallery.songs,
                           "threshold": gallery.calibration.threshold}}))
    """, _fresh_env(hub, tmp_path))
    from singerid.gallery import Gallery

    local = Gallery.load(pushed / "run")
    assert result["singers"] == local.singers == ["artist_0", "artist_1"]
    assert [tuple(song) for song in result["songs"]] == local.songs
    assert result["threshold"] == local.calibration.threshold


def test_a_missing_token_is_one_clear_line(hub, pushed, tmp_path):
    env = {key: value for key, value in _fresh_env(hub, tmp_path).items() if key != "HF_TOKEN"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "push_to_hub.py"), "--model", str(pushed / "run"),
                           "--model-repo", f"{USER}/x"], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: no Hugging Face token: set HF_TOKEN or run `hf auth login`"]


def test_an_unreachable_hub_is_one_clear_line(hub, pushed, tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**_fresh_env(hub, tmp_path), "HF_ENDPOINT": f"http://127.0.0.1:{port}"}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "push_to_hub.py"), "--model", str(pushed / "run"),
                           "--model-repo", f"{USER}/x"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: cannot reach the Hub at http://127.0.0.1:{port}")
