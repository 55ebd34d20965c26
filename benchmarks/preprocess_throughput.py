"""Preprocessing throughput per stage, and peak memory against a naive dataset builder.

    python benchmarks/preprocess_throughput.py [--singers 2 --songs 2 --seconds 20 --factor 4]
        [--repeats 1] [--separator none|random-htdemucs] [--device cpu|cuda] [--workers 1]

Synthesises two demo corpora, x1 and x`factor` (`factor` times the songs per album), and
preprocesses each twice, every run in a fresh subprocess so that its peak RSS is its own:
- ours:  `preprocess_corpus`, which streams segments into Arrow with `Dataset.from_generator`;
- naive: a first attempt written here, which keeps every segment array in Python lists and
  calls `Dataset.from_dict` per split before `save_to_disk`.
Ours should stay nearly flat as the corpus grows; the naive builder grows with it.

Peak RSS (ru_maxrss) also counts the file pages of memory-mapped Arrow files, which the
kernel can drop at will, so the memory table adds the peak of anonymous memory alone (heap).
Linux hands a parent's peak RSS down to its children's ru_maxrss, so even the synthesis
runs in a child and the parent process stays small.

`--separator random-htdemucs` saves the full-size htdemucs architecture with random weights in
a local demucs repo, so separation is real work without a download (about 2x slower than real
time on a CPU: keep that corpus small). Every run gets an empty separation cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path

STAGES = ("decode", "separate", "silence", "cache_read", "total")
RESULT_PREFIX = "RESULT "
SEGMENT_SECONDS = 5.0  # PreprocessConfig's default segment length


# -- measuring one run (the child process) ----------------------------------------------------
def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def anon_rss_mib() -> float | None:
    """Resident anonymous memory (heap), without the file pages that mmapped Arrow adds (Linux)."""
    try:
        line = next(line for line in open("/proc/self/status") if line.startswith("RssAnon:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 1024


class AnonPeak:
    """The highest `anon_rss_mib()` seen, sampled every 20 ms by a background thread."""

    def __init__(self):
        self.baseline = self.peak = anon_rss_mib()
        if self.peak is not None:
            threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, anon_rss_mib())
            time.sleep(0.02)


def build_ours(corpus: Path, output: Path, config, cache_dir: Path, device: str | None,
               demucs_repo: str | None, workers: int = 1) -> dict:
    from singerid.preprocessing import preprocess_corpus

    result = preprocess_corpus(corpus, output, config, cache_dir=cache_dir, device=device, demucs_repo=demucs_repo,
                               workers=workers)
    return {
        "stage_seconds": result.stage_seconds,
        "audio_seconds": sum(song.seconds_in for song in result.songs.values()),
        "segments": sum(part.num_rows for part in result.dataset.values()),
    }


def build_naive(corpus: Path, output: Path, config, cache_dir: Path, device: str | None,
                demucs_repo: str | None, workers: int = 1) -> dict:
    """The obvious first attempt: every segment in Python lists, then `from_dict` per split."""
    from datasets import Dataset, DatasetDict

    from singerid.preprocessing import SongPreprocessor
    from singerid.preprocessing.corpus import find_songs
    from singerid.preprocessing.dataset import segment_features
    from singerid.preprocessing.splits import SPLITS, split_by_album

    started = time.perf_counter()
    songs = find_songs(corpus)
    split_of = split_by_album(songs)
    artists = sorted({song.artist for song in songs})
    features = segment_features(artists, config.sampling_rate)
    preprocessor = SongPreprocessor(config, cache_dir=cache_dir, device=device, demucs_repo=demucs_repo)
    rate = config.sampling_rate
    columns = {split: {name: [] for name in features} for split in SPLITS}
    audio_seconds = 0.0
    for song in songs:
        prepared = preprocessor.prepare(song.path)
        cleaned = prepared.cleaned_length
        audio_seconds += prepared.seconds_in
        rows = columns[split_of[song.song_id]]
        for index, (segment, (start, end)) in enumerate(preprocessor.segments(prepared)):
            rows["audio"].append({"array": segment, "sampling_rate": rate})
            rows["label"].append(artists.index(song.artist))
            rows["artist"].append(song.artist)
            rows["album"].append(song.album or "")
            rows["song_id"].append(song.song_id)
            rows["segment_index"].append(index)
            rows["start_s"].append(start / rate)
            rows["end_s"].append(min(end, cleaned) / rate)
        prepared.discard()
    dataset = DatasetDict({split: Dataset.from_dict(columns[split], features=features, split=split)
                           for split in SPLITS})
    dataset.save_to_disk(str(output))
    stage_seconds = dict(preprocessor.seconds, total=time.perf_counter() - started)
    return {"stage_seconds": stage_seconds, "audio_seconds": audio_seconds,
            "segments": sum(part.num_rows for part in dataset.values())}


def synthesize(args: argparse.Namespace) -> dict:
    from singerid.recipes.demo_corpus import synthesize_corpus

    started = time.perf_counter()
    synthesize_corpus(args.corpus, singers=args.singers, albums=args.albums, songs=args.songs,
                      seconds=args.seconds, sampling_rate=44100, channels=2, progress=False)
    return {"seconds": time.perf_counter() - started}


def save_random_htdemucs(args: argparse.Namespace) -> dict:
    from demucs.htdemucs import HTDemucs

    from singerid.preprocessing.separation import save_to_local_repo

    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], segment=7.8)  # htdemucs's shape
    return {"repo": str(save_to_local_repo(model, args.corpus, "random-htdemucs"))}


def child(args: argparse.Namespace) -> None:
    """Work in its own process; prints its numbers as one JSON line."""
    if args.child in ("synth", "demucs-repo"):
        work = synthesize if args.child == "synth" else save_random_htdemucs
        print(RESULT_PREFIX + json.dumps(work(args)))
        return
    import datasets

    from singerid.preprocessing import PreprocessConfig  # both builders' imports, paid before the baseline

    datasets.disable_progress_bars()
    baseline, anon = peak_rss_mib(), AnonPeak()
    config = PreprocessConfig(sampling_rate=args.sampling_rate, separator=args.separator)
    build = build_ours if args.child == "ours" else build_naive
    with tempfile.TemporaryDirectory(prefix="singerid-bench-run-") as tmp:
        numbers = build(Path(args.corpus), Path(tmp, "dataset"), config, Path(tmp, "cache"), args.device,
                        args.demucs_repo, args.workers)
    numbers.update(baseline_mib=baseline, peak_mib=peak_rss_mib(),
                   anon_growth_mib=None if anon.peak is None else anon.peak - anon.baseline)
    print(RESULT_PREFIX + json.dumps(numbers))


# -- driving the runs (the parent process) ----------------------------------------------------
def run_child(mode: str, folder: Path, *options: str) -> dict:
    # ru_maxrss survives fork and exec: this process must stay small for children's peaks to be theirs.
    command = [sys.executable, __file__, "--child", mode, "--corpus", str(folder), *options]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"{mode} run on {folder} failed with exit status {done.returncode}")
    line = next(line for line in reversed(done.stdout.splitlines()) if line.startswith(RESULT_PREFIX))
    return json.loads(line[len(RESULT_PREFIX):])


def median_run(runs: list[dict]) -> dict:
    """Medians over repeats of every stage time and memory figure."""
    def median(values):
        values = [value for value in values if value is not None]
        return statistics.median(values) if values else None

    stages = {stage for run in runs for stage in run["stage_seconds"]}
    return {
        "stage_seconds": {stage: median(run["stage_seconds"].get(stage, 0.0) for run in runs) for stage in stages},
        "audio_seconds": runs[0]["audio_seconds"],
        "segments": runs[0]["segments"],
        **{key: median(run[key] for run in runs) for key in ("baseline_mib", "peak_mib", "anon_growth_mib")},
    }


def build_options(args: argparse.Namespace, tmp: Path) -> list[str]:
    """Command-line options of the measured runs (saving the random htdemucs if asked)."""
    options = ["--sampling-rate", str(args.sampling_rate), "--separator", args.separator]
    if args.separator == "random-htdemucs":
        options += ["--demucs-repo", run_child("demucs-repo", tmp / "demucs-repo")["repo"]]
    if args.device:
        options += ["--device", args.device]
    return options + ["--workers", str(args.workers)]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = ""
    if shutil.which("nvidia-smi"):
        names = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                               capture_output=True, text=True).stdout.splitlines() or [""]
        gpu = f", GPU {names[0].strip()}" if names[0].strip() else ""
    return (f"{cpu}, {usable} usable cores{gpu}; Python {platform.python_version()}, "
            f"torch {version('torch')}, datasets {version('datasets')}")


def print_table(header: list[str], rows: list[list[str]], left: int = 1) -> None:
    """Columns padded to their widest cell: the first `left` aligned left, the rest right."""
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, ["-" * width for width in widths], *rows]:
        print("  ".join(cell.ljust(width) if column < left else cell.rjust(width)
                        for column, (cell, width) in enumerate(zip(row, widths))).rstrip())


def print_throughput(results: dict, sizes: list[str]) -> None:
    print("\nThroughput of ours (audio seconds per wall second; wall seconds in brackets)")
    rows = []
    for stage in STAGES:
        cells = []
        for size in sizes:
            run = results[size]["ours"]
            seconds = run["stage_seconds"].get(stage)
            cells.append(f"{run['audio_seconds'] / seconds:.1f} ({seconds:.1f} s)" if seconds else "-")
        if any(cell != "-" for cell in cells):
            rows.append([stage if stage != "total" else "whole run", *cells])
    print_table(["stage", *sizes], rows)


def print_memory(results: dict, sizes: list[str]) -> None:
    print("\nMemory (MiB): peak RSS (ru_maxrss) of a fresh process; baseline = after imports;")
    print("heap = peak resident anonymous memory (RssAnon sampled every 20 ms), i.e. without mmapped Arrow pages")
    small, large = sizes
    rows = []
    for mode in ("ours", "naive"):
        for size in sizes:
            run = results[size][mode]
            heap = run["anon_growth_mib"]
            rows.append([f"{mode} {size}", f"{run['baseline_mib']:.0f}", f"{run['peak_mib']:.0f}",
                         f"{run['peak_mib'] - run['baseline_mib']:.0f}", "-" if heap is None else f"{heap:.0f}",
                         f"{run['stage_seconds']['total']:.1f}"])
        first, last = results[small][mode], results[large][mode]
        rss_ratio = ratio(last["peak_mib"] - last["baseline_mib"], first["peak_mib"] - first["baseline_mib"])
        heap_ratio = ratio(last["anon_growth_mib"], first["anon_growth_mib"])
        rows.append([f"{mode} {large}/{small}", "", "", rss_ratio, heap_ratio, ""])
    print_table(["run", "baseline", "peak", "peak - baseline", "heap growth", "wall s"], rows)


def ratio(large: float | None, small: float | None) -> str:
    if large is None or small is None:
        return "-"
    return f"{large / small:.1f}×" if small > 1 else "n/a"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singers", type=int, default=2)
    parser.add_argument("--albums", type=int, default=6)
    parser.add_argument("--songs", type=int, default=2, help="songs per album in the x1 corpus")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each song")
    parser.add_argument("--factor", type=int, default=4, help="the large corpus has factor x the songs")
    parser.add_argument("--sampling-rate", type=int, default=24000, help="output rate (24000 MERT, 16000 WavLM)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per builder and size; medians if > 1")
    parser.add_argument("--separator", default="none", help="none, random-htdemucs, or a demucs model name")
    parser.add_argument("--device", default=None)
    parser.add_argument("--workers", type=int, default=1,
                        help="ours: processes decoding and removing silence (stage times then add up over them)")
    # The hidden child mode: one measured run in its own process.
    parser.add_argument("--child", choices=("ours", "naive", "synth", "demucs-repo"), help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--demucs-repo", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        return child(args)

    print(f"machine: {machine()}")
    print(f"separator {args.separator}, output {args.sampling_rate} Hz, repeats {args.repeats}"
          f"{' (medians)' if args.repeats > 1 else ''}")
    sizes = {"×1": args.songs, f"×{args.factor}": args.songs * args.factor}
    results = {}
    with tempfile.TemporaryDirectory(prefix="singerid-bench-") as tmp:
        options = build_options(args, Path(tmp))
        for size, songs in sizes.items():
            corpus = Path(tmp, f"corpus-{size[1:]}")
            synthesis = run_child("synth", corpus, "--singers", str(args.singers), "--albums", str(args.albums),
                                  "--songs", str(songs), "--seconds", str(args.seconds))["seconds"]
            results[size] = {mode: median_run([run_child(mode, corpus, *options) for _ in range(args.repeats)])
                             for mode in ("ours", "naive")}
            shutil.rmtree(corpus)
            ours = results[size]["ours"]
            segment_mib = ours["segments"] * SEGMENT_SECONDS * args.sampling_rate * 4 / 2**20
            print(f"corpus {size}: {args.singers * args.albums * songs} songs of {args.seconds:g} s "
                  f"(44.1 kHz stereo), {ours['audio_seconds']:.0f} s of audio, {ours['segments']} segments "
                  f"= {segment_mib:.0f} MiB as float32; synthesised in {synthesis:.1f} s")
    print_throughput(results, list(sizes))
    print_memory(results, list(sizes))


if __name__ == "__main__":
    main()
