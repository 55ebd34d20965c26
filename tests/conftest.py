"""Shared fixtures: a tiny random-weight demucs in its local-repo format, a MERT-format
checkpoint. Tests run offline; the inputs they share are made by helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import write_mert_checkpoint

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def demucs_repo(tmp_path_factory) -> Path:
    """A small random HTDemucs in demucs's local-repo format, loadable as "tiny_htdemucs"."""
    import torch
    from demucs.htdemucs import HTDemucs

    from singerid.preprocessing.separation import save_to_local_repo

    torch.manual_seed(0)
    # depth 4 with a 4096-point STFT keeps the transformer's token count small, as in the real model.
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], audio_channels=2, samplerate=44100,
                     segment=4, channels=4, depth=4, nfft=4096, t_layers=1, dconv_comp=4)
    return save_to_local_repo(model, tmp_path_factory.mktemp("demucs_repo"), "tiny_htdemucs")


@pytest.fixture
def mert_folder(tmp_path) -> tuple[Path, object]:
    return write_mert_checkpoint(tmp_path / "MERT-v1-tiny")
