"""From a folder of songs to a `datasets.DatasetDict` of 5 s vocal segments.

Copies of one recording are found first (`duplicates`) and kept in one split. Stage A
separates every song once (the cached, expensive part, shown with its own
progress bar), while worker processes decode the songs ahead of it; stage B streams
each split through silence removal (in the workers) and segmentation into Arrow with
`Dataset.from_generator`, so memory does not grow with the corpus.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from datasets import Audio, ClassLabel, Dataset, DatasetDict, Features, Value
from tqdm.auto import tqdm

from ..models import portable_name
from ..errors import SingeridError, SongError
from .config import PreprocessConfig
from .corpus import Song, find_songs
from .duplicates import DuplicateGroup, duplicate_groups, identify
from .shares import all_shares, launched_processes, this_share
from .stages import SongPreprocessor
from .workers import StageWorkers
from .splits import SPLITS, albums_in_several_splits, keep_together, split_by_album, split_from_lists

REPORT_FILE = "preprocess_report.json"
logger = logging.getLogger(__name__)


def segment_features(artists: list[str], sampling_rate: int) -> Features:
    return Features(
        {
            "audio": Audio(sampling_rate=sampling_rate),
            "label": ClassLabel(names=artists),
            "artist": Value("string"),
            "album": Value("string"),
            "song_id": Value("string"),
            "segment_index": Value("int32"),
            "start_s": Value("float32"),  # position in the cleaned vocal timeline
            "end_s": Value("float32"),
        }
    )


@dataclass
class SongReport:
    source: str  # relative to the corpus root: the report travels with the dataset
    split: str
    status: str = "pending"  # ok / skipped
    seconds_in: float = 0.0
    seconds_kept: float = 0.0
    num_segments: int = 0
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # repairs and fallbacks (non-finite samples, nothing audible)


@dataclass
class PreprocessResult:
    dataset: DatasetDict
    songs: dict[str, SongReport]
    stage_seconds: dict[str, float] = field(default_factory=dict)
    shared_albums: dict[str, list[str]] = field(default_factory=dict)  # "artist/album" → its splits
    # One entry per group of copies of a recording: {"songs": {song_id: split}, "identical": bool,
    # "moved": {song_id: the split it left}}.
    duplicates: list[dict] = field(default_factory=list)

    @property
    def num_ok(self) -> int:
        return sum(report.status == "ok" for report in self.songs.values())


class NothingProcessed(SingeridError):
    """Not one song of the input could be processed."""


def preprocess_corpus(
    input_dir: str | Path,
    output_dir: str | Path,
    config: PreprocessConfig,
    split_lists: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = None,
    separation_batch: int = 1,
    demucs_repo: str | Path | None = None,
    workers: int | None = None,
    find_duplicates: bool = True,
    move_listed_duplicates: bool = False,
) -> PreprocessResult | None:
    """Build and save the DatasetDict, its report and its parameters (the card is `hub`'s).

    `demucs_repo`: a local folder with the separator's weights (else demucs's caches or a
    download); only the weights' digest is recorded, never the folder. `workers`:
    processes for decoding and silence removal (default: one per core, less one); the
    dataset is the same for any number.

    `find_duplicates`: find copies of one recording (see `duplicates`), name them in warnings
    and in the report, and keep each group in one split (the earliest of its songs', train
    first); with `split_lists`, the lists decide, unless `move_listed_duplicates`.

    Under `accelerate launch` with N processes, each process separates its share of the
    songs (on its own GPU), and the main process then assembles the dataset from the
    shared cache; the other processes return None.
    """
    state = launched_processes()
    songs = find_songs(input_dir)
    if not songs:
        raise NothingProcessed(f"{input_dir}: no audio files found in <artist>/<album>/<track> folders")
    assignment = split_from_lists(songs, split_lists) if split_lists else split_by_album(songs)
    songs = [song for song in songs if song.song_id in assignment]
    preprocessor = SongPreprocessor(config, cache_dir=cache_dir, demucs_repo=demucs_repo,
                                    device=device or (str(state.device) if state.num_processes > 1 else None))
    config = preprocessor.config
    started = time.perf_counter()
    groups = _find_duplicates(songs, state, preprocessor.cache_dir) if find_duplicates else []
    moved = {}
    if move_listed_duplicates or not split_lists:
        assignment, moved = keep_together([group.songs for group in groups], assignment)
    duplicates = [_report_duplicates(group, assignment, moved) for group in groups]
    duplicates_seconds = time.perf_counter() - started
    # A moved copy is a duplicate (reported above), not its album's songs in several splits.
    shared = albums_in_several_splits([song for song in songs if song.song_id not in moved], assignment)
    for album, splits in shared.items():
        logger.warning("album %s has songs in several splits (%s): its songs are not held out", album,
                       ", ".join(splits))
    reports = {song.song_id: SongReport(song.path.relative_to(input_dir).as_posix(), assignment[song.song_id])
               for song in songs}
    artists = sorted({song.artist for song in songs})

    # Our own bars count songs per stage; datasets' would interleave with them.
    with tempfile.TemporaryDirectory(prefix="singerid-arrow-") as arrow_cache, _datasets_bars_off():
        with StageWorkers(preprocessor, workers) as pool:
            if preprocessor.separator is not None:
                _separate_all(pool, this_share(songs, state, "separating"), reports, separation_batch)
                state.wait_for_everyone()
            if not state.is_main_process:
                return None
            features = segment_features(artists, config.sampling_rate)
            dataset = DatasetDict({
                split: _build_split(split, [song for song in songs if assignment[song.song_id] == split],
                                    features, pool, reports, artists, arrow_cache)
                for split in SPLITS})
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        # An empty split must still get one (empty) shard, or load_from_disk fails on it.
        empty = {split: 1 for split, part in dataset.items() if part.num_rows == 0}
        with _small_write_batches():
            dataset.save_to_disk(str(output_dir), num_shards=empty)
    dataset = DatasetDict.load_from_disk(str(output_dir))

    result = PreprocessResult(dataset, reports, dict(preprocessor.seconds), shared, duplicates)
    if find_duplicates:
        result.stage_seconds["duplicates"] = duplicates_seconds
    result.stage_seconds["total"] = time.perf_counter() - started
    config.save(output_dir)
    _write_report(output_dir / REPORT_FILE, result, config, corpus=portable_name(str(input_dir)))
    if result.num_ok == 0:
        raise NothingProcessed(f"{input_dir}: none of {len(songs)} audio files could be decoded")
    return result


def _find_duplicates(songs: list[Song], state, cache_dir: Path) -> list[DuplicateGroup]:
    """Each process identifies its share of the songs (cached by content); the main
    process finds the groups among all of them (the others get none)."""
    share = this_share(songs, state, "fingerprinting")
    with ThreadPoolExecutor(os.cpu_count()) as threads:  # the work is ffmpeg's and hashlib's, beside the GIL
        identities = list(tqdm(threads.map(lambda song: identify(song.path, cache_dir), share), total=len(share),
                               desc="finding duplicates", unit="song"))
    identities = all_shares(state, identities, len(songs))
    if not state.is_main_process:
        return []
    return duplicate_groups([song.song_id for song in songs], identities)


def _report_duplicates(group: DuplicateGroup, assignment: dict[str, str], moved: dict[str, str]) -> dict:
    """The group's report entry, and its warning."""
    what = "identical files" if group.identical else "one recording"
    where = ", ".join(f"{song_id} ({moved[song_id]} → {assignment[song_id]})" if song_id in moved
                      else f"{song_id} ({assignment[song_id]})" for song_id in group.songs)
    splits = {assignment[song_id] for song_id in group.songs}
    if len(splits) > 1:
        logger.warning("duplicates (%s) in several splits, as the split lists put them: %s; "
                       "move_listed_duplicates keeps them in one split", what, where)
    else:
        logger.warning("duplicates (%s), kept in %s: %s", what, splits.pop(), where)
    return {"songs": {song_id: assignment[song_id] for song_id in group.songs}, "identical": group.identical,
            "moved": {song_id: moved[song_id] for song_id in group.songs if song_id in moved}}


def _build_split(split, songs, features, pool, reports, artists, arrow_cache) -> Dataset:
    bar = tqdm(total=len(songs), desc=f"cleaning and segmenting {split}", unit="song")
    try:
        return Dataset.from_generator(
            _segment_rows,
            features=features,
            # A tuple, not a list: datasets would cut a list into one generator call per song.
            gen_kwargs={"songs": tuple(songs), "pool": pool, "reports": reports,
                        "label_of": {artist: index for index, artist in enumerate(artists)}, "bar": bar},
            cache_dir=arrow_cache,
            fingerprint=f"singerid-{split}-{time.time_ns()}",  # a fresh build; our own cache resumes
            writer_batch_size=64,  # about 64 segments of audio in memory at a time
            split=split,
        )
    except ValueError:
        # datasets refuses a generator that yields nothing: a split with no (decodable) song.
        if any(reports[song.song_id].status == "ok" for song in songs):
            raise
        return Dataset.from_dict({name: [] for name in features}, features=features, split=split)
    finally:
        bar.close()


@contextmanager
def _small_write_batches(size: str = "10MB"):
    # save_to_disk copies rows in batches of datasets.config.MAX_ROW_GROUP_SIZE (100 MB):
    # with audio rows that batch, not the corpus, sets the peak memory of the copy.
    default = datasets.config.MAX_ROW_GROUP_SIZE
    datasets.config.MAX_ROW_GROUP_SIZE = size
    try:
        yield
    finally:
        datasets.config.MAX_ROW_GROUP_SIZE = default


@contextmanager
def _datasets_bars_off():
    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _separate_all(pool: StageWorkers, songs: list[Song], reports: dict[str, SongReport], batch_size: int) -> None:
    # Fixed batches of the song list, so that a rerun forms the same batches. The workers
    # decode the next batches while this process separates the current one.
    preprocessor = pool.preprocessor
    size = max(1, batch_size)
    batches = [songs[start : start + size] for start in range(0, len(songs), size)]
    todo = [batch for batch in batches if not all(preprocessor.is_cached(song.path) for song in batch)]
    if len(todo) < len(batches):
        logger.info("separation: %d of %d batches already cached", len(batches) - len(todo), len(batches))
    mixes = pool.mixes((song.path for batch in todo for song in batch), ahead=2 * size)
    with tqdm(total=sum(map(len, todo)), desc="separating vocals", unit="song") as bar:
        for batch in todo:
            errors = preprocessor.separate([song.path for song in batch], [next(mixes) for _ in batch])
            for song in batch:
                if str(song.path) in errors:
                    _skip(reports[song.song_id], errors[str(song.path)])
            bar.update(len(batch))


def _segment_rows(songs, pool, reports, label_of, bar):
    preprocessor = pool.preprocessor
    rate = preprocessor.config.sampling_rate
    todo = [song for song in songs if reports[song.song_id].status != "skipped"]
    bar.update(len(songs) - len(todo))
    for song, prepared in zip(todo, pool.prepared(song.path for song in todo)):
        bar.update()
        report = reports[song.song_id]
        if isinstance(prepared, SongError):
            _skip(report, prepared)
            continue
        try:
            cleaned = prepared.cleaned_length
            report.status, report.notes = "ok", prepared.notes
            report.seconds_in, report.seconds_kept = prepared.seconds_in, cleaned / rate
            for note in prepared.notes:
                tqdm.write(f"note: {song.path}: {note}", file=sys.stderr)
            for index, (segment, (start, end)) in enumerate(preprocessor.segments(prepared)):
                report.num_segments = index + 1
                yield {
                    "audio": {"array": segment, "sampling_rate": rate},
                    "label": label_of[song.artist],
                    "artist": song.artist,
                    "album": song.album or "",
                    "song_id": song.song_id,
                    "segment_index": index,
                    "start_s": start / rate,
                    "end_s": min(end, cleaned) / rate,
                }
        finally:
            prepared.discard()


def _skip(report: SongReport, error: SongError) -> None:
    report.status, report.error = "skipped", error.problem
    tqdm.write(f"skipped {error}", file=sys.stderr)


def _write_report(path: Path, result: PreprocessResult, config: PreprocessConfig, corpus: str) -> None:
    songs = result.songs.values()
    seconds_in = sum(report.seconds_in for report in songs)
    summary = {
        "corpus": corpus,  # its name, not its path: the report travels with the dataset
        "songs": len(result.songs),
        "ok": result.num_ok,
        "skipped": sum(report.status == "skipped" for report in songs),
        "segments": {split: result.dataset[split].num_rows for split in result.dataset},
        "seconds_in": round(seconds_in, 3),
        "seconds_kept": round(sum(report.seconds_kept for report in songs), 3),
        "stage_seconds": {stage: round(seconds, 3) for stage, seconds in result.stage_seconds.items()},
        "albums_in_several_splits": result.shared_albums,
    }
    body = {"summary": summary, "config": config.to_dict(), "duplicates": result.duplicates,
            "songs": {song_id: vars(report) for song_id, report in result.songs.items()}}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
