"""Segment planning and the album split rule."""

from pathlib import Path

import numpy as np
import pytest

from singerid.preprocessing.corpus import Song, find_songs
from singerid.models.singer.segments import cut_segments, plan_segments
from singerid.preprocessing.splits import split_by_album, split_from_lists


def test_non_overlapping_segments_cover_the_song_and_drop_a_short_tail():
    spans = plan_segments(num_samples=23, length=5, hop=5, min_tail=4)
    assert spans == [(0, 5), (5, 10), (10, 15), (15, 20)]  # the 3-sample tail is dropped
    assert plan_segments(24, 5, 5, min_tail=4)[-1] == (20, 25)  # a 4-sample tail is kept


def test_tail_at_least_min_is_kept_and_padded():
    spans = plan_segments(num_samples=13, length=5, hop=5, min_tail=3)
    assert spans == [(0, 5), (5, 10), (10, 15)]
    segments = cut_segments(np.arange(1, 14, dtype=np.float32), spans)
    assert segments.shape == (3, 5)
    assert segments[2].tolist() == [11, 12, 13, 0, 0]


@pytest.mark.parametrize("num_samples", [1, 3, 5])
def test_input_no_longer_than_a_segment_gives_exactly_one(num_samples):
    spans = plan_segments(num_samples, length=5, hop=5, min_tail=5)
    assert spans == [(0, 5)]
    assert cut_segments(np.ones(num_samples, np.float32), spans)[0].sum() == num_samples


def test_overlapping_hop_and_every_segment_same_length():
    spans = plan_segments(num_samples=100, length=20, hop=10, min_tail=1)
    assert [start for start, _ in spans] == list(range(0, 90, 10))
    assert {end - start for start, end in spans} == {20}
    assert spans[-1][1] >= 100


def test_invalid_lengths_are_rejected():
    with pytest.raises(ValueError, match="positive"):
        plan_segments(10, length=0, hop=5, min_tail=1)


def _songs(artist: str, albums: int, per_album: int = 2) -> list[Song]:
    return [Song(Path(f"{artist}/{b}/{s}.mp3"), artist, f"album{b}", f"{artist}/album{b}/{s}")
            for b in range(albums) for s in range(per_album)]


def test_six_albums_split_four_one_one_by_sorted_name():
    assignment = split_by_album(_songs("x", 6))
    by_album = {song_id.split("/")[1]: split for song_id, split in assignment.items()}
    assert by_album == {"album0": "train", "album1": "train", "album2": "train", "album3": "train",
                        "album4": "validation", "album5": "test"}


def test_fewer_albums_follow_the_documented_rule(caplog):
    two = split_by_album(_songs("x", 2))
    assert {two["x/album0/0"], two["x/album1/0"]} == {"train", "test"}
    one = split_by_album(_songs("y", 1))
    assert set(one.values()) == {"train"}
    assert "no validation album" in caplog.text


def test_songs_without_albums_are_split_by_song_with_a_warning(caplog):
    songs = [Song(Path(f"z/{i}.mp3"), "z", None, f"z/{i:02d}") for i in range(12)]
    assignment = split_by_album(songs)
    assert list(assignment.values()).count("train") == 8
    assert list(assignment.values()).count("validation") == 2
    assert list(assignment.values()).count("test") == 2
    assert "split by song" in caplog.text


@pytest.mark.parametrize("names", [("train.list", "validation.list", "test.list"),
                                   ("a20-trn-tracks.list", "a20-val-tracks.list", "a20-tst-tracks.list")])
def test_explicit_lists_in_either_naming(tmp_path, names):
    songs = _songs("x", 3, per_album=1)
    for name, song in zip(names, songs):
        (tmp_path / name).write_text(song.song_id + "\n")
    assignment = split_from_lists(songs, tmp_path)
    assert assignment == {"x/album0/0": "train", "x/album1/0": "validation", "x/album2/0": "test"}


def test_a_song_on_two_lists_is_an_error(tmp_path):
    songs = _songs("x", 1, per_album=1)
    for name in ("train.list", "validation.list", "test.list"):
        (tmp_path / name).write_text("x/album0/0\n" if name != "test.list" else "")
    with pytest.raises(ValueError, match="also listed"):
        split_from_lists(songs, tmp_path)


def test_find_songs_ignores_underscore_folders_and_non_audio(tmp_path):
    from helpers import write_tone

    write_tone(tmp_path / "a" / "alb" / "01 x.flac")
    write_tone(tmp_path / "_stems" / "a" / "alb" / "vocals.flac")
    write_tone(tmp_path / ".hidden" / "alb" / "y.flac")
    (tmp_path / "a" / "alb" / "cover.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "a" / "alb" / "dir.mp3").mkdir()
    songs = find_songs(tmp_path)
    assert [song.song_id for song in songs] == ["a/alb/01 x"]
    assert songs[0].album == "alb"


def test_an_album_shared_between_listed_splits_is_named_and_reported(tmp_path, caplog):
    import json

    from helpers import write_tone
    from singerid.preprocessing import PreprocessConfig, preprocess_corpus

    corpus = tmp_path / "corpus"
    for track in ("x/shared/1", "x/shared/2", "x/own/1"):
        write_tone(corpus / f"{track}.flac", seconds=1.0)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train.list").write_text("x/shared/1\nx/own/1\n")
    (lists / "validation.list").write_text("")
    (lists / "test.list").write_text("x/shared/2\n")
    with caplog.at_level("WARNING"):
        preprocess_corpus(corpus, tmp_path / "out", PreprocessConfig(sampling_rate=16000, separator="none"),
                          split_lists=lists, cache_dir=tmp_path / "cache")
    assert "x/shared" in caplog.text and "x/own" not in caplog.text
    report = json.loads((tmp_path / "out" / "preprocess_report.json").read_text())
    assert report["summary"]["albums_in_several_splits"] == {"x/shared": ["train", "test"]}


def test_the_default_rule_never_shares_an_album(tmp_path):
    from singerid.preprocessing.splits import albums_in_several_splits

    songs = _songs("x", 6, per_album=3) + _songs("y", 2, per_album=2)
    assert albums_in_several_splits(songs, split_by_album(songs)) == {}
