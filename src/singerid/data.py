"""Data for training and evaluation: loading a corpus, and collating segments into batches."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Audio, DatasetDict, load_dataset, load_from_disk

from .audio import decode_bytes, resample
from .errors import unavailable
from .preprocessing.config import CONFIG_FILE, PreprocessConfig


def load_corpus(name_or_path: str) -> tuple[DatasetDict, PreprocessConfig | None]:
    """The DatasetDict and the preprocessing it was made with (None if nothing was recorded)."""
    path = Path(name_or_path)
    try:
        if path.is_dir():
            dataset = load_from_disk(str(path))
            config = path / CONFIG_FILE
            preprocessing = json.loads(config.read_text()) if config.is_file() else None
        else:
            dataset = load_dataset(name_or_path)
            preprocessing = _hub_preprocess_config(name_or_path)
    except (OSError, ValueError) as error:  # no such folder, not a dataset, unknown or unreachable Hub id
        raise unavailable("dataset", name_or_path, error) from None
    preprocessing = (PreprocessConfig.from_recorded(preprocessing, source=str(Path(name_or_path, CONFIG_FILE)))
                     if preprocessing else None)
    if not isinstance(dataset, DatasetDict):
        raise ValueError(f"{name_or_path}: expected a DatasetDict with train / validation / test splits")
    for split, part in dataset.items():
        missing = {"audio", "label", "song_id"} - set(part.column_names)
        if missing:
            raise ValueError(f"{name_or_path}: split {split!r} lacks the column(s) {sorted(missing)}")
    return dataset, preprocessing


def load_split(name_or_path: str, split: str):
    """One split of a corpus (see `load_corpus`), or an error naming the splits it has."""
    dataset, _ = load_corpus(name_or_path)
    if split not in dataset:
        raise ValueError(f"{name_or_path} has no split {split!r} (it has {', '.join(dataset)})")
    return dataset[split]


def without_artists(dataset: DatasetDict, artists: list[str]) -> DatasetDict:
    """The dataset without these artists' segments, the others' labels renumbered in order."""
    from datasets import ClassLabel

    names = next(iter(dataset.values())).features["label"].names
    missing = sorted(set(artists) - set(names))
    if missing:
        raise ValueError(f"no artist {', '.join(missing)} in the dataset (it has {', '.join(names)})")
    kept = [name for name in names if name not in artists]
    if len(kept) < 2:
        raise ValueError(f"leaving out {', '.join(artists)} leaves {len(kept)} artist(s): training needs two")
    relabel = {names.index(name): label for label, name in enumerate(kept)}
    parts = {}
    for split, part in dataset.items():
        # New labels, then the kept rows' indices: both small, both kept in memory. datasets'
        # filter and map would write cache files beside the dataset's own, and the map a copy
        # of every segment's audio. A left-out row's -1 ("no label") is selected away.
        labels = list(part["label"])
        relabelled = part.remove_columns("label").add_column(
            "label", [relabel.get(label, -1) for label in labels], feature=ClassLabel(names=kept))
        rows = [row for row, label in enumerate(labels) if label in relabel]
        parts[split] = relabelled.select_columns(part.column_names).select(rows)
    return DatasetDict(parts)


def encoded_audio(dataset):
    """The dataset (or DatasetDict) with its audio left encoded (`bytes`, `path`): the
    collator decodes it, in the loader's workers, at the model's rate."""
    return dataset.cast_column("audio", Audio(decode=False))


def _hub_preprocess_config(repo_id: str) -> dict:
    from huggingface_hub import hf_hub_download

    try:
        return json.loads(Path(hf_hub_download(repo_id, CONFIG_FILE, repo_type="dataset")).read_text())
    except Exception:  # an ordinary dataset without our parameters file
        return None


@dataclass
class AudioCollator:
    """Pads segments to at least one chunk, with an attention mask over real samples.

    Audio comes encoded (`encoded_audio`) or decoded (`array`), and is brought to
    `sampling_rate`. A segment's real length comes from `start_s`/`end_s` when present
    (preprocessing zero-pads the last segment of a song). With `random_crop`, longer
    segments are cut to one chunk at a random place.
    """

    sampling_rate: int
    chunk_samples: int
    random_crop: bool = False

    @classmethod
    def for_model(cls, config, random_crop: bool = False) -> "AudioCollator":
        """The collator for a model (its `SingerClassifierConfig`): its rate, its chunk."""
        return cls(config.sampling_rate, config.chunk_samples, random_crop)

    def __call__(self, examples: list[dict]) -> dict:
        waves, lengths = [], []
        for example in examples:
            wave = self.samples(example["audio"])
            length = len(wave)
            if "start_s" in example and "end_s" in example:
                length = min(length, max(1, round((example["end_s"] - example["start_s"]) * self.sampling_rate)))
            if self.random_crop and length > self.chunk_samples:
                start = int(torch.randint(0, length - self.chunk_samples + 1, ()).item())
                wave, length = wave[start : start + self.chunk_samples], self.chunk_samples
            waves.append(wave)
            lengths.append(length)
        batch, mask = pad_batch(waves, lengths, min_width=self.chunk_samples)
        # The lengths as host ints too: the model plans chunks from them without waiting for the device.
        return {"input_values": batch, "attention_mask": mask, "input_lengths": lengths,
                "labels": torch.tensor([example["label"] for example in examples])}

    def samples(self, audio) -> np.ndarray:
        """Mono float32 samples at `sampling_rate` of one example's audio."""
        if isinstance(audio, dict) and "bytes" in audio:
            data = audio["bytes"] if audio["bytes"] is not None else Path(audio["path"]).read_bytes()
            return decode_bytes(data, self.sampling_rate)
        wave = np.asarray(audio["array"], dtype=np.float32)
        return resample(wave, audio["sampling_rate"], self.sampling_rate)


def pad_batch(waves: list[np.ndarray], lengths: list[int] | None = None, min_width: int = 0):
    """Zero-padded `[batch, width]` float32 audio and its attention mask over the first
    `lengths` (default: all) samples of each wave."""
    lengths = lengths or [len(wave) for wave in waves]
    width = max(min_width, max(len(wave) for wave in waves))
    batch = torch.zeros(len(waves), width)
    mask = torch.zeros(len(waves), width, dtype=torch.long)
    for row, (wave, length) in enumerate(zip(waves, lengths)):
        batch[row, :length] = torch.from_numpy(wave[:length])
        mask[row, :length] = 1
    return batch, mask


def feature_collator(examples: list[dict]) -> dict:
    return {"pooled_features": torch.from_numpy(np.stack([np.asarray(e["features"], np.float32) for e in examples])),
            "labels": torch.tensor([example["label"] for example in examples])}
