"""`singerid preprocess`: a folder of songs → a DatasetDict of vocal segments split by album.

`accelerate launch --num_processes N -m singerid.preprocess ...` shares separation out
over N processes (GPUs); the dataset is assembled once.
"""

from __future__ import annotations

import argparse
import logging

from .cli import command
from .preprocessing import PreprocessConfig, preprocess_corpus

DEFAULTS = PreprocessConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="singerid preprocess",
        description="Decode, separate vocals (demucs), remove silence and cut fixed segments; "
        "save a datasets.DatasetDict (train / validation / test, split by album).",
    )
    parser.add_argument("--input", required=True, help="corpus root laid out as <artist>/<album>/<track>.<ext>")
    parser.add_argument("--output", required=True, help="folder for the dataset (datasets.load_from_disk reads it)")
    parser.add_argument("--split-lists", metavar="DIR",
                        help="folder with train.list / validation.list / test.list (or artist20's a20-*-tracks.list)")
    parser.add_argument("--sampling-rate", type=int, default=DEFAULTS.sampling_rate,
                        help="output rate: 24000 for MERT (default), 16000 for WavLM")
    parser.add_argument("--separator", default=DEFAULTS.separator,
                        help="demucs model for vocal separation (default htdemucs); 'none' keeps the full mix")
    parser.add_argument("--demucs-repo", metavar="DIR",
                        help="local folder with demucs weights, for offline use (only their digest is recorded)")
    parser.add_argument("--silence-db", type=float, default=DEFAULTS.silence_db,
                        help="silence threshold in dBFS (default -35)")
    parser.add_argument("--min-silence-seconds", type=float, default=DEFAULTS.min_silence_seconds,
                        help="shortest quiet stretch that is cut out (default 0.5)")
    parser.add_argument("--no-silence-removal", dest="remove_silence", action="store_false",
                        help="keep silent parts (the no-preprocessing ablation)")
    parser.add_argument("--segment-seconds", type=float, default=DEFAULTS.segment_seconds,
                        help="segment length (default 5)")
    parser.add_argument("--hop-seconds", type=float, help="distance between segment starts (default: the segment length)")
    parser.add_argument("--min-segment-seconds", type=float,
                        help="shortest tail kept, padded to a full segment (default: half a segment)")
    parser.add_argument("--cache-dir", help="per-song separation cache (default $SINGERID_CACHE or ~/.cache/singerid)")
    parser.add_argument("--device", help="device for separation (default: cuda when available)")
    parser.add_argument("--separation-batch", type=int, default=1,
                        help="songs separated together (padded to the longest); more uses the GPU better")
    return parser


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    config = PreprocessConfig(
        sampling_rate=args.sampling_rate, separator=args.separator, remove_silence=args.remove_silence,
        silence_db=args.silence_db, min_silence_seconds=args.min_silence_seconds,
        segment_seconds=args.segment_seconds, hop_seconds=args.hop_seconds,
        min_segment_seconds=args.min_segment_seconds,
    )
    result = preprocess_corpus(args.input, args.output, config, split_lists=args.split_lists,
                               cache_dir=args.cache_dir, device=args.device,
                               separation_batch=args.separation_batch, demucs_repo=args.demucs_repo)
    if result is None:  # a helper process under accelerate launch: the main process reports
        return 0
    counts = ", ".join(f"{split} {ds.num_rows}" for split, ds in result.dataset.items())
    skipped = len(result.songs) - result.num_ok
    print(f"{result.num_ok} songs → segments: {counts}; {skipped} skipped; saved to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
