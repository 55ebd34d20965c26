"""The main job end to end on the embedded demo corpus, offline (`singerid demo`, `make demo`).

demo corpus → preprocess → train weighted_sum, then finetune → evaluate the test album →
predict every held-out test song from its file (`predict_songs`, what `singerid predict` runs).

What it trains on (`vocals`): vocals separated with htdemucs when its weights are
available locally (`demucs_repo`, or already in the demucs / Hugging Face caches);
otherwise the corpus's reference vocal stems, what a perfect separator would give.
`mix` trains on the full mixes (the no-separation ablation; the demo's backing tracks
are shared by all singers, so it is much harder). The default backbone is the tiny
random MERT architecture, so nothing is downloaded; `mert-v1-95m` uses real weights.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from ..evaluation import evaluate_dataset
from ..hub import write_dataset_card
from ..models import PRESETS, STRATEGIES
from ..prediction import SongPrediction, load_model, predict_songs
from ..preprocessing import PreprocessConfig, preprocess_corpus
from ..preprocessing.dataset import REPORT_FILE
from ..preprocessing.separation import weights_cached
from ..reports import METRICS_FILE
from ..training import DataArguments, ModelArguments, SingerTrainingArguments, run_training
from .demo_corpus import STEMS_DIR, synthesize_corpus

logger = logging.getLogger(__name__)
# Random tiny backbones learn only with a livelier head; real ones use the reference's settings.
TINY_SETTINGS = {"weighted_sum": {"learning_rate": 1e-3, "num_train_epochs": 100},
                 "finetune": {"learning_rate": 1e-3, "num_train_epochs": 8}}
REAL_SETTINGS = {"weighted_sum": {"num_train_epochs": 20}, "finetune": {"num_train_epochs": 10}}


@dataclass
class DemoOptions:
    output: str = field(default="demo_run", metadata={"help": "folder for everything the demo makes"})
    seed: int = 0
    backbone: str = field(default="tiny-mert", metadata={"help": "tiny-mert (offline) or a preset / Hub id"})
    strategies: str = field(default=",".join(STRATEGIES), metadata={"help": "which heads to train, comma-separated"})
    vocals: Literal["auto", "demucs", "stems", "mix"] = field(default="auto", metadata={
        "help": "train on demucs-separated vocals, the corpus's reference stems, or the full mix; "
                "auto: demucs when its weights are available offline, else the stems"})
    separator: str = field(default=PreprocessConfig.separator, metadata={"help": "the demucs model for vocals demucs"})
    demucs_repo: str | None = field(default=None, metadata={"help": "local demucs weights"})
    singers: int = field(default=6, metadata={"help": "demo corpus: singers"})
    songs: int = field(default=3, metadata={"help": "demo corpus: songs per album (6 albums per singer)"})
    seconds: float = field(default=25.0, metadata={"help": "demo corpus: typical song length"})


@dataclass
class TestSong:
    path: str
    singer: str  # the truth
    prediction: SongPrediction  # every singer of the model, best first

    @property
    def right(self) -> bool:
        return self.prediction.labels[:1] == [self.singer]


@dataclass
class DemoResult:
    vocals: str  # what was trained on: demucs, stems or mix
    metrics: dict[str, dict]  # strategy → metrics.json
    test_songs: list[TestSong]  # the first strategy's model on every test song, in file order
    seconds: float

    @property
    def song_top1(self) -> float:
        return sum(song.right for song in self.test_songs) / len(self.test_songs)


def run_demo(options: DemoOptions, step: Callable[[str], None] = logger.info) -> DemoResult:
    """Run the demo; `step` hears each stage as it starts."""
    output = Path(options.output)
    corpus, dataset = output / "corpus", output / "dataset"
    strategies = [name for name in options.strategies.split(",") if name]
    steps = 3 + len(strategies)
    started = time.perf_counter()

    if (corpus / STEMS_DIR).is_dir():
        step(f"[1/{steps}] demo corpus already at {corpus}")
    else:
        step(f"[1/{steps}] synthesising the demo corpus into {corpus}")
        synthesize_corpus(corpus, seed=options.seed, singers=options.singers, songs=options.songs,
                          seconds=options.seconds)

    vocals = options.vocals
    if vocals == "auto":
        vocals = "demucs" if options.demucs_repo or weights_cached(options.separator) else "stems"
        if vocals == "stems":
            step(f"      demucs weights for {options.separator!r} are not available offline: preprocessing the "
                 "corpus's reference vocal stems instead (pass --demucs-repo DIR to separate for real)")
    source = corpus / STEMS_DIR if vocals == "stems" else corpus
    preset = PRESETS.get(options.backbone)
    config = PreprocessConfig(separator=options.separator if vocals == "demucs" else "none",
                              sampling_rate=preset.sampling_rate if preset else PreprocessConfig.sampling_rate)
    step(f"[2/{steps}] preprocessing {source} into {dataset} (separator: {config.separator}, {config.sampling_rate} Hz)")
    preprocess_corpus(source, dataset, config, demucs_repo=options.demucs_repo)
    write_dataset_card(dataset)

    settings = TINY_SETTINGS if options.backbone.startswith("tiny") else REAL_SETTINGS
    metrics = {}
    for number, strategy in enumerate(strategies, start=3):
        run = output / strategy
        step(f"[{number}/{steps}] training {strategy} on {options.backbone} → {run}")
        run_training(DataArguments(dataset=str(dataset)), ModelArguments(backbone=options.backbone, strategy=strategy),
                     SingerTrainingArguments(output_dir=str(run), seed=options.seed, save_total_limit=1,
                                             disable_tqdm=True, logging_strategy="no", **settings[strategy]))
        metrics[strategy] = json.loads((run / METRICS_FILE).read_text())

    best = output / strategies[0]
    step(f"[{steps}/{steps}] evaluating {best} on the test album, and predicting each test song from its file")
    evaluate_dataset(str(best), str(dataset), "test", str(output / "evaluation"))
    test_songs = predict_test_songs(best, dataset, source)
    return DemoResult(vocals, metrics, test_songs, time.perf_counter() - started)


def predict_test_songs(model_dir: Path, dataset_dir: Path, corpus: Path) -> list[TestSong]:
    """Every test-split song, as its original file in `corpus`, in file order, through `predict_songs`
    (the model's own preprocessing, as `singerid predict`), ranking all the model's singers."""
    songs = json.loads((dataset_dir / REPORT_FILE).read_text())["songs"]
    tests = sorted((song["source"], song_id.split("/")[0]) for song_id, song in songs.items()
                   if song["split"] == "test" and song["status"] == "ok")  # song ids are artist/album/track
    if not tests:
        raise ValueError(f"{dataset_dir}: no test songs to predict")
    model = load_model(model_dir)
    predictions = predict_songs([corpus / source for source, _ in tests], model, top_k=len(model.config.class_names),
                                progress=False)
    return [TestSong(str(corpus / source), singer, prediction)
            for (source, singer), prediction in zip(tests, predictions)]
