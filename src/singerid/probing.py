"""Layer probes: how well each hidden state of a backbone tells the singers apart on its own.

    dataset (train / validation / test) ─▶ per-layer pooled features `[L+1, D]` per segment
        (training's feature cache: computed once per data, backbone weights and precision)
    ─▶ per hidden state: standardised features ─▶ logistic regression on train,
        its L2 strength chosen on validation
    ─▶ segment and song top-1 (mean segment probabilities per song) on validation and test
    ─▶ probe.csv, probe.png (with a weighted-sum model's learned layer weights beside them)

The probes read the same features the weighted-sum head mixes, so they show where in the
backbone the singer is, and whether a trained model's layer weights went there.
"""

from __future__ import annotations

import csv
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .evaluation import songs_from_segments
from .names import text_cell

logger = logging.getLogger(__name__)

PROBE_CSV = "probe.csv"
PROBE_PLOT = "probe.png"
# Inverse L2 strengths tried on validation (features are standardised, so one grid fits all
# backbones); without a validation split the probes use DEFAULT_C.
C_GRID = (0.001, 0.01, 0.1, 1.0)
DEFAULT_C = 1.0
EVALUATION_SPLITS = ("validation", "test")
PROBE_METRICS = ("segment_top1", "song_top1")


# -- features ----------------------------------------------------------------------------
@dataclass
class PooledFeatures:
    """One split's per-layer pooled features `[segments, L+1, D]`, read one layer at a time,
    with each segment's label and song."""

    blocks: list[np.ndarray]  # consecutive row blocks, each [rows, L+1, D]
    labels: np.ndarray  # [segments]
    song_ids: list[str]

    @classmethod
    def from_array(cls, features: np.ndarray, labels, song_ids: list[str]) -> "PooledFeatures":
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 3 or len(features) != len(labels) or len(labels) != len(song_ids):
            raise ValueError(f"features must be [segments, layers, dim] with one label and song per segment; "
                             f"got {features.shape}, {len(labels)} labels, {len(song_ids)} song ids")
        return cls([features], np.asarray(labels, dtype=np.int64), list(song_ids))

    @classmethod
    def from_dataset(cls, dataset) -> "PooledFeatures":
        """From a dataset with a `features` column (`Array2D`, as `cache_pooled_features`
        writes it): the Arrow buffers are viewed in place, so only one layer at a time is
        ever copied into memory."""
        table = dataset.with_format("arrow")[:]  # honours any row selection; a zero-copy slice otherwise
        shape = dataset.features["features"].shape
        blocks = []
        for chunk in table.column("features").chunks:
            if len(chunk) == 0:
                continue
            values = chunk.storage.flatten().flatten().to_numpy(zero_copy_only=False)
            blocks.append(values.reshape(len(chunk), *shape))
        return cls(blocks, np.asarray(dataset["label"], dtype=np.int64), list(dataset["song_id"]))

    @property
    def num_layers(self) -> int:
        return self.blocks[0].shape[1] if self.blocks else 0

    def __len__(self) -> int:
        return len(self.labels)

    def layer(self, index: int) -> np.ndarray:
        """`[segments, D]` float32: every segment's pooled features of one hidden state."""
        return np.concatenate([block[:, index] for block in self.blocks]).astype(np.float32, copy=False)


# -- probes ------------------------------------------------------------------------------
@dataclass
class LayerProbe:
    """One hidden state's probe: the chosen C and its scores per split."""

    layer: int
    C: float
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # split → segment_top1, song_top1


def probe_scores(probabilities: np.ndarray, labels: np.ndarray, song_ids: list[str]) -> dict[str, float]:
    """Segment top-1 and song top-1 (mean segment probabilities per song, as evaluation's)."""
    songs = songs_from_segments(probabilities, labels, song_ids)
    return {"segment_top1": float(np.mean(probabilities.argmax(axis=1) == labels)),
            "song_top1": float(np.mean(songs.predictions == songs.labels))}


def _probabilities(classifier, features: np.ndarray, num_classes: int) -> np.ndarray:
    """`[segments, num_classes]`: classes never seen in training get probability 0."""
    probabilities = np.zeros((len(features), num_classes))
    probabilities[:, classifier.classes_] = classifier.predict_proba(features)
    return probabilities


def _log_loss(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12)))


def probe_layers(splits: dict[str, PooledFeatures], num_classes: int, grid: tuple[float, ...] = C_GRID,
                 max_iter: int = 1000, progress: bool = True) -> list[LayerProbe]:
    """A logistic-regression probe per hidden state, trained on `splits["train"]` (features
    standardised with train's statistics). Its inverse L2 strength C is the one of `grid`
    with the best validation segment top-1 (ties: the lower validation log loss, then the
    smaller C); without a "validation" split it is DEFAULT_C. Every other split is scored.
    Deterministic: lbfgs on the full data, along the grid from the strongest regularisation
    (each fit warm-started from the one before)."""
    from datasets.utils.tqdm import tqdm
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if "train" not in splits or not len(splits["train"]):
        raise ValueError("layer probes need a non-empty 'train' split")
    train = splits["train"]
    if len(np.unique(train.labels)) < 2:
        raise ValueError(f"the train split holds {len(np.unique(train.labels))} artist(s): a probe needs two or more")
    evaluated = [name for name in splits if name != "train" and len(splits[name])]
    layers = {splits[name].num_layers for name in ["train", *evaluated]}
    if len(layers) != 1:
        raise ValueError(f"the splits' features have different numbers of hidden states: {sorted(layers)}")
    selecting = "validation" in evaluated
    candidates = tuple(sorted(grid)) if selecting else (DEFAULT_C,)

    probes, stopped = [], 0
    for layer in tqdm(range(train.num_layers), desc="layer probes", unit="hidden state", disable=not progress):
        # float64: sklearn's lbfgs computes in float64 and would convert float32 inputs at every step.
        scaler = StandardScaler().fit(train.layer(layer).astype(np.float64))
        inputs = {name: scaler.transform(splits[name].layer(layer).astype(np.float64)) for name in ["train", *evaluated]}
        # One regularisation path, strongest first: each fit starts from the previous solution.
        classifier, best = LogisticRegression(max_iter=max_iter, warm_start=True), None
        for C in candidates:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                classifier.set_params(C=C).fit(inputs["train"], train.labels)
            for warning in caught:
                if issubclass(warning.category, ConvergenceWarning):
                    stopped += 1
                else:
                    warnings.warn(warning.message, warning.category)
            probabilities = {name: _probabilities(classifier, inputs[name], num_classes) for name in evaluated}
            if selecting:
                validation = splits["validation"]
                key = (probe_scores(probabilities["validation"], validation.labels, validation.song_ids)["segment_top1"],
                       -_log_loss(probabilities["validation"], validation.labels))
            else:
                key = ()
            if best is None or key > best[0]:
                best = (key, C, probabilities)
        _, C, probabilities = best
        probes.append(LayerProbe(layer, C, {name: probe_scores(probabilities[name], splits[name].labels,
                                                                   splits[name].song_ids) for name in evaluated}))
    if stopped:
        logger.warning("%d probe fit(s) stopped at max_iter=%d before converging", stopped, max_iter)
    return probes


# -- the run -----------------------------------------------------------------------------
@dataclass
class ProbeReport:
    """What `probe_hidden_states` measured and wrote."""

    source: str  # "backbone NAME" or "model NAME"
    title: str  # the same with a name that means something on another machine (the plot's)
    probes: list[LayerProbe]
    splits: list[str]  # the evaluated splits, in order
    missing_splits: list[str]  # validation / test splits the dataset lacks (or holds empty)
    layer_weights: np.ndarray | None  # a weighted_sum model's softmax layer weights
    autocast: str  # the features' compute precision: "no", "bf16" or "fp16"
    num_classes: int
    csv: Path
    plot: Path

    @property
    def selection_split(self) -> str:
        """The split that ranks the layers: validation when there is one, else test."""
        return "validation" if "validation" in self.splits else self.splits[0]

    @property
    def best_layer(self) -> int:
        """The hidden state whose probe scores best on `selection_split` (song top-1, then segment)."""
        split = self.selection_split
        return max(self.probes, key=lambda probe: (probe.scores[split]["song_top1"],
                                                   probe.scores[split]["segment_top1"])).layer


def _default_autocast(model_name_or_path: str | None) -> str:
    """As training computes (and caches) the features: a saved run's own precision;
    a fresh backbone in bf16 (else fp16) on CUDA, fp32 elsewhere."""
    import torch

    from .evaluation import autocast_for, trained_autocast

    if model_name_or_path is not None:
        return autocast_for(trained_autocast(model_name_or_path))
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def probe_hidden_states(dataset: str, output: str | Path, backbone: str | None = None, model: str | None = None,
                        batch_size: int = 24, autocast: str | None = None, dtype: str | None = None,
                        grid: tuple[float, ...] = C_GRID, seed: int = 42, progress: bool = True) -> ProbeReport:
    """Probe every hidden state of a backbone on a dataset and write `probe.csv` and `probe.png`.

    Exactly one of `backbone` (a preset, Hub id or folder, wrapped in a fresh frozen
    weighted_sum classifier) or `model` (a saved SingerClassifier, finetuned or not: its own
    backbone is probed, and a weighted_sum model's learned layer weights are reported). The
    features come from training's cache (`cache_pooled_features`), so a backbone's features
    for a dataset are computed once for training and probing alike; `autocast` (default: the
    one training uses, see `_default_autocast`) is part of their key. `seed` is set before the
    classifier is built, as training does (random "tiny-*" backbones then match a training run
    with the same seed). Splits the dataset lacks are skipped with a warning
    (`missing_splits`); it needs train and validation or test."""
    import torch
    from transformers import set_seed

    from .data import AudioCollator, encoded_audio, load_corpus
    from .models import portable_name
    from .prediction import load_model
    from .training import ModelArguments, build_model, cache_pooled_features, layer_weights

    if (backbone is None) == (model is None):
        raise ValueError("layer probes need exactly one of a backbone (a fresh classifier around it) "
                         "or a saved model (its own backbone)")
    data, preprocessing = load_corpus(dataset)
    if "train" not in data or not data["train"].num_rows:
        raise ValueError(f"{dataset}: no 'train' split (it has {', '.join(data) or 'none'}): the probes are "
                         f"trained on it; give a dataset written by preprocess")
    splits = [name for name in EVALUATION_SPLITS if name in data and data[name].num_rows]
    missing = [name for name in EVALUATION_SPLITS if name not in splits]
    if not splits:
        raise ValueError(f"{dataset}: no validation or test split to measure the probes on (it has "
                         f"{', '.join(data)}); give a dataset written by preprocess")
    for name in missing:
        logger.warning("%s: no %r split; probing on %s only", dataset, name, " and ".join(splits))
    names = data["train"].features["label"].names

    set_seed(seed)
    if backbone is not None:
        classifier = build_model(ModelArguments(backbone=backbone, strategy="weighted_sum"), names, preprocessing)
        source, weights = f"backbone {backbone}", None  # a fresh model's weights are uniform: nothing learned
        title = f"backbone {portable_name(backbone)}"
    else:
        classifier = load_model(model, dtype)
        source, weights = f"model {model}", layer_weights(classifier)
        title = f"model {portable_name(model)}"
    autocast = autocast or _default_autocast(model)
    config = classifier.config
    if preprocessing is not None and preprocessing.segment_seconds > config.chunk_seconds + 1e-6:
        raise ValueError(f"{dataset}: its segments ({preprocessing.segment_seconds:g} s) are longer than the "
                         f"model's chunk ({config.chunk_seconds:g} s), and a probe needs one chunk per segment; "
                         f"give a dataset preprocessed with --segment_seconds {config.chunk_seconds:g}")
    classifier.to("cuda" if torch.cuda.is_available() else "cpu")
    collator = AudioCollator.for_model(config)
    audio = encoded_audio(data)
    features = {}
    for name in ["train", *splits]:
        cached = cache_pooled_features(classifier, audio[name], collator, batch_size, autocast)
        features[name] = PooledFeatures.from_dataset(cached)
    del classifier
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

    probes = probe_layers(features, len(names), grid, progress=progress)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    report = ProbeReport(source, title, probes, splits, missing, weights, autocast, len(names),
                         output / PROBE_CSV, output / PROBE_PLOT)
    write_probe_table(report)
    plot_probes(report)
    return report


# -- outputs -----------------------------------------------------------------------------
def probe_columns(report: ProbeReport) -> list[str]:
    columns = ["hidden_state", "C", *(f"{split}_{metric}" for split in report.splits for metric in PROBE_METRICS)]
    return columns + (["layer_weight"] if report.layer_weights is not None else [])


def write_probe_table(report: ProbeReport) -> Path:
    """probe.csv: one row per hidden state (0 = the CNN / projection output)."""
    with open(report.csv, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow([text_cell(column) for column in probe_columns(report)])  # split names are data
        for probe in report.probes:
            row = [probe.layer, f"{probe.C:g}",
                   *(f"{probe.scores[split][metric]:.4f}" for split in report.splits for metric in PROBE_METRICS)]
            if report.layer_weights is not None:
                row.append(f"{report.layer_weights[probe.layer]:.4f}")
            writer.writerow(row)
    return report.csv


def plot_probes(report: ProbeReport) -> Path:
    """probe.png: segment and song top-1 of each hidden state's probe per split, chance, and
    (weighted_sum models) the learned softmax layer weights as bars on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = np.array([probe.layer for probe in report.probes])
    figure, axes = plt.subplots(figsize=(max(6.0, 0.35 * len(layers) + 3), 4.2))
    handles = []
    if report.layer_weights is not None:
        bars = axes.twinx()
        handles.append(bars.bar(layers, report.layer_weights, color="tab:blue", alpha=0.25,
                                label="model's layer weight (right axis)"))
        bars.set_ylabel("softmax layer weight")
        bars.set_ylim(0, max(float(report.layer_weights.max()) * 1.15, 1e-3))
        axes.set_zorder(bars.get_zorder() + 1)  # the probe lines in front of the bars
        axes.patch.set_visible(False)
    colors = {"validation": "tab:orange", "test": "tab:green"}
    for split in report.splits:
        color = colors.get(split, "tab:gray")
        for metric, style, marker in (("song_top1", "-", "o"), ("segment_top1", "--", ".")):
            values = [probe.scores[split][metric] for probe in report.probes]
            handles += axes.plot(layers, values, style, marker=marker, color=color,
                                 label=f"{split} {metric.replace('_top1', '')} top-1")
    handles.append(axes.axhline(1 / report.num_classes, color="gray", linestyle=":", label="chance"))
    best = report.best_layer
    axes.axvline(best, color="black", linewidth=0.8, alpha=0.5)
    axes.set_xlabel("hidden state (0 = CNN/projection output)")
    axes.set_ylabel("probe top-1 accuracy")
    axes.set_ylim(0, 1.02)
    axes.set_xticks(layers)
    axes.set_title(f"linear probe per hidden state: {report.title}\n"
                   f"(best on {report.selection_split}: hidden state {best})", fontsize=10)
    axes.legend(handles=handles, fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(report.plot, dpi=120)
    plt.close(figure)
    return report.plot
