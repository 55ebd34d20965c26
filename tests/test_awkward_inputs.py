"""The awkward-input battery: odd files are processed, bad ones skipped with a clear
error, non-audio ignored, and the run always goes on; prediction on the same folder
answers every file that decodes to at least one sample, under its exact ID."""

import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import soundfile as sf
import torch
from datasets import load_from_disk

from helpers import tone, write_tone
from singerid import SingerClassifier

ALBUM = ("odd_artist", "odd_album")
RATE = 16000
LABELS = {0: "ann", 1: "bob", 2: "cat", 3: "dan"}
SHORT = {"one_sample": 1 / RATE, "one_ms": 0.001, "twenty_ms": 0.02, "short": 0.3}  # shorter than a segment
NON_FINITE = {"nan": np.nan, "pos_inf": np.inf, "neg_inf": -np.inf}
BAD_SAMPLES = slice(20000, 20010)  # where the non-finite samples are, 1.25 s in
NAMES = {"unicode": "Ünïcødé sóng 歌 with spaces", "punctuation": "Hello, \"World\" it's 歌",
         "cyrillic": "Привет, мир", "greek": "Γειά σου κόσμε"}


def _write(path, wave, subtype=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wave, RATE, subtype=subtype)
    return path


def _with_non_finite(value):
    wave = tone(3.0, RATE)
    wave[BAD_SAMPLES] = value
    return wave


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    root = tmp_path_factory.mktemp("awkward")
    album = root / "corpus" / ALBUM[0] / ALBUM[1]
    processed = {
        "short": write_tone(album / "short.wav", seconds=SHORT["short"]),
        "one_sample": _write(album / "one sample.wav", np.full((1, 1), 0.3, dtype=np.float32)),
        "one_ms": write_tone(album / "one ms.flac", seconds=SHORT["one_ms"]),
        "twenty_ms": write_tone(album / "twenty ms.wav", seconds=SHORT["twenty_ms"]),
        "silent": write_tone(album / "silent.flac", seconds=4.0, amplitude=0.0),
        "unicode": write_tone(album / f"{NAMES['unicode']}.flac", seconds=3.0),
        "punctuation": write_tone(album / f"{NAMES['punctuation']}.flac", seconds=3.0),
        "cyrillic": write_tone(album / f"{NAMES['cyrillic']}.wav", seconds=3.0),
        "greek": write_tone(album / f"{NAMES['greek']}.flac", seconds=3.0),
        "rate_8k": write_tone(album / "rate 8k.wav", rate=8000),
        "rate_96k": write_tone(album / "rate 96k.wav", rate=96000, seconds=3.0),
        "six_channels": write_tone(album / "surround.wav", channels=6, seconds=3.0),
        "pcm_u8": write_tone(album / "eight bit.wav", subtype="PCM_U8"),
        "float64": write_tone(album / "double.wav", subtype="DOUBLE"),
        "upper": write_tone(album / "SHOUTING.FLAC"),
        "ogg": write_tone(album / "vorbis.ogg", rate=22050),
        "mp3": write_tone(album / "lossy.mp3", rate=22050, channels=2),
        "dc": _write(album / "dc only.wav", np.full((3 * RATE, 1), 0.5, dtype=np.float32)),
        "clipped": _write(album / "clipped.wav", np.clip(tone(3.0, RATE, amplitude=50.0), -1.0, 1.0)),
        "twelve_minutes": write_tone(album / "twelve minutes.flac", seconds=720.0),
    }
    for kind, value in NON_FINITE.items():
        processed[kind] = _write(album / f"float {kind}.wav", _with_non_finite(value), subtype="FLOAT")
    m4a = album / "aac.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=330:duration=4",
                    "-c:a", "aac", str(m4a)], check=True)
    processed["m4a"] = m4a
    outside = write_tone(root / "elsewhere" / "target.flac", seconds=3.0)
    os.symlink(outside, album / "linked.flac")
    processed["symlink"] = album / "linked.flac"
    whole = write_tone(root / "elsewhere" / "whole.flac", seconds=10.0)
    (album / "truncated.flac").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    processed["truncated"] = album / "truncated.flac"

    skipped = {
        "zero_bytes": album / "empty.wav",
        "text": album / "readme.mp3",
        "random": album / "noise.flac",
        "header_only": _write(album / "header only.wav", np.zeros((0, 1), dtype=np.float32)),
    }
    skipped["zero_bytes"].write_bytes(b"")
    skipped["text"].write_text("this is not audio at all\n" * 20)
    skipped["random"].write_bytes(np.random.default_rng(0).bytes(4096))

    (album / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0not really")
    (album / ".DS_Store").write_bytes(b"\x00\x01")
    (album / "folder.mp3").mkdir()

    out = root / "out"
    return root / "corpus", out, processed, skipped


def _start(command, *args):
    # Output goes to files, not pipes: a full pipe would stall a command nobody is reading yet.
    streams = [tempfile.TemporaryFile("w+", encoding="utf-8") for _ in range(2)]
    process = subprocess.Popen([sys.executable, "-m", "singerid", command, *map(str, args)], stdout=streams[0],
                               stderr=streams[1], env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    return process, streams


def _finish(started):
    process, streams = started
    process.wait()
    text = []
    for stream in streams:
        stream.seek(0)
        text.append(stream.read())
        stream.close()
    return subprocess.CompletedProcess(process.args, process.returncode, *text)


def _run(command, *args):
    return _finish(_start(command, *args))


@pytest.fixture(scope="module")
def result(battery):
    corpus, out, _, _ = battery
    capture = _run("preprocess", "--input", corpus, "--output", out, "--separator", "none",
                   "--sampling-rate", RATE)
    if not (out / "preprocess_report.json").is_file():
        pytest.fail(f"preprocess wrote no report (exit {capture.returncode}): {capture.stderr.strip()[-2000:]}")
    report = json.loads((out / "preprocess_report.json").read_text(encoding="utf-8"))
    return capture, report


@pytest.fixture(scope="module")
def train(battery, result):
    return load_from_disk(str(battery[1]))["train"]


@pytest.fixture(scope="module")
def prediction(battery, tmp_path_factory):
    """The predict command over the battery's album, once to CSV and once to JSON."""
    corpus, _, _, _ = battery
    folder = tmp_path_factory.mktemp("prediction")
    torch.manual_seed(0)
    model = SingerClassifier.from_backbone("tiny-mert", id2label=LABELS)
    model.config.preprocessing = {"separator": "none", "remove_silence": True, "silence_db": -35.0,
                                  "min_silence_seconds": 0.5, "segment_seconds": 5.0, "sampling_rate": 24000}
    model.save_pretrained(folder / "model")
    album = corpus / ALBUM[0] / ALBUM[1]
    started = {suffix: _start("predict", "--model", folder / "model", "--input", album,
                              "--output", folder / f"rows_{suffix}.{suffix}", "--device", "cpu")
               for suffix in ("csv", "json")}  # side by side: each spends seconds importing
    runs = {suffix: _finish(process) for suffix, process in started.items()}
    with open(folder / "rows_csv.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    return {"runs": runs, "rows": rows, "csv_errors": folder / "rows_csv.errors.tsv",
            "json": json.loads((folder / "rows_json.json").read_text(encoding="utf-8"))}


def _song_id(path):
    return f"{ALBUM[0]}/{ALBUM[1]}/{path.stem}"


def _rows_of(train, path):
    return train.filter(lambda song_id: song_id == _song_id(path), input_columns="song_id")


# -- preprocessing -----------------------------------------------------------------------

def test_run_succeeds_despite_bad_files(result):
    capture, _ = result
    assert capture.returncode == 0, capture.stderr


@pytest.mark.parametrize("kind", ["short", "one_sample", "one_ms", "twenty_ms", "silent", "unicode", "punctuation",
                                  "cyrillic", "greek", "rate_8k", "rate_96k", "six_channels", "pcm_u8", "float64",
                                  "upper", "ogg", "mp3", "dc", "clipped", "twelve_minutes", "nan", "pos_inf",
                                  "neg_inf", "m4a", "symlink", "truncated"])
def test_awkward_but_valid_files_are_processed(battery, result, train, kind):
    _, _, processed, _ = battery
    _, report = result
    song = report["songs"][_song_id(processed[kind])]
    assert song["status"] == "ok", song
    assert song["num_segments"] >= 1 and song["seconds_in"] > 0
    rows = _rows_of(train, processed[kind])
    assert rows.num_rows == song["num_segments"]
    audio = rows[0]["audio"]
    assert audio["sampling_rate"] == RATE and len(audio["array"]) == 5 * RATE


@pytest.mark.parametrize("kind", list(SHORT))
def test_audio_shorter_than_a_segment_gives_one_padded_segment(battery, result, train, kind):
    _, _, processed, _ = battery
    song = result[1]["songs"][_song_id(processed[kind])]
    assert song["num_segments"] == 1 and song["seconds_in"] == pytest.approx(SHORT[kind], abs=1 / RATE)
    segment = np.asarray(_rows_of(train, processed[kind])[0]["audio"]["array"])
    assert np.any(segment != 0)
    assert not np.any(segment[round(SHORT[kind] * RATE) + 1 :])  # the rest of the 5 s is padding


@pytest.mark.parametrize("kind", list(NON_FINITE))
def test_non_finite_samples_are_reported_in_a_note(battery, result, kind):
    _, _, processed, _ = battery
    songs = result[1]["songs"]
    assert any("non-finite" in note for note in songs[_song_id(processed[kind])]["notes"])
    assert not any("non-finite" in note for note in songs[_song_id(processed["float64"])]["notes"])


@pytest.mark.parametrize("kind", list(NON_FINITE))
def test_non_finite_samples_are_replaced_by_zeros(battery, train, kind):
    _, _, processed, _ = battery
    segment = np.asarray(_rows_of(train, processed[kind])[0]["audio"]["array"])
    assert np.all(np.isfinite(segment))
    assert np.all(segment[BAD_SAMPLES] == 0) and np.any(segment[: BAD_SAMPLES.start] != 0)


def test_twelve_minute_song_is_cut_into_144_segments(battery, result):
    _, _, processed, _ = battery
    song = result[1]["songs"][_song_id(processed["twelve_minutes"])]
    assert song["seconds_in"] == pytest.approx(720.0, abs=0.01)
    assert song["num_segments"] == 144


def test_truncated_file_is_decoded_as_far_as_it_goes(battery, result):
    _, _, processed, _ = battery
    song = result[1]["songs"][_song_id(processed["truncated"])]
    assert 1.0 < song["seconds_in"] < 10.0


def test_resampling_keeps_duration(battery, result):
    _, _, processed, _ = battery
    for kind in ("rate_8k", "rate_96k"):
        expected = sf.info(str(processed[kind])).duration
        assert result[1]["songs"][_song_id(processed[kind])]["seconds_in"] == pytest.approx(expected, abs=0.01)


def test_silent_song_keeps_one_segment(battery, result):
    _, _, processed, _ = battery
    song = result[1]["songs"][_song_id(processed["silent"])]
    assert song["num_segments"] == 1 and song["seconds_kept"] == pytest.approx(4.0, abs=0.01)


@pytest.mark.parametrize("kind", ["zero_bytes", "text", "random", "header_only"])
def test_bad_files_are_skipped_with_a_clear_error(battery, result, kind):
    _, _, _, skipped = battery
    capture, report = result
    song = report["songs"][_song_id(skipped[kind])]
    assert song["status"] == "skipped" and song["num_segments"] == 0
    assert song["error"]
    assert str(skipped[kind]) in capture.stderr
    assert f"{skipped[kind]}: {song['error']}" in capture.stderr


def test_header_only_wav_is_reported_as_having_no_audio_samples(battery, result):
    _, _, _, skipped = battery
    song = result[1]["songs"][_song_id(skipped["header_only"])]
    assert song["status"] == "skipped" and "no audio samples" in song["error"]


@pytest.mark.parametrize("kind", list(NAMES))
def test_report_keeps_awkward_file_names_exactly(battery, result, kind):
    _, _, processed, _ = battery
    song_id = f"{ALBUM[0]}/{ALBUM[1]}/{NAMES[kind]}"
    assert result[1]["songs"][song_id]["source"] == f"{ALBUM[0]}/{ALBUM[1]}/{processed[kind].name}"


def test_non_audio_files_and_folders_are_ignored(result):
    _, report = result
    names = " ".join(report["songs"])
    assert "cover" not in names and "DS_Store" not in names and "folder" not in names
    assert report["summary"]["songs"] == 30


def test_all_files_bad_exits_non_zero_with_a_message(tmp_path):
    album = tmp_path / "corpus" / "a" / "b"
    album.mkdir(parents=True)
    (album / "x.mp3").write_text("text")
    (album / "y.wav").write_bytes(b"")
    capture = subprocess.run([sys.executable, "-m", "singerid", "preprocess", "--input", str(tmp_path / "corpus"),
                              "--output", str(tmp_path / "out"), "--separator", "none"],
                             capture_output=True, text=True)
    assert capture.returncode != 0
    assert "none of 2 audio files could be decoded" in capture.stderr


# -- prediction on the same folder ---------------------------------------------------------

@pytest.mark.parametrize("suffix", ["csv", "json"])
def test_predict_succeeds_despite_bad_files(prediction, suffix):
    run = prediction["runs"][suffix]
    assert run.returncode == 0, run.stderr


def test_csv_has_one_row_per_decodable_file_under_its_exact_id(battery, prediction):
    _, _, processed, _ = battery
    ids = [row[0] for row in prediction["rows"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == {path.stem for path in processed.values()}


def test_csv_rows_hold_an_id_and_three_labels(prediction):
    assert prediction["rows"] and all(len(row) == 4 and set(row[1:]) <= set(LABELS.values())
                                      for row in prediction["rows"])


def test_json_has_one_entry_per_decodable_file_under_its_exact_id(battery, prediction):
    _, _, processed, _ = battery
    assert set(prediction["json"]) == {path.stem for path in processed.values()}
    assert all(len(labels) == 3 for labels in prediction["json"].values())


@pytest.mark.parametrize("kind", ["zero_bytes", "text", "random", "header_only"])
def test_undecodable_files_are_listed_in_errors_tsv_not_in_csv(battery, prediction, kind):
    _, _, _, skipped = battery
    lines = prediction["csv_errors"].read_text(encoding="utf-8").splitlines()
    problems = dict(line.split("\t", 1) for line in lines)
    assert problems.get(str(skipped[kind]))
    assert skipped[kind].stem not in {row[0] for row in prediction["rows"]}
    assert str(skipped[kind]) in prediction["runs"]["csv"].stderr
