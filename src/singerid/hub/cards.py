"""Cards: the model card of a saved training run and the dataset card of a preprocessed
folder, each rendered from what the folder holds, with the templates in hub_cards/."""

from __future__ import annotations

import json
from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData, EvalResult, ModelCard, ModelCardData

from ..gallery import GALLERY_FILE, Gallery
from ..metrics import HEADLINE, METRICS
from ..preprocessing.config import PreprocessConfig
from ..preprocessing.dataset import REPORT_FILE
from ..reports import METRICS_FILE, TRAINING_SUMMARY

# `cards` is a link to the repository's hub_cards/ folder, shipped as package data.
CARDS_DIR = Path(__file__).parents[1] / "cards"
MERT_LICENCE = "cc-by-nc-4.0"


# -- dataset card ------------------------------------------------------------------------
def write_dataset_card(dataset_dir: str | Path) -> Path:
    """Render hub_cards/dataset_card.md for a folder written by preprocessing, from its
    preprocess_report.json and preprocess_config.json, into DATASET_DIR/README.md."""
    dataset_dir = Path(dataset_dir)
    report = _read_json(dataset_dir / REPORT_FILE)
    config = PreprocessConfig.load(dataset_dir)
    songs = report["songs"]
    split_rows = []
    for split, segments in report["summary"]["segments"].items():
        ok = [song_id for song_id, song in songs.items() if song["split"] == split and song["status"] == "ok"]
        split_rows.append({"split": split, "songs": len(ok), "segments": segments,
                           "albums": len({song_id.rsplit("/", 1)[0] for song_id in ok})})
    skipped = report["summary"]["skipped"]
    card_data = DatasetCardData(
        pretty_name="Singer identification segments",
        task_categories=["audio-classification"],
        tags=["singer-identification", "music", "singerid"],
        size_categories=[_size_category(sum(row["segments"] for row in split_rows))],
    )
    card = DatasetCard.from_template(
        card_data,
        template_path=str(CARDS_DIR / "dataset_card.md"),
        pretty_name="Singer identification segments",
        source=report["summary"].get("corpus", "the source corpus"),
        sampling_rate=config.sampling_rate,
        num_artists=len({song_id.split("/", 1)[0] for song_id in songs}),
        split_rows=split_rows,
        skipped_note=f"{skipped} file(s) were skipped; see preprocess_report.json." if skipped else "",
        duplicates_note=_duplicates_note(report.get("duplicates", [])),
        split_rule="per artist, albums sorted by name: the last album is test, the one before it "
        "validation, the rest train (artist20's 4 / 1 / 1 for six albums), unless list files were given.",
        preprocessing=config.to_dict(),
        separator_text=f"demucs `{config.separator}`, vocals stem" if config.uses_separator else "none: the full mix",
        silence_text=f"below {config.silence_db} dBFS for at least {config.min_silence_seconds} s, cut out"
        if config.remove_silence else "off",
        segment_seconds=config.segment_seconds,
        hop_seconds=config.hop_seconds,
        min_segment_seconds=config.min_segment_seconds,
        command_options=_options(config),
    )
    path = dataset_dir / "README.md"
    card.save(path)
    return path


def _duplicates_note(groups: list[dict]) -> str:
    if not groups:
        return ""
    apart = sum(len(set(group["songs"].values())) > 1 for group in groups)
    return (f"{len(groups)} group(s) of copies of one recording were found (`duplicates` in preprocess_report.json); "
            + (f"{apart} of them span splits, as the split lists put them." if apart else
               "each lies in one split."))


def _options(config) -> str:
    parts = [f"--sampling-rate {config.sampling_rate}", f"--separator {config.separator}",
             f"--segment-seconds {config.segment_seconds}", f"--hop-seconds {config.hop_seconds}",
             f"--min-segment-seconds {config.min_segment_seconds}"]
    parts += [f"--silence-db {config.silence_db}", f"--min-silence-seconds {config.min_silence_seconds}"] \
        if config.remove_silence else ["--no-remove-silence"]
    return " ".join(parts)


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "n>1M"


# -- model card --------------------------------------------------------------------------
def render_model_card(run_dir: str | Path, repo_id: str) -> ModelCard:
    """The model card of a training run folder, from its config.json, metrics.json and
    training_summary.json."""
    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    metrics = _read_json(run_dir / METRICS_FILE)
    summary = _read_json(run_dir / TRAINING_SUMMARY)
    backbone = config.get("backbone_id") or "unknown"
    dataset = summary.get("dataset", "unknown")
    is_random = backbone.startswith("tiny-")  # singerid's random test architectures
    is_mert = "mert" in backbone.lower() and not is_random
    preprocessing = config.get("preprocessing") or {}
    eval_results = [
        EvalResult(task_type="audio-classification", task_name="Singer identification", dataset_type=dataset,
                   dataset_name=dataset, dataset_split=split,
                   metric_type=metric.model_index[0], metric_name=metric.model_index[1],
                   metric_args=metric.model_index[2], metric_value=round(values[metric.key], 4))
        for split, values in metrics.items() for metric in HEADLINE
    ]
    card_data = ModelCardData(
        model_name=repo_id.split("/")[-1], license=_licence(is_mert, is_random),
        license_name="see-backbone" if _licence(is_mert, is_random) == "other" else None, library_name="transformers",
        pipeline_tag="audio-classification", tags=["singer-identification", "music", "singerid", config["strategy"]],
        base_model=backbone if "/" in backbone else None,  # a Hub id (local folders are recorded by name)
        eval_results=eval_results or None, metrics=["accuracy", "f1"],
    )
    labels = [config["id2label"][str(index)] for index in range(len(config["id2label"]))]
    return ModelCard.from_template(
        card_data,
        template_path=str(CARDS_DIR / "model_card.md"),
        model_name=repo_id.split("/")[-1],
        repo_id=repo_id,
        num_labels=len(labels),
        labels=", ".join(f"`{label}`" for label in labels),
        backbone=backbone,
        backbone_params=f"{_backbone_parameters(run_dir):,}",
        num_hidden_states=config["encoder_config"]["num_hidden_layers"] + 1,
        strategy=config["strategy"],
        strategy_text="frozen backbone, softmax-weighted sum of all layers" if config["strategy"] == "weighted_sum"
        else "the transformer fine-tuned, last layer",
        dataset=dataset,
        segment_seconds=preprocessing.get("segment_seconds", config["chunk_seconds"]),
        chunk_seconds=config["chunk_seconds"],
        sampling_rate=config["sampling_rate"],
        columns=[metric.title for metric in METRICS],
        results=[{"split": split, "num_songs": values["num_songs"],
                  "values": [f"{values[metric.key]:.3f}" for metric in METRICS]} for split, values in metrics.items()],
        has_confusion_matrix=(run_dir / "confusion_matrix.png").is_file(),
        confusion_matrix="confusion_matrix.png",
        preprocessing=preprocessing,
        preprocessing_text=_preprocessing_text(preprocessing),
        hyperparameters={key: value for key, value in summary.items()
                         if key not in ("dataset", "backbone", "strategy") and value not in (None, -1, [])},
        gallery_text=_gallery_text(run_dir),
        licence_text=_licence_text(backbone, is_mert, is_random),
    )


def _gallery_text(run_dir: Path) -> str | None:
    """What the gallery of singers shipped with the model offers, or None without one."""
    if not (run_dir / GALLERY_FILE).is_file():
        return None
    gallery = Gallery.load(run_dir)
    text = (f"The gallery of singers beside the model (`{GALLERY_FILE}`: {len(gallery.singers)} singers, "
            f"{len(gallery)} songs) lets singerid answer \"unknown\" for other singers "
            f"(`singerid predict --open-set`) and add singers without retraining (`singerid enroll`)")
    if gallery.calibration:
        calibration = gallery.calibration
        text += (f"; its threshold, a {gallery.scoring.name} score of {calibration.threshold:.3f}, was set for a "
                 f"{calibration.false_accept_rate:.0%} false-accept rate on {calibration.method}")
    return text + "."


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def _backbone_parameters(run_dir: Path) -> int:
    """Counted from the safetensors header; no weights are loaded."""
    from math import prod

    from safetensors import safe_open

    with safe_open(run_dir / "model.safetensors", framework="np") as weights:
        return sum(prod(weights.get_slice(name).get_shape()) for name in weights.keys() if name.startswith("backbone."))


def _licence(is_mert: bool, is_random: bool) -> str:
    return MERT_LICENCE if is_mert else "apache-2.0" if is_random else "other"


def _preprocessing_text(preprocessing: dict) -> str:
    if not preprocessing:
        return "audio as given (no preprocessing parameters were recorded)"
    separator = preprocessing.get("separator", "none")
    parts = [f"vocals separated with demucs `{separator}`" if separator != "none" else "the full mix (no separation)"]
    if preprocessing.get("remove_silence"):
        parts.append(f"silence below {preprocessing.get('silence_db')} dBFS removed")
    parts.append(f"{preprocessing.get('segment_seconds')} s segments at {preprocessing.get('sampling_rate')} Hz")
    return ", ".join(parts)


def _licence_text(backbone: str, is_mert: bool, is_random: bool) -> str:
    if is_random:
        return (f"`{backbone}` is one of singerid's randomly initialised test architectures: no third-party "
                "weights. Apache-2.0, like singerid's code.")
    if is_mert:
        return (f"The backbone weights ({backbone}) are MERT's, released under CC-BY-NC-4.0: this model is "
                "for non-commercial use, with attribution to the MERT authors (m-a-p). singerid's code is Apache-2.0.")
    return (f"The backbone weights come from `{backbone}`; their licence applies to this model (WavLM: see "
            "Microsoft's model card). singerid's code is Apache-2.0.")
