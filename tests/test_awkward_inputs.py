"""The awkward-input battery: odd files are processed, bad ones skipped with a clear
error, non-audio ignored, and the run always goes on."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from datasets import load_from_disk

from conftest import write_tone

ALBUM = ("odd_artist", "odd_album")


@pytest.fixture(scope="module")
def battery(tmp_path_factory):
    root = tmp_path_factory.mktemp("awkward")
    album = root / "corpus" / ALBUM[0] / ALBUM[1]
    processed = {
        "short": write_tone(album / "short.wav", seconds=0.3),
        "silent": write_tone(album / "silent.flac", seconds=4.0, amplitude=0.0),
        "unicode": write_tone(album / "Ünïcødé sóng 歌 with spaces.flac", seconds=3.0),
        "rate_8k": write_tone(album / "rate 8k.wav", rate=8000),
        "rate_96k": write_tone(album / "rate 96k.wav", rate=96000, seconds=3.0),
        "six_channels": write_tone(album / "surround.wav", channels=6, seconds=3.0),
        "pcm_u8": write_tone(album / "eight bit.wav", subtype="PCM_U8"),
        "float64": write_tone(album / "double.wav", subtype="DOUBLE"),
        "upper": write_tone(album / "SHOUTING.FLAC"),
        "ogg": write_tone(album / "vorbis.ogg", rate=22050),
        "mp3": write_tone(album / "lossy.mp3", rate=22050, channels=2),
    }
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
    }
    skipped["zero_bytes"].write_bytes(b"")
    skipped["text"].write_text("this is not audio at all\n" * 20)
    skipped["random"].write_bytes(np.random.default_rng(0).bytes(4096))

    (album / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0not really")
    (album / ".DS_Store").write_bytes(b"\x00\x01")
    (album / "folder.mp3").mkdir()

    out = root / "out"
    return root / "corpus", out, processed, skipped


@pytest.fixture(scope="module")
def result(battery):
    corpus, out, _, _ = battery
    capture = subprocess.run(
        [sys.executable, "-m", "singerid.preprocess", "--input", str(corpus), "--output", str(out),
         "--separator", "none", "--sampling-rate", "16000"],
        capture_output=True, text=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    report = json.loads((out / "preprocess_report.json").read_text(encoding="utf-8"))
    return capture, report


def _song_id(path):
    return f"{ALBUM[0]}/{ALBUM[1]}/{path.stem}"


def test_run_succeeds_despite_bad_files(result):
    capture, _ = result
    assert capture.returncode == 0, capture.stderr


@pytest.mark.parametrize("kind", ["short", "silent", "unicode", "rate_8k", "rate_96k", "six_channels",
                                  "pcm_u8", "float64", "upper", "ogg", "mp3", "m4a", "symlink", "truncated"])
def test_awkward_but_valid_files_are_processed(battery, result, kind):
    _, out, processed, _ = battery
    _, report = result
    song = report["songs"][_song_id(processed[kind])]
    assert song["status"] == "ok", song
    assert song["num_segments"] >= 1 and song["seconds_in"] > 0
    rows = load_from_disk(str(out))["train"].filter(lambda row: row == _song_id(processed[kind]), input_columns="song_id")
    assert rows.num_rows == song["num_segments"]
    audio = rows[0]["audio"]
    assert audio["sampling_rate"] == 16000 and len(audio["array"]) == 5 * 16000


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


@pytest.mark.parametrize("kind", ["zero_bytes", "text", "random"])
def test_bad_files_are_skipped_with_a_clear_error(battery, result, kind):
    _, _, _, skipped = battery
    capture, report = result
    song = report["songs"][_song_id(skipped[kind])]
    assert song["status"] == "skipped" and song["num_segments"] == 0
    assert song["error"]
    assert str(skipped[kind]) in capture.stderr
    assert f"{skipped[kind]}: {song['error']}" in capture.stderr


def test_non_audio_files_and_folders_are_ignored(result):
    _, report = result
    names = " ".join(report["songs"])
    assert "cover" not in names and "DS_Store" not in names and "folder" not in names
    assert report["summary"]["songs"] == 17


def test_all_files_bad_exits_non_zero_with_a_message(tmp_path):
    album = tmp_path / "corpus" / "a" / "b"
    album.mkdir(parents=True)
    (album / "x.mp3").write_text("text")
    (album / "y.wav").write_bytes(b"")
    capture = subprocess.run([sys.executable, "-m", "singerid.preprocess", "--input", str(tmp_path / "corpus"),
                              "--output", str(tmp_path / "out"), "--separator", "none"],
                             capture_output=True, text=True)
    assert capture.returncode != 0
    assert "none of 2 audio files could be decoded" in capture.stderr
