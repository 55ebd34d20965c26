"""Weighted-sum epoch time with cached pooled features against the backbone in the loop.

    python benchmarks/weighted_sum_cache.py [--backbone tiny-mert|mert-v1-95m|...] [--segments 96] [--epochs 3]

Same data (synthetic 5 s segments), same model, same Trainer settings; only where the
frozen backbone runs differs. The cache is built once (its time is printed apart).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from datasets import Audio, ClassLabel, Dataset, Features, Value
from transformers import TrainerCallback

from singerid import SingerClassifier, SingerClassifierConfig
from singerid.models.singer.backbones import preset_config
from singerid.data import AudioCollator, feature_collator
from singerid.training import SingerTrainer, SingerTrainingArguments, cache_pooled_features


class EpochTimer(TrainerCallback):
    def __init__(self):
        self.times = []

    def on_epoch_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self.started)


def segments(count: int, rate: int, classes: int = 4) -> Dataset:
    rng = np.random.default_rng(0)
    rows = [{"audio": {"array": (0.1 * rng.standard_normal(5 * rate)).astype(np.float32), "sampling_rate": rate},
             "label": i % classes, "song_id": f"song{i // 4}"} for i in range(count)]
    features = Features({"audio": Audio(sampling_rate=rate), "label": ClassLabel(num_classes=classes),
                         "song_id": Value("string")})
    return Dataset.from_list(rows, features=features)


def epoch_times(model, data, collator, epochs: int, output: str) -> list[float]:
    timer = EpochTimer()
    args = SingerTrainingArguments(output_dir=output, num_train_epochs=epochs, eval_strategy="no",
                                   save_strategy="no", load_best_model_at_end=False, report_to="none",
                                   logging_strategy="no", disable_tqdm=True, per_device_train_batch_size=24)
    SingerTrainer(model=model, args=args, train_dataset=data, data_collator=collator, callbacks=[timer]).train()
    return timer.times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="tiny-mert")
    parser.add_argument("--segments", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    # A preset's architecture with random weights: nothing is downloaded, the cost is the same.
    encoder, rate = preset_config(args.backbone)
    encoder.layerdrop = 0.0
    model = SingerClassifier(SingerClassifierConfig(encoder_config=encoder, sampling_rate=rate,
                                                    id2label={i: str(i) for i in range(4)}))
    data = segments(args.segments, rate)
    collator = AudioCollator(rate, 5 * rate)
    with tempfile.TemporaryDirectory() as scratch:
        uncached = epoch_times(model, data, collator, args.epochs, scratch)
        started = time.perf_counter()
        features = cache_pooled_features(model, data, collator, cache_dir=Path(scratch, "features"))
        cache_seconds = time.perf_counter() - started
        cached = epoch_times(model, features, feature_collator, args.epochs, scratch)
    slow, fast = statistics.median(uncached), statistics.median(cached)
    print(f"{args.backbone}, {args.segments} segments of 5 s, batch 24, median of {args.epochs} epochs")
    print(f"{'path':<28}{'epoch s':>10}")
    print(f"{'backbone in the loop':<28}{slow:>10.3f}")
    print(f"{'cached pooled features':<28}{fast:>10.3f}")
    print(f"cache built once in {cache_seconds:.2f} s; cached epochs are {slow / fast:.0f}x faster")


if __name__ == "__main__":
    main()
