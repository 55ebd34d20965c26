"""Every preprocessing parameter, in one place.

Written beside the dataset as `preprocess_config.json`, stored in the trained model's
config, and repeated by prediction, so a song is always prepared the way the model
was trained.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

CONFIG_FILE = "preprocess_config.json"


@dataclass
class PreprocessConfig:
    sampling_rate: int = 24000  # MERT's rate; 16000 for WavLM
    separator: str = "htdemucs"  # a demucs model name, or "none" to keep the full mix
    # The separator's weights by content (a digest), recorded when a dataset is made.
    # Where the weights come from (a local folder, a cache, a download) is the business of
    # the machine that runs, so no path is ever stored here.
    separator_weights: str | None = None
    remove_silence: bool = True
    silence_db: float = -35.0  # quieter than this (dBFS) counts as silence
    min_silence_seconds: float = 0.5  # shorter quiet stretches are kept
    segment_seconds: float = 5.0
    hop_seconds: float | None = None  # None: the segment length (no overlap)
    min_segment_seconds: float | None = None  # shortest tail kept; None: half a segment

    def __post_init__(self):
        if self.hop_seconds is None:
            self.hop_seconds = self.segment_seconds
        if self.min_segment_seconds is None:
            self.min_segment_seconds = self.segment_seconds / 2
        problems = [
            f"{name} must be positive, got {getattr(self, name)}"
            for name in ("sampling_rate", "segment_seconds", "hop_seconds", "min_silence_seconds")
            if not getattr(self, name) > 0
        ]
        if self.min_segment_seconds < 0:
            problems.append(f"min_segment_seconds must be >= 0, got {self.min_segment_seconds}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def uses_separator(self) -> bool:
        return self.separator.lower() != "none"

    def same_recipe(self, other: "PreprocessConfig") -> bool:
        """Whether `other` asks for what this config made; an unrecorded weights digest
        on either side matches any."""
        if None in (self.separator_weights, other.separator_weights):
            return dataclasses.replace(self, separator_weights=None) == dataclasses.replace(other, separator_weights=None)
        return self == other

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def known_fields(cls, values: dict) -> dict:
        """`values` without keys this config does not have, such as the `demucs_repo`
        path that configs written by earlier versions hold."""
        known = {field.name for field in dataclasses.fields(cls)}
        return {key: value for key, value in values.items() if key in known}

    @classmethod
    def from_dict(cls, values: dict) -> "PreprocessConfig":
        return cls(**cls.known_fields(values))

    def save(self, folder: str | Path) -> Path:
        path = Path(folder, CONFIG_FILE)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "PreprocessConfig":
        return cls.from_dict(json.loads(Path(folder, CONFIG_FILE).read_text()))
