"""Which song embedding separates unseen singers better: the head's hidden layer or its input.

    python benchmarks/embedding_choice.py [--backbone tiny-mert] [--singers 24] [--held-out 12]
        [--albums 6] [--songs 2] [--seconds 20] [--epochs 200] [--seeds 0 1 2] [--shots 1 3] [--mix]

On the synthetic demo corpus (its reference vocal stems, or the full mixes with --mix),
preprocessed as training data is (`separator="none"`, silence removal, 5 s segments).
Per seed: some singers are held out; a weighted_sum model is trained on the others'
segments (head and layer weights on cached pooled features; the backbone is frozen).
Each held-out song goes whole through `model(..., output_embeddings=True)` once per
`config.embedding` ("head", "pooled"): the same trained model, two embeddings. Then
  n-shot accuracy: each held-out singer is enrolled from n songs of the first half of its
      songs (centroid: the normalised mean), and the other half are identified among the
      held-out singers by cosine similarity;
  EER: the equal error rate of cosine scores of same-singer against different-singer song pairs.
tiny-mert has random backbone weights (nothing is downloaded), so the numbers tell how the
two choices compare on this corpus, not what a pretrained MERT gives.
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # read when tqdm is imported: its bars would bury the table

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from datasets import concatenate_datasets

from machine import describe
from singerid import SingerClassifier
from singerid.data import AudioCollator, encoded_audio, pad_batch
from singerid.metrics.open_set import equal_error_rate, n_shot_accuracy
from singerid.models import PRESETS
from singerid.preprocessing import PreprocessConfig, preprocess_corpus
from singerid.recipes.demo_corpus import STEMS_DIR, synthesize_corpus

EMBEDDINGS = ("head", "pooled")


def make_segments(args, scratch: Path):
    """Every segment of the corpus (all three album splits: singers are held out here instead)."""
    corpus = scratch / "corpus"
    synthesize_corpus(corpus, seed=0, singers=args.singers, albums=args.albums, songs=args.songs,
                      seconds=args.seconds, sampling_rate=args.rate, progress=False)
    config = PreprocessConfig(separator="none", sampling_rate=args.rate)
    result = preprocess_corpus(corpus if args.mix else corpus / STEMS_DIR, scratch / "dataset", config)
    return concatenate_datasets(list(encoded_audio(result.dataset).values()))


def songs_of(segments, collator: AudioCollator) -> dict[str, tuple[str, np.ndarray]]:
    """song_id → (artist, the song's cleaned audio): its segments' valid samples end to end,
    which the model cuts back into the very same chunks."""
    rows_of = {}
    for row in segments:
        rows_of.setdefault(row["song_id"], []).append(row)
    songs = {}
    for song_id, rows in rows_of.items():
        batch = collator(sorted(rows, key=lambda row: row["segment_index"]))
        audio = [wave[:length].numpy() for wave, length in zip(batch["input_values"], batch["input_lengths"])]
        songs[song_id] = (rows[0]["artist"], np.concatenate(audio))
    return songs


def train_head(model: SingerClassifier, segments, collator: AudioCollator, epochs: int, seed: int) -> float:
    """Trains layer weights and head on cached pooled features; returns the training accuracy."""
    model.eval()
    with torch.inference_mode():
        batches = [collator(segments.select(range(i, min(i + 32, len(segments))))) for i in range(0, len(segments), 32)]
        features = torch.cat([model.pooled_layer_features(b["input_values"], b["attention_mask"]) for b in batches])
    labels = torch.tensor([model.config.label2id[artist] for artist in segments["artist"]])
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    for _ in range(epochs):
        for rows in torch.randperm(len(labels), generator=generator).split(32):
            loss = model(pooled_features=features[rows], labels=labels[rows]).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.no_grad():
        return float((model(pooled_features=features).logits.argmax(-1) == labels).float().mean())


def song_embeddings(model: SingerClassifier, songs: list[np.ndarray]) -> np.ndarray:
    rows = []
    with torch.no_grad():
        for start in range(0, len(songs), 8):
            waves = songs[start : start + 8]
            lengths = [len(wave) for wave in waves]
            batch, _ = pad_batch(waves, lengths)
            rows.append(model(batch, input_lengths=lengths, output_embeddings=True).embeddings)
    return torch.cat(rows).numpy()


def scores(embeddings: np.ndarray, artists: list[str], shots: list[int], seed: int) -> dict[str, float]:
    # each singer enrolled from the first half of its songs, queried on the other half
    halves = {name: np.array_split(embeddings[[a == name for a in artists]], 2) for name in sorted(set(artists))}
    enrol, queries = ({name: parts[half] for name, parts in halves.items()} for half in (0, 1))
    empty = np.zeros((0, embeddings.shape[1]))  # identify among the held-out singers only
    results = {f"{n}-shot": row["accuracy"] for n, row in n_shot_accuracy(empty, enrol, queries, shots, seed).items()}
    cosine = embeddings @ embeddings.T  # unit rows
    first, second = np.triu_indices(len(artists), k=1)
    same = np.array(artists)[first] == np.array(artists)[second]
    results["EER"] = equal_error_rate(cosine[first, second][same], cosine[first, second][~same])
    return results


def run(args, scratch: Path, started: float) -> None:
    segments = make_segments(args, scratch)
    collator = AudioCollator(args.rate, 5 * args.rate)
    songs = songs_of(segments, collator)
    artists = sorted(set(segments["artist"]))
    print(describe())
    print(f"{args.backbone} weighted_sum; {len(artists)} singers, {len(songs)} songs, {len(segments)} segments "
          f"({'mixes' if args.mix else 'vocal stems'}); {args.held_out} singers held out per seed; "
          f"prepared in {time.perf_counter() - started:.0f} s")
    columns = [f"{n}-shot" for n in args.shots] + ["EER"]
    header = f"{'embedding':<10}{'E':>6}" + "".join(f"{c:>9}" for c in columns)
    totals, widths = {name: [] for name in EMBEDDINGS}, {}
    for seed in args.seeds:
        held_out = sorted(np.random.default_rng(seed).choice(artists, args.held_out, replace=False))
        trained = [a for a in artists if a not in held_out]
        torch.manual_seed(seed)  # the head's initial weights, and a tiny backbone's random ones
        model = SingerClassifier.from_backbone(args.backbone, id2label=dict(enumerate(trained)))
        accuracy = train_head(model, segments.filter(lambda row: row["artist"] in trained), collator,
                              args.epochs, seed)
        test = [(artist, audio) for artist, audio in songs.values() if artist in held_out]
        print(f"\nseed {seed}: held out {', '.join(held_out)}; head trained on {len(trained)} singers "
              f"(training accuracy {accuracy:.2f}); {len(test)} held-out songs\n{header}")
        for name in EMBEDDINGS:
            model.config.embedding = name  # read at each forward: same weights, other embedding
            embeddings = song_embeddings(model, [audio for _, audio in test])
            row = scores(embeddings, [artist for artist, _ in test], args.shots, seed)
            totals[name].append(row)
            widths[name] = embeddings.shape[1]
            print(f"{name:<10}{widths[name]:>6}" + "".join(f"{row[c]:>9.3f}" for c in columns))
    print(f"\nmean over seeds {', '.join(map(str, args.seeds))}\n{header}")
    for name in EMBEDDINGS:
        print(f"{name:<10}{widths[name]:>6}" + "".join(f"{np.mean([r[c] for r in totals[name]]):>9.3f}" for c in columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tiny-mert")
    parser.add_argument("--singers", type=int, default=24)
    parser.add_argument("--held-out", type=int, default=12)
    parser.add_argument("--albums", type=int, default=6)
    parser.add_argument("--songs", type=int, default=2, help="songs per album")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--mix", action="store_true", help="full mixes instead of the reference vocal stems")
    args = parser.parse_args()
    args.rate = PRESETS[args.backbone].sampling_rate if args.backbone in PRESETS else 24000

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:  # the dataset's files must outlive its use
        run(args, Path(scratch), started)
    print(f"\n{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
