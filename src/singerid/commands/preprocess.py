"""`singerid preprocess`: a folder of songs → a DatasetDict of vocal segments split by album.

Decode, separate vocals (demucs), remove silence and cut fixed segments; save a
datasets.DatasetDict (train / validation / test, split by album) with its report,
parameters and dataset card. `accelerate launch --num_processes N -m singerid preprocess
...` shares separation out over N processes (GPUs); the dataset is assembled once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..hub import write_dataset_card
from ..preprocessing import PreprocessConfig, preprocess_corpus
from . import OutputOptions, claim, command, parse


@dataclass
class PreprocessArguments:
    input: str = field(metadata={"help": "corpus root laid out as <artist>/<album>/<track>.<ext>"})
    output: str = field(metadata={"help": "folder for the dataset (datasets.load_from_disk reads it)"})
    split_lists: str | None = field(default=None, metadata={
        "help": "folder with train.list / validation.list / test.list (or artist20's a20-*-tracks.list)"})
    find_duplicates: bool = field(default=True, metadata={
        "help": "find copies of one recording (same bytes, or re-encoded: by Chromaprint fingerprint) and keep each "
                "group in one split, train first; named in warnings and in the report"})
    move_listed_duplicates: bool = field(default=False, metadata={
        "help": "with --split-lists: keep copies in one split too (by default the lists decide, with a warning)"})
    demucs_repo: str | None = field(default=None, metadata={
        "help": "local folder with demucs weights, for offline use (only their digest is recorded)"})
    cache_dir: str | None = field(default=None, metadata={
        "help": "per-song separation cache (default $SINGERID_CACHE or ~/.cache/singerid)"})
    device: str | None = field(default=None, metadata={"help": "device for separation (default: cuda when available)"})
    separation_batch: int = field(default=1, metadata={
        "help": "songs separated together (padded to the longest); more uses the GPU better"})
    workers: int | None = field(default=None, metadata={
        "help": "processes decoding and removing silence beside separation (default: one per core, less one)"})


@command
def main(argv: list[str] | None = None) -> int:
    args, config, output = parse(argv, PreprocessArguments, PreprocessConfig, OutputOptions, prog="preprocess",
                         description=__doc__.splitlines()[0])
    claim(args.output, "preprocess", argv, output)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    result = preprocess_corpus(args.input, args.output, config, split_lists=args.split_lists,
                               cache_dir=args.cache_dir, device=args.device,
                               separation_batch=args.separation_batch, demucs_repo=args.demucs_repo,
                               workers=args.workers, find_duplicates=args.find_duplicates,
                               move_listed_duplicates=args.move_listed_duplicates)
    if result is None:  # a helper process under accelerate launch: the main process reports
        return 0
    write_dataset_card(args.output)
    counts = ", ".join(f"{split} {ds.num_rows}" for split, ds in result.dataset.items())
    skipped = len(result.songs) - result.num_ok
    print(f"{result.num_ok} songs → segments: {counts}; {skipped} skipped; saved to {args.output}")
    return 0
