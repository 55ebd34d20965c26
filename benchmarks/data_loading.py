"""Segments per second the training loader delivers, with 0 and N worker processes,
next to the rate a GPU finetune step consumes.

    python benchmarks/data_loading.py [--segments 256] [--workers 0,2] [--batch-size 24]

The segments are 5 s of audio at 24 kHz saved with `save_to_disk` (WAV bytes in Arrow,
as preprocessing writes them) and read back through the training collator. On a
2-core machine this shows the per-core rate; the GPU box's cores multiply it.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch
from datasets import Audio, ClassLabel, Dataset, Features, Value, load_from_disk

from machine import describe
from singerid.data import AudioCollator

RATE = 24000
# MERT-330M finetune: 53.9 GFLOP per audio second forward, x3 with backward, 5 s segments;
# an H100 at 40 % of its ~990 TFLOP/s dense bf16 (DESIGN.md).
STEP_RATE = 0.4 * 990e12 / (3 * 53.9e9 * 5)


def saved_segments(folder: str, count: int) -> Dataset:
    rng = np.random.default_rng(0)
    features = Features({"audio": Audio(sampling_rate=RATE), "label": ClassLabel(num_classes=4),
                         "song_id": Value("string"), "start_s": Value("float32"), "end_s": Value("float32")})
    rows = {"audio": [{"array": (0.1 * rng.standard_normal(5 * RATE)).astype(np.float32), "sampling_rate": RATE}
                      for _ in range(count)],
            "label": [i % 4 for i in range(count)], "song_id": [f"s{i // 8}" for i in range(count)],
            "start_s": [0.0] * count, "end_s": [5.0] * count}
    Dataset.from_dict(rows, features=features).save_to_disk(folder)
    return load_from_disk(folder)


def rate(dataset: Dataset, workers: int, batch_size: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                                         collate_fn=AudioCollator(RATE, 5 * RATE, random_crop=True),
                                         persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
    next(iter(loader))  # start the workers before timing
    started = time.perf_counter()
    count = sum(len(batch["labels"]) for batch in loader)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=256)
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--batch-size", type=int, default=24)
    args = parser.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory(prefix="singerid-loading-") as folder:
        dataset = saved_segments(folder, args.segments)
        print(f"{'workers':>8} {'segments/s':>11}   (a MERT-330M finetune step on one H100 at 40 % MFU "
              f"wants ~{STEP_RATE:.0f}/s)")
        for workers in map(int, args.workers.split(",")):
            print(f"{workers:>8} {rate(dataset, workers, args.batch_size):>11.1f}")


if __name__ == "__main__":
    main()
