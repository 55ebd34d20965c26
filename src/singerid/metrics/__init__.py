"""The metrics singerid reports: one table feeds the console, metrics.json, the model
card's model-index and the reproduction table. `top_k_accuracy/` is the `evaluate`
module that computes top-k, loaded by path so it works offline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TOP_K_MODULE = Path(__file__).with_name("top_k_accuracy")


@dataclass(frozen=True)
class Metric:
    key: str  # in metrics.json
    title: str  # in tables and on the Hub
    model_index: tuple[str, str, dict] | None = None  # (type, name, args) on the Hub's model-index; None: not there


METRICS = (
    Metric("song_top1", "song top-1", ("accuracy", "Song top-1 accuracy", {"k": 1})),
    Metric("song_top3", "song top-3", ("accuracy", "Song top-3 accuracy", {"k": 3})),
    Metric("song_macro_f1", "song macro-F1", ("f1", "Song macro-F1", {"average": "macro"})),
    Metric("segment_top1", "segment top-1"),
    Metric("segment_top3", "segment top-3"),
    Metric("song_vote_top1", "majority vote top-1"),
)
# Counts beside the metrics in metrics.json: what a split holds.
COUNTS = ("num_artists", "num_songs", "num_segments")
# The song-level headline numbers: the model-index and the reproduction table.
HEADLINE = tuple(metric for metric in METRICS if metric.model_index)
