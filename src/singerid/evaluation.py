"""One way to measure a singer classifier: segment and song top-1 / top-3, macro-F1,
majority vote (the reference's song rule, for comparison) and a confusion matrix.

Training (model selection on validation, final validation and test numbers) and
evaluate_model.py both come through here, so the same model on the same split gives
the same numbers by either route.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOP_K = (1, 3)
METRICS_DIR = Path(__file__).with_name("metrics") / "top_k_accuracy"


def top_k_metric():
    """The repository's top-k `evaluate` module, loaded by path (no Hub needed)."""
    import evaluate

    return evaluate.load(str(METRICS_DIR))


@dataclass
class SongTable:
    """Per-song results: mean segment probabilities and segment top-1 vote counts."""

    song_ids: list[str]
    labels: np.ndarray  # [songs]
    probabilities: np.ndarray  # [songs, classes]
    votes: np.ndarray  # [songs, classes]

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


def songs_from_segments(probabilities: np.ndarray, labels: np.ndarray, song_ids: list[str]) -> SongTable:
    """Average segment probabilities per song (top-1 and top-3 then share one ranking)."""
    order = sorted(set(song_ids))
    index = {song_id: row for row, song_id in enumerate(order)}
    rows = np.fromiter((index[song_id] for song_id in song_ids), dtype=np.int64, count=len(song_ids))
    classes = probabilities.shape[1]
    sums = np.zeros((len(order), classes))
    np.add.at(sums, rows, probabilities)
    counts = np.bincount(rows, minlength=len(order))[:, None]
    votes = np.zeros((len(order), classes))
    np.add.at(votes, (rows, probabilities.argmax(axis=1)), 1)
    song_labels = np.zeros(len(order), dtype=np.int64)
    song_labels[rows] = labels
    return SongTable(order, song_labels, sums / counts, votes)


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray, song_ids: list[str]) -> tuple[dict, SongTable]:
    """All metrics, as fractions in [0, 1], for segment probabilities `[segments, classes]`."""
    from sklearn.metrics import f1_score

    top_k = top_k_metric()
    segment = top_k.compute(predictions=probabilities, references=labels, k=list(TOP_K))
    songs = songs_from_segments(probabilities, labels, song_ids)
    song = top_k.compute(predictions=songs.probabilities, references=songs.labels, k=list(TOP_K))
    # The reference's rule: the most-voted class, ties broken by mean probability.
    vote = top_k.compute(predictions=songs.votes + 1e-6 * songs.probabilities, references=songs.labels, k=[1])
    metrics = {f"segment_top{k}": segment[f"top{k}_accuracy"] for k in TOP_K}
    metrics |= {f"song_top{k}": song[f"top{k}_accuracy"] for k in TOP_K}
    # Macro-F1 over the artists this split holds: under the album split an artist may have
    # no validation or test album, and an F1 of 0 for it would say nothing about the model.
    present = np.unique(songs.labels)
    metrics["song_macro_f1"] = float(f1_score(songs.labels, songs.predictions, average="macro",
                                              labels=present, zero_division=0))
    metrics["song_vote_top1"] = vote["top1_accuracy"]
    metrics["num_artists"] = len(present)
    metrics["num_songs"] = len(songs.song_ids)
    metrics["num_segments"] = len(labels)
    return metrics, songs


def predict_segments(model, dataset, collator, batch_size: int = 16, output_dir: str | None = None) -> np.ndarray:
    """Class probabilities `[segments, classes]` for a dataset, through `Trainer.predict`
    (devices, mixed precision and several processes handled by accelerate)."""
    import tempfile

    import torch
    from transformers import Trainer, TrainingArguments

    with tempfile.TemporaryDirectory() as scratch:
        args = TrainingArguments(output_dir=output_dir or scratch, per_device_eval_batch_size=batch_size,
                                 report_to=[], remove_unused_columns=False,
                                 dataloader_pin_memory=torch.cuda.is_available())
        trainer = Trainer(model=model, args=args, data_collator=collator)
        logits = trainer.predict(dataset).predictions
    return probabilities_from_logits(logits)


def probabilities_from_logits(logits) -> np.ndarray:
    """Class probabilities from the model's logits (log mean probabilities for songs)."""
    import torch

    return torch.from_numpy(np.asarray(logits, dtype=np.float32)).softmax(-1).numpy()


def evaluate_split(model, dataset, collator, batch_size: int = 16) -> tuple[dict, SongTable]:
    """Metrics of `model` on one split (a dataset with `audio`, `label` and `song_id`)."""
    probabilities = predict_segments(model, dataset, collator, batch_size)
    return classification_metrics(probabilities, np.asarray(dataset["label"]), list(dataset["song_id"]))


# -- reports -----------------------------------------------------------------------------
def write_metrics(path: str | Path, metrics_by_split: dict[str, dict]) -> Path:
    path = Path(path)
    path.write_text(json.dumps(metrics_by_split, indent=2) + "\n")
    return path


def write_confusion_matrix(songs: SongTable, names: list[str], output_dir: str | Path, title: str) -> tuple[Path, Path]:
    """Song-level confusion matrix, rows normalised: `confusion_matrix.png` and `.csv`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    output_dir = Path(output_dir)
    labels = np.arange(len(names))
    matrix = confusion_matrix(songs.labels, songs.predictions, labels=labels, normalize="true")
    csv_path = output_dir / "confusion_matrix.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["true \\ predicted", *names])
        for name, row in zip(names, np.nan_to_num(matrix)):
            writer.writerow([name, *(f"{value:.4f}" for value in row)])
    size = max(6.0, 0.45 * len(names) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(np.nan_to_num(matrix), display_labels=names).plot(
        ax=axes, cmap="Blues", values_format=".2f", xticks_rotation="vertical", colorbar=False)
    axes.set_title(title)
    figure.tight_layout()
    png_path = output_dir / "confusion_matrix.png"
    figure.savefig(png_path, dpi=120)
    plt.close(figure)
    return png_path, csv_path


def write_per_artist_table(songs: SongTable, names: list[str], path: str | Path) -> Path:
    """Song-level top-1 accuracy per artist, as CSV."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["artist", "songs", "correct", "accuracy"])
        for label, name in enumerate(names):
            mine = songs.labels == label
            correct = int((songs.predictions[mine] == label).sum())
            accuracy = f"{correct / mine.sum():.4f}" if mine.any() else ""
            writer.writerow([name, int(mine.sum()), correct, accuracy])
    return path
