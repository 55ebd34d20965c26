"""Silence removal against the known sung spans of the demo corpus's vocal stems."""

import numpy as np
import pytest
import soundfile as sf

from singerid.recipes.demo_corpus import read_spans, synthesize_corpus
from singerid.preprocessing.silence import audible_intervals, keep_intervals, loudest_window

FRAME = 0.01  # seconds


def _mask(spans, duration):
    frames = np.zeros(int(duration / FRAME), dtype=bool)
    for start, end in spans:
        frames[int(start / FRAME) : int(end / FRAME)] = True
    return frames


@pytest.fixture(scope="module")
def stems(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    synthesize_corpus(root, seed=3, singers=2, albums=1, songs=2, seconds=25.0, sampling_rate=16000,
                      channels=1, progress=False)
    return sorted((root / "_stems").glob("*/*/*"))


def test_detected_audio_matches_the_sung_spans(stems):
    assert len(stems) == 4
    for stem in stems:
        wav, rate = sf.read(stem / "vocals.flac", dtype="float32")
        truth = read_spans(stem)
        duration = len(wav) / rate
        sung = _mask(truth, duration)
        detected = _mask(audible_intervals(wav, rate, threshold_db=-35, min_silence_seconds=0.5), duration)
        assert detected[sung].mean() > 0.97, stem  # singing is kept
        # Silences long enough to be cut (0.5 s plus the detector's edges) are removed.
        gaps = zip([0.0] + [end for _, end in truth], [start for start, _ in truth] + [duration])
        gaps = [(start, end) for start, end in gaps if end - start >= 1.0]
        inside_gaps = _mask([(a + 0.1, b - 0.1) for a, b in gaps], duration)
        assert inside_gaps.any(), stem
        assert (~detected[inside_gaps]).mean() > 0.9, stem


def test_cutting_keeps_only_the_audible_parts():
    rate = 1000
    wav = np.arange(10 * rate, dtype=np.float32)
    kept = keep_intervals(wav, rate, [(1.0, 2.0), (5.0, 5.5)])
    assert len(kept) == 1500
    assert kept[0] == 1000 and kept[1000] == 5000


def test_loudest_window_finds_the_loud_part():
    wav = np.zeros(1000, dtype=np.float32)
    wav[600:700] = 1.0
    window = loudest_window(wav, 100)
    assert window.sum() == 100
    assert len(loudest_window(wav[:50], 100)) == 50
