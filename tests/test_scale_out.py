"""accelerate launch with 2 CPU processes (gloo): preprocessing shares separation out,
training runs as DDP. Each in a subprocess, as a user would launch it."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasets import load_from_disk

from helpers import make_album_corpus, make_segment_dataset
from singerid.preprocessing import PreprocessConfig, preprocess_corpus

ROOT = Path(__file__).resolve().parents[1]
# On a machine without GPUs, --multi_gpu starts the processes and ACCELERATE_USE_CPU makes them gloo CPU workers.
LAUNCH = [str(Path(sys.executable).with_name("accelerate")), "launch", "--multi_gpu", "--num_processes", "2",
          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]


def _launch(*args):
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*LAUNCH, *args], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def test_two_processes_share_separation_and_build_the_dataset_once(tmp_path, demucs_repo):
    corpus = make_album_corpus(tmp_path / "corpus", artists=2, albums=3, seconds=3.0)
    options = ["--input", str(corpus), "--separator", "tiny_htdemucs", "--demucs-repo", str(demucs_repo),
               "--sampling-rate", "16000"]
    done = _launch("-m", "singerid", "preprocess", *options, "--output", str(tmp_path / "shared"),
                   "--cache-dir", str(tmp_path / "cache"))
    assert "process 0 of 2: separating 3 songs" in done.stderr
    assert "process 1 of 2: separating 3 songs" in done.stderr
    assert done.stdout.count("songs → segments") == 1  # assembled once, by the main process
    config = PreprocessConfig(sampling_rate=16000, separator="tiny_htdemucs")
    preprocess_corpus(corpus, tmp_path / "single", config, cache_dir=tmp_path / "cache_single", device="cpu",
                      demucs_repo=demucs_repo)
    shared, single = load_from_disk(str(tmp_path / "shared")), load_from_disk(str(tmp_path / "single"))
    for split in single:
        assert shared[split].num_rows == single[split].num_rows
        assert list(shared[split]["song_id"]) == list(single[split]["song_id"])
        for a, b in zip(shared[split], single[split]):
            # up to one 16-bit step: the processes ran with other thread counts
            assert a["audio"]["array"].tolist() == pytest.approx(b["audio"]["array"].tolist(), abs=2 ** -14)


@pytest.mark.parametrize("strategy", ["finetune", "weighted_sum"])
def test_training_runs_as_ddp_over_two_processes(tmp_path, strategy):
    # DDP runs without the unused-parameter search: a trainable parameter left out of a
    # step would stop the run, so both strategies are tried.
    dataset = make_segment_dataset(tmp_path / "dataset")
    done = _launch(str(ROOT / "scripts" / "train.py"), "--dataset", str(dataset), "--backbone", "tiny-mert",
                   "--strategy", strategy, "--max_steps", "2", "--per_device_train_batch_size", "2",
                   "--output_dir", str(tmp_path / "run"), "--disable_tqdm", "true", "--report_to", "none")
    assert done.stdout.count("model, metrics.json and plots in") == 1  # only the main process reports
    if strategy == "weighted_sum":  # each process computed only its shards of the feature cache
        import re

        computed = {(int(process), int(shard)) for shard, total, process in
                    re.findall(r"pooled backbone features, shard (\d+)/(\d+) \(process (\d) of 2\)", done.stderr)}
        assert computed and all((shard - 1) % 2 == process - 1 for process, shard in computed)
        assert {process for process, _ in computed} == {1, 2}
    summary = json.loads((tmp_path / "run" / "training_summary.json").read_text())
    assert summary["batch_size"] == 4  # 2 per process × 2 processes
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["num_segments"] == 6 and metrics["test"]["num_songs"] == 3  # gathered, not duplicated


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A random tiny model and five songs it tells apart, one of them not audio."""
    import torch

    from helpers import write_tone
    from singerid import SingerClassifier

    root = tmp_path_factory.mktemp("library")
    torch.manual_seed(3)
    model = SingerClassifier.from_backbone("tiny-mert", id2label={0: "ann", 1: "bob", 2: "cat", 3: "dan"})
    model.config.preprocessing = {"separator": "none", "remove_silence": False, "sampling_rate": 16000}
    model.save_pretrained(root / "model")
    songs = [write_tone(root / "songs" / f"song{index}.wav", seconds=2.0 + index, freq=110.0 * (index + 1))
             for index in range(4)]
    (root / "songs" / "song2 broken.mp3").write_text("not audio")
    return root / "model", root / "songs"


@pytest.mark.parametrize("command", ["predict", "embed"])
def test_two_processes_share_the_songs_and_answer_as_one(tmp_path, library, command):
    model, songs = library
    shared, single = ((tmp_path / name / "answers.csv") if command == "predict" else tmp_path / name
                      for name in ("shared", "single"))
    options = ["--model", str(model), "--input", str(songs), "--workers", "1"]
    done = _launch("-m", "singerid", command, *options, "--output", str(shared),
                   *(["--scores", "true"] if command == "predict" else []))
    assert "process 0 of 2: predicting 3 songs" in done.stderr  # five songs: 3 and 2
    assert "process 1 of 2: predicting 2 songs" in done.stderr
    assert done.stdout.count("→") == 1  # reported once, by the main process
    alone = subprocess.run([sys.executable, "-m", "singerid", command, *options, "--output", str(single),
                            *(["--scores", "true"] if command == "predict" else [])],
                           capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600)
    assert alone.returncode == 0, alone.stderr[-4000:]
    if command == "predict":
        rows = [list(csv.reader(path.open())) for path in (shared, single)]
        assert [row[0::2] for row in rows[0]] == [row[0::2] for row in rows[1]]  # IDs and singers, in order
        assert [float(cell) for row in rows[0] for cell in row[2::2]] == \
            pytest.approx([float(cell) for row in rows[1] for cell in row[2::2]], abs=1e-5)
        errors = [path.with_name("answers.errors.tsv").read_text() for path in (shared, single)]
    else:
        embedded = [load_from_disk(str(path)) for path in (shared, single)]
        assert embedded[0]["id"] == embedded[1]["id"] == ["song0", "song1", "song2", "song3"]
        assert np.allclose(embedded[0]["embedding"], embedded[1]["embedding"], atol=1e-5)
        errors = [(path / "errors.tsv").read_text() for path in (shared, single)]
    assert errors[0] == errors[1] and errors[0].count("song2 broken.mp3") == 1
