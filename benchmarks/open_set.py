"""Open-set identification on the demo corpus: which song embedding and which scoring rule.

    python benchmarks/open_set.py [--backbone tiny-mert] [--singers 24] [--strangers 12]
        [--albums 6] [--songs 2] [--seconds 20] [--epochs 200] [--seeds 0 1 2 3 4]

The synthetic demo corpus's vocal stems, preprocessed as training data is (no separator,
silence removal, 5 s segments, the album split). Per seed, `--strangers` singers are never
seen; a weighted_sum model is trained on the others' train-split segments (head and layer
weights on cached pooled features, as `embedding_choice.py` does). Each song's chunk
embeddings are pooled both ways a song embedding can be made (`unit_mean`: the mean of unit
chunk embeddings, singerid's; `mean`: the mean of raw ones), and for each, a `Gallery` is
built from the trained singers' train-split songs and calibrated with each scoring rule
(`metrics.open_set.SCORINGS`) on their validation songs, as training does. The queries are
the trained singers' test songs (known) and every song of the strangers (unknown), reported
by `open_set_metrics`: EER, and the detection-and-identification rate (DIR) at a 5 %
false-accept rate on the unknown songs, then DIR and false accepts at the calibrated threshold.
tiny-mert has random backbone weights (nothing is downloaded), so this is weak evidence.

    python benchmarks/open_set.py --test-scenario [--seeds 0 1 2 3 4]

instead runs the scenario of tests/test_open_set.py (train on 5 singers, enroll 2 from 2
songs each, 1 never enrolled) once per seed and prints what its test asserts, for the
margins the test keeps.
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # read when tqdm is imported: its bars would bury the table

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from embedding_choice import train_head
from machine import describe
from singerid import SingerClassifier
from singerid.data import AudioCollator, encoded_audio
from singerid.gallery import DEFAULT_SCORING, Gallery
from singerid.metrics.open_set import SCORINGS, UNKNOWN, normalize, open_set_metrics
from singerid.preprocessing import PreprocessConfig, preprocess_corpus
from singerid.recipes.demo_corpus import STEMS_DIR, synthesize_corpus

DEFINITIONS = {"unit_mean": lambda chunks: normalize(chunks).mean(axis=0), "mean": lambda chunks: chunks.mean(axis=0)}
RATE = 0.05


def chunk_embeddings(model: SingerClassifier, split, collator: AudioCollator) -> dict[str, tuple[str, np.ndarray]]:
    """song_id → (artist, its chunks' raw embeddings): a segment is one chunk."""
    songs = {}
    with torch.no_grad():
        for start in range(0, len(split), 32):
            rows = split.select(range(start, min(start + 32, len(split))))
            batch = collator(list(rows))
            _, embeddings = model.classify_chunks(batch["input_values"], batch["input_lengths"])
            for song, artist, embedding in zip(rows["song_id"], rows["artist"], embeddings.numpy()):
                songs.setdefault(song, (artist, []))[1].append(embedding)
    return {song: (artist, np.stack(chunks)) for song, (artist, chunks) in songs.items()}


def pooled(songs: dict, definition: str, keep) -> tuple[list[str], list[str], np.ndarray]:
    """(song ids, artists, song embeddings) of the songs whose artist `keep` accepts."""
    chosen = sorted(song for song, (artist, _) in songs.items() if keep(artist))
    return chosen, [songs[song][0] for song in chosen], np.stack([DEFINITIONS[definition](songs[song][1])
                                                                 for song in chosen])


def measure(songs: dict[str, dict], trained: list[str], definition: str, scoring: str) -> dict:
    is_trained = trained.__contains__
    gallery = Gallery.from_training(*pooled(songs["train"], definition, is_trained))
    _, singers, embeddings = pooled(songs["validation"], definition, is_trained)
    gallery.calibrate(embeddings, singers, RATE, scoring=scoring)
    assert gallery.scoring.name == scoring, "the cohort is too small for this scoring"
    _, known, known_embeddings = pooled(songs["test"], definition, is_trained)
    unknown = [pooled(split, definition, lambda artist: not is_trained(artist))[2] for split in songs.values()]
    labels = [gallery.singers.index(singer) for singer in known] + [UNKNOWN] * sum(map(len, unknown))
    scores = gallery.scores(np.concatenate([known_embeddings, *unknown]))
    return open_set_metrics(scores, labels, gallery.calibration.threshold, false_accept_rates=(RATE,))


def run(args, scratch: Path) -> None:
    started = time.perf_counter()
    synthesize_corpus(scratch / "corpus", seed=0, singers=args.singers, albums=args.albums, songs=args.songs,
                      seconds=args.seconds, sampling_rate=args.rate, progress=False)
    result = preprocess_corpus(scratch / "corpus" / STEMS_DIR, scratch / "dataset",
                               PreprocessConfig(separator="none", sampling_rate=args.rate))
    splits = encoded_audio(result.dataset)
    collator = AudioCollator(args.rate, 5 * args.rate)
    artists = sorted(set(splits["train"]["artist"]))
    print(describe())
    print(f"{args.backbone} weighted_sum; {len(artists)} singers ({args.strangers} strangers per seed), "
          f"{sum(len(set(split['song_id'])) for split in splits.values())} songs; prepared in "
          f"{time.perf_counter() - started:.0f} s")
    rows: dict[tuple[str, str], list[dict]] = {}
    for seed in args.seeds:
        strangers = set(np.random.default_rng(seed).choice(artists, args.strangers, replace=False))
        trained = [artist for artist in artists if artist not in strangers]
        torch.manual_seed(seed)  # the head's initial weights, and a tiny backbone's random ones
        model = SingerClassifier.from_backbone(args.backbone, id2label=dict(enumerate(trained))).eval()
        accuracy = train_head(model, splits["train"].filter(lambda row: row["artist"] in trained), collator,
                              args.epochs, seed)
        songs = {name: chunk_embeddings(model, split, collator) for name, split in splits.items()}
        for definition in DEFINITIONS:
            for scoring in SCORINGS:
                rows.setdefault((definition, scoring), []).append(measure(songs, trained, definition, scoring))
        last = rows[(definition, scoring)][-1]
        print(f"seed {seed}: trained on {len(trained)} singers (training accuracy {accuracy:.2f}); "
              f"{last['known_songs']} known and {last['unknown_songs']} unknown test songs")

    def spread(results, value) -> str:
        values = [value(result) for result in results]
        return f"{np.mean(values):.3f} ± {np.std(values):.3f}"

    print(f"\nmean ± standard deviation over seeds {', '.join(map(str, args.seeds))}; the threshold set for a "
          f"{RATE:.0%} false-accept rate on validation songs\n")
    print("| song embedding | scoring | EER | DIR at 5 % FAR | DIR at the threshold | FAR at the threshold |")
    print("|---|---|---|---|---|---|")
    for (definition, scoring), results in rows.items():
        print(f"| {definition} | {scoring} | {spread(results, lambda r: r['eer'])} "
              f"| {spread(results, lambda r: r['at_false_accept_rate'][f'{RATE:g}']['dir'])} "
              f"| {spread(results, lambda r: r['at_threshold']['dir'])} "
              f"| {spread(results, lambda r: r['at_threshold']['false_accept_rate'])} |")
    print(f"\n{time.perf_counter() - started:.0f} s in all")


def test_scenario(seeds: list[int], scorings: list[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from test_open_set import open_set_run  # the scenario's one definition

    keys = ("enrolled_named", "enrolled_rejected", "never_rejected")
    print("| scoring | seed | " + " | ".join(keys) + " |\n|---|---|---|---|---|")
    for scoring in scorings:
        for seed in seeds:
            with tempfile.TemporaryDirectory() as scratch:
                numbers = open_set_run(Path(scratch), seed, scoring)
            print(f"| {scoring} | {seed} | " + " | ".join(f"{numbers[key]:.2f}" for key in keys) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tiny-mert")
    parser.add_argument("--singers", type=int, default=24)
    parser.add_argument("--strangers", type=int, default=12)
    parser.add_argument("--albums", type=int, default=6)
    parser.add_argument("--songs", type=int, default=2, help="songs per album")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--test-scenario", action="store_true", help="tests/test_open_set.py's scenario instead")
    parser.add_argument("--scorings", nargs="+", default=[DEFAULT_SCORING], help="--test-scenario: the galleries'")
    args = parser.parse_args()
    if args.test_scenario:
        return test_scenario(args.seeds, args.scorings)
    args.rate = 24000
    with tempfile.TemporaryDirectory() as scratch:  # the dataset's files must outlive its use
        run(args, Path(scratch))


if __name__ == "__main__":
    main()
