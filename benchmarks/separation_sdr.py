"""SDR of the separated vocals against reference vocal stems, in fp32 and in half precision.

    python benchmarks/separation_sdr.py TRACKS [--model htdemucs] [--repo DIR] [--device cuda]
        [--seconds 60] [--json sdr.json]
    python benchmarks/separation_sdr.py --demo    # synthetic songs, random weights: checks the script only

TRACKS holds one folder per track with the mix and its vocal stem, as MUSDB18-HQ lays them
out: `<track>/mixture.wav` and `<track>/vocals.wav` (any format and rate ffmpeg reads: both
are decoded at the separator's rate and channel count). The weights are demucs's own (its
caches, or a download when online) or a local demucs repo (`--repo`), as `preprocess` finds them.

SDR = 10 log10(|s|² / |s - ŝ|²) over the whole track and its channels, s the reference stem
and ŝ the separated one, per track and the median over tracks. This is the plain SDR, not
museval's BSS Eval v4 (which windows the track and allows a distortion filter): its numbers
run lower than published ones; compare them with each other, and with the mixture's own SDR
(the score of not separating at all). The table also gives the SNR of
the half stems against the fp32 ones. Half is `VocalSeparator(half=True)`: float16 on CUDA,
bfloat16 on the CPU.

`--demo` writes a few synthetic songs with their true vocal stems (the demo corpus) and
separates them with a small random htdemucs: the SDRs mean nothing, the run proves the
script works.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

import torch

from machine import describe
from separation import PRECISIONS, random_htdemucs, sdr_db


def find_tracks(root: Path) -> list[tuple[str, Path, Path]]:
    """(name, mixture, vocals) of every `<track>/mixture.*` with a `<track>/vocals.*` beside it."""
    tracks = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        mixture, vocals = (next(iter(sorted(folder.glob(f"{stem}.*"))), None) for stem in ("mixture", "vocals"))
        if mixture and vocals:
            tracks.append((folder.name, mixture, vocals))
    if not tracks:
        raise SystemExit(f"{root}: no <track>/mixture.* with <track>/vocals.* found")
    return tracks


def measure(tracks: list[tuple[str, Path, Path]], separators: dict, seconds: float | None = None) -> dict:
    """SDR of each track's vocals in each precision, the medians, and half's SNR against fp32."""
    from singerid.audio import decode

    first = separators["fp32"]
    rows = []
    for name, mixture, vocals in tracks:
        mix, reference = (decode(path, first.sampling_rate, first.channels) for path in (mixture, vocals))
        length = min(mix.shape[-1], reference.shape[-1])
        if seconds:
            length = min(length, round(seconds * first.sampling_rate))
        mix, reference = mix[:, :length], reference[:, :length]
        stems = {precision: separator.vocals(mix) for precision, separator in separators.items()}
        rows.append({"track": name, "seconds": length / first.sampling_rate, "sdr_db_mixture": sdr_db(reference, mix),
                     **{f"sdr_db_{precision}": sdr_db(reference, stem) for precision, stem in stems.items()},
                     "half_vs_fp32_snr_db": sdr_db(stems["fp32"], stems["half"])})
    return {"tracks": rows, **{f"median_sdr_db_{kind}": statistics.median(row[f"sdr_db_{kind}"] for row in rows)
                               for kind in ("mixture", *PRECISIONS)},
            "median_half_vs_fp32_snr_db": statistics.median(row["half_vs_fp32_snr_db"] for row in rows)}


def write_demo_tracks(root: Path, songs: int = 2, seconds: float = 4.0) -> Path:
    """MUSDB-style folders of synthetic songs and their true vocal stems (the demo corpus)."""
    from singerid.recipes.demo_corpus import stem_dir_of, synthesize_corpus

    corpus = root / "corpus"
    for song in synthesize_corpus(corpus, singers=1, albums=1, songs=songs, seconds=seconds, progress=False):
        track = root / "tracks" / song.stem
        track.mkdir(parents=True)
        shutil.copy(song, track / f"mixture{song.suffix}")
        shutil.copy(stem_dir_of(song, corpus) / "vocals.flac", track / "vocals.flac")
    return root / "tracks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tracks", nargs="?", help="folder of <track>/mixture.* and <track>/vocals.*")
    parser.add_argument("--model", default="htdemucs", help="demucs model name")
    parser.add_argument("--repo", help="local demucs repo with the model's weights")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds", type=float, default=None, help="use only the first N seconds of each track")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--demo", action="store_true", help="synthetic songs and a small random htdemucs")
    args = parser.parse_args()
    if bool(args.tracks) == args.demo:
        parser.error("give a TRACKS folder or --demo")

    from singerid.preprocessing.separation import VocalSeparator, save_to_local_repo

    with tempfile.TemporaryDirectory(prefix="singerid-sdr-") as scratch:
        root, model, repo = Path(args.tracks or ""), args.model, args.repo
        if args.demo:
            root = write_demo_tracks(Path(scratch))
            model, repo = "htdemucs_random", save_to_local_repo(random_htdemucs(tiny=True), Path(scratch, "repo"),
                                                                 "htdemucs_random")
        separators = {precision: VocalSeparator(model, repo=repo, device=args.device, half=precision == "half")
                      for precision in PRECISIONS}
        result = measure(find_tracks(root), separators, args.seconds)

    half = separators["half"]
    print(describe(args.device))
    print(f"demucs {model}{' (random weights: the SDRs mean nothing)' if args.demo else ''} on {args.device}, "
          f"weights {half.weights}; half = {'bfloat16' if torch.device(args.device).type == 'cpu' else 'float16'}")
    print("SDR in dB; 'mixture' is the unseparated mix scored as the vocals")
    print(f"{'track':<40}{'seconds':>9}{'mixture':>9}{'fp32':>8}{'half':>8}{'half vs fp32 SNR':>18}")
    for row in result["tracks"]:
        print(f"{row['track'][:39]:<40}{row['seconds']:>9.1f}{row['sdr_db_mixture']:>9.2f}{row['sdr_db_fp32']:>8.2f}"
              f"{row['sdr_db_half']:>8.2f}{row['half_vs_fp32_snr_db']:>18.1f}")
    print(f"{'median':<40}{'':>9}{result['median_sdr_db_mixture']:>9.2f}{result['median_sdr_db_fp32']:>8.2f}"
          f"{result['median_sdr_db_half']:>8.2f}{result['median_half_vs_fp32_snr_db']:>18.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(result, model=model, weights=half.weights, device=args.device,
                                                   demo=args.demo), indent=2) + "\n")


if __name__ == "__main__":
    main()
