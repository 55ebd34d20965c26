"""The reference table's four configurations, run end to end, and table.md.

    artist20 ─▶ preprocess once per distinct preprocessing (data/<name>/) ─▶ train each run (runs/<name>/)
             ─▶ table.md: song top-1 / top-3 / macro-F1 on validation and test

What exists is reused: a dataset whose preprocess_config.json matches, a run with metrics.json.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..preprocessing import PreprocessConfig, preprocess_corpus
from ..hub import write_dataset_card
from ..metrics import HEADLINE
from ..preprocessing.config import CONFIG_FILE
from .artist20 import SONGS_DIR
from ..reports import METRICS_FILE
from ..training import DataArguments, ModelArguments, SingerTrainingArguments, run_training

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Configuration:
    name: str
    title: str
    backbone: str  # a key of the backbones mapping ("mert" or "wavlm")
    strategy: str
    preprocessing: str  # "vocals" (demucs + silence removal) or "raw" (neither)
    reference: tuple[float, float]  # the course report's validation song top-1 / top-3 (%)


CONFIGURATIONS = (
    Configuration("mert_weighted_sum", "MERT-330M weighted sum", "mert", "weighted_sum", "vocals", (86.1, 97.5)),
    Configuration("wavlm_weighted_sum", "WavLM-Large weighted sum", "wavlm", "weighted_sum", "vocals", (78.2, 89.9)),
    Configuration("mert_finetune", "MERT-330M finetune", "mert", "finetune", "vocals", (90.8, 97.5)),
    Configuration("mert_finetune_raw", "MERT-330M finetune, no preprocessing", "mert", "finetune", "raw", (71.2, 82.5)),
)
DEFAULT_BACKBONES = {"mert": "mert-v1-330m", "wavlm": "wavlm-large"}


def preprocessing_configs(separator: str = PreprocessConfig.separator) -> dict[str, PreprocessConfig]:
    # One rate for both: WavLM's runs resample the 24 kHz segments to 16 kHz when loading.
    return {
        "vocals": PreprocessConfig(separator=separator, remove_silence=True),
        "raw": PreprocessConfig(separator="none", remove_silence=False),
    }


def songs_folder(data: str | Path) -> Path:
    """The songs: the extracted artist20 archive's `mp3s-32k/`, or `data` itself."""
    data = Path(data)
    return data / SONGS_DIR if (data / SONGS_DIR).is_dir() else data


def reproduce(data: str | Path, output: str | Path, backbones: dict[str, str] | None = None, quick: bool = False,
              split_lists: str | None = None, separator: str = PreprocessConfig.separator,
              demucs_repo: str | None = None,
              only: list[str] | None = None, training_overrides: dict | None = None) -> Path:
    """Run the configurations (all, or `only` those names) and write `output/table.md`."""
    output = Path(output)
    backbones = {**DEFAULT_BACKBONES, **(backbones or {})}
    configurations = [c for c in CONFIGURATIONS if not only or c.name in only]
    datasets = {}
    for name, config in preprocessing_configs(separator).items():
        if any(c.preprocessing == name for c in configurations):
            datasets[name] = ensure_dataset(data, output / "data" / name, config, split_lists, demucs_repo)
    results = {}
    for configuration in configurations:
        run = output / "runs" / configuration.name
        if not (run / METRICS_FILE).is_file():
            logger.info("training %s", configuration.title)
            run_training(
                DataArguments(dataset=str(datasets[configuration.preprocessing])),
                ModelArguments(backbone=backbones[configuration.backbone], strategy=configuration.strategy),
                training_arguments(run, quick, training_overrides or {}),
            )
        results[configuration] = json.loads((run / METRICS_FILE).read_text())
    table = output / "table.md"
    table.write_text(render_table(results, backbones), encoding="utf-8")
    return table


def ensure_dataset(data, folder: Path, config: PreprocessConfig, split_lists, demucs_repo=None) -> Path:
    if (folder / CONFIG_FILE).is_file() and PreprocessConfig.load(folder).same_recipe(config):
        logger.info("reusing %s", folder)
        return folder
    preprocess_corpus(songs_folder(data), folder, config, split_lists=split_lists, demucs_repo=demucs_repo)
    write_dataset_card(folder)
    return folder


def training_arguments(run: Path, quick: bool, overrides: dict) -> SingerTrainingArguments:
    settings = {"output_dir": str(run), "save_total_limit": 1, "disable_tqdm": True}
    if quick:  # a smoke test of the whole table, not a result
        settings |= {"num_train_epochs": 1, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 8}
    return SingerTrainingArguments(**settings | overrides)


def render_table(results: dict[Configuration, dict], backbones: dict[str, str]) -> str:
    lines = [
        "# The reference table, reproduced",
        "",
        "Song level (mean segment probabilities), splits by album. Backbones: "
        + ", ".join(f"{key} = `{value}`" for key, value in backbones.items()) + ".",
        "The reference column is the course report's *validation* result (top-1 / top-3, %).",
        "",
        "| configuration | split | songs | " + " | ".join(metric.title for metric in HEADLINE) + " | reference (val) |",
        "|---|---|---|" + "---|" * len(HEADLINE) + "---|",
    ]
    for configuration, metrics in results.items():
        for split, values in metrics.items():
            reference = f"{configuration.reference[0]} / {configuration.reference[1]}" if split == "validation" else ""
            numbers = " | ".join(f"{100 * values[metric.key]:.1f}" for metric in HEADLINE)
            lines.append(f"| {configuration.title} | {split} | {values['num_songs']} | {numbers} | {reference} |")
    lines += ["", "Each run's model, metrics.json and confusion matrix are in `runs/<configuration>/`."]
    return "\n".join(lines) + "\n"
