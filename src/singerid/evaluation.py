"""One way to measure a singer classifier: segment and song top-1 / top-3, macro-F1 and
majority vote (the reference's song rule, for comparison), the keys of `metrics.METRICS`.

Training (model selection on validation, final validation and test numbers) and
evaluate_model both come through here, so the same model on the same split gives
the same numbers by either route.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import TOP_K_MODULE

TOP_K = (1, 3)


def top_k_metric():
    """The repository's top-k `evaluate` module, loaded by path (no Hub needed)."""
    import evaluate

    return evaluate.load(str(TOP_K_MODULE))


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


def per_song_mean(values: np.ndarray, song_ids: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(sorted song ids, each segment's song row, the mean of `values` over each song's segments)."""
    order = sorted(set(song_ids))
    index = {song_id: row for row, song_id in enumerate(order)}
    rows = np.fromiter((index[song_id] for song_id in song_ids), dtype=np.int64, count=len(song_ids))
    sums = np.zeros((len(order), values.shape[1]))
    np.add.at(sums, rows, values)
    return order, rows, sums / np.bincount(rows, minlength=len(order))[:, None]


def songs_from_segments(probabilities: np.ndarray, labels: np.ndarray, song_ids: list[str]) -> SongTable:
    """Average segment probabilities per song (top-1 and top-3 then share one ranking)."""
    order, rows, means = per_song_mean(probabilities, song_ids)
    votes = np.zeros((len(order), probabilities.shape[1]))
    np.add.at(votes, (rows, probabilities.argmax(axis=1)), 1)
    song_labels = np.zeros(len(order), dtype=np.int64)
    song_labels[rows] = labels
    return SongTable(order, song_labels, means, votes)


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


@dataclass
class SegmentOutputs:
    probabilities: np.ndarray  # [segments, classes]
    precision: str  # the weights' dtype and the autocast they were computed in
    embeddings: np.ndarray | None = None  # [segments, E] unit embeddings, when asked for


def predict_segments(model, dataset, collator, batch_size: int = 16, autocast: str | None = None,
                     output_dir: str | None = None, embeddings: bool = False) -> SegmentOutputs:
    """Class probabilities for a dataset's segments (and their embeddings), through
    `Trainer.predict` (devices, mixed precision and several processes handled by
    accelerate), and the precision they were computed in: the weights' dtype and the
    autocast, "no", "bf16" or "fp16" (None: accelerate's own setting, as `accelerate
    launch --mixed_precision` gives)."""
    import os
    import tempfile
    from unittest import mock

    import torch
    from transformers import TrainingArguments

    from .training import SingerTrainer  # its DataParallel splits input_lengths per replica

    if embeddings:
        collator = _asking_for_embeddings(collator)
    environment = {"ACCELERATE_MIXED_PRECISION": autocast} if autocast else {}
    with tempfile.TemporaryDirectory() as scratch, mock.patch.dict(os.environ, environment):
        args = TrainingArguments(output_dir=output_dir or scratch, per_device_eval_batch_size=batch_size,
                                 report_to=[], remove_unused_columns=False, use_cpu=not torch.cuda.is_available(),
                                 dataloader_pin_memory=torch.cuda.is_available())
        trainer = SingerTrainer(model=model, args=args, data_collator=collator)
        predictions = trainer.predict(dataset).predictions
        precision = f"{str(model.dtype).removeprefix('torch.')} weights, autocast {trainer.accelerator.mixed_precision}"
    logits, vectors = predictions if embeddings else (predictions, None)
    return SegmentOutputs(probabilities_from_logits(logits), precision,
                          None if vectors is None else np.asarray(vectors, dtype=np.float32))


def _asking_for_embeddings(collator):
    # Without labels: no loss to compute, and a split may hold artists the model does not know.
    def collate(examples):
        batch = collator(examples)
        batch.pop("labels", None)
        return {**batch, "output_embeddings": True}
    return collate


def probabilities_from_logits(logits) -> np.ndarray:
    """Class probabilities from the model's logits (log mean probabilities for songs)."""
    import torch

    return torch.from_numpy(np.asarray(logits, dtype=np.float32)).softmax(-1).numpy()


def evaluate_split(model, dataset, collator, batch_size: int = 16, autocast: str | None = None) -> tuple[dict, SongTable]:
    """Metrics of `model` on one split (a dataset with `audio`, `label` and `song_id`),
    with the precision they were computed in (`precision`)."""
    outputs = predict_segments(model, dataset, collator, batch_size, autocast)
    metrics, songs = classification_metrics(outputs.probabilities, np.asarray(dataset["label"]),
                                            list(dataset["song_id"]))
    return {**metrics, "precision": outputs.precision}, songs


def evaluate_dataset(model_name_or_path: str, dataset_name_or_path: str, split: str, output_dir: str,
                     batch_size: int = 24, dtype: str | None = None, autocast: str | None = None) -> dict[str, dict]:
    """Evaluate a saved model on one split of a dataset and write the reports (the same
    files as training writes); returns `{split: metrics}`. `autocast` (None: the one the
    model was trained and finally evaluated with, from its training summary) and `dtype`
    (None: as saved) set the precision, so the numbers equal training's own."""
    from .data import AudioCollator, encoded_audio, load_split
    from .prediction import load_model
    from .reports import write_reports

    model = load_model(model_name_or_path, dtype).eval()
    data = load_split(dataset_name_or_path, split)
    names = model.config.class_names
    if data.features["label"].names != names:
        raise ValueError(f"the dataset's labels {data.features['label'].names} differ from the model's {names}")
    collator = AudioCollator.for_model(model.config)
    autocast = autocast or trained_autocast(model_name_or_path)
    metrics, songs = evaluate_split(model, encoded_audio(data), collator, batch_size, autocast)
    write_reports(output_dir, {split: metrics}, {split: songs}, names)
    return {split: metrics}


def trained_autocast(model_name_or_path: str) -> str | None:
    """The autocast a saved run was trained (and finally evaluated) under, from its
    training summary; None when the folder has none."""
    import json
    from pathlib import Path

    from .reports import TRAINING_SUMMARY

    summary = Path(model_name_or_path, TRAINING_SUMMARY)
    if not summary.is_file():
        return None
    return autocast_for(json.loads(summary.read_text()).get("precision"))


def autocast_for(training_precision: str | None) -> str:
    """The evaluation autocast for a training precision ("bf16", "fp16" or "fp32")."""
    return training_precision if training_precision in ("bf16", "fp16") else "no"
