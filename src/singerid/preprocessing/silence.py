"""Silence removal: unsilence's detector finds the quiet spans, numpy cuts them out.

The reference sped silent parts up instead of deleting them; we delete them, so a
segment holds singing only.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf


def audible_intervals(
    wav: np.ndarray, sampling_rate: int, threshold_db: float = -35.0, min_silence_seconds: float = 0.5
) -> list[tuple[float, float]]:
    """`(start_s, end_s)` of the parts of a mono signal louder than `threshold_db` (dBFS).

    Quiet stretches shorter than `min_silence_seconds` count as audible.
    """
    # The module-level detector, not the `Unsilence` class: the class registers an
    # exit hook that deletes a `.tmp` folder in the current directory.
    with warnings.catch_warnings():  # unsilence still imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        from unsilence.lib.detect_silence.DetectSilence import detect_silence

    duration = len(wav) / sampling_rate
    with tempfile.TemporaryDirectory(prefix="singerid-silence-") as tmp:
        path = Path(tmp, "vocals.wav").absolute()  # our own name, absolute: ffmpeg reads no protocol in it
        sf.write(path, wav, sampling_rate, subtype="FLOAT")
        intervals = detect_silence(
            path,
            silence_level=threshold_db,
            silence_time_threshold=min_silence_seconds,
            short_interval_threshold=0.0,  # keep every audible bit, however short
            stretch_time=0.0,  # cut exactly at the detector's boundaries
        )
    spans = []
    for interval in intervals.intervals:
        start, end = max(0.0, interval.start), min(duration, interval.end or duration)
        if not interval.is_silent and end > start:
            spans.append((start, end))
    return spans


def keep_intervals(wav: np.ndarray, sampling_rate: int, spans: list[tuple[float, float]]) -> np.ndarray:
    """Concatenate the given `(start_s, end_s)` spans of a mono signal."""
    pieces = [wav[round(start * sampling_rate) : round(end * sampling_rate)] for start, end in spans]
    return np.concatenate(pieces) if pieces else wav[:0]


def loudest_window(wav: np.ndarray, length: int) -> np.ndarray:
    """The `length`-sample stretch with the most energy (the whole signal if shorter)."""
    start, end = loudest_window_span(wav, length)
    return wav[start:end]


def loudest_window_span(wav: np.ndarray, length: int) -> tuple[int, int]:
    """`(start, end)` samples of `loudest_window`."""
    if len(wav) <= length:
        return 0, len(wav)
    energy = np.concatenate([[0.0], np.cumsum(wav.astype(np.float64) ** 2)])
    start = int(np.argmax(energy[length:] - energy[:-length]))
    return start, start + length


def original_spans(kept: list[tuple[float, float]], sampling_rate: int, start: int, end: int
                   ) -> list[tuple[float, float]]:
    """Where samples `start:end` of `keep_intervals(wav, sampling_rate, kept)` came from:
    `(start_s, end_s)` spans of `wav`, in order; several when the range crosses a cut."""
    spans, offset = [], 0
    for kept_start, kept_end in kept:
        first, last = round(kept_start * sampling_rate), round(kept_end * sampling_rate)
        size = max(0, last - first)
        low, high = max(start, offset), min(end, offset + size)
        if low < high:
            spans.append(((first + low - offset) / sampling_rate, (first + high - offset) / sampling_rate))
        offset += size
        if offset >= end:
            break
    return spans


def removed_spans(kept: list[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    """The parts of `[0, duration]` seconds outside the `kept` spans (sorted, not overlapping)."""
    removed, position = [], 0.0
    for start, end in kept:
        if start > position:
            removed.append((position, start))
        position = max(position, end)
    if duration > position:
        removed.append((position, duration))
    return removed
