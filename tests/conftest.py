"""Shared fixtures: singerid's cache folder per test, a tiny random-weight demucs in its
local-repo format, a MERT-format checkpoint. Tests run offline; the inputs they share are
made by helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import write_mert_checkpoint

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory):
    """singerid's cache for module- and session-wide fixtures: never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SINGERID_CACHE", str(tmp_path_factory.mktemp("singerid_cache")))
        yield


@pytest.fixture(autouse=True)
def singerid_cache(tmp_path_factory, monkeypatch) -> Path:
    """singerid's cache for each test alone: copies of a dataset share its fingerprint, so a
    shared cache would let a test compare a cache with itself."""
    folder = tmp_path_factory.mktemp("singerid_cache")
    monkeypatch.setenv("SINGERID_CACHE", str(folder))
    return folder


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
