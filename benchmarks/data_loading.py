"""Segments per second the training loader delivers, with 0 and N worker processes,
next to the rate a GPU finetune step consumes.

    python benchmarks/data_loading.py [--segments 256] [--workers 0,2] [--batch-size 24]

The segments are 5 s of audio at 24 kHz saved as preprocessing writes them (WAV bytes in
Arrow, `save_to_disk`) and read back as training reads them: audio left encoded
(`encoded_audio`), decoded by the training collator in the loader's workers. On a
2-core machine this shows the per-core rate; the GPU box's cores multiply it.

Without datasets (a bare GPU box), the same Arrow files are written and read with pyarrow
and the WAV bytes decoded with soundfile (`singerid.audio.decode_bytes`), as the collator
does: no datasets and no torchcodec needed.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from finetune_throughput import peak_for, samples_per_second_at
from machine import describe

RATE = 24000
SEGMENT_SECONDS = 5


def step_rate() -> float:
    """Segments per second a MERT-330M finetune on one H100 at 40 % of its dense bf16 peak takes."""
    return samples_per_second_at(0.4, peak_for("H100", bf16=True), "mert-v1-330m", SEGMENT_SECONDS)


def random_segments(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(SEGMENT_SECONDS * RATE)).astype(np.float32) for _ in range(count)]


def save_segments(folder: str, count: int) -> str:
    """`count` segments saved in `folder` (datasets' `save_to_disk`, or the same Arrow layout
    with pyarrow where datasets is missing); returns how they were written."""
    try:
        from datasets import Audio, ClassLabel, Dataset, Features, Value
    except ImportError:
        return _save_with_pyarrow(folder, count)
    features = Features({"audio": Audio(sampling_rate=RATE), "label": ClassLabel(num_classes=4),
                         "song_id": Value("string"), "start_s": Value("float32"), "end_s": Value("float32")})
    rows = {"audio": [{"array": wave, "sampling_rate": RATE} for wave in random_segments(count)],
            "label": [i % 4 for i in range(count)], "song_id": [f"s{i // 8}" for i in range(count)],
            "start_s": [0.0] * count, "end_s": [float(SEGMENT_SECONDS)] * count}
    Dataset.from_dict(rows, features=features).save_to_disk(folder)
    return "datasets"


def _save_with_pyarrow(folder: str, count: int) -> str:
    import pyarrow as pa
    import soundfile as sf

    def wav(wave: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        sf.write(buffer, wave, RATE, format="WAV", subtype="PCM_16")  # as datasets encodes arrays
        return buffer.getvalue()

    table = pa.table({"audio": [{"bytes": wav(wave), "path": None} for wave in random_segments(count)],
                      "label": pa.array([i % 4 for i in range(count)], pa.int64())})
    Path(folder).mkdir(parents=True, exist_ok=True)
    with pa.OSFile(str(Path(folder, "data-00000-of-00001.arrow")), "wb") as sink, \
            pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return "pyarrow"


class ArrowSegments(torch.utils.data.Dataset):
    """Rows of saved Arrow files (memory-mapped, with pyarrow only), audio left encoded."""

    def __init__(self, folder: str):
        import pyarrow as pa

        tables = [pa.ipc.open_stream(pa.memory_map(str(path))).read_all()
                  for path in sorted(Path(folder).glob("*.arrow"))]
        self.table = pa.concat_tables(tables).select(["audio", "label"])

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, index: int) -> dict:
        return {"audio": self.table["audio"][index].as_py(), "label": self.table["label"][index].as_py()}


def collate_wav_bytes(examples: list[dict]) -> dict:
    """The training collator's work on full-length segments: decode the bytes, stack."""
    from singerid.audio import decode_bytes

    waves = [decode_bytes(example["audio"]["bytes"], RATE) for example in examples]
    return {"input_values": torch.from_numpy(np.stack(waves)),
            "attention_mask": torch.ones(len(waves), len(waves[0]), dtype=torch.long),
            "labels": torch.tensor([example["label"] for example in examples])}


def training_view(folder: str):
    """(dataset, collator, path): as training reads the folder, or with pyarrow without datasets."""
    try:
        from datasets import load_from_disk

        from singerid.data import AudioCollator, encoded_audio
    except ImportError:
        return ArrowSegments(folder), collate_wav_bytes, "pyarrow + soundfile"
    collator = AudioCollator(RATE, SEGMENT_SECONDS * RATE, random_crop=True)
    return encoded_audio(load_from_disk(folder)), collator, "datasets + training collator"


def rate(dataset, collator, workers: int, batch_size: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collator,
                                         persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
    next(iter(loader))  # start the workers before timing
    started = time.perf_counter()
    count = sum(len(batch["labels"]) for batch in loader)
    return count / (time.perf_counter() - started)


def measure(segments: int, workers: list[int], batch_size: int) -> dict:
    """Segments per second for each worker count, and how the data was written and read."""
    with tempfile.TemporaryDirectory(prefix="singerid-loading-") as folder:
        written = save_segments(folder, segments)
        dataset, collator, path = training_view(folder)
        rates = {count: rate(dataset, collator, count, batch_size) for count in workers}
        ffmpeg = None
        if written == "datasets":  # what training read before: datasets decoding with ffmpeg (torchcodec)
            from datasets import Audio

            ffmpeg = rate(dataset.cast_column("audio", Audio(sampling_rate=RATE)), collator, 0, batch_size)
        del dataset  # its memory map, before the folder goes
    return {"written_with": written, "read_with": path, "segments": segments, "batch_size": batch_size,
            "segments_per_s": rates, "torchcodec_segments_per_s": ffmpeg}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=256)
    parser.add_argument("--workers", default="0,2")
    parser.add_argument("--batch-size", type=int, default=24)
    args = parser.parse_args()
    print(describe())
    result = measure(args.segments, [int(count) for count in args.workers.split(",")], args.batch_size)
    print(f"{args.segments} segments written with {result['written_with']}, read with {result['read_with']}")
    print(f"{'workers':>8} {'segments/s':>11}   (a MERT-330M finetune step on one H100 at 40 % MFU "
          f"wants ~{step_rate():.0f}/s)")
    for workers, segments_per_s in result["segments_per_s"].items():
        print(f"{workers:>8} {segments_per_s:>11.1f}")
    if result["torchcodec_segments_per_s"]:
        print(f"{0:>8} {result['torchcodec_segments_per_s']:>11.1f}   decoded by datasets (torchcodec), as before")


if __name__ == "__main__":
    main()
