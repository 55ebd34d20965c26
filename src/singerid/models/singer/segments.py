"""Fixed-length segments: where they start, and cutting them out.

The same plan serves preprocessing (5 s training segments) and whole-song inference
(chunks inside the model), so a song is cut the same way in both places.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

# How long a segment (a model's chunk) may be: two minutes go through a backbone at once.
MAX_SEGMENT_SECONDS = 120.0
# How many segments may cover one sample (length / hop): overlap multiplies a song's memory and time.
MAX_OVERLAP = 16


def check_number(name: str, value, low: float, high: float, integer: bool = False, source: str | None = None,
                 unit: str = "") -> None:
    """Refuse a value (read from a file: `source`) unless it is a finite number (an int where
    `integer`) from `low` to `high`: one line naming the file, the field, the value and the range."""
    kind = numbers.Integral if integer else numbers.Real
    fits = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value) and low <= value <= high
    if not fits:
        what = "a whole number" if integer else "a number"
        bounds = f" from {low:g} to {high:g}{unit}" if math.isfinite(low) or math.isfinite(high) else ""
        raise ValueError(f"{source + ': ' if source else ''}{name} = {value!r}: must be a finite {what[2:]}{bounds}")


def check_spacing(names: tuple[str, str, str], length, hop, min_tail, shortest: float,
                  source: str | None = None) -> None:
    """Check a segment length, hop and shortest tail (seconds) as `check_number` does: the
    length from `shortest` (one frame of the backbone) to `MAX_SEGMENT_SECONDS`, the hop from
    the length / `MAX_OVERLAP` (and one frame) to the length, the tail from 0 to the length."""
    check_number(names[0], length, shortest, MAX_SEGMENT_SECONDS, source=source, unit=" s")
    check_number(names[1], hop, max(shortest, length / MAX_OVERLAP), length, source=source, unit=" s")
    check_number(names[2], min_tail, 0, length, source=source, unit=" s")


def segment_spacing(length: float, hop: float | None = None, min_tail: float | None = None) -> tuple[float, float]:
    """`(hop, min_tail)` with their defaults: no overlap, and a tail kept from half a segment."""
    return (length if hop is None else hop), (length / 2 if min_tail is None else min_tail)


def plan_segments(num_samples: int, length: int, hop: int, min_tail: int) -> list[tuple[int, int]]:
    """`(start, end)` sample spans of fixed `length`, `hop` apart.

    The last span may run past `num_samples` (the caller pads it): a tail is kept
    when it holds at least `min_tail` real samples, and input no longer than one
    segment always gives exactly one span, so nothing is ever left without a segment.
    """
    if length <= 0 or hop <= 0:
        raise ValueError(f"segment length and hop must be positive, got {length} and {hop}")
    if num_samples <= length:
        return [(0, length)]
    spans = [(start, start + length) for start in range(0, num_samples - length + 1, hop)]
    tail_start = spans[-1][0] + hop
    if spans[-1][1] < num_samples and num_samples - tail_start >= max(min_tail, 1):
        spans.append((tail_start, tail_start + length))
    return spans


def cut_segments(wav: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Stack the spans of a 1-D signal into `[segments, length]`, zero-padding past its end."""
    length = spans[0][1] - spans[0][0]
    out = np.zeros((len(spans), length), dtype=np.float32)
    for row, (start, end) in zip(out, spans):
        piece = wav[start:min(end, len(wav))]
        row[: len(piece)] = piece
    return out
