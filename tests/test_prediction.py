"""predict_songs and the predict command: the model's own preprocessing, every song answered."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from helpers import RANKED_LABELS, ranked_model, tone, write_tone
from singerid import SingerClassifier, predict_songs
from singerid.audio import load_mono
from singerid.commands.predict import main as predict_main
from singerid.prediction import prediction_config
from singerid.preprocessing.separation import SeparatorUnavailable
from singerid.preprocessing.silence import loudest_window

LABELS = RANKED_LABELS


def _save_model(folder, preprocessing):
    ranked_model(preprocessing).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    return {
        "normal": write_tone(root / "normal song.flac", seconds=7.0, rate=44100, channels=2,
                             silent_spans=((2.0, 3.0),)),
        "silent": write_tone(root / "silent.wav", seconds=3.0, amplitude=0.0),
        "short": write_tone(root / "sub" / "short.mp3", seconds=0.3, rate=22050),
        # 9 s at about -45 dBFS, nothing audible at -35 dB
        "quiet": write_tone(root / "quiet.flac", seconds=9.0, amplitude=0.003),
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
    assert [p.id for p in predictions] == ["normal song", "silent", "short", "broken"]  # input order
    for name in ("normal song", "silent", "short"):
        assert by_id[name].error is None
        assert len(by_id[name].labels) == 3 and by_id[name].labels[0] == "bob"
        assert by_id[name].scores == sorted(by_id[name].scores, reverse=True)
    assert by_id["silent"].nothing_audible and not by_id["normal song"].nothing_audible
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


@pytest.mark.parametrize("repo", ["missing folder", "empty folder", "no repo"])
def test_a_separator_without_weights_says_how_to_go_on(tmp_path, songs, repo, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no demucs weights cached
    folder = _save_model(tmp_path / "model", {"separator": "htdemucs", "segment_seconds": 5.0, "sampling_rate": 24000})
    if repo == "empty folder":
        (tmp_path / "nowhere").mkdir()
    demucs_repo = None if repo == "no repo" else str(tmp_path / "nowhere")
    with pytest.raises(SeparatorUnavailable) as raised:  # never SystemExit, whatever demucs does
        predict_songs([songs["normal"]], str(folder), demucs_repo=demucs_repo, progress=False)
    assert "--demucs-repo DIR" in str(raised.value) and "--separator none" in str(raised.value)
    # the override works
    assert predict_songs([songs["normal"]], str(folder), separator="none", progress=False)[0].labels


@pytest.mark.parametrize("recorded", [{"separator": "tiny_htdemucs"},
                                      {"separator": "tiny_htdemucs", "demucs_repo": "/gone/from/the/training/machine"}],
                         ids=["current", "written before portable separators"])
def test_the_models_separator_runs_from_a_local_repo(tmp_path, songs, demucs_repo, recorded):
    folder = _save_model(tmp_path / "model", {**recorded, "remove_silence": True, "silence_db": -35.0,
                                              "min_silence_seconds": 0.5, "segment_seconds": 5.0,
                                              "sampling_rate": 24000})
    prediction = predict_songs([songs["normal"]], str(folder), demucs_repo=str(demucs_repo),
                               cache_dir=tmp_path / "cache", device="cpu", progress=False)[0]
    assert prediction.labels and prediction.error is None
    assert len(list((tmp_path / "cache").rglob("*.flac"))) == 1  # separated, and cached for next time


def test_songs_cleaned_by_two_workers_get_the_answers_of_one_process(tmp_path, songs, demucs_repo):
    folder = _save_model(tmp_path / "model", {"separator": "tiny_htdemucs", "remove_silence": True,
                                              "silence_db": -35.0, "min_silence_seconds": 0.5,
                                              "segment_seconds": 5.0, "sampling_rate": 24000})
    repaired = tone(4.0, 16000)
    repaired[50:60] = np.inf  # repaired while decoding for the separator, here: the note must follow
    sf.write(tmp_path / "inf.wav", repaired, 16000, subtype="FLOAT")
    paths = [songs[name] for name in ("normal", "broken", "silent", "short")] + [tmp_path / "inf.wav"]
    answers = {}
    for workers in (1, 2):
        predictions = predict_songs(paths, str(folder), demucs_repo=str(demucs_repo), batch_size=2,
                                    cache_dir=tmp_path / f"cache{workers}", device="cpu", progress=False,
                                    workers=workers)
        answers[workers] = [(p.id, p.labels, p.scores, p.error, p.nothing_audible, p.notes) for p in predictions]
    assert answers[1] == answers[2]
    assert answers[2][1][3] and answers[2][0][3] is None  # the broken song failed alone
    assert "non-finite" in " ".join(answers[2][4][5])


def test_a_song_with_nothing_audible_is_classified_on_its_loudest_window_as_in_training(tmp_path, songs):
    # Louder in its last 5 s, but all of it below a -1 dBFS threshold: nothing is audible.
    wave = tone(9.0, 24000)[:, 0] * np.where(np.arange(9 * 24000) < 4 * 24000, 0.2, 1.0).astype(np.float32)
    song = tmp_path / "rises.wav"
    sf.write(song, wave, 24000, subtype="FLOAT")
    folder = _save_model(tmp_path / "model", {"separator": "none", "remove_silence": True, "silence_db": -1.0,
                                              "min_silence_seconds": 0.5, "segment_seconds": 5.0})
    prediction = predict_songs([song], str(folder), top_k=4, progress=False)[0]
    assert prediction.nothing_audible and prediction.notes
    model = SingerClassifier.from_pretrained(folder).eval()
    window = loudest_window(wave, 5 * 24000)  # what preprocessing keeps for training
    with torch.no_grad():
        expected = model(torch.from_numpy(window)[None]).logits.softmax(-1)[0]
        whole = model(torch.from_numpy(wave)[None]).logits.softmax(-1)[0]
    assert not torch.allclose(expected, whole, atol=1e-4)  # the window is not the whole song
    for label, score in zip(prediction.labels, prediction.scores):
        assert score == pytest.approx(expected[model.config.label2id[label]].item(), abs=1e-4)


def test_a_model_without_recorded_preprocessing_classifies_the_audio_as_given(tmp_path, songs, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # htdemucs would fail here
    folder = _save_model(tmp_path / "model", {})
    config = prediction_config(SingerClassifier.from_pretrained(folder))
    assert not config.uses_separator and not config.remove_silence
    prediction = predict_songs([songs["normal"]], str(folder), top_k=4, progress=False)[0]
    model = SingerClassifier.from_pretrained(folder).eval()
    with torch.no_grad():  # the whole song, silent second included
        expected = model(torch.from_numpy(load_mono(songs["normal"], 24000))[None]).logits.softmax(-1)[0]
    for label, score in zip(prediction.labels, prediction.scores):
        assert score == pytest.approx(expected[model.config.label2id[label]].item(), abs=1e-5)


def test_a_partly_recorded_preprocessing_gains_no_stage_it_does_not_name(tmp_path, caplog):
    folder = _save_model(tmp_path / "model", {"segment_seconds": 5.0, "remove_silence": True})
    with caplog.at_level("WARNING"):
        config = prediction_config(SingerClassifier.from_pretrained(folder))
    assert not config.uses_separator and not config.remove_silence
    assert "silence_db" in caplog.text and "min_silence_seconds" in caplog.text
    # what the user asks for still wins
    assert prediction_config(SingerClassifier.from_pretrained(folder), remove_silence=True).remove_silence


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_a_half_precision_model_predicts_like_the_float32_one(model_dir, songs, dtype):
    half = predict_songs([songs["normal"]], str(model_dir), top_k=4, dtype=dtype, progress=False)[0]
    full = predict_songs([songs["normal"]], str(model_dir), top_k=4, progress=False)[0]
    assert half.error is None and half.labels[0] == full.labels[0] == "bob"
    assert half.scores == pytest.approx(full.scores, abs=0.03)


def test_the_pipeline_and_predict_songs_take_a_model_loaded_in_bfloat16(model_dir, songs):
    from transformers import pipeline

    model = SingerClassifier.from_pretrained(model_dir, dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16
    assert predict_songs([songs["normal"]], model, progress=False)[0].labels[0] == "bob"
    classify = pipeline("audio-classification", model=str(model_dir), dtype=torch.bfloat16)
    assert classify(str(songs["normal"]), top_k=1)[0]["label"] == "bob"


def test_a_missing_input_is_one_line_not_a_run(model_dir, tmp_path, capsys):
    assert predict_main(["--model", str(model_dir), "--input", str(tmp_path / "missing"), "--output",
                         str(tmp_path / "out.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "missing" in err and "\n" not in err
    assert not (tmp_path / "out.csv").exists()


def test_csv_is_the_homework_format(model_dir, songs, tmp_path, capsys):
    output = tmp_path / "answers.csv"
    assert predict_main(["--model", str(model_dir), "--input", str(songs["normal"].parent), "--output", str(output)]) == 0
    rows = list(csv.reader(output.open()))
    assert [row[0] for row in rows] == ["normal song", "quiet", "silent", "short"]  # no header, IDs are stems
    assert all(len(row) == 4 and row[1:] == ["bob", "cat", "dan"] for row in rows)
    errors = (tmp_path / "answers.errors.tsv").read_text().splitlines()
    assert len(errors) == 1 and errors[0].startswith(str(songs["broken"]) + "\t")
    assert "1 failed" in capsys.readouterr().out


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
    done = subprocess.run([sys.executable, "-m", "singerid", "predict", "--model", str(model_dir), "--input",
                           str(songs["broken"]), "--output", str(tmp_path / "out.csv")], capture_output=True, text=True)
    assert done.returncode == 1
    assert "broken.mp3" in done.stderr and "Traceback" not in done.stderr
