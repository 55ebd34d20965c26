"""Vocal separation: songs batched through demucs against one song at a time, fp32 against half.

    python benchmarks/separation.py [--songs 4] [--seconds 20] [--repeats 2] [--device cuda] [--tiny]

The full-size htdemucs architecture with random weights (nothing downloaded): the cost is
the real one. Prints the real-time factor (audio seconds per wall second) of each path in
fp32 and in half (`VocalSeparator(half=True)`: float16 on CUDA, bfloat16 on the CPU), and
the SNR of the half stems against the fp32 stems of the same songs: how far half precision
moves the output. Random weights say nothing about separation quality; for that, run
benchmarks/separation_sdr.py with real weights.
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

PATHS = ("one song at a time", "batched")
PRECISIONS = ("fp32", "half")


def random_htdemucs(tiny: bool = False):
    """htdemucs's architecture with random weights; `tiny`: the tests' small one, for quick runs."""
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    if tiny:
        return HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=4, channels=4, depth=4,
                        nfft=4096, t_layers=1, dconv_comp=4)
    return HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=7.8)


def random_separators(device: str, tiny: bool = False) -> dict:
    """{"fp32": ..., "half": ...}: two VocalSeparators over the same random weights."""
    from singerid.preprocessing.separation import VocalSeparator, save_to_local_repo

    with tempfile.TemporaryDirectory() as repo:
        save_to_local_repo(random_htdemucs(tiny), Path(repo), "htdemucs_random")
        return {precision: VocalSeparator("htdemucs_random", repo=repo, device=device, half=precision == "half")
                for precision in PRECISIONS}


def make_mixes(songs: int, seconds: float, rate: int = 44100) -> list[np.ndarray]:
    """Stereo noise songs of slightly different lengths, as real ones are."""
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal((2, round(seconds * (1 - 0.1 * i) * rate)))).astype(np.float32)
            for i in range(songs)]


def sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10(|s|² / |s - ŝ|²): SDR against a true stem, or SNR of half against fp32 output."""
    reference, estimate = np.asarray(reference, np.float64), np.asarray(estimate, np.float64)
    error = np.sum((reference - estimate) ** 2)
    return float("inf") if error == 0 else float(10 * np.log10(np.sum(reference ** 2) / error))


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_paths(separator, mixes: list[np.ndarray], repeats: int) -> tuple[dict, list[np.ndarray]]:
    """Median wall seconds of each path over `repeats` runs after a warm-up, and the
    one-at-a-time stems."""
    paths = {"one song at a time": lambda: [separator.vocals(mix) for mix in mixes],
             "batched": lambda: separator.vocals_batch(mixes)}
    times, stems = {}, {}
    for name, run in paths.items():
        run()  # warm-up
        runs = []
        for _ in range(repeats):
            synchronize(separator.device)
            started = time.perf_counter()
            stems[name] = run()
            synchronize(separator.device)
            runs.append(time.perf_counter() - started)
        times[name] = statistics.median(runs)
    return times, stems["one song at a time"]


def measure(songs: int, seconds: float, repeats: int, device: str, tiny: bool = False) -> dict:
    """Real-time factors of both paths in fp32 and half, and the half-vs-fp32 SNR of the stems."""
    separators = random_separators(device, tiny)
    mixes = make_mixes(songs, seconds, separators["fp32"].sampling_rate)
    audio = sum(mix.shape[-1] for mix in mixes) / separators["fp32"].sampling_rate
    times, stems = {}, {}
    for precision, separator in separators.items():
        times[precision], stems[precision] = time_paths(separator, mixes, repeats)
    # The same songs one at a time in both precisions: only the arithmetic differs.
    snr = [sdr_db(fp32, half) for fp32, half in zip(stems["fp32"], stems["half"])]
    return {
        "architecture": "tiny htdemucs" if tiny else "htdemucs", "device": device, "songs": songs,
        "audio_seconds": audio, "half_dtype": "bfloat16" if torch.device(device).type == "cpu" else "float16",
        "wall_seconds": times,
        "x_real_time": {precision: {path: audio / wall for path, wall in paths.items()}
                        for precision, paths in times.items()},
        "half_vs_fp32_snr_db": statistics.median(snr),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="the tests' small htdemucs, for a quick check")
    args = parser.parse_args()

    result = measure(args.songs, args.seconds, args.repeats, args.device, args.tiny)
    print(describe(args.device))
    print(f"{result['architecture']} (random weights) on {args.device}; {args.songs} stereo songs, "
          f"{result['audio_seconds']:.0f} s of audio; median of {args.repeats}; half = {result['half_dtype']} autocast")
    print(f"{'path':<22}{'precision':>10}{'wall s':>10}{'x real time':>14}")
    for precision in PRECISIONS:
        for path in PATHS:
            wall = result["wall_seconds"][precision][path]
            print(f"{path:<22}{precision:>10}{wall:>10.2f}{result['x_real_time'][precision][path]:>14.2f}")
    fp32 = result["wall_seconds"]["fp32"]
    print(f"batched is {fp32['one song at a time'] / fp32['batched']:.2f}x the one-at-a-time speed in fp32; "
          f"half is {fp32['one song at a time'] / result['wall_seconds']['half']['one song at a time']:.2f}x fp32 "
          f"one at a time")
    print(f"half vs fp32 vocal stems: SNR {result['half_vs_fp32_snr_db']:.1f} dB (median over songs)")


if __name__ == "__main__":
    main()
