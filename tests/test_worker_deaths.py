"""A worker process that dies (killed for memory, a codec crash) costs at most its own song:
the pool is replaced, the songs it held are retried one at a time, and the run goes on."""

import json
import os
import signal

import numpy as np
import pytest

from helpers import make_album_corpus, ranked_model, write_tone
from singerid import predict_songs
from singerid.errors import SongError
from singerid.preprocessing import PreprocessConfig
from singerid.preprocessing.dataset import preprocess_corpus
from singerid.preprocessing.stages import PreparedSong, SongPreprocessor
from singerid.preprocessing.workers import StageWorkers

CONFIG = PreprocessConfig(sampling_rate=16000, separator="none")


@pytest.fixture
def deadly(monkeypatch, tmp_path):
    """`prepare` and `decode_mix` end their worker process for a song named *kill* (every
    time) or *flaky* (the first time only), with SIGKILL for one named *oom*. Patched
    before the pool forks, so the workers inherit them."""
    parent = os.getpid()
    marks = tmp_path / "flaky-marks"
    marks.mkdir()

    def deadly_version(real):
        def method(self, path):
            name = os.path.basename(path)
            if "kill" in name or ("flaky" in name and not (marks / name).exists()):
                assert os.getpid() != parent, "a killing song reached the test's own process"
                (marks / name).touch()
                if "oom" in name:  # as the kernel's out-of-memory killer ends a process
                    os.kill(os.getpid(), signal.SIGKILL)
                os._exit(1)
            return real(self, path)
        return method

    for name in ("prepare", "decode_mix"):
        monkeypatch.setattr(SongPreprocessor, name, deadly_version(getattr(SongPreprocessor, name)))


def _songs(folder, names):
    return [write_tone(folder / name, seconds=1.0, freq=200.0 + 20 * index) for index, name in enumerate(names)]


@pytest.mark.parametrize("stage", ["prepared", "mixes"])
def test_songs_in_flight_beside_a_killer_are_retried_and_only_the_killer_fails(tmp_path, deadly, stage):
    paths = _songs(tmp_path, ["0.wav", "1-flaky.wav", "2-kill.wav", "3.wav", "4.wav", "5-kill-oom.wav", "6.wav"])
    preprocessor = SongPreprocessor(CONFIG, cache_dir=tmp_path / "cache")
    preprocessor.mix_format = (16000, 1)  # what a separator would take (none is loaded here)
    with StageWorkers(preprocessor, 2) as workers:  # a prepared song's track lasts as long as its workers
        # all in flight when the first worker dies
        results = list(getattr(workers, stage)(paths, ahead=len(paths)))
        assert len(results) == len(paths)
        for path, result in zip(paths, results):
            if "kill" in path.name:  # in input order, each killer as its own error
                assert isinstance(result, SongError) and result.path == str(path)
                death = "killed by SIGKILL (out of memory?)" if "oom" in path.name else "exit code 1"
                assert result.problem == f"worker died: {death}"
            else:  # a song that killed its worker only once is not lost either
                assert not isinstance(result, SongError), result.problem
                audio = result.cleaned if stage == "prepared" else result
                assert isinstance(audio, np.ndarray) and audio.shape[-1] == 16000  # one second


def test_a_song_submitted_after_the_pool_broke_starts_a_fresh_pool(tmp_path, deadly):
    paths = _songs(tmp_path, ["0-kill.wav", "1.wav", "2.wav"])
    preprocessor = SongPreprocessor(CONFIG, cache_dir=tmp_path / "cache")
    with StageWorkers(preprocessor, 2) as workers:

        def before(path):
            if path == paths[1]:  # wait until the killer has broken the pool: the next submit meets it broken
                manager = workers._pool._executor_manager_thread
                manager.join(timeout=120)
                assert not manager.is_alive()

        results = list(workers.prepared(paths, ahead=len(paths), before=before))
    assert isinstance(results[0], SongError) and results[0].problem.startswith("worker died:")
    assert all(isinstance(result, PreparedSong) for result in results[1:])


def test_prediction_answers_every_song_but_the_one_that_kills_its_worker(tmp_path, deadly, capsys):
    names = [f"{index}-{'kill' if index == 2 else 'song'}.wav" for index in range(8)]
    paths = _songs(tmp_path / "songs", names)
    model = ranked_model({"separator": "none", "remove_silence": False, "segment_seconds": 5.0,
                          "sampling_rate": 16000})
    model.save_pretrained(tmp_path / "model")
    predictions = predict_songs(paths, str(tmp_path / "model"), workers=2, batch_size=3,
                                cache_dir=tmp_path / "cache", device="cpu", progress=False)
    assert [p.id for p in predictions] == [path.stem for path in paths]
    for prediction in predictions:
        if "kill" in prediction.id:
            assert prediction.error.startswith("worker died: exit code 1") and not prediction.labels
        else:
            assert prediction.error is None and prediction.labels[0] == "bob"
    assert capsys.readouterr().err.count("worker died") == 1  # reported once


def test_preprocessing_keeps_every_song_but_the_one_that_kills_its_worker(tmp_path, deadly, capsys):
    corpus = make_album_corpus(tmp_path / "corpus", artists=2, albums=3, seconds=3.0)
    killer = write_tone(corpus / "artist_0" / "album_0" / "02-kill.flac", seconds=3.0)
    result = preprocess_corpus(corpus, tmp_path / "out", CONFIG, cache_dir=tmp_path / "cache", device="cpu",
                               workers=2)
    report = json.loads((tmp_path / "out" / "preprocess_report.json").read_text())["songs"]
    killed = report.pop("artist_0/album_0/02-kill")
    assert killed["status"] == "skipped" and killed["error"].startswith("worker died: exit code 1")
    assert all(song["status"] == "ok" for song in report.values()) and len(report) == 6
    for split, part in result.dataset.items():
        rows = part["song_id"]
        in_order = [song_id for index, song_id in enumerate(rows) if index == 0 or rows[index - 1] != song_id]
        assert in_order == [song_id for song_id, song in report.items() if song["split"] == split]
    assert capsys.readouterr().err.count(f"{killer}: worker died") == 1  # reported once
