"""Song length limits: `predict --max_duration_minutes` (off by default) refuses a song
longer than the limit as that song's error, from its header before decoding, or, where the
header gives no length, by decoding only up to the limit."""

from __future__ import annotations

import subprocess

import pytest

from helpers import ranked_model, write_tone

from singerid.audio import AudioDecodeError, decode
from singerid.commands.predict import main as predict_main
from singerid.prediction import predict_songs

PREPROCESSING = {"separator": "none", "remove_silence": False, "segment_seconds": 5.0, "sampling_rate": 24000}
LIMIT_MINUTES = 0.1  # 6 s: the long songs here are 18 s and 60 s
RATE = 24000


def _headerless_flac(path, seconds: int):
    """A FLAC that ffmpeg wrote to a pipe: it could not seek back to fill in the length."""
    command = ["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
               f"sine=frequency=220:duration={seconds}:sample_rate=16000", "-c:a", "flac", "-f", "flac", "pipe:1"]
    path.write_bytes(subprocess.run(command, capture_output=True, check=True).stdout)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    ranked_model(PREPROCESSING).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    return {"long": write_tone(root / "long.wav", seconds=18.0), "short": write_tone(root / "short.wav", seconds=4.0),
            "stream": _headerless_flac(root / "stream.flac", seconds=60)}


def test_the_stream_has_no_length_in_its_header(songs):
    from torchcodec.decoders import AudioDecoder

    metadata = AudioDecoder(str(songs["stream"])).metadata
    assert metadata.duration_seconds is None and metadata.duration_seconds_from_header is None


def test_a_song_over_the_limit_is_its_own_error_and_the_next_is_answered(model_dir, songs):
    paths = [songs["long"], songs["short"], songs["stream"]]
    # Two workers: the limit travels with the preprocessor into the worker processes.
    long, short, stream = predict_songs(paths, str(model_dir), max_duration_minutes=LIMIT_MINUTES, workers=2,
                                        progress=False)
    assert long.error is not None and "0.3 minutes long: over the length limit of 0.1 minutes" in long.error
    assert short.error is None and short.labels
    assert stream.error is not None and "over the length limit of 0.1 minutes" in stream.error
    assert "its header gives no length" in stream.error
    # Off by default: the same long song is answered.
    assert predict_songs([songs["long"]], str(model_dir), workers=1, progress=False)[0].error is None


def test_a_stream_without_a_header_length_is_decoded_only_up_to_the_limit(songs, monkeypatch):
    from torchcodec.decoders import AudioDecoder

    decoded = []  # samples each decoding call returned
    for name in ("get_all_samples", "get_samples_played_in_range"):
        original = getattr(AudioDecoder, name)

        def spy(self, *args, _original=original, **kwargs):
            samples = _original(self, *args, **kwargs)
            decoded.append(samples.data.shape[-1])
            return samples

        monkeypatch.setattr(AudioDecoder, name, spy)
    with pytest.raises(AudioDecodeError, match=r"stream\.flac: over the length limit of 0\.1 minutes"):
        decode(songs["stream"], RATE, max_duration_minutes=LIMIT_MINUTES)
    assert decoded and max(decoded) <= (LIMIT_MINUTES * 60 + 1) * RATE  # stopped at the limit, not at 60 s
    decoded.clear()
    wav = decode(songs["stream"], RATE, max_duration_minutes=2)  # under the limit: all of it
    assert abs(wav.shape[-1] - 60 * RATE) <= RATE // 10 and max(decoded) == wav.shape[-1]


def test_predict_takes_the_limit_on_the_command_line(model_dir, songs, tmp_path):
    output = tmp_path / "answers.csv"
    assert predict_main(["--model", str(model_dir), "--input", str(songs["long"]), str(songs["short"]),
                         "--output", str(output), "--workers", "1", "--max_duration_minutes", "0.1"]) == 0
    assert [row.split(",")[0] for row in output.read_text().splitlines()] == ["short"]
    errors = (tmp_path / "answers.errors.tsv").read_text()
    assert "long.wav" in errors and "0.3 minutes long: over the length limit of 0.1 minutes" in errors
