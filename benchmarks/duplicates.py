"""Finding duplicates before the split: seconds per hour of audio, on one core.

    python benchmarks/duplicates.py [--singers 4] [--albums 2] [--songs 2] [--seconds 60] [--bitrate 128k]
                                    [--library 1500]

Synthesises a demo corpus, encodes it as mp3 (as most collections are), and times, one
song at a time: the content digest (SHA-256 of the file), the Chromaprint fingerprint
(ffmpeg decodes the whole song for it) and matching the fingerprints into groups. Matching
is also timed on `--library` random 4-minute fingerprints, the size of artist20 (1413 songs).
Preprocessing runs the first two on one thread per core, and caches fingerprints.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from singerid.digests import file_digest
from singerid.preprocessing.duplicates import SUB_FINGERPRINTS_PER_SECOND, Identity, duplicate_groups, fingerprint
from singerid.recipes.demo_corpus import synthesize_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--singers", type=int, default=4)
    parser.add_argument("--albums", type=int, default=2)
    parser.add_argument("--songs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--bitrate", default="128k")
    parser.add_argument("--library", type=int, default=1500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="duplicates-") as folder:
        flacs = synthesize_corpus(Path(folder), singers=args.singers, albums=args.albums, songs=args.songs,
                                  seconds=args.seconds, progress=False)
        hours = sum(sf.info(str(path)).duration for path in flacs) / 3600
        songs = []
        for flac in flacs:
            songs.append(flac.with_suffix(".mp3"))
            subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(flac), "-b:a", args.bitrate,
                            str(songs[-1])], check=True)
        seconds = {}
        start = time.perf_counter()
        digests = [file_digest(song) for song in songs]  # new files: nothing remembered yet
        seconds["digest"] = time.perf_counter() - start
        start = time.perf_counter()
        prints = [fingerprint(song) for song in songs]
        seconds["fingerprint"] = time.perf_counter() - start
        start = time.perf_counter()
        groups = duplicate_groups([str(song) for song in songs], [Identity(*pair) for pair in zip(digests, prints)])
        seconds["matching"] = time.perf_counter() - start

    print(f"{len(songs)} songs, {hours * 60:.1f} min of audio as {args.bitrate} mp3; {len(groups)} groups found")
    print(f"{'step':<14}{'seconds':>10}{'s per hour of audio':>22}")
    for step, took in seconds.items():
        print(f"{step:<14}{took:>10.3f}{took / hours:>22.2f}")
    total = seconds["digest"] + seconds["fingerprint"]
    print(f"{'digest + fingerprint':<24}{total / hours:>22.2f} s per hour of audio, on one core")

    rng = np.random.default_rng(0)
    length = round(240 * SUB_FINGERPRINTS_PER_SECOND)
    library = [Identity(f"{index:064x}", rng.integers(0, 2 ** 32, length, dtype=np.uint32))
               for index in range(args.library)]
    start = time.perf_counter()
    duplicate_groups([str(index) for index in range(args.library)], library)
    print(f"matching {args.library} random 4-minute fingerprints ({args.library * 4 / 60:.0f} h): "
          f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
