"""Vocal separation through a local demucs repo, and the per-song cache that makes runs resumable."""

import numpy as np
import pytest
from datasets import load_from_disk

from conftest import make_album_corpus, write_tone
from singerid.preprocess import main as preprocess_main
from singerid.preprocessing import PreprocessConfig, SongPreprocessor, preprocess_corpus
from singerid.preprocessing.separation import SeparatorUnavailable, VocalSeparator


def test_local_repo_model_separates_a_vocal_stem(demucs_repo):
    separator = VocalSeparator("tiny_htdemucs", repo=demucs_repo, device="cpu")
    assert separator.sampling_rate == 44100 and separator.channels == 2
    mix = np.random.default_rng(0).standard_normal((2, 44100 * 3)).astype(np.float32) * 0.1
    vocals = separator.vocals(mix)
    assert vocals.shape == mix.shape
    assert np.isfinite(vocals).all() and not np.allclose(vocals, mix)
    np.testing.assert_array_equal(vocals, separator.vocals(mix))  # no random shifts


def test_a_batch_of_songs_gives_the_stems_of_one_at_a_time(demucs_repo):
    separator = VocalSeparator("tiny_htdemucs", repo=demucs_repo, device="cpu")
    rng = np.random.default_rng(1)
    mixes = [rng.standard_normal((2, 44100 * seconds)).astype(np.float32) * scale
             for seconds, scale in ((5, 0.1), (2, 0.3), (9, 0.05))]
    together = separator.vocals_batch(mixes)
    stride = round(0.75 * 4 * 44100)  # the tiny model's 4 s windows, overlapping by 25%
    for mix, stem in zip(mixes, together):
        alone = separator.vocals(mix)
        assert stem.shape == mix.shape
        last_window = (mix.shape[-1] - 1) // stride * stride
        # identical up to the last window, whose context demucs takes from the padded batch
        np.testing.assert_allclose(stem[:, :last_window], alone[:, :last_window], atol=1e-6)
        assert np.isfinite(stem).all()


def test_unavailable_model_names_the_way_out(demucs_repo):
    with pytest.raises(SeparatorUnavailable, match="--separator none"):
        VocalSeparator("htdemucs_missing", repo=demucs_repo)


def test_preprocess_command_with_local_demucs_weights(tmp_path, demucs_repo):
    corpus = make_album_corpus(tmp_path / "corpus", artists=1, albums=3, seconds=4.0)
    code = preprocess_main(["--input", str(corpus), "--output", str(tmp_path / "out"),
                            "--separator", "tiny_htdemucs", "--demucs-repo", str(demucs_repo),
                            "--cache-dir", str(tmp_path / "cache"), "--device", "cpu"])
    assert code == 0
    dataset = load_from_disk(str(tmp_path / "out"))
    assert sum(part.num_rows for part in dataset.values()) >= 3
    assert len(list((tmp_path / "cache" / "vocals").rglob("*.flac"))) == 3
    assert PreprocessConfig.load(tmp_path / "out").separator == "tiny_htdemucs"


def test_missing_separator_weights_fail_clearly(tmp_path, capsys, demucs_repo):
    corpus = make_album_corpus(tmp_path / "corpus", artists=1, albums=1, seconds=2.0)
    code = preprocess_main(["--input", str(corpus), "--output", str(tmp_path / "out"),
                            "--separator", "htdemucs", "--demucs-repo", str(demucs_repo)])
    assert code != 0
    assert "--separator none" in capsys.readouterr().err


class _Killed(Exception):
    pass


def _dataset_rows(path):
    rows = []
    for split, part in load_from_disk(str(path)).items():
        for row in part:
            audio = row.pop("audio")
            rows.append((split, tuple(sorted(row.items())), np.asarray(audio["array"]).round(5).tobytes()))
    return rows


@pytest.mark.parametrize("batch", [1, 2])
def test_rerun_after_a_kill_reuses_the_cache_and_equals_an_uninterrupted_run(tmp_path, demucs_repo, monkeypatch,
                                                                            batch):
    corpus = make_album_corpus(tmp_path / "corpus", artists=2, albums=3, seconds=3.0)
    config = PreprocessConfig(sampling_rate=16000, separator="tiny_htdemucs", demucs_repo=str(demucs_repo))
    run = {"config": config, "device": "cpu", "separation_batch": batch}
    preprocess_corpus(corpus, tmp_path / "uninterrupted", cache_dir=tmp_path / "cache_a", **run)

    calls = []
    real_batch = VocalSeparator.vocals_batch

    def dying_batch(self, mixes):
        calls.extend(mixes)
        if len(calls) > 2:
            raise _Killed  # the run dies after two songs were separated
        return real_batch(self, mixes)

    monkeypatch.setattr(VocalSeparator, "vocals_batch", dying_batch)
    with pytest.raises(_Killed):
        preprocess_corpus(corpus, tmp_path / "resumed", cache_dir=tmp_path / "cache_b", **run)
    assert len(list((tmp_path / "cache_b").rglob("*.flac"))) == 2
    assert not list((tmp_path / "cache_b").rglob("*.partial*"))

    calls.clear()
    monkeypatch.setattr(VocalSeparator, "vocals_batch", lambda self, mixes: calls.extend(mixes) or real_batch(self, mixes))
    preprocess_corpus(corpus, tmp_path / "resumed", cache_dir=tmp_path / "cache_b", **run)
    assert len(calls) == 6 - 2  # only the songs the killed run had not finished
    assert _dataset_rows(tmp_path / "resumed") == _dataset_rows(tmp_path / "uninterrupted")


def test_a_changed_file_at_the_same_path_is_separated_again(tmp_path, demucs_repo):
    song = write_tone(tmp_path / "a" / "b" / "song.flac", seconds=2.0, freq=200.0)
    config = PreprocessConfig(sampling_rate=16000, separator="tiny_htdemucs", demucs_repo=str(demucs_repo))
    preprocessor = SongPreprocessor(config, cache_dir=tmp_path / "cache", device="cpu")
    first = preprocessor.vocals(song)
    assert preprocessor.is_cached(song)
    write_tone(song, seconds=2.0, freq=410.0)
    assert not preprocessor.is_cached(song)
    second = preprocessor.vocals(song)
    assert not np.allclose(first, second)
    assert len(list((tmp_path / "cache").rglob("*.flac"))) == 2
