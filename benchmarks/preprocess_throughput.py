"""Preprocessing throughput per stage (audio seconds per wall second) and peak RSS.

    python benchmarks/preprocess_throughput.py [--singers 6 --songs 3] [--separator none|random-htdemucs]

`random-htdemucs` saves the full-size htdemucs architecture with random weights in a
local demucs repo, so separation cost is real without downloading weights.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from singerid.demo_corpus import synthesize_corpus
from singerid.preprocessing import PreprocessConfig, preprocess_corpus
from singerid.preprocessing.separation import save_to_local_repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="an existing corpus (default: synthesise the demo corpus)")
    parser.add_argument("--singers", type=int, default=6)
    parser.add_argument("--songs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--separator", default="none", help="none, random-htdemucs, or a demucs model name")
    parser.add_argument("--device", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(args.corpus) if args.corpus else Path(tmp, "corpus")
        if not args.corpus:
            started = time.perf_counter()
            synthesize_corpus(corpus, singers=args.singers, songs=args.songs, seconds=args.seconds, progress=False)
            print(f"demo corpus generation: {time.perf_counter() - started:.1f} s")
        config = PreprocessConfig(separator=args.separator)
        if args.separator == "random-htdemucs":
            from demucs.htdemucs import HTDemucs

            model = HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=7.8)  # htdemucs's shape
            config = PreprocessConfig(separator="random-htdemucs",
                                      demucs_repo=str(save_to_local_repo(model, Path(tmp, "repo"), "random-htdemucs")))
        result = preprocess_corpus(corpus, Path(tmp, "out"), config, cache_dir=Path(tmp, "cache"), device=args.device)

    audio = sum(song.seconds_in for song in result.songs.values())
    print(f"\n{len(result.songs)} songs, {audio:.0f} s of audio, separator {args.separator}")
    print(f"{'stage':<12}{'wall s':>10}{'audio s / wall s':>20}")
    for stage, seconds in result.stage_seconds.items():
        print(f"{stage:<12}{seconds:>10.1f}{audio / seconds:>20.1f}")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
