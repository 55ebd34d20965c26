"""Silence removal: unsilence's detector finds the quiet spans, numpy cuts them out.

The reference sped silent parts up instead of deleting them; we delete them, so a
segment holds singing only.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf


def audible_intervals(
    wav: np.ndarray, sampling_rate: int, threshold_db: float = -35.0, min_silence_seconds: float = 0.5
) -> list[tuple[float, float]]:
    """`(start_s, end_s)` of the parts of a mono signal louder than `threshold_db` (dBFS).

    Quiet stretches shorter than `min_silence_seconds` count as audible.
    """
    with tempfile.TemporaryDirectory(prefix="singerid-silence-") as tmp:
        path = Path(tmp, "vocals.wav").absolute()  # our own name, absolute: ffmpeg reads no protocol in it
        sf.write(path, wav, sampling_rate, subtype="FLOAT")
        return audible_intervals_in_file(path, len(wav) / sampling_rate, threshold_db, min_silence_seconds)


def audible_intervals_in_file(path: Path, duration: float, threshold_db: float = -35.0,
                              min_silence_seconds: float = 0.5) -> list[tuple[float, float]]:
    """`audible_intervals` of a mono audio file of `duration` seconds, which ffmpeg reads as
    it goes: memory does not grow with the song. `path` must be absolute and singerid's own."""
    # The module-level detector, not the `Unsilence` class: the class registers an
    # exit hook that deletes a `.tmp` folder in the current directory.
    with warnings.catch_warnings():  # unsilence still imports the deprecated pkg_resources
        warnings.simplefilter("ignore")
        from unsilence.lib.detect_silence.DetectSilence import detect_silence

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
    return loudest_span_of_windows([wav], length)


def loudest_span_of_windows(windows: Iterable[np.ndarray], length: int) -> tuple[int, int]:
    """`loudest_window_span` of the signal `windows` join into, read window by window: the
    running energy is summed in the same order, so the answer is the same, in memory of
    `length` samples and a window."""
    best, best_start, total = -1.0, 0, 0
    energy = np.zeros(1)  # the running energy before each sample not yet `length` behind
    for window in windows:
        energy = np.concatenate([energy, energy[-1] + np.cumsum(window.astype(np.float64) ** 2)])
        total += len(window)
        if len(energy) > length:  # windows of `length` that end in what is read: their start's best
            sums = energy[length:] - energy[:-length]
            start = int(np.argmax(sums))
            if sums[start] > best:
                best, best_start = float(sums[start]), total - (len(energy) - 1) + start
            energy = energy[-length:]
    if total <= length:
        return 0, total
    return best_start, best_start + length


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
