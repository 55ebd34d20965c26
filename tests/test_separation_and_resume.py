"""Vocal separation through a local demucs repo, and the per-song cache that makes runs resumable."""

import json

import numpy as np
import pytest
from datasets import load_from_disk

import soundfile as sf

from helpers import make_album_corpus, tone, write_tone
from singerid.commands.preprocess import main as preprocess_main
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


def test_a_missing_repo_folder_raises_not_exits(tmp_path):
    # demucs itself prints and calls sys.exit here; a library call must not end the interpreter
    with pytest.raises(SeparatorUnavailable) as raised:
        VocalSeparator("tiny_htdemucs", repo=tmp_path / "gone")
    message = str(raised.value)
    assert "must exist" in message  # demucs's own words
    assert "--demucs-repo DIR" in message and "--separator none" in message


def test_the_weights_are_recorded_by_content_and_the_cache_survives_moving_them(tmp_path, demucs_repo):
    import shutil

    song = write_tone(tmp_path / "a" / "b" / "song.flac", seconds=2.0)
    config = PreprocessConfig(sampling_rate=16000, separator="tiny_htdemucs")
    first = SongPreprocessor(config, cache_dir=tmp_path / "cache", device="cpu", demucs_repo=demucs_repo)
    first.vocals(song)
    moved = shutil.copytree(demucs_repo, tmp_path / "elsewhere" / "weights")
    again = SongPreprocessor(config, cache_dir=tmp_path / "cache", device="cpu", demucs_repo=moved)
    assert again.separator.weights == first.separator.weights
    assert again.is_cached(song)  # keyed by what the weights are, not where they lie
    recorded = again.config.to_dict()
    assert recorded["separator_weights"] == first.separator.weights
    assert str(tmp_path) not in json.dumps(recorded)


def test_half_precision_separation_is_recorded_and_cached_apart(tmp_path, demucs_repo):
    song = write_tone(tmp_path / "a" / "b" / "song.flac", seconds=2.0, freq=200.0)
    stems = {}
    for half in (False, True):
        config = PreprocessConfig(sampling_rate=16000, separator="tiny_htdemucs", separator_half=half)
        preprocessor = SongPreprocessor(config, cache_dir=tmp_path / "cache", device="cpu", demucs_repo=demucs_repo)
        assert preprocessor.separator.half is half and preprocessor.config.separator_half is half
        stems[half] = preprocessor.vocals(song)
    assert len(list((tmp_path / "cache").rglob("*.flac"))) == 2  # a half stem never stands in for a full one
    assert not np.array_equal(stems[False], stems[True])
    assert np.corrcoef(stems[False], stems[True])[0, 1] > 0.9  # the same stem, to half precision


def test_half_precision_stems_are_keyed_by_the_dtype_they_ran_in(tmp_path, demucs_repo, monkeypatch):
    import hashlib

    from singerid.digests import file_digest
    from singerid.preprocessing import workers

    song = write_tone(tmp_path / "a" / "b" / "song.flac", seconds=2.0, freq=200.0)

    def preprocessor(half, device):
        config = PreprocessConfig(sampling_rate=16000, separator="tiny_htdemucs", separator_half=half)
        return SongPreprocessor(config, cache_dir=tmp_path / "cache", device=device, demucs_repo=demucs_repo)

    cpu, cuda = preprocessor(True, "cpu"), preprocessor(True, "cuda")  # cuda is only named: nothing runs there
    assert (cpu.separator.dtype, cuda.separator.dtype) == ("bfloat16", "float16")
    cpu.vocals(song)
    assert cpu.is_cached(song) and not cuda.is_cached(song)  # a CPU's bfloat16 stem is no GPU's float16 one
    # The workers key the stems as the main process does.
    monkeypatch.setattr(workers, "_worker", None)
    workers._start_worker(*workers.StageWorkers(cpu, 2)._worker_args())
    assert workers._worker._cache_path(song) == cpu._cache_path(song)
    # Full precision keeps the key it always had, so existing caches stay valid.
    full = preprocessor(False, "cpu")
    params = {"separator": "tiny_htdemucs", "weights": full.separator.weights, "sampling_rate": 16000, "format": 2}
    key = hashlib.sha256((file_digest(song) + json.dumps(params, sort_keys=True)).encode()).hexdigest()
    assert full._cache_path(song) == tmp_path / "cache" / "vocals" / key[:2] / f"{key}.flac"
    assert full._cache_path(song) == preprocessor(False, "cuda")._cache_path(song)


def test_a_config_written_with_a_demucs_repo_path_still_loads(tmp_path):
    (tmp_path / "preprocess_config.json").write_text(json.dumps(
        {"sampling_rate": 16000, "separator": "htdemucs", "demucs_repo": "/some/dir", "remove_silence": True}))
    config = PreprocessConfig.load(tmp_path)
    assert config.separator == "htdemucs" and "demucs_repo" not in config.to_dict()


def test_one_song_failing_in_separation_costs_only_itself(tmp_path, demucs_repo, monkeypatch):
    corpus = make_album_corpus(tmp_path / "corpus", artists=1, albums=3, seconds=3.0)
    bad = sorted(corpus.rglob("*.flac"))[1]
    real_batch = VocalSeparator.vocals_batch

    def failing_on_the_bad_song(self, mixes):
        if any(mix.shape[-1] == 44100 * 2 for mix in mixes):
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_batch(self, mixes)

    write_tone(bad, seconds=2.0, rate=44100, channels=2)  # the one song 2 s long
    monkeypatch.setattr(VocalSeparator, "vocals_batch", failing_on_the_bad_song)
    result = preprocess_corpus(corpus, tmp_path / "out", PreprocessConfig(sampling_rate=16000, separator="tiny_htdemucs"),
                               cache_dir=tmp_path / "cache", device="cpu", separation_batch=3, demucs_repo=demucs_repo)
    statuses = {song_id: report.status for song_id, report in result.songs.items()}
    bad_id = bad.relative_to(corpus).with_suffix("").as_posix()
    assert statuses.pop(bad_id) == "skipped" and set(statuses.values()) == {"ok"}
    assert "CUDA out of memory" in result.songs[bad_id].error and "separat" in result.songs[bad_id].error


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


class _Killed(BaseException):
    """A kill is not an error of one song: like KeyboardInterrupt, it ends the run."""


def _dataset_rows(path):
    rows = []
    for split, part in load_from_disk(str(path)).items():
        for row in part:
            audio = row.pop("audio")
            rows.append((split, tuple(sorted(row.items())), np.asarray(audio["array"]).round(5).tobytes()))
    return rows


@pytest.mark.parametrize("batch, workers", [(1, 1), (2, 2)])
def test_rerun_after_a_kill_reuses_the_cache_and_equals_an_uninterrupted_run(tmp_path, demucs_repo, monkeypatch,
                                                                            batch, workers):
    corpus = make_album_corpus(tmp_path / "corpus", artists=2, albums=3, seconds=3.0)
    config = PreprocessConfig(sampling_rate=16000, separator="tiny_htdemucs")
    run = {"config": config, "device": "cpu", "separation_batch": batch, "demucs_repo": demucs_repo,
           "workers": workers}
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
    config = PreprocessConfig(sampling_rate=16000, separator="tiny_htdemucs")
    preprocessor = SongPreprocessor(config, cache_dir=tmp_path / "cache", device="cpu", demucs_repo=demucs_repo)
    first = preprocessor.vocals(song)
    assert preprocessor.is_cached(song)
    write_tone(song, seconds=2.0, freq=410.0)
    assert not preprocessor.is_cached(song)
    second = preprocessor.vocals(song)
    assert not np.allclose(first, second)
    assert len(list((tmp_path / "cache").rglob("*.flac"))) == 2


@pytest.mark.parametrize("separator", ["none", "tiny_htdemucs"])
def test_one_and_two_workers_give_the_same_dataset_report_and_errors(tmp_path, demucs_repo, separator):
    corpus = make_album_corpus(tmp_path / "corpus", artists=2, albums=3, seconds=3.0)
    (corpus / "artist_0" / "album_0" / "02-broken.mp3").write_text("not audio")
    noisy = tone(3.0, 16000, silent_spans=((0.5, 1.5),))
    noisy[100:110] = np.nan  # repaired in a worker: its note must reach the report
    sf.write(corpus / "artist_1" / "album_2" / "02-nan.wav", noisy, 16000, subtype="FLOAT")
    config = PreprocessConfig(sampling_rate=16000, separator=separator)
    reports = {}
    for workers in (1, 2):
        result = preprocess_corpus(corpus, tmp_path / f"out{workers}", config, cache_dir=tmp_path / f"cache{workers}",
                                   device="cpu", demucs_repo=demucs_repo, workers=workers, separation_batch=2)
        reports[workers] = json.loads((tmp_path / f"out{workers}" / "preprocess_report.json").read_text())["songs"]
        assert set(result.stage_seconds) >= {"decode", "silence"}  # the workers' time is counted
    assert _dataset_rows(tmp_path / "out1") == _dataset_rows(tmp_path / "out2")
    assert reports[1] == reports[2]
    assert reports[2]["artist_0/album_0/02-broken"]["status"] == "skipped"
    assert "NaN" in " ".join(reports[2]["artist_1/album_2/02-nan"]["notes"])
