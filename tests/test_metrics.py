"""The top-k evaluate module and song-level aggregation, against hand-computed cases."""

import numpy as np
import pytest

from singerid.evaluation import classification_metrics, songs_from_segments, top_k_metric


@pytest.fixture(scope="module")
def top_k():
    return top_k_metric()


def test_top_k_plain_cases(top_k):
    scores = [[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]
    result = top_k.compute(predictions=scores, references=[1, 1, 0, 2], k=[1, 2, 3])
    assert result == {"top1_accuracy": 0.25, "top2_accuracy": 0.5, "top3_accuracy": 1.0}


def test_ties_count_as_a_random_tie_break(top_k):
    # the true class tied with one other at the top: a coin flip for top-1, certain for top-2
    assert top_k.compute(predictions=[[0.4, 0.4, 0.2]], references=[0], k=[1, 2]) == \
        {"top1_accuracy": 0.5, "top2_accuracy": 1.0}
    # one class above, the true class tied with another: top-2 holds one of the two tied
    assert top_k.compute(predictions=[[0.6, 0.2, 0.2]], references=[1], k=2)["top2_accuracy"] == 0.5
    # uniform scores are worth exactly chance
    uniform = top_k.compute(predictions=[[0.25] * 4] * 3, references=[0, 1, 3], k=[1, 3])
    assert uniform == {"top1_accuracy": 0.25, "top3_accuracy": 0.75}


def test_k_larger_than_the_number_of_classes(top_k):
    assert top_k.compute(predictions=[[0.9, 0.1], [0.2, 0.8]], references=[1, 0], k=5) == {"top5_accuracy": 1.0}


def test_songs_average_probabilities_and_keep_votes():
    probabilities = np.array([[0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.0, 1.0, 0.0],  # song a
                              [0.1, 0.1, 0.8]])  # song b
    songs = songs_from_segments(probabilities, np.array([1, 1, 1, 2]), ["b/x", "b/x", "b/x", "a/y"])
    assert songs.song_ids == ["a/y", "b/x"]
    np.testing.assert_allclose(songs.probabilities[1], [0.4, 0.6, 0.0])
    np.testing.assert_array_equal(songs.votes[1], [2, 1, 0])
    np.testing.assert_array_equal(songs.labels, [2, 1])
    np.testing.assert_array_equal(songs.predictions, [2, 1])


def test_classification_metrics_by_hand():
    probabilities = np.array([
        [0.6, 0.4, 0.0], [0.6, 0.4, 0.0], [0.0, 1.0, 0.0],  # song s1, artist 1: mean says 1, votes say 0
        [0.7, 0.2, 0.1],  # song s2, artist 0: right
        [0.5, 0.1, 0.4], [0.1, 0.1, 0.8],  # song s3, artist 2: mean [0.3, 0.1, 0.6] → right
        [0.1, 0.5, 0.4],  # song s4, artist 2: wrong at top-1, right at top-2 and top-3
    ])
    labels = np.array([1, 1, 1, 0, 2, 2, 2])
    song_ids = ["s1", "s1", "s1", "s2", "s3", "s3", "s4"]
    metrics, songs = classification_metrics(probabilities, labels, song_ids)
    assert metrics["segment_top1"] == pytest.approx(3 / 7)  # rows 3, 4 and 6 are right
    assert metrics["segment_top3"] == 1.0
    assert metrics["song_top1"] == 0.75 and metrics["song_top3"] == 1.0
    assert metrics["song_vote_top1"] == 0.5  # the reference's majority vote loses s1 and s4
    # predictions per song: s1→1, s2→0, s3→2, s4→1; F1: artist0 1.0, artist1 2/3, artist2 2/3
    assert metrics["song_macro_f1"] == pytest.approx((1.0 + 2 / 3 + 2 / 3) / 3)
    assert metrics["num_songs"] == 4 and metrics["num_segments"] == 7 and metrics["num_artists"] == 3
    assert all(0.0 <= value <= 1.0 for key, value in metrics.items() if not key.startswith("num_"))


def test_macro_f1_averages_over_the_artists_the_split_holds():
    # 3 artists trained, but this split (an artist with 2 albums has no validation album)
    # holds songs of 2 of them, all predicted right.
    probabilities = np.array([[0.8, 0.1, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    metrics, _ = classification_metrics(probabilities, np.array([0, 0, 2]), ["a/1", "a/2", "c/1"])
    assert metrics["song_top1"] == 1.0
    assert metrics["song_macro_f1"] == 1.0
    assert metrics["num_artists"] == 2
    # a wrong answer naming an absent artist still costs the present one
    wrong = np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert classification_metrics(wrong, np.array([0, 0, 2]), ["a/1", "a/2", "c/1"])[0]["song_macro_f1"] == \
        pytest.approx((2 / 3 + 1.0) / 2)
