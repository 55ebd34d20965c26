"""Every preprocessing parameter, in one place.

Written beside the dataset as `preprocess_config.json`, stored in the trained model's
config, and repeated by prediction, so a song is always prepared the way the model
was trained.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..models.singer.configuration_singer import SAMPLING_RATES
from ..models.singer.segments import check_number, check_spacing, segment_spacing

CONFIG_FILE = "preprocess_config.json"
NO_SEPARATOR = "none"  # the separator name that skips separation
# Ranges of what the stages can do (a recorded config is someone else's data).
SHORTEST_SEGMENT_SECONDS = 0.01
SILENCE_DB = (-200.0, 0.0)  # dBFS
MIN_SILENCE_SECONDS = (0.01, 3600.0)
logger = logging.getLogger(__name__)


def _help(text: str) -> dict:
    return {"help": text}


# Fields without which a stage cannot be repeated: absent from a record, the stage is off.
SEPARATOR_FIELDS = ("separator",)
SILENCE_FIELDS = ("remove_silence", "silence_db", "min_silence_seconds")


@dataclass
class PreprocessConfig:
    """Also the preprocess command's options (parsed by HfArgumentParser from these fields)."""

    sampling_rate: int = field(default=24000, metadata=_help("output rate: 24000 for MERT, 16000 for WavLM"))
    separator: str = field(default="htdemucs", metadata=_help(
        "demucs model for vocal separation; 'none' keeps the full mix"))
    # Where the weights come from (a local folder, a cache, a download) is the business of
    # the machine that runs, so no path is ever stored here: only what the weights are.
    separator_weights: str | None = field(default=None, metadata=_help(
        "digest of the separator's weights (recorded by preprocessing; a different one warns)"))
    separator_half: bool = field(default=False, metadata=_help(
        "run the separator in half precision (float16 on CUDA, bfloat16 on CPU); off until measured on real weights"))
    remove_silence: bool = field(default=True, metadata=_help("cut silent stretches out (unsilence's detector)"))
    silence_db: float = field(default=-35.0, metadata=_help("quieter than this (dBFS) counts as silence"))
    min_silence_seconds: float = field(default=0.5, metadata=_help("shorter quiet stretches are kept"))
    segment_seconds: float = field(default=5.0, metadata=_help("segment length"))
    hop_seconds: float | None = field(default=None, metadata=_help(
        "distance between segment starts (default: the segment length, no overlap)"))
    min_segment_seconds: float | None = field(default=None, metadata=_help(
        "shortest tail kept, padded to a full segment (default: half a segment)"))

    def __post_init__(self):
        self.hop_seconds, self.min_segment_seconds = segment_spacing(
            self.segment_seconds, self.hop_seconds, self.min_segment_seconds)
        check_number("sampling_rate", self.sampling_rate, *SAMPLING_RATES, integer=True, unit=" Hz")
        check_spacing(("segment_seconds", "hop_seconds", "min_segment_seconds"), self.segment_seconds,
                      self.hop_seconds, self.min_segment_seconds, shortest=SHORTEST_SEGMENT_SECONDS)
        check_number("silence_db", self.silence_db, *SILENCE_DB, unit=" dBFS")
        check_number("min_silence_seconds", self.min_silence_seconds, *MIN_SILENCE_SECONDS, unit=" s")
        for name in ("separator_half", "remove_silence"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} = {getattr(self, name)!r}: must be true or false")
        if not (isinstance(self.separator, str) and self.separator):
            raise ValueError(f"separator = {self.separator!r}: must be a demucs model name, or 'none'")
        if not isinstance(self.separator_weights, (str, type(None))):
            raise ValueError(f"separator_weights = {self.separator_weights!r}: must be a digest (text)")

    @classmethod
    def from_recorded(cls, recorded: dict, source: str | None = None, **fallbacks) -> "PreprocessConfig":
        """The config a record describes, where a stage the record does not name is off:
        no separator recorded means none, and silence removal needs its settings (a
        warning names what is missing). `fallbacks` fill fields that change no stage
        (e.g. the sampling rate, the segment length). A value out of its range is a
        ValueError naming `source`, the file the record was read from."""
        if not isinstance(recorded, dict):
            raise ValueError(f"{source or 'the recorded preprocessing'}: must be an object of preprocessing parameters")
        recorded = cls.known_fields(recorded)
        values = {**cls.known_fields(fallbacks), **recorded}
        if any(name not in recorded for name in SEPARATOR_FIELDS):
            values["separator"] = NO_SEPARATOR
        missing = [name for name in SILENCE_FIELDS if name not in recorded]
        if missing:
            if recorded and recorded.get("remove_silence", True):
                logger.warning("the recorded preprocessing lacks %s: no silence removal", ", ".join(missing))
            values["remove_silence"] = False
        try:
            return cls(**values)
        except ValueError as error:
            raise ValueError(f"{source}: {error}" if source else str(error)) from None

    def chunking(self) -> dict:
        """How a model trained on these segments cuts longer inputs: the same way."""
        return {"chunk_seconds": self.segment_seconds, "chunk_hop_seconds": self.hop_seconds,
                "min_chunk_seconds": self.min_segment_seconds}

    @property
    def uses_separator(self) -> bool:
        return self.separator.lower() != NO_SEPARATOR

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
