"""Predict the singers of song files, with the preprocessing the model was trained with.

    song file ─▶ decode ─▶ separate ─▶ remove silence ─▶ SingerClassifier (chunks, mean probabilities)

Every decodable song gets an answer: when silence removal leaves nothing, the song's
raw audio is classified instead. Undecodable files are reported, not fatal.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .audio import AudioDecodeError, is_audio_file, load_mono
from .preprocessing import PreprocessConfig, SongPreprocessor

logger = logging.getLogger(__name__)


@dataclass
class SongPrediction:
    id: str  # the file stem, as graders expect (see song_ids)
    path: str
    labels: list[str] = field(default_factory=list)  # best first
    scores: list[float] = field(default_factory=list)
    used_raw_audio: bool = False  # cleaned audio was empty
    error: str | None = None  # set when the file could not be decoded


def find_audio_files(inputs: list[str | Path]) -> list[Path]:
    """Audio files among `inputs` (files, or folders searched recursively), sorted per folder."""
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(path for path in item.rglob("*") if path.is_file() and is_audio_file(path))
        else:
            files.append(item)
    return files


def song_ids(files: list[Path]) -> list[str]:
    """File stems, as graders expect; where stems repeat, the path below the files' common
    folder (without extension) tells those songs apart."""
    stems = [path.stem for path in files]
    if len(set(stems)) == len(stems):
        return stems
    root = Path(os.path.commonpath([path.resolve().parent for path in files]))
    return [stem if stems.count(stem) == 1 else path.resolve().relative_to(root).with_suffix("").as_posix()
            for stem, path in zip(stems, files)]


def load_model(model):
    """A SingerClassifier from an instance, a folder or a Hub id."""
    if not isinstance(model, (str, Path)):
        return model
    from transformers import AutoModelForAudioClassification

    return AutoModelForAudioClassification.from_pretrained(str(model))


def prediction_config(model, **overrides) -> PreprocessConfig:
    """The model's training preprocessing at its sampling rate, with `overrides` (None = keep)."""
    stored = dict(model.config.preprocessing or {})
    stored["sampling_rate"] = model.config.sampling_rate
    stored.update({key: value for key, value in overrides.items() if value is not None})
    if not model.config.preprocessing and "separator" not in overrides:
        stored.setdefault("separator", "none")  # nothing recorded: classify the audio as given
    return PreprocessConfig.from_dict(stored)


def predict_songs(paths: list[str | Path], model, top_k: int = 3, ids: list[str] | None = None,
                  separator: str | None = None,
                  demucs_repo: str | None = None, remove_silence: bool | None = None, device: str | None = None,
                  batch_size: int = 4, cache_dir: str | Path | None = None, progress: bool = True) -> list[SongPrediction]:
    """Top-k singers of each song, in input order.

    `separator`, `demucs_repo` and `remove_silence` override the preprocessing stored in the
    model's config. Songs are classified `batch_size` at a time (padded, with attention
    masks) on `device` (CUDA when available).
    """
    model = load_model(model).eval()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    config = prediction_config(model, separator=separator, demucs_repo=demucs_repo, remove_silence=remove_silence)
    preprocessor = SongPreprocessor(config, cache_dir=cache_dir, device=device)
    names = [model.config.id2label[index] for index in range(model.config.num_labels)]

    ids = ids or song_ids([Path(path) for path in paths])
    predictions = [SongPrediction(id=song_id, path=str(path)) for song_id, path in zip(ids, paths)]
    ready: list[tuple[SongPrediction, np.ndarray]] = []
    for prediction in tqdm(predictions, desc="preparing songs", unit="song", disable=not progress):
        try:
            ready.append((prediction, _clean_audio(preprocessor, prediction)))
        except AudioDecodeError as error:
            prediction.error = error.problem
            tqdm.write(f"error: {error}", file=sys.stderr)
        if len(ready) == batch_size:
            _classify(model, ready, names, top_k, device)
            ready = []
    if ready:
        _classify(model, ready, names, top_k, device)
    return predictions


def _clean_audio(preprocessor: SongPreprocessor, prediction: SongPrediction) -> np.ndarray:
    cleaned = preprocessor.audible(preprocessor.vocals(prediction.path))
    if len(cleaned) == 0:  # nothing audible after the cut: classify the raw song instead
        prediction.used_raw_audio = True
        cleaned = load_mono(prediction.path, preprocessor.config.sampling_rate)
    return cleaned


def _classify(model, batch: list[tuple[SongPrediction, np.ndarray]], names: list[str], top_k: int, device) -> None:
    width = max(len(wave) for _, wave in batch)
    inputs = torch.zeros(len(batch), width)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for row, (_, wave) in enumerate(batch):
        inputs[row, : len(wave)] = torch.from_numpy(wave)
        mask[row, : len(wave)] = 1
    with torch.inference_mode():
        probabilities = model(inputs.to(device), attention_mask=mask.to(device)).logits.float().softmax(-1).cpu()
    scores, indices = probabilities.topk(min(top_k, len(names)), dim=-1)
    for (prediction, _), row_scores, row_indices in zip(batch, scores.tolist(), indices.tolist()):
        prediction.labels = [names[index] for index in row_indices]
        prediction.scores = row_scores
