"""A song's mono audio at the model's rate, on disk: written window by window, read back
span by span, so a song of any length passes through in memory of one window.

Decoding (or separation, into its cache) writes the track as the samples come; silence
detection reads the file; segments and chunks are read back one at a time, through the
kept spans, as `SongPreprocessor.prepare` describes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf

# How much of a song is decoded, separated or read at once: the unit of a song's memory.
WINDOW_SECONDS = 60.0


@dataclass
class Track:
    """A mono float32 audio file of `num_samples` at `sampling_rate`; `temporary` ones
    (scratch copies of a decoded song) are deleted by `discard` once used."""

    path: Path
    sampling_rate: int
    num_samples: int
    temporary: bool = False

    @property
    def seconds(self) -> float:
        return self.num_samples / self.sampling_rate

    def read(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """Samples `start:end` (clipped to the track)."""
        end = self.num_samples if end is None else min(end, self.num_samples)
        if end <= start:
            return np.zeros(0, dtype=np.float32)
        with sf.SoundFile(self.path) as file:
            file.seek(start)
            return file.read(end - start, dtype="float32")

    def windows(self, samples: int | None = None) -> Iterator[np.ndarray]:
        """The whole track, `samples` (default: a `WINDOW_SECONDS` window) at a time."""
        step = samples or max(1, round(WINDOW_SECONDS * self.sampling_rate))
        with sf.SoundFile(self.path) as file:
            while len(block := file.read(step, dtype="float32")):
                yield block

    def discard(self) -> None:
        if self.temporary:
            self.path.unlink(missing_ok=True)


def write_track(path: str | Path, windows: Iterable[np.ndarray], sampling_rate: int, subtype: str = "FLOAT",
                temporary: bool = False) -> Track:
    """A `Track` of the mono `windows`, written one at a time; through a partial file renamed
    at the end, so a run killed mid-write never leaves a half track behind (the separation
    cache's are read by later runs). `subtype`: libsndfile's sample format (the cache keeps
    PCM_24 FLAC, where samples are clipped to [-1, 1]). If `windows` raises, nothing is left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    count = 0
    try:
        with sf.SoundFile(partial, "w", samplerate=sampling_rate, channels=1, subtype=subtype) as file:
            for window in windows:
                file.write(window if subtype == "FLOAT" else np.clip(window, -1.0, 1.0))
                count += len(window)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return Track(path, sampling_rate, count, temporary)
