"""Write the synthetic demo corpus: ``python -m singerid.make_demo_corpus --out DIR``.

Songs land in the artist20 layout (``DIR/<artist>/<album>/<NN-title>.flac``) and the
isolated vocals with the spans where they sing under ``DIR/_stems``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import soundfile as sf

from singerid.cli import command
from singerid.demo_corpus import (
    ARTIST_NAMES,
    MAX_CHANNELS,
    MIN_SAMPLING_RATE,
    MIN_SECONDS,
    stem_dir_of,
    synthesize_corpus,
)


def _bounded(kind: type, low: float, high: float | None = None):
    """An argparse type that parses ``kind`` and rejects values outside [low, high]."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="singerid make_demo_corpus",
        description="Synthesize a small artist20-shaped corpus of songs with known singers, "
                    "vocal stems and sung spans (no downloads).",
    )
    parser.add_argument("--out", metavar="DIR", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", metavar="S", type=_bounded(int, 0), default=0,
                        help="random seed (default 0)")
    parser.add_argument("--singers", metavar="N", type=_bounded(int, 1, len(ARTIST_NAMES)), default=6,
                        help="number of singers, one artist folder each (default 6)")
    parser.add_argument("--albums", metavar="A", type=_bounded(int, 1), default=6,
                        help="albums per singer (default 6)")
    parser.add_argument("--songs", metavar="M", type=_bounded(int, 1), default=3,
                        help="songs per album (default 3)")
    parser.add_argument("--seconds", metavar="T", type=_bounded(float, MIN_SECONDS), default=25.0,
                        help="mean song length; each song lasts 0.8x to 1.2x this (default 25)")
    parser.add_argument("--sampling-rate", metavar="HZ", type=_bounded(int, MIN_SAMPLING_RATE),
                        default=44100, help="sampling rate of the files (default 44100)")
    parser.add_argument("--channels", metavar="C", type=_bounded(int, 1, MAX_CHANNELS), default=2,
                        help="channels of the files (default 2)")
    return parser


def _megabytes(paths: list[Path]) -> float:
    return sum(path.stat().st_size for path in paths) / 1e6


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    songs = synthesize_corpus(
        args.out, seed=args.seed, singers=args.singers, albums=args.albums, songs=args.songs,
        seconds=args.seconds, sampling_rate=args.sampling_rate, channels=args.channels,
    )
    wall = time.perf_counter() - start
    audio_s = sum(sf.info(str(path)).duration for path in songs)
    stems = [f for song in songs for f in stem_dir_of(song, args.out).iterdir()]
    print(f"wrote {len(songs)} songs ({audio_s:.0f} s of audio) to {args.out}: "
          f"{_megabytes(songs):.1f} MB of songs + {_megabytes(stems):.1f} MB of stems, in {wall:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
