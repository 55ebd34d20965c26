"""`singerid predict`: the top-k singers of every song in a folder or a list of files.

CSV rows are `ID,No.1,No.2,No.3` without a header (the 2023 homework's format); JSON is
`{"ID": ["No.1", "No.2", "No.3"]}` (the 2025 format). IDs are the files' stems (where
stems repeat, their paths tell them apart). A CSV cell of an ID or name that a
spreadsheet would read as a formula gets a leading ' unless --raw_cells.

`--timeline DIR` also writes `DIR/<ID>.csv` (one row per chunk: its seconds of the song and
the top singers' probabilities) and `DIR/<ID>.png` (those over the song's time) per song
predicted (<ID> made a file name inside DIR: see `names.file_names`); their resolution
is the model's chunk hop (5 s by default).

`accelerate launch -m singerid predict ...` shares the songs between the processes, each
on its own device; the main process writes the one answers file, as one process would.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Literal

from ..gallery import UNKNOWN_LABEL
from ..names import file_names
from ..preprocessing.shares import ending_together
from ..prediction import (check_answers_path, find_audio_files, predict_songs, song_ids, write_predictions,
                          write_timeline)
from . import OutputOptions, claim, command, log_progress, parse

DTYPES = Literal["float32", "bfloat16", "float16"]


@dataclass
class SongOptions:
    """How songs go through the model's preprocessing and forward (predict, embed, enroll)."""

    separator: str | None = field(default=None, metadata={
        "help": "override the model's separator ('none' skips separation); a name the model's config gives must be "
                "one of demucs's published models unless --demucs-repo holds it"})
    demucs_repo: str | None = field(default=None, metadata={
        "help": "local demucs weights (default: demucs's caches, or a download when online)"})
    batch_size: int = field(default=4, metadata={"help": "songs per forward pass"})
    device: str | None = field(default=None, metadata={"help": "cpu, cuda, ... (default: cuda when available)"})
    dtype: DTYPES | None = field(default=None, metadata={"help": "run the model in this precision (default: as saved)"})
    cache_dir: str | None = field(default=None, metadata={
        "help": "separation cache (default $SINGERID_CACHE or ~/.cache/singerid)"})
    workers: int | None = field(default=None, metadata={
        "help": "processes decoding and cleaning the next songs (default: one per core, less one)"})
    max_duration_minutes: float | None = field(default=None, metadata={
        "help": "refuse songs longer than this, each as that song's error, told from its header before decoding "
                "(default: no limit)"})


@dataclass
class PredictArguments:
    model: str = field(metadata={"help": "a saved model folder or Hub id"})
    input: list[str] = field(metadata={"help": "song files and/or folders (searched recursively)"})
    output: str = field(metadata={"help": "FILE.csv or FILE.json"})
    top_k: int = 3
    scores: bool = field(default=False, metadata={"help": "write each artist's probability too"})
    remove_silence: bool | None = field(default=None, metadata={
        "help": "override the model's silence removal (true / false)"})
    open_set: bool = field(default=False, metadata={
        "help": "rank the gallery's singers (trained and enrolled) by its score; below its threshold: unknown"})
    unknown_label: str = field(default=UNKNOWN_LABEL, metadata={"help": "--open-set: the answer for an unknown singer"})
    timeline: str | None = field(default=None, metadata={
        "help": "a folder for each song's timeline: <ID>.csv (top singers' probabilities per chunk, at the "
                "original song's seconds) and <ID>.png; resolution: the chunk hop (5 s by default)"})
    raw_cells: bool = field(default=False, metadata={
        "help": "write IDs and singer names into the CSVs byte for byte; by default a cell starting with = + - @ "
                "(or a tab or carriage return) gets a leading ' so a spreadsheet never runs it as a formula"})

    def __post_init__(self):
        check_answers_path(self.output)  # before the songs are predicted, not after


@command
def main(argv: list[str] | None = None) -> int:
    args, options, output = parse(argv, PredictArguments, SongOptions, OutputOptions, prog="predict",
                                  description=__doc__.splitlines()[0])
    log_progress()
    files = find_audio_files(args.input)
    if not files:
        raise FileNotFoundError(f"no audio files in {' '.join(args.input)}; give song files or folders holding them")
    ids = song_ids(files)
    if args.timeline is not None:  # the timeline folder, before any song is read
        claim(args.timeline, "predict", argv, output)
    write = _timeline_writer(args.timeline, ids, args.raw_cells) if args.timeline is not None else None
    with ending_together() as processes:  # under accelerate launch: each process its share of the songs
        predictions = predict_songs(files, args.model, top_k=args.top_k, ids=ids,
                                    remove_silence=args.remove_silence, open_set=args.open_set,
                                    unknown_label=args.unknown_label, timeline=args.timeline is not None,
                                    on_timeline=write, **asdict(options))
        if not processes.is_main_process:  # a helper under accelerate launch: the main process writes
            return 0
        errors = write_predictions(args.output, predictions, args.scores, raw_cells=args.raw_cells)
        done = [p for p in predictions if p.error is None]
        quiet = sum(p.nothing_audible for p in done)
        drawn = sum(p.timeline is None for p in done)  # a written timeline is let go; one that failed stays
        print(f"{len(done)} songs predicted → {args.output}"
              + (f" ({quiet} on their loudest window: nothing audible after cleaning)" if quiet else "")
              + (f"; {drawn} timelines → {args.timeline}" if args.timeline is not None else "")
              + (f"; {len(predictions) - len(done)} failed, listed in {errors}" if errors else ""))
        return 0 if done else 1


def _timeline_writer(directory: str, ids: list[str], raw_cells: bool):
    """Writes a song's timeline files as soon as it is predicted, under a name apart from
    every other song's and inside `directory` (`names.file_names`), then lets the timeline
    go, so a run's memory does not grow with its songs. One that cannot be written is that
    song's error (on stderr), not the run's, and stays on its prediction."""
    names = dict(zip(ids, file_names(ids)))

    def write(prediction) -> None:
        try:
            write_timeline(directory, prediction, name=names[prediction.id], raw_cells=raw_cells)
            prediction.timeline = None
        except (OSError, ValueError) as error:
            print(f"error: {prediction.path}: timeline: {error}", file=sys.stderr)
    return write
