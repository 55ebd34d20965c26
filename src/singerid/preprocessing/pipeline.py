"""One song through the stages: decode → separate → remove silence → segment.

`SongPreprocessor` is shared by dataset building and prediction. The expensive stage,
separation, is cached on disk per song, keyed by the file's content and the
parameters that shape the result, so an interrupted run resumes where it stopped and a
changed file at the same path is never served stale work.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from ..audio import AudioDecodeError, decode, downmix, load_mono, resample
from .config import PreprocessConfig
from ..segments import cut_segments, plan_segments
from .silence import audible_intervals, keep_intervals, loudest_window


def default_cache_dir() -> Path:
    root = os.environ.get("SINGERID_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "singerid")
    return Path(root)


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's content (remembered while its size and mtime stay the same)."""
    stat = Path(path).stat()
    return _digest(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=4096)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SongPreprocessor:
    """Turns song files into cleaned mono vocals and fixed-length segments."""

    def __init__(self, config: PreprocessConfig, cache_dir: str | Path | None = None, device: str | None = None):
        self.config = config
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.seconds = defaultdict(float)  # wall time per stage, for throughput reports
        self.separator = None
        if config.uses_separator:
            from .separation import VocalSeparator

            self.separator = VocalSeparator(config.separator, repo=config.demucs_repo, device=device)

    # -- stage 1 + 2: decode and separate (cached) --------------------------------------
    def vocals(self, path: str | Path) -> np.ndarray:
        """Mono vocals at the target rate (the whole mix when there is no separator)."""
        if self.separator is None:
            with self._timed("decode"):
                return load_mono(path, self.config.sampling_rate)
        errors = self.separate([path])
        if errors:
            raise errors[str(path)]
        with self._timed("cache_read"):
            return sf.read(self._cache_path(path), dtype="float32")[0]

    def separate(self, paths: list[str | Path]) -> dict[str, AudioDecodeError]:
        """Separate a batch of songs unless all are cached; returns the undecodable ones.

        The batch is the unit (a stem's last window depends on its batch), so a batch with
        any song missing is separated whole: a resumed run then writes what an
        uninterrupted run would have.
        """
        todo, mixes, errors = [], [], {}
        if all(self.is_cached(path) for path in paths):
            return errors
        for path in paths:
            try:
                with self._timed("decode"):
                    mixes.append(decode(path, self.separator.sampling_rate, self.separator.channels))
                todo.append(path)
            except AudioDecodeError as error:
                errors[str(path)] = error
        if not todo:
            return errors
        with self._timed("separate"):
            stems = self.separator.vocals_batch(mixes)
        for path, stem in zip(todo, stems):
            vocals = resample(downmix(stem), self.separator.sampling_rate, self.config.sampling_rate)
            self._write_atomically(self._cache_path(path), vocals)
        return errors

    def is_cached(self, path: str | Path) -> bool:
        return self.separator is not None and self._cache_path(path).is_file()

    # -- stage 3: silence ----------------------------------------------------------------
    def audible(self, vocals: np.ndarray) -> np.ndarray:
        """The audible parts (all of it when silence removal is off); may be empty."""
        if not self.config.remove_silence:
            return vocals
        with self._timed("silence"):
            rate = self.config.sampling_rate
            spans = audible_intervals(vocals, rate, self.config.silence_db, self.config.min_silence_seconds)
            return keep_intervals(vocals, rate, spans)

    def remove_silence(self, vocals: np.ndarray) -> np.ndarray:
        """The audible parts; the loudest segment-long window if nothing is audible,
        so an all-silent song still gets a segment."""
        cleaned = self.audible(vocals)
        if len(cleaned) == 0:
            cleaned = loudest_window(vocals, round(self.config.segment_seconds * self.config.sampling_rate))
        return cleaned

    # -- stage 4: segments ---------------------------------------------------------------
    def segment_spans(self, num_samples: int) -> list[tuple[int, int]]:
        rate = self.config.sampling_rate
        return plan_segments(
            num_samples,
            length=round(self.config.segment_seconds * rate),
            hop=round(self.config.hop_seconds * rate),
            min_tail=round(self.config.min_segment_seconds * rate),
        )

    def segments(self, cleaned: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
        spans = self.segment_spans(len(cleaned))
        return cut_segments(cleaned, spans), spans

    # -- cache ---------------------------------------------------------------------------
    def _cache_path(self, path: str | Path) -> Path:
        params = {
            "separator": self.config.separator,
            "demucs_repo": str(Path(self.config.demucs_repo).resolve()) if self.config.demucs_repo else None,
            "sampling_rate": self.config.sampling_rate,
            "format": 1,  # bump when the cached content changes meaning
        }
        key = hashlib.sha256((file_digest(path) + json.dumps(params, sort_keys=True)).encode()).hexdigest()
        return self.cache_dir / "vocals" / key[:2] / f"{key}.flac"

    def _write_atomically(self, path: Path, vocals: np.ndarray) -> None:
        # Write then rename, so a run killed mid-write never leaves a half file behind.
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.stem}.{os.getpid()}.partial.flac")
        sf.write(partial, np.clip(vocals, -1.0, 1.0), self.config.sampling_rate, subtype="PCM_24")
        os.replace(partial, path)

    @contextmanager
    def _timed(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start
