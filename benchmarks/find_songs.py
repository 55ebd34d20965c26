"""Finding songs and naming them: time against the number of files, which should be linear.

    python benchmarks/find_songs.py [--counts 5000 20000] [--repeats 3]

For each count, a temporary corpus `<artist>/<album>/<track>.mp3` (empty files: only names
and folders matter) with every track name used in two albums, so that `song_ids` has
repeated stems to tell apart. Rows: `find_songs` (preprocess), `find_audio_files` (predict,
embed, enroll) and `song_ids` (predict's IDs for those files), the best of `--repeats`
seconds for each count, and the last count's time over the first's. Linear means a ratio
near the ratio of the counts (4 for the defaults); quadratic, its square.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from singerid.prediction import find_audio_files, song_ids
from singerid.preprocessing.corpus import find_songs

TRACKS_PER_ALBUM = 50
ALBUMS_PER_ARTIST = 10


def make_corpus(root: Path, files: int) -> None:
    for index in range(files):
        album = index // TRACKS_PER_ALBUM
        artist = album // ALBUMS_PER_ARTIST
        # Track names repeat every two albums: ids need the album to tell them apart.
        track = f"{(album // 2) * TRACKS_PER_ALBUM + index % TRACKS_PER_ALBUM:06d}"
        folder = root / f"artist{artist:03d}" / f"album{album:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{track}.mp3").touch()


def best_of(repeats: int, run) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    seconds: dict[str, list[float]] = {"find_songs": [], "find_audio_files": [], "song_ids": []}
    for count in args.counts:
        with tempfile.TemporaryDirectory(prefix="find-songs-") as folder:
            root = Path(folder)
            make_corpus(root, count)
            took, songs = best_of(args.repeats, lambda: find_songs(root))
            seconds["find_songs"].append(took)
            took, files = best_of(args.repeats, lambda: find_audio_files([root]))
            seconds["find_audio_files"].append(took)
            took, ids = best_of(args.repeats, lambda: song_ids(files))
            seconds["song_ids"].append(took)
            if not len(songs) == len(files) == len(set(ids)) == count:
                raise SystemExit(f"{count} files: found {len(songs)} songs, {len(files)} files, "
                                 f"{len(set(ids))} distinct ids")

    print(f"seconds (best of {args.repeats}) per number of files; ratio: last / first")
    print(f"{'step':<18}" + "".join(f"{count:>10}" for count in args.counts) + f"{'ratio':>10}")
    for step, times in seconds.items():
        print(f"{step:<18}" + "".join(f"{took:>10.4f}" for took in times) + f"{times[-1] / times[0]:>10.2f}")


if __name__ == "__main__":
    main()
