"""What a run leaves for people to read: metrics.json, the console table, the confusion
matrix, per-artist accuracy, the layer weights plot, the training curves and the training
summary; and song timelines (`plot_timeline`), for predict --timeline and other pages.

Training and evaluate_model write through `write_reports`, so the same model on the
same split leaves the same files by either route.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .metrics import COUNTS, METRICS
from .names import text_cell

METRICS_FILE = "metrics.json"
TRAINING_SUMMARY = "training_summary.json"
TRAINING_CURVES = "training_curves.png"


def format_metrics(metrics_by_split: dict[str, dict]) -> str:
    """The console table: one row per split, one column per metric."""
    lines = [f"{'split':<11}" + "".join(f"{metric.key:>15}" for metric in METRICS) + f"{'songs':>7}"]
    for split, values in metrics_by_split.items():
        lines.append(f"{split:<11}" + "".join(f"{values[metric.key]:>15.3f}" for metric in METRICS)
                     + f"{values['num_songs']:>7}")
    return "\n".join(lines)


def write_reports(output_dir: str | Path, metrics_by_split: dict[str, dict], songs_by_split: dict, names: list[str],
                  layer_weights: np.ndarray | None = None, summary: dict | None = None) -> None:
    """metrics.json; confusion matrix and per-artist table of the test split (else
    validation); the layer weights plot and the training summary when given."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    missing = [key for values in metrics_by_split.values() for key in (*(m.key for m in METRICS), *COUNTS)
               if key not in values]
    if missing:
        raise ValueError(f"metrics lack {sorted(set(missing))}")
    (output_dir / METRICS_FILE).write_text(json.dumps(metrics_by_split, indent=2) + "\n")
    if summary is not None:
        (output_dir / TRAINING_SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
    if songs_by_split:
        split = "test" if "test" in songs_by_split else next(iter(songs_by_split))
        write_confusion_matrix(songs_by_split[split], names, output_dir, title=f"song level, {split} split")
        write_per_artist_table(songs_by_split[split], names, output_dir / "per_artist_accuracy.csv")
    if layer_weights is not None:
        plot_layer_weights(layer_weights, output_dir / "layer_weights.png")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_confusion_matrix(songs, names: list[str], output_dir: str | Path, title: str) -> tuple[Path, Path]:
    """Song-level confusion matrix, rows normalised: `confusion_matrix.png` and `.csv`."""
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    output_dir = Path(output_dir)
    labels = np.arange(len(names))
    matrix = confusion_matrix(songs.labels, songs.predictions, labels=labels, normalize="true")
    csv_path = output_dir / "confusion_matrix.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        cells = [text_cell(name) for name in names]  # artist names are data, never formulas
        writer.writerow(["true \\ predicted", *cells])
        for cell, row in zip(cells, np.nan_to_num(matrix)):
            writer.writerow([cell, *(f"{value:.4f}" for value in row)])
    size = max(6.0, 0.45 * len(names) + 2)
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(size, size))
    ConfusionMatrixDisplay(np.nan_to_num(matrix), display_labels=names).plot(
        ax=axes, cmap="Blues", values_format=".2f", xticks_rotation="vertical", colorbar=False)
    axes.set_title(title)
    figure.tight_layout()
    png_path = output_dir / "confusion_matrix.png"
    figure.savefig(png_path, dpi=120)
    plt.close(figure)
    return png_path, csv_path


def write_per_artist_table(songs, names: list[str], path: str | Path) -> Path:
    """Song-level top-1 accuracy per artist, as CSV."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["artist", "songs", "correct", "accuracy"])
        for label, name in enumerate(names):
            mine = songs.labels == label
            correct = int((songs.predictions[mine] == label).sum())
            accuracy = f"{correct / mine.sum():.4f}" if mine.any() else ""
            writer.writerow([text_cell(name), int(mine.sum()), correct, accuracy])
    return path


def plot_layer_weights(weights: np.ndarray, path: Path) -> Path:
    """A bar per hidden state: the weighted sum's softmax weights."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(max(5.0, 0.35 * len(weights) + 2), 3.5))
    axes.bar(np.arange(len(weights)), weights, color="tab:blue")
    axes.set_xlabel("hidden state (0 = CNN/projection output)")
    axes.set_ylabel("softmax weight")
    axes.set_title("weighted-sum layer weights")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_open_set_report(output_dir: str | Path, results: dict, known_best: np.ndarray,
                          unknown_best: np.ndarray) -> None:
    """The split's `open_set` entry in metrics.json, and `open_set.png`: the best gallery
    score of known and unknown singers' songs with the threshold, and n-shot enrollment."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / METRICS_FILE
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    metrics.setdefault(results["split"], {})["open_set"] = results
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    plt = _pyplot()
    figure, (scores, shots) = plt.subplots(1, 2, figsize=(10, 3.8))
    every = [*known_best, *unknown_best, results["threshold"]]
    bins = np.linspace(min(every) - 0.01, max(every) + 0.01, 30)
    scores.hist(known_best, bins=bins, alpha=0.6, label=f"known singers ({len(known_best)} songs)")
    scores.hist(unknown_best, bins=bins, alpha=0.6, label=f"unknown singers ({len(unknown_best)} songs)")
    scores.axvline(results["threshold"], color="black", linestyle="--", label="threshold")
    scores.set_xlabel(f"best score against the gallery ({results['scoring']} scoring)")
    scores.set_ylabel("songs")
    scores.set_title(f"AUROC {results.get('auroc', float('nan')):.3f}, EER {results.get('eer', float('nan')):.3f}")
    scores.legend(fontsize="small")
    n_shot = results["n_shot"]
    shots.bar(list(n_shot), [values["accuracy"] for values in n_shot.values()], color="tab:green")
    shots.set_ylim(0, 1)
    shots.set_xlabel("songs enrolled per unknown singer")
    shots.set_ylabel("identification accuracy")
    shots.set_title("enrolling unknown singers")
    figure.tight_layout()
    figure.savefig(output_dir / "open_set.png", dpi=120)
    plt.close(figure)


# -- training curves -----------------------------------------------------------------------
def training_curves(log_history: list[dict]) -> dict[str, tuple[list[float], list[float]]]:
    """The series of a Trainer's `state.log_history`, by epoch: `{name: (epochs, values)}`
    for those it holds: "training loss" (each logged step's mean loss; when the run logged
    none, e.g. max_steps under one logging period, the run's mean loss at its end),
    "validation loss" and "validation song top-1"."""
    def series(key: str) -> tuple[list[float], list[float]]:
        entries = [entry for entry in log_history if key in entry and "epoch" in entry]
        return [float(entry["epoch"]) for entry in entries], [float(entry[key]) for entry in entries]

    curves = {"training loss": series("loss"), "validation loss": series("eval_loss"),
              "validation song top-1": series("eval_song_top1")}
    if not curves["training loss"][0]:
        curves["training loss"] = series("train_loss")  # the end-of-run summary: the run's mean loss
    return {name: values for name, values in curves.items() if values[0]}


def plot_training_curves(log_history: list[dict], path: str | Path) -> dict[str, tuple[list[float], list[float]]]:
    """`path` (e.g. training_curves.png): training and validation loss, and validation song
    top-1, by epoch, as far as `log_history` (a Trainer's `state.log_history`) holds them.
    Returns the series drawn (`training_curves`)."""
    from matplotlib.figure import Figure

    curves = training_curves(log_history)
    figure = Figure(figsize=(10, 3.8))
    losses, accuracy = figure.subplots(1, 2)
    run_mean = not any("loss" in entry for entry in log_history)  # the training loss is the summary's
    for name, color in (("training loss", "tab:blue"), ("validation loss", "tab:orange")):
        if name in curves:
            label = f"{name} (mean of the run)" if name == "training loss" and run_mean else name
            losses.plot(*curves[name], marker="o", color=color, label=label)
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.set_title("loss")
    if "training loss" in curves or "validation loss" in curves:
        losses.legend(fontsize="small")
    else:
        losses.text(0.5, 0.5, "no loss logged", ha="center", va="center", transform=losses.transAxes)
    if "validation song top-1" in curves:
        accuracy.plot(*curves["validation song top-1"], marker="o", color="tab:green")
        accuracy.set_ylim(-0.02, 1.02)
    else:
        accuracy.text(0.5, 0.5, "no validation", ha="center", va="center", transform=accuracy.transAxes)
    accuracy.set_xlabel("epoch")
    accuracy.set_ylabel("song top-1")
    accuracy.set_title("validation song top-1")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return curves


# -- song timelines ------------------------------------------------------------------------
def plot_timeline(timeline, path: str | Path | None = None, singers: int = 3, title: str | None = None):
    """The song's `singers` most probable singers' probabilities over its time.

    `timeline`: a `prediction.Timeline`. x: seconds of the original song; each chunk's
    probability is drawn as a level line over the original spans it holds (its resolution
    is the chunk hop, 5 s by default); what silence removal cut is shaded. With `path`, the
    figure is saved there and the path returned; without, the matplotlib `Figure` itself
    is returned (not registered with pyplot: nothing to close), e.g. for a Gradio `gr.Plot`.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.8))
    axes = figure.subplots()
    for number, (start, end) in enumerate(timeline.removed):
        axes.axvspan(start, end, color="0.85", zorder=0, label="removed as silence" if number == 0 else None)
    starts = [spans[0][0] for spans in timeline.spans[1:] if spans]
    if starts:  # where each chunk after the first begins
        axes.vlines(starts, 0, 1, colors="0.55", linestyles=":", linewidth=0.8, zorder=1)
    song = timeline.song_probabilities()
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]
    for rank, index in enumerate(timeline.top(singers)):
        levels = [[(start, row[index]), (end, row[index])]
                  for spans, row in zip(timeline.spans, timeline.probabilities) for start, end in spans]
        axes.add_collection(LineCollection(levels, colors=colors[rank % len(colors)], linewidths=2.5,
                                           label=f"{timeline.labels[index]} ({song[index]:.2f})"))
    axes.set_xlim(0, max(timeline.duration_s, 1e-3))
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel("time in the song (s)")
    axes.set_ylabel("probability")
    axes.set_title(f"{title + ': ' if title else ''}singer probabilities per {timeline.chunk_s:g} s chunk, "
                   f"every {timeline.hop_s:g} s of audible audio")
    axes.legend(fontsize="small", loc="upper right")
    figure.tight_layout()
    if path is None:
        return figure
    figure.savefig(path, dpi=120)
    return Path(path)
