"""A model trained anywhere predicts anywhere: nothing saved or shared names a path of the
machine that made it, and the separator's weights are found where the model is used.

The maker trains from a backbone in a temporary folder, on data separated with demucs
weights from a local folder; then the model moves elsewhere and those folders are gone.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import make_album_corpus, write_mert_checkpoint, write_tone
from fakes.hub_server import HubServer, hub_env
from singerid import predict_songs
from singerid.hub import DATASET_FILES
from singerid.commands.predict import main as predict_main
from singerid.commands.preprocess import main as preprocess_main
from singerid.preprocessing.separation import SeparatorUnavailable, UntrustedSeparator
from singerid.commands.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]
USER = "test-user"


@pytest.fixture(scope="module")
def made(tmp_path_factory, demucs_repo):
    """The maker's machine: backbone, demucs weights, corpus, dataset, a trained model."""
    maker = tmp_path_factory.mktemp("maker")
    backbone, _ = write_mert_checkpoint(maker / "backbones" / "MERT-v1-tiny")
    weights = shutil.copytree(demucs_repo, maker / "demucs_weights")
    corpus = make_album_corpus(maker / "corpus", artists=2, albums=3, seconds=4.0)
    dataset = maker / "dataset"
    assert preprocess_main(["--input", str(corpus), "--output", str(dataset), "--separator", "tiny_htdemucs",
                            "--demucs-repo", str(weights), "--cache-dir", str(maker / "cache"),
                            "--device", "cpu"]) == 0
    assert train_main(["--dataset", str(dataset), "--backbone", str(backbone), "--output_dir", str(maker / "run"),
                       "--num_train_epochs", "1", "--per_device_train_batch_size", "4", "--disable_tqdm", "true",
                       "--report_to", "none", "--seed", "0"]) == 0
    user = tmp_path_factory.mktemp("user")
    model = Path(shutil.move(maker / "run", user / "model"))
    weights_copy = shutil.copytree(weights, user / "my_demucs_weights")
    shutil.rmtree(weights)
    shutil.rmtree(backbone.parent)
    song = write_tone(user / "songs" / "a song.flac", seconds=6.0, rate=44100, channels=2)
    maker_paths = [str(path) for path in (backbone, weights, corpus, dataset, maker / "cache")]
    return {"maker": maker, "maker_paths": maker_paths, "model": model, "dataset": dataset,
            "weights_copy": weights_copy, "song": song, "user": user}


def _files_naming(folder: Path, paths: list[str]) -> list[str]:
    """Files under `folder` whose bytes contain any of `paths`."""
    found = []
    for file in folder.rglob("*"):
        if file.is_file():
            content = file.read_bytes()
            found += [f"{file.relative_to(folder)} names {path}" for path in paths if path.encode() in content]
    return found


def _no_weights_env(tmp_path) -> dict:
    return {**os.environ, "TORCH_HOME": str(tmp_path / "torch_home"), "HF_HOME": str(tmp_path / "hf_home"),
            "SINGERID_CACHE": str(tmp_path / "cache")}


def test_the_model_folder_names_no_path_of_the_machine_that_made_it(made):
    assert _files_naming(made["model"], made["maker_paths"]) == []
    config = json.loads((made["model"] / "config.json").read_text())
    assert config["backbone_id"] == "MERT-v1-tiny"  # the folder's name means something elsewhere
    assert config["preprocessing"]["separator"] == "tiny_htdemucs"
    assert config["preprocessing"]["separator_weights"].startswith("sha256:")
    assert "demucs_repo" not in config["preprocessing"]
    summary = json.loads((made["model"] / "training_summary.json").read_text())
    assert (summary["dataset"], summary["backbone"]) == ("dataset", "MERT-v1-tiny")


def test_the_dataset_names_no_path_of_the_machine_that_made_it(made):
    shared = [made["dataset"] / name for name in DATASET_FILES]
    for file in shared:
        assert str(made["maker"]) not in file.read_text(encoding="utf-8"), file.name
    report = json.loads((made["dataset"] / "preprocess_report.json").read_text())
    assert {song["source"] for song in report["songs"].values()} == \
        {f"artist_{a}/album_{b}/01-song.flac" for a in range(2) for b in range(3)}


def test_prediction_finds_the_weights_where_the_user_keeps_them(made, tmp_path):
    output = tmp_path / "answers.csv"
    assert predict_main(["--model", str(made["model"]), "--input", str(made["song"]), "--output", str(output),
                         "--demucs-repo", str(made["weights_copy"]), "--cache-dir", str(tmp_path / "cache")]) == 0
    [row] = list(csv.reader(output.open()))
    assert row[0] == "a song" and set(row[1:]) == {"artist_0", "artist_1"}


def test_without_the_weights_prediction_says_both_remedies_in_one_line(made, tmp_path):
    done = subprocess.run([sys.executable, "-m", "singerid", "predict", "--model", str(made["model"]), "--input",
                           str(made["song"]), "--output", str(tmp_path / "answers.csv")],
                          capture_output=True, text=True, env=_no_weights_env(tmp_path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "tiny_htdemucs" in line and "--demucs-repo DIR" in line and "--separator none" in line
    assert not (tmp_path / "answers.csv").exists()


def test_predict_songs_raises_separator_unavailable_never_system_exit(made, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    with pytest.raises(SeparatorUnavailable):
        predict_songs([made["song"]], str(made["model"]), demucs_repo=str(tmp_path / "no_such_folder"), progress=False)
    # without a local repo, a separator that is not demucs's own is not even looked for
    with pytest.raises(UntrustedSeparator):
        predict_songs([made["song"]], str(made["model"]), progress=False)


# -- the same, through the Hub ----------------------------------------------------------
@pytest.fixture(scope="module")
def pulled(made, tmp_path_factory):
    """Model and dataset pushed to the loopback Hub, then pulled into an empty HF_HOME."""
    root = tmp_path_factory.mktemp("hub")
    with HubServer(root / "storage") as server:
        push = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "push_to_hub.py"), "--model", str(made["model"]),
             "--model-repo", f"{USER}/portable", "--dataset", str(made["dataset"]), "--dataset-repo",
             f"{USER}/portable-segments"],
            capture_output=True, text=True, env=hub_env(server, root / "pusher_home"), timeout=600)
        assert push.returncode == 0, push.stderr[-3000:]
        env = hub_env(server, root / "empty_home")
        code = f"""
            import json
            from huggingface_hub import snapshot_download
            print(json.dumps([snapshot_download("{USER}/portable"),
                              snapshot_download("{USER}/portable-segments", repo_type="dataset")]))
        """
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        model_dir, dataset_dir = map(Path, json.loads(done.stdout.strip().splitlines()[-1]))
        predicted = {}
        for name, extra in (("with", ["--demucs-repo", str(made["weights_copy"])]), ("without", [])):
            predicted[name] = subprocess.run(
                [sys.executable, "-m", "singerid", "predict", "--model", f"{USER}/portable", "--input",
                 str(made["song"]), "--output", str(root / f"{name}.csv"), *extra],
                capture_output=True, text=True, timeout=300,
                env={**env, "TORCH_HOME": str(root / "torch_home"), "SINGERID_CACHE": str(root / "cache")})
        assert not server.errors, server.errors[0]
    return {"model": model_dir, "dataset": dataset_dir, "predicted": predicted, "root": root}


def test_what_the_hub_holds_names_no_path_of_the_maker(made, pulled):
    assert {path.name for path in pulled["model"].iterdir()} >= {"config.json", "model.safetensors", "README.md"}
    assert _files_naming(pulled["model"], [str(made["maker"])]) == []
    assert any(pulled["dataset"].rglob("*.parquet"))
    assert _files_naming(pulled["dataset"], [str(made["maker"])]) == []


def test_a_model_from_the_hub_predicts_with_local_weights_or_says_what_it_needs(pulled):
    with_weights, without = pulled["predicted"]["with"], pulled["predicted"]["without"]
    assert with_weights.returncode == 0, with_weights.stderr[-3000:]
    assert (pulled["root"] / "with.csv").read_text().startswith("a song,")
    assert without.returncode == 1 and "Traceback" not in without.stderr
    [line] = [line for line in without.stderr.splitlines() if line.startswith("error:")]
    assert "--demucs-repo DIR" in line and "--separator none" in line
