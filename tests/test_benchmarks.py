"""The benchmark commands keep working: benchmarks/gpu.py reduced on the CPU (every row, and
rows that cannot run on a bare machine), benchmarks/separation_sdr.py on synthetic songs, and
the half-precision separator they measure. Speeds are printed by the benchmarks, never asserted."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
GPU_ROWS = {"decode", "silence", "finetune_eager", "finetune_sdpa", "finetune_sdpa_compile", "finetune_wavlm_eager",
            "weighted_sum_features", "data_loader", "separation", "predict_songs"}

# A bare GPU box: datasets, demucs, evaluate and unsilence missing, torchcodec installed but
# unloadable (a CUDA build beside CPU torch does that).
BARE_BOX = '''
import importlib.abc, importlib.machinery, sys

for name in ("datasets", "demucs", "evaluate", "unsilence"):
    sys.modules[name] = None


class BrokenTorchcodec(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name == "torchcodec" else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise RuntimeError("Could not load libtorchcodec (simulated)")


sys.meta_path.insert(0, BrokenTorchcodec())
'''


def run_benchmark(script: str, *args: str, cwd: Path, pythonpath: Path | None = None) -> dict:
    """Runs a benchmark with `--json` and returns what it wrote."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    output = cwd / "result.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args, "--json", str(output)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(output.read_text())


def test_gpu_benchmark_reduced_measures_every_row_and_estimates_artist20(tmp_path):
    report = run_benchmark("gpu.py", "--reduced", cwd=tmp_path)

    assert report["mode"] == "reduced"
    assert set(report["rows"]) == GPU_ROWS
    for name, row in report["rows"].items():
        assert row["status"] == "measured", (name, row.get("reason"))
        assert row["result"], name
    estimate = report["artist20_estimate"]
    assert estimate["missing"] == []
    assert estimate["total_hours"] > 0 and math.isfinite(estimate["total_hours"])
    assert all(hours > 0 for hours in estimate["stages_hours"].values())
    assert report["rows"]["separation"]["half_vs_fp32_snr_db"] > 20  # half stays close to fp32


def test_gpu_benchmark_on_a_bare_box_reports_each_row_alone(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BARE_BOX)
    rows = "decode,silence,finetune_eager,data_loader,separation,predict_songs"
    report = run_benchmark("gpu.py", "--reduced", "--rows", rows, cwd=tmp_path, pythonpath=site)["rows"]

    assert set(report) == GPU_ROWS
    assert report["finetune_eager"]["status"] == "measured"  # torch and transformers suffice
    assert report["data_loader"]["status"] == "measured"
    assert report["data_loader"]["read_with"] == "pyarrow + soundfile"
    for name, missing in (("silence", "unsilence"), ("separation", "datasets"), ("predict_songs", "datasets")):
        assert report[name]["status"] == "skipped", name
        assert report[name]["reason"].startswith(f"{missing} is not importable"), report[name]["reason"]
    assert report["decode"]["status"] == "failed"
    assert report["decode"]["reason"] == "RuntimeError: Could not load libtorchcodec (simulated)"
    assert report["finetune_sdpa"] == {"title": report["finetune_sdpa"]["title"], "status": "skipped",
                                       "reason": "not selected with --rows"}


def test_separation_sdr_demo_scores_fp32_and_half(tmp_path):
    report = run_benchmark("separation_sdr.py", "--demo", cwd=tmp_path)

    assert report["demo"] and len(report["tracks"]) == 2
    for track in report["tracks"]:
        for key in ("sdr_db_mixture", "sdr_db_fp32", "sdr_db_half"):
            assert math.isfinite(track[key]), (track["track"], key)
        assert track["half_vs_fp32_snr_db"] > 20
    assert math.isfinite(report["median_sdr_db_half"])


def test_half_separation_gives_float32_stems_close_to_fp32_with_the_same_weights_digest(demucs_repo):
    from singerid.preprocessing.separation import VocalSeparator

    fp32 = VocalSeparator("tiny_htdemucs", repo=demucs_repo, device="cpu")
    half = VocalSeparator("tiny_htdemucs", repo=demucs_repo, device="cpu", half=True)
    mix = (0.1 * np.random.default_rng(0).standard_normal((2, 44100))).astype(np.float32)

    reference, stem = fp32.vocals(mix), half.vocals(mix)
    assert half.weights == fp32.weights
    assert stem.dtype == np.float32 and stem.shape == reference.shape == mix.shape
    snr = 10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum((reference - stem).astype(np.float64) ** 2))
    assert 20 < snr < np.inf  # close, and computed differently
