"""Song timelines: each chunk's probabilities, from the song's own forward, on the original song's seconds."""

import csv
import pickle
import re

import numpy as np
import pytest
import soundfile as sf

from helpers import RANKED_LABELS, ranked_model, tone
from singerid import predict_songs
from singerid.commands.predict import main as predict_main
from singerid.outputs import RUN_RECORD
from singerid.prediction import Timeline
from singerid.preprocessing import PreprocessConfig, SongPreprocessor
from singerid.preprocessing.silence import keep_intervals, loudest_window_span, original_spans, removed_spans
from singerid.reports import plot_timeline

RATE = 24000  # tiny-mert's rate: no resampling, so the song's samples are the model's
LABELS = RANKED_LABELS
SILENCE = {"separator": "none", "remove_silence": True, "silence_db": -35.0, "min_silence_seconds": 0.5,
           "segment_seconds": 5.0, "sampling_rate": RATE}
# 17 s with two silent gaps: 14 s audible, so chunks of cleaned audio at 0, 5 and 10 s (a 4 s tail)
GAPS = ((3.0, 5.0), (9.0, 10.0))
AUDIBLE = [(0.0, 3.0), (5.0, 9.0), (10.0, 17.0)]
EXPECTED_CHUNKS = [[(0.0, 3.0), (5.0, 7.0)], [(7.0, 9.0), (10.0, 13.0)], [(13.0, 17.0)]]
TOLERANCE = 0.1  # seconds: where the silence detector puts an edge


def _model(preprocessing=SILENCE):
    return ranked_model(preprocessing)


@pytest.fixture(scope="module")
def model():
    return _model()


@pytest.fixture(scope="module")
def gaps(tmp_path_factory):
    path = tmp_path_factory.mktemp("songs") / "gaps.wav"
    sf.write(path, tone(17.0, RATE, silent_spans=GAPS)[:, 0], RATE, subtype="FLOAT")
    return path


def _close(spans, expected, tolerance=TOLERANCE):
    return len(spans) == len(expected) and all(
        abs(a - c) <= tolerance and abs(b - d) <= tolerance for (a, b), (c, d) in zip(spans, expected))


def _union(spans):
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1e-6:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def test_samples_of_the_cleaned_audio_map_back_across_the_cuts():
    kept = [(1.0, 2.0), (3.0, 3.5)]  # at 10 Hz: cleaned samples 0-9 are 1.0-2.0 s, 10-14 are 3.0-3.5 s
    assert original_spans(kept, 10, 5, 13) == [(1.5, 2.0), (3.0, 3.3)]
    assert original_spans(kept, 10, 0, 10) == [(1.0, 2.0)]
    assert original_spans(kept, 10, 12, 40) == [(3.2, 3.5)]  # a padded chunk: only the samples there are
    assert removed_spans(kept, 4.0) == [(0.0, 1.0), (2.0, 3.0), (3.5, 4.0)]
    assert removed_spans([(0.0, 4.0)], 4.0) == []


def test_prepared_songs_carry_the_spans_they_kept(gaps):
    wave = sf.read(gaps, dtype="float32")[0]
    song = SongPreprocessor(PreprocessConfig(**SILENCE)).prepare(gaps)
    assert _close(song.kept_spans, AUDIBLE)
    np.testing.assert_array_equal(keep_intervals(wave, RATE, song.kept_spans), song.cleaned)  # exactly what was kept
    assert pickle.loads(pickle.dumps(song)).kept_spans == song.kept_spans  # workers send it back pickled

    whole = SongPreprocessor(PreprocessConfig(**{**SILENCE, "remove_silence": False})).prepare(gaps)
    assert whole.kept_spans == [(0.0, 17.0)] and len(whole.cleaned) == len(wave)

    # Nothing above -1 dBFS: the loudest window is kept, and its span with it.
    quiet = SongPreprocessor(PreprocessConfig(**{**SILENCE, "silence_db": -1.0})).prepare(gaps)
    start, end = loudest_window_span(wave, 5 * RATE)
    assert quiet.nothing_audible and quiet.kept_spans == [(start / RATE, end / RATE)]
    np.testing.assert_array_equal(quiet.cleaned, wave[start:end])


def test_each_chunk_maps_to_the_audible_seconds_it_came_from(model, gaps):
    prediction = predict_songs([gaps], model, top_k=4, timeline=True, workers=1, progress=False)[0]
    timeline = prediction.timeline
    assert isinstance(timeline, Timeline) and prediction.error is None
    assert timeline.labels == list(LABELS.values()) and timeline.duration_s == 17.0
    assert (timeline.hop_s, timeline.chunk_s) == (5.0, 5.0)
    assert timeline.probabilities.shape == (3, 4)
    np.testing.assert_allclose(timeline.probabilities.sum(-1), 1.0, atol=1e-5)
    for spans, expected in zip(timeline.spans, EXPECTED_CHUNKS):
        assert _close(spans, expected), timeline.spans  # a chunk crossing a cut holds two spans
        assert all(any(a - TOLERANCE <= start < end <= b + TOLERANCE for a, b in AUDIBLE) for start, end in spans)
    every_span = [span for spans in timeline.spans for span in spans]
    assert _close(_union(every_span), AUDIBLE)  # together: all of the audible song, nothing else
    assert sum(end - start for start, end in every_span) == pytest.approx(14.0, abs=2 * TOLERANCE)  # no overlap
    assert _close(timeline.removed, list(GAPS))
    # The song's answer is the mean of these very chunks.
    song = timeline.song_probabilities()
    assert [timeline.labels[i] for i in timeline.top(4)] == prediction.labels
    np.testing.assert_allclose([song[list(LABELS.values()).index(label)] for label in prediction.labels],
                               prediction.scores, atol=1e-6)


def test_a_timeline_costs_no_backbone_call(model, gaps, monkeypatch):
    calls = []
    forward = model.backbone.forward
    monkeypatch.setattr(model.backbone, "forward", lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs))
    answers = {}
    for timeline in (False, True):
        calls.clear()
        prediction = predict_songs([gaps, gaps], model, top_k=4, batch_size=2, timeline=timeline, workers=1,
                                   progress=False)[0]
        answers[timeline] = (len(calls), prediction.labels, prediction.scores, prediction.timeline is not None)
    assert answers[False][0] == answers[True][0] == 1  # six chunks, one call (chunk_batch_size 8)
    assert answers[False][1:3] == answers[True][1:3]
    assert (answers[False][3], answers[True][3]) == (False, True)


def test_a_song_with_nothing_audible_has_the_loudest_window_on_its_timeline(gaps):
    quiet = _model({**SILENCE, "silence_db": -1.0})
    prediction = predict_songs([gaps], quiet, timeline=True, workers=1, progress=False)[0]
    start, end = loudest_window_span(sf.read(gaps, dtype="float32")[0], 5 * RATE)
    assert prediction.nothing_audible
    assert prediction.timeline.spans == [[(start / RATE, end / RATE)]]
    assert prediction.timeline.removed == removed_spans([(start / RATE, end / RATE)], 17.0)


def test_predict_timeline_writes_a_csv_and_png_per_song_and_a_bad_song_fails_alone(model, gaps, tmp_path, capsys):
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    broken = tmp_path / "broken.mp3"
    broken.write_text("not audio")
    answers, timelines = tmp_path / "answers.csv", tmp_path / "timelines"
    assert predict_main(["--model", str(folder), "--input", str(gaps), str(broken), "--output", str(answers),
                         "--timeline", str(timelines), "--workers", "1"]) == 0
    assert sorted(path.name for path in timelines.iterdir()) == ["gaps.csv", "gaps.png", RUN_RECORD]
    assert (timelines / "gaps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    [answer] = list(csv.reader(answers.open()))
    header, *rows = list(csv.reader((timelines / "gaps.csv").open()))
    assert header == ["chunk", "start_s", "end_s", "spans", *answer[1:4]]  # the song's top 3, best first
    assert [row[0] for row in rows] == ["0", "1", "2"]
    for row, expected in zip(rows, EXPECTED_CHUNKS):
        assert re.fullmatch(r"\d+\.\d\d-\d+\.\d\d(;\d+\.\d\d-\d+\.\d\d)*", row[3])
        spans = [tuple(map(float, span.split("-"))) for span in row[3].split(";")]
        assert _close(spans, expected) and (float(row[1]), float(row[2])) == (spans[0][0], spans[-1][1])
        assert all(0 <= float(p) <= 1 for p in row[4:])
    assert "broken.mp3" in (tmp_path / "answers.errors.tsv").read_text()
    assert "1 timelines" in capsys.readouterr().out


def test_plot_timeline_draws_the_top_singers_and_the_cuts_or_returns_the_figure(tmp_path):
    timeline = Timeline(labels=["ann", "bob", "cat", "dan"],
                        probabilities=np.array([[0.1, 0.6, 0.2, 0.1], [0.1, 0.2, 0.6, 0.1]], dtype=np.float32),
                        spans=[[(0.0, 3.0), (5.0, 7.0)], [(7.0, 9.0), (10.0, 11.0)]], removed=[(3.0, 5.0), (9.0, 10.0)],
                        duration_s=11.0, hop_s=5.0, chunk_s=5.0)
    figure = plot_timeline(timeline, singers=2)
    [axes] = figure.axes
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["removed as silence", "bob (0.40)", "cat (0.40)"]
    bob = next(c for c in axes.collections if c.get_label().startswith("bob"))
    assert [segment[:, 0].tolist() for segment in bob.get_segments()] == [[0, 3], [5, 7], [7, 9], [10, 11]]
    assert axes.get_xlim() == (0.0, 11.0)
    path = plot_timeline(timeline, tmp_path / "song.png", title="song")
    assert path == tmp_path / "song.png" and path.read_bytes()[:4] == b"\x89PNG"
