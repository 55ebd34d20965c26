"""A song of any length in flat memory: decoding, separation, silence removal and
classification go window by window. Small windows forced on short songs give what one
window (the whole song) gives; a 30-minute song peaks where a 5-minute one does."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import load_from_disk

from helpers import make_album_corpus, write_tone
from singerid import SingerClassifier, predict_songs
from singerid.audio import decode, decode_windows, resample, resample_windows
from singerid.preprocessing import PreprocessConfig, SongPreprocessor, preprocess_corpus, tracks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from long_recordings import peak_memory_mb, write_recording  # noqa: E402

SMALL_WINDOW = 2.0  # seconds: the songs below are 7 to 13 s long


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A random tiny classifier that tells these songs apart, removing silence, no separator."""
    torch.manual_seed(5)
    model = SingerClassifier.from_backbone("tiny-mert", id2label={0: "ann", 1: "bob", 2: "cat", 3: "dan"})
    model.config.preprocessing = {"separator": "none", "remove_silence": True, "silence_db": -35.0,
                                  "min_silence_seconds": 0.5, "sampling_rate": 24000}
    folder = tmp_path_factory.mktemp("model")
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    root = tmp_path_factory.mktemp("songs")
    return [write_tone(root / "gaps.flac", seconds=13.0, rate=44100, channels=2, freq=180.0,
                       silent_spans=((2.0, 3.5), (6.0, 6.2), (9.0, 11.0))),
            write_tone(root / "plain.mp3", seconds=7.3, rate=22050, freq=300.0),
            write_tone(root / "short.wav", seconds=3.0, rate=16000, freq=240.0)]


def _predict(songs, model, **options):
    return predict_songs(songs, str(model), top_k=4, progress=False, workers=1, timeline=True, embeddings=True,
                         **options)


def test_windows_join_into_the_whole_decoded_and_resampled_song(songs):
    for path, rate, channels in [(songs[0], 44100, 2), (songs[0], 24000, 1), (songs[1], 16000, 1)]:
        windows = list(decode_windows(path, rate, channels, window_seconds=SMALL_WINDOW))
        assert len(windows) > 2
        np.testing.assert_array_equal(np.concatenate(windows, axis=-1), decode(path, rate, channels))
    mono = decode(songs[0], 44100, 1)[0]
    pieces = [mono[start : start + 30000] for start in range(0, len(mono), 30000)]
    np.testing.assert_array_equal(np.concatenate(list(resample_windows(pieces, 44100, 24000))),
                                  resample(mono, 44100, 24000))


def test_small_windows_predict_what_the_whole_song_does(songs, model_dir, monkeypatch):
    whole = _predict(songs, model_dir)
    monkeypatch.setattr(tracks, "WINDOW_SECONDS", SMALL_WINDOW)
    windowed = _predict(songs, model_dir)
    for one, other in zip(whole, windowed):
        assert one.error is None and other.error is None
        assert one.labels == other.labels
        np.testing.assert_allclose(one.scores, other.scores, atol=1e-5)
        np.testing.assert_allclose(one.embedding, other.embedding, atol=1e-5)
        np.testing.assert_allclose(one.timeline.probabilities, other.timeline.probabilities, atol=1e-5)
        assert one.timeline.spans == other.timeline.spans and one.timeline.removed == other.timeline.removed
    assert len(whole[0].timeline.removed) == 2  # the gaps over 0.5 s were cut, the same way


def test_chunks_read_from_disk_equal_the_models_forward_on_the_whole_cleaned_song(songs, model_dir):
    """The streamed path against the model's own: the whole cleaned song in one forward."""
    model = SingerClassifier.from_pretrained(model_dir).eval()
    preprocessor = SongPreprocessor(PreprocessConfig(**model.config.preprocessing))
    predictions = _predict(songs, model_dir)
    for path, prediction in zip(songs, predictions):
        song = preprocessor.prepare(path)
        cleaned = song.cleaned
        song.discard()
        with torch.inference_mode():
            outputs = model(torch.from_numpy(cleaned)[None], input_lengths=[len(cleaned)], output_embeddings=True)
        probabilities = outputs.logits[0].exp()
        np.testing.assert_allclose(prediction.scores, probabilities.sort(descending=True).values.numpy(), atol=1e-5)
        np.testing.assert_allclose(prediction.embedding, outputs.embeddings[0].numpy(), atol=1e-5)


def test_small_windows_give_the_same_segments(tmp_path, monkeypatch):
    corpus = make_album_corpus(tmp_path / "corpus", artists=2, albums=3, seconds=9.0)
    config = PreprocessConfig(sampling_rate=16000, separator="none")
    preprocess_corpus(corpus, tmp_path / "whole", config, workers=1)
    monkeypatch.setattr(tracks, "WINDOW_SECONDS", SMALL_WINDOW)
    preprocess_corpus(corpus, tmp_path / "windowed", config, workers=1)
    whole, windowed = load_from_disk(str(tmp_path / "whole")), load_from_disk(str(tmp_path / "windowed"))
    for split in whole:
        assert whole[split].num_rows == windowed[split].num_rows > 0
        for one, other in zip(whole[split], windowed[split]):
            assert (one["song_id"], one["start_s"], one["end_s"]) == (other["song_id"], other["start_s"],
                                                                      other["end_s"])
            np.testing.assert_array_equal(one["audio"]["array"], other["audio"]["array"])


def test_a_song_separated_window_by_window_has_the_whole_songs_vocals(tmp_path, demucs_repo, monkeypatch):
    song = write_tone(tmp_path / "song.flac", seconds=11.0, rate=44100, channels=2, silent_spans=((4.0, 5.0),))
    config = PreprocessConfig(sampling_rate=24000, separator="tiny_htdemucs")
    whole = SongPreprocessor(config, cache_dir=tmp_path / "whole", demucs_repo=demucs_repo).vocals(song)
    monkeypatch.setattr(tracks, "WINDOW_SECONDS", SMALL_WINDOW)
    preprocessor = SongPreprocessor(config, cache_dir=tmp_path / "windowed", demucs_repo=demucs_repo)
    assert preprocessor.decode_mix(song) is None  # longer than a window: streamed from the file
    windowed = preprocessor.vocals(song)
    assert windowed.shape == whole.shape
    noise = np.sum((windowed - whole).astype(np.float64) ** 2)
    snr = np.inf if noise == 0 else 10 * np.log10(np.sum(whole.astype(np.float64) ** 2) / noise)
    assert snr >= 40.0, snr
    # the same cache key: streaming changes how a stem is made, not what it is
    assert sorted(p.name for p in (tmp_path / "whole").rglob("*.flac")) == \
        sorted(p.name for p in (tmp_path / "windowed").rglob("*.flac"))


def test_a_30_minute_song_peaks_where_a_5_minute_one_does(tmp_path, model_dir):
    peaks = {}
    for minutes in (5, 30):
        song = write_recording(tmp_path / f"{minutes}min.flac", minutes, rate=16000, channels=1)
        peaks[minutes] = peak_memory_mb(["predict", "--model", str(model_dir), "--input", str(song),
                                         "--output", str(tmp_path / f"{minutes}.csv"), "--workers", "1",
                                         "--timeline", str(tmp_path / f"timeline{minutes}")])
    assert peaks[30] <= 1.2 * peaks[5], peaks
    rows = {minutes: (tmp_path / f"timeline{minutes}" / f"{minutes}min.csv").read_text().count("\n")
            for minutes in peaks}
    assert rows[30] > 5 * rows[5] > 5 * 40  # every chunk of the song is on its timeline
