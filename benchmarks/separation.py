"""Vocal separation: songs batched through demucs against one song at a time.

    python benchmarks/separation.py [--songs 4] [--seconds 20] [--repeats 2] [--device cuda]

The full-size htdemucs architecture with random weights (nothing downloaded): the
cost is the real one. Prints the real-time factor (audio seconds per wall second).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from machine import describe
from singerid.preprocessing.separation import VocalSeparator, save_to_local_repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as repo:
        save_to_local_repo(HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=7.8), Path(repo), "htdemucs_random")
        separator = VocalSeparator("htdemucs_random", repo=repo, device=args.device)
    rng = np.random.default_rng(0)
    # songs of slightly different lengths, as real ones are
    mixes = [(0.1 * rng.standard_normal((2, round(args.seconds * (1 - 0.1 * i) * 44100)))).astype(np.float32)
             for i in range(args.songs)]
    audio = sum(mix.shape[-1] for mix in mixes) / 44100

    def one_at_a_time():
        return [separator.vocals(mix) for mix in mixes]

    def batched():
        return separator.vocals_batch(mixes)

    times = {}
    for name, run in (("one song at a time", one_at_a_time), ("batched", batched)):
        run()  # warm-up
        runs = []
        for _ in range(args.repeats):
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            run()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            runs.append(time.perf_counter() - started)
        times[name] = statistics.median(runs)

    print(describe(args.device))
    print(f"htdemucs (random weights) on {args.device}; {args.songs} stereo songs, {audio:.0f} s of audio; "
          f"median of {args.repeats}")
    print(f"{'path':<22}{'wall s':>10}{'x real time':>14}")
    for name, seconds in times.items():
        print(f"{name:<22}{seconds:>10.2f}{audio / seconds:>14.2f}")
    print(f"batched is {times['one song at a time'] / times['batched']:.2f}x the one-at-a-time speed")


if __name__ == "__main__":
    main()
