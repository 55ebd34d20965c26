"""One song through the stages: decode → separate → remove silence → segment.

`SongPreprocessor` is shared by dataset building and prediction, so a song is prepared
the same way for both (`prepare`). Whatever goes wrong with one song becomes a
`SongError` naming the file, the stage and the reason; callers record it and go on.

The expensive stage, separation, is cached on disk per song, keyed by the file's
content and what shapes the result (the separator and its weights' digest, never their
path; the dtype of a half-precision run), so an interrupted run resumes where it stopped
and a changed file at the same path is never served stale work.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from ..audio import decode_windows, downmix, resample, resample_windows, zero_non_finite
from ..digests import file_digest
from ..errors import SongError, song_error
from ..models.singer.segments import cut_segments, plan_segments
from .config import PreprocessConfig
from . import tracks
from .silence import audible_intervals_in_file, loudest_span_of_windows, original_spans
from .tracks import Track, write_track

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    root = os.environ.get("SINGERID_CACHE") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "singerid")
    return Path(root)


@dataclass
class PreparedSong:
    """A song after decoding, separation and silence removal, ready to cut or classify.

    Its audio stays on disk (`track`): the cleaned audio is read span by span, so a song of
    any length costs the memory of what is read at once. `discard` deletes a scratch track
    once the song is used."""

    seconds_in: float  # the decoded (separated) audio's length
    track: Track  # the decoded (separated) audio: mono, at the config's rate
    nothing_audible: bool = False  # silence removal left nothing: the loudest window was kept
    notes: list[str] = field(default_factory=list)  # what was repaired on the way
    # `(start_s, end_s)` spans of the decoded (separated) audio whose samples, concatenated
    # in order, are the cleaned audio (on sample boundaries): the audible parts; with silence
    # removal off, the whole song; when nothing is audible, the loudest window.
    # `silence.original_spans` maps samples of the cleaned audio back to the song's seconds.
    kept_spans: list[tuple[float, float]] = field(default_factory=list)

    @property
    def cleaned_length(self) -> int:
        """Samples of the cleaned audio."""
        rate = self.track.sampling_rate
        return sum(round(end * rate) - round(start * rate) for start, end in self.kept_spans)

    def read_cleaned(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """Samples `start:end` of the cleaned audio (clipped to it), read from the track where
        `silence.original_spans` says they lie."""
        rate = self.track.sampling_rate
        end = self.cleaned_length if end is None else end
        pieces = [self.track.read(round(first * rate), round(last * rate))
                  for first, last in original_spans(self.kept_spans, rate, start, end)]
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    @property
    def cleaned(self) -> np.ndarray:
        """The whole cleaned audio, in memory: for short songs (long ones: `read_cleaned`)."""
        return self.read_cleaned()

    def discard(self) -> None:
        self.track.discard()


class SongPreprocessor:
    """Turns song files into cleaned mono vocals and fixed-length segments.

    `demucs_repo`: a local folder with the separator's weights; without it they come
    from demucs's and torch hub's caches, or a download where the machine is online.
    `max_duration_minutes`: a longer song is that song's `SongError` (see `audio.decode`);
    a run option, not part of the recorded config.
    """

    def __init__(self, config: PreprocessConfig, cache_dir: str | Path | None = None, device: str | None = None,
                 demucs_repo: str | Path | None = None, load_separator: bool = True,
                 max_duration_minutes: float | None = None):
        if max_duration_minutes is not None and not max_duration_minutes > 0:
            raise ValueError(f"max_duration_minutes {max_duration_minutes}: give a positive number of minutes")
        self.max_duration_minutes = max_duration_minutes
        self.scratch_dir: Path | None = None  # where scratch tracks go (None: the system's temporary folder)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.seconds = defaultdict(float)  # time per stage, for throughput reports
        self.notes: dict[str, list[str]] = defaultdict(list)  # per song path, until `prepare` hands them out
        self.separator = None
        if config.uses_separator and load_separator:
            from .separation import VocalSeparator

            self.separator = VocalSeparator(config.separator, repo=demucs_repo, device=device,
                                            half=config.separator_half)
            if config.separator_weights not in (None, self.separator.weights):
                logger.warning("the %s weights found here (%s) differ from those recorded (%s): results may differ",
                               config.separator, self.separator.weights, config.separator_weights)
        # What is recorded beside the results, and keys the cache: the weights used.
        self.config = replace(config, separator_weights=self.separator.weights if self.separator else
                              config.separator_weights if config.uses_separator else None)
        # The rate and channels the separator takes, and the dtype it computes in (set by the
        # main process for its workers).
        self.mix_format = (self.separator.sampling_rate, self.separator.channels) if self.separator else None
        self.separator_dtype = self.separator.dtype if self.separator else None

    # -- the whole song ------------------------------------------------------------------
    def prepare(self, path: str | Path) -> PreparedSong:
        """Decode, separate and remove silence; a song with nothing audible keeps its
        loudest segment-long window, so every decodable song can be segmented. The song's
        `kept_spans` say which seconds of its `track` the cleaned audio holds. The caller
        `discard`s the song once used."""
        track = self.track(path)
        try:
            rate = self.config.sampling_rate
            with self._stage("silence", path):
                kept = self.audible_spans(track)
            song = PreparedSong(track.seconds, track, notes=self.notes.pop(str(path), []), kept_spans=kept)
            if not song.cleaned_length:
                song.nothing_audible = True
                start, end = loudest_span_of_windows(track.windows(), round(self.config.segment_seconds * rate))
                song.kept_spans = [(start / rate, end / rate)] if end > start else []
                song.notes.append("nothing audible after silence removal: kept the loudest segment-long window")
            return song
        except BaseException:
            track.discard()
            raise

    # -- stage 1 + 2: decode and separate (cached) --------------------------------------
    def track(self, path: str | Path) -> Track:
        """Mono vocals at the target rate on disk (the whole mix when there is no separator):
        the separation cache's file, or a scratch copy of the decoded song (`temporary`),
        written window by window."""
        if not self.config.uses_separator:
            rate = self.config.sampling_rate
            handle, scratch = tempfile.mkstemp(prefix="singerid-song-", suffix=".wav", dir=self.scratch_dir)
            os.close(handle)
            try:
                with self._stage("decode", path):
                    return write_track(scratch, self._decoded(path, rate, channels=1), rate, temporary=True)
            except BaseException:
                Path(scratch).unlink(missing_ok=True)
                raise
        errors = self.separate([path])
        if errors:
            raise errors[str(path)]
        with self._stage("cache_read", path):
            cached = self._cache_path(path)
            return Track(cached, self.config.sampling_rate, sf.info(cached).frames)

    def vocals(self, path: str | Path) -> np.ndarray:
        """`track`'s samples, in memory: for short songs."""
        track = self.track(path)
        try:
            return track.read()
        finally:
            track.discard()

    def separate(self, paths: list[str | Path], mixes: list | None = None) -> dict[str, SongError]:
        """Separate a batch of songs unless all are cached; returns the songs that failed.
        `mixes`: each song's `decode_mix` (or its `SongError`), when decoded elsewhere.

        The batch is the unit (a stem's last window depends on its batch), so a batch with
        any song missing is separated whole: a resumed run then writes what an
        uninterrupted run would have. A batch that fails is retried one song at a time,
        so one bad song costs only itself. A song longer than a window is separated alone,
        as a stream (`VocalSeparator.vocals_windows`): its stem is the same.
        """
        if all(self.is_cached(path) for path in paths):
            return {}
        if self.separator is None:  # a worker process: separation is the main process's
            return {str(path): SongError(path, "not separated yet") for path in paths}
        todo, decoded, errors = [], [], {}
        for index, path in enumerate(paths):
            try:
                mix = self.decode_mix(path) if mixes is None else _raise_error(mixes[index])
            except SongError as error:
                errors[str(path)] = error
                continue
            if mix is None:
                errors |= self._separate_streamed(path)
            else:
                todo.append(path)
                decoded.append(mix)
        mixes = decoded
        if len(todo) > 1:
            try:
                with self._stage("separate", todo[0]):
                    stems = self.separator.vocals_batch(mixes)
            except SongError:
                for path, mix in zip(todo, mixes):
                    errors |= self._separate_one(path, mix)
                return errors
            for path, stem in zip(todo, stems):
                self._store(path, stem)
        elif todo:
            errors |= self._separate_one(todo[0], mixes[0])
        return errors

    def decode_mix(self, path: str | Path) -> np.ndarray | None:
        """The song as the separator takes it; None for a song longer than a window, which
        `separate` streams from its file instead."""
        with self._stage("decode", path):
            windows = self._decoded(path, *self.mix_format)
            mix = next(windows)
            if next(windows, None) is not None:
                windows.close()  # ends ffmpeg
                return None
        return mix

    def _separate_streamed(self, path) -> dict[str, SongError]:
        """Separate one song window by window into its cache file, reading its mix twice
        (`VocalSeparator.vocals_windows`); its stem is what `_store` writes of the whole."""
        rate, mix_rate = self.config.sampling_rate, self.mix_format[0]
        try:
            with self._stage("separate", path):
                stems = self.separator.vocals_windows(lambda: self._decoded(path, *self.mix_format),
                                                      tracks.WINDOW_SECONDS)
                vocals = resample_windows((downmix(stem) for stem in stems), mix_rate, rate)
                write_track(self._cache_path(path), vocals, rate, subtype="PCM_24")
        except SongError as error:
            return {str(path): error}
        return {}

    def _separate_one(self, path, mix) -> dict[str, SongError]:
        try:
            with self._stage("separate", path):
                self._store(path, self.separator.vocals_batch([mix])[0])
        except SongError as error:
            return {str(path): error}
        return {}

    def _store(self, path, stem: np.ndarray) -> None:
        vocals = resample(downmix(stem), self.mix_format[0], self.config.sampling_rate)
        write_track(self._cache_path(path), [vocals], self.config.sampling_rate, subtype="PCM_24")

    def _decoded(self, path, sampling_rate: int, channels: int) -> Iterator[np.ndarray]:
        """The song's samples `WINDOW_SECONDS` at a time (`audio.decode_windows`), non-finite
        samples zeroed and counted in the song's notes."""
        replaced = 0
        for window in decode_windows(path, sampling_rate, channels, tracks.WINDOW_SECONDS, self.max_duration_minutes):
            window, count = zero_non_finite(window)
            replaced += count
            yield window[0] if channels == 1 else window
        note = f"{replaced} non-finite samples (NaN or ±Inf) replaced by zeros"
        if replaced and note not in self.notes[str(path)]:  # a song streamed twice is noted once
            self.notes[str(path)].append(note)

    def is_cached(self, path: str | Path) -> bool:
        if not self.config.uses_separator:
            return False
        try:
            return self._cache_path(path).is_file()
        except OSError:  # missing or unreadable: decoding will say what is wrong with it
            return False

    # -- stage 3: silence ----------------------------------------------------------------
    def audible_spans(self, track: Track) -> list[tuple[float, float]]:
        """`(start_s, end_s)` of the track's audible parts, on sample boundaries, in order (the
        whole of it when silence removal is off), found by ffmpeg reading the track's file."""
        rate = self.config.sampling_rate
        whole = [(0.0, track.seconds)] if track.num_samples else []
        # Audio shorter than the shortest silence that is cut holds nothing to cut (and
        # unsilence's detector fails on a few milliseconds).
        if not self.config.remove_silence or track.num_samples < self.config.min_silence_seconds * rate:
            return whole
        spans = audible_intervals_in_file(Path(track.path).absolute(), track.seconds, self.config.silence_db,
                                          self.config.min_silence_seconds)
        # On samples, so the spans say exactly what the cleaned audio holds.
        spans = [(round(start * rate), min(round(end * rate), track.num_samples)) for start, end in spans]
        return [(start / rate, end / rate) for start, end in spans if end > start]

    # -- stage 4: segments ---------------------------------------------------------------
    def segment_spans(self, num_samples: int) -> list[tuple[int, int]]:
        rate = self.config.sampling_rate
        return plan_segments(
            num_samples,
            length=round(self.config.segment_seconds * rate),
            hop=round(self.config.hop_seconds * rate),
            min_tail=round(self.config.min_segment_seconds * rate),
        )

    def segments(self, song: PreparedSong) -> Iterator[tuple[np.ndarray, tuple[int, int]]]:
        """Each segment of a song's cleaned audio (zero-padded past its end) and its `(start,
        end)` samples there, read one at a time."""
        for start, end in self.segment_spans(song.cleaned_length):
            yield cut_segments(song.read_cleaned(start, end), [(0, end - start)])[0], (start, end)

    # -- cache ---------------------------------------------------------------------------
    def _cache_path(self, path: str | Path) -> Path:
        params = {
            "separator": self.config.separator,
            "weights": self.config.separator_weights,
            "sampling_rate": self.config.sampling_rate,
            "format": 2,  # bump when the cached content changes meaning
        }
        if self.config.separator_half:  # only then: full-precision caches keep their keys
            # The dtype, not just "half": a CPU's bfloat16 stems are no GPU's float16 ones.
            params["dtype"] = self.separator_dtype
        key = hashlib.sha256((file_digest(path) + json.dumps(params, sort_keys=True)).encode()).hexdigest()
        return self.cache_dir / "vocals" / key[:2] / f"{key}.flac"

    @contextmanager
    def _timed(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start

    @contextmanager
    def _stage(self, stage: str, path: str | Path):
        """Timed, and whatever fails in it is this song's `SongError`."""
        try:
            with self._timed(stage):
                yield
        except SongError:
            raise
        except Exception as error:
            raise song_error(path, error, stage) from error


def _raise_error(outcome):
    """`outcome` itself, unless it is a `SongError`, which is raised."""
    if isinstance(outcome, SongError):
        raise outcome
    return outcome
