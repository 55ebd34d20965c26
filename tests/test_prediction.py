"""predict_songs and the predict command: the model's own preprocessing, every song answered."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import write_tone
from singerid import SingerClassifier, predict_songs
from singerid.audio import load_mono
from singerid.predict import main as predict_main
from singerid.preprocessing.separation import SeparatorUnavailable

LABELS = {0: "ann", 1: "bob", 2: "cat", 3: "dan"}


def _save_model(folder, preprocessing):
    torch.manual_seed(0)
    model = SingerClassifier.from_backbone("tiny-mert", id2label=LABELS)
    with torch.no_grad():
        model.head[3].bias.copy_(torch.tensor([0.0, 3.0, 2.0, 1.0]))  # a clear ranking: bob, cat, dan, ann
    model.config.preprocessing = preprocessing
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    return {
        "normal": write_tone(root / "normal song.flac", seconds=7.0, rate=44100, channels=2,
                             silent_spans=((2.0, 3.0),)),
        "silent": write_tone(root / "silent.wav", seconds=3.0, amplitude=0.0),
        "short": write_tone(root / "sub" / "short.mp3", seconds=0.3, rate=22050),
        "broken": (root / "broken.mp3"),
    }


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, songs):
    songs["broken"].write_text("not audio")
    return _save_model(tmp_path_factory.mktemp("model"), {"separator": "none", "remove_silence": True,
                                                           "silence_db": -35.0, "min_silence_seconds": 0.5,
                                                           "segment_seconds": 5.0, "sampling_rate": 24000})


def test_every_decodable_song_gets_an_answer(model_dir, songs, capsys):
    paths = [songs[name] for name in ("normal", "silent", "short", "broken")]
    predictions = predict_songs(paths, str(model_dir), top_k=3, progress=False)
    by_id = {p.id: p for p in predictions}
    assert [p.id for p in predictions] == ["normal song", "silent", "short", "broken"]
    for name in ("normal song", "silent", "short"):
        assert by_id[name].error is None
        assert len(by_id[name].labels) == 3 and by_id[name].labels[0] == "bob"
        assert by_id[name].scores == sorted(by_id[name].scores, reverse=True)
    assert by_id["silent"].used_raw_audio and not by_id["normal song"].used_raw_audio
    assert by_id["broken"].error and not by_id["broken"].labels
    assert str(songs["broken"]) in capsys.readouterr().err


def test_scores_are_the_models_song_probabilities_after_its_preprocessing(model_dir, songs):
    prediction = predict_songs([songs["normal"]], str(model_dir), top_k=4, progress=False)[0]
    model = SingerClassifier.from_pretrained(model_dir).eval()
    wave = load_mono(songs["normal"], 24000)
    cleaned = np.concatenate([wave[: 2 * 24000], wave[3 * 24000 :]])  # the silent second is cut
    with torch.no_grad():
        expected = model(torch.from_numpy(cleaned)[None]).logits.softmax(-1)[0]
    for label, score in zip(prediction.labels, prediction.scores):
        index = model.config.label2id[label]
        assert score == pytest.approx(expected[index].item(), abs=2e-3)


def test_a_separator_without_weights_says_how_to_go_on(tmp_path, songs):
    folder = _save_model(tmp_path / "model", {"separator": "htdemucs", "demucs_repo": str(tmp_path / "nowhere"),
                                              "segment_seconds": 5.0, "sampling_rate": 24000})
    (tmp_path / "nowhere").mkdir()
    with pytest.raises(SeparatorUnavailable, match="--separator none"):
        predict_songs([songs["normal"]], str(folder), progress=False)
    # the override works
    assert predict_songs([songs["normal"]], str(folder), separator="none", progress=False)[0].labels


def test_the_models_separator_runs_from_a_local_repo(tmp_path, songs, demucs_repo):
    folder = _save_model(tmp_path / "model", {"separator": "tiny_htdemucs", "demucs_repo": str(demucs_repo),
                                              "remove_silence": True, "segment_seconds": 5.0, "sampling_rate": 24000})
    prediction = predict_songs([songs["normal"]], str(folder), cache_dir=tmp_path / "cache", device="cpu",
                               progress=False)[0]
    assert prediction.labels and prediction.error is None
    assert len(list((tmp_path / "cache").rglob("*.flac"))) == 1  # separated, and cached for next time


def test_csv_is_the_homework_format(model_dir, songs, tmp_path, capsys):
    output = tmp_path / "answers.csv"
    assert predict_main(["--model", str(model_dir), "--input", str(songs["normal"].parent), "--output", str(output)]) == 0
    rows = list(csv.reader(output.open()))
    assert [row[0] for row in rows] == ["normal song", "silent", "short"]  # no header, IDs are stems
    assert all(len(row) == 4 and row[1:] == ["bob", "cat", "dan"] for row in rows)
    errors = (tmp_path / "answers.errors.tsv").read_text().splitlines()
    assert len(errors) == 1 and errors[0].startswith(str(songs["broken"]) + "\t")
    assert "1 undecodable" in capsys.readouterr().out


def test_json_with_and_without_scores(model_dir, songs, tmp_path):
    plain, scored = tmp_path / "plain.json", tmp_path / "scored.json"
    assert predict_main(["--model", str(model_dir), "--input", str(songs["normal"]), str(songs["short"]),
                         "--output", str(plain)]) == 0
    assert json.loads(plain.read_text()) == {"normal song": ["bob", "cat", "dan"], "short": ["bob", "cat", "dan"]}
    assert predict_main(["--model", str(model_dir), "--input", str(songs["short"]), "--output", str(scored),
                         "--scores", "--top-k", "2"]) == 0
    [(label, score), second] = json.loads(scored.read_text())["short"]
    assert label == "bob" and 0 < second[1] < score < 1


def test_nothing_decodable_exits_non_zero(model_dir, songs, tmp_path):
    done = subprocess.run([sys.executable, "-m", "singerid.predict", "--model", str(model_dir), "--input",
                           str(songs["broken"]), "--output", str(tmp_path / "out.csv")], capture_output=True, text=True)
    assert done.returncode == 1
    assert "broken.mp3" in done.stderr and "Traceback" not in done.stderr
