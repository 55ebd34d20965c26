"""Peak memory of one long recording through singerid: it must not grow with the length.

    python benchmarks/long_recordings.py [--minutes 5 30 180] [--separated-minutes 5 30]
        [--model RUN] [--folder DIR]

Each row runs in a fresh process and reports its peak resident memory (`ru_maxrss`):
- `predict --timeline` without a separator, at every length of `--minutes`;
- `predict` with a tiny random htdemucs (full-size htdemucs separates at about real time
  on 2 cores), at every length of `--separated-minutes`;
- `preprocess` of a corpus holding one recording of the longest `--separated-minutes`.

Recordings are synthesised, 44.1 kHz stereo FLAC: a tone whose pitch steps every second,
with two quiet seconds in every ten, so silence removal has work to do. `--model` (default:
a random tiny-mert classifier at 24 kHz) is the model predicting. Numbers go to stdout.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

RATE, CHANNELS = 44100, 2


def write_recording(path: Path, minutes: float, rate: int = RATE, channels: int = CHANNELS) -> Path:
    """A synthetic recording of `minutes`, written a second at a time (flat memory here too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(path, "w", rate, channels, subtype="PCM_16") as file:
        for second in range(round(minutes * 60)):
            t = np.arange(rate) / rate + second
            loud = 0.3 if second % 10 < 8 else 0.0
            wave = loud * np.sin(2 * np.pi * (220 + 20 * (second % 7)) * t)
            file.write(np.repeat(wave[:, None], channels, axis=1).astype(np.float32))
    return path


def peak_memory_mb(command: list[str], env: dict | None = None) -> float:
    """Peak resident memory (MB) of `singerid <command>`, run alone in a fresh process."""
    code = ("import resource, sys\nfrom singerid.commands import main\ncode = main(sys.argv[1:])\n"
            "print('peak_rss_kb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"singerid {command[0]} failed: {done.stderr[-2000:]}")
    line = next(line for line in done.stderr.splitlines() if line.startswith("peak_rss_kb"))
    return int(line.split()[1]) / 1024


def tiny_models(folder: Path) -> tuple[Path, Path]:
    """A random tiny-mert classifier at 24 kHz (no separator, silence removed) and a tiny
    random htdemucs in demucs's local-repo format (as the tests' own)."""
    import torch
    from demucs.htdemucs import HTDemucs

    from singerid import SingerClassifier
    from singerid.preprocessing.separation import save_to_local_repo

    torch.manual_seed(0)
    model = SingerClassifier.from_backbone("tiny-mert", id2label={0: "ann", 1: "bob", 2: "cat"})
    model.config.preprocessing = {"separator": "none", "remove_silence": True, "sampling_rate": 24000}
    model.save_pretrained(folder / "model")
    demucs = HTDemucs(sources=["drums", "bass", "other", "vocals"], audio_channels=2, samplerate=44100,
                      segment=4, channels=4, depth=4, nfft=4096, t_layers=1, dconv_comp=4)
    return folder / "model", save_to_local_repo(demucs, folder / "demucs", "tiny_htdemucs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[5, 30, 180])
    parser.add_argument("--separated-minutes", type=float, nargs="+", default=[5, 30])
    parser.add_argument("--model", help="a saved model (default: a random tiny one)")
    parser.add_argument("--folder", help="where recordings and outputs go (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="singerid-long-") as scratch:
        folder = Path(args.folder or scratch)
        model, demucs = tiny_models(folder)
        model = args.model or model
        cache = {"SINGERID_CACHE": str(folder / "cache")}
        print("| run | minutes | peak memory |\n|---|---|---|")
        for minutes in args.minutes:
            song = write_recording(folder / "songs" / f"{minutes:g}min.flac", minutes)
            peak = peak_memory_mb(["predict", "--model", str(model), "--input", str(song), "--workers", "1",
                                   "--output", str(folder / f"{minutes:g}min.csv"), "--separator", "none",
                                   "--timeline", str(folder / f"timeline-{minutes:g}"), "--overwrite", "true"], cache)
            print(f"| predict --timeline, no separator | {minutes:g} | {peak:.0f} MB |", flush=True)
        for minutes in args.separated_minutes:
            song = write_recording(folder / "songs" / f"{minutes:g}min.flac", minutes)
            peak = peak_memory_mb(["predict", "--model", str(model), "--input", str(song), "--workers", "1",
                                   "--output", str(folder / f"{minutes:g}min-separated.csv"),
                                   "--separator", "tiny_htdemucs", "--demucs-repo", str(demucs)], cache)
            print(f"| predict, tiny htdemucs | {minutes:g} | {peak:.0f} MB |", flush=True)
        longest = max(args.separated_minutes)
        corpus = folder / "corpus"
        write_recording(corpus / "artist" / "album" / "01-song.flac", longest)
        peak = peak_memory_mb(["preprocess", "--input", str(corpus), "--output", str(folder / "dataset"),
                               "--separator", "tiny_htdemucs", "--demucs-repo", str(demucs), "--workers", "1",
                               "--overwrite", "true"], cache)
        print(f"| preprocess, tiny htdemucs | {longest:g} | {peak:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
