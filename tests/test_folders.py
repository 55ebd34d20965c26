"""Walking input folders: links are followed but each folder is entered once and each file
comes once, any depth works, and finding songs stays linear (benchmarks/find_songs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from singerid.enrollment import singers_from_folder
from singerid.prediction import find_audio_files, song_ids
from singerid.preprocessing.corpus import find_songs

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")  # the walkers look at names and kinds, never at the audio
    return path


def ids(root: Path) -> list[str]:
    return [song.song_id for song in find_songs(root)]


def test_a_link_loop_gives_each_real_file_once(tmp_path):
    album = tmp_path / "alice" / "al1"
    files = [touch(album / f"t{i}.mp3") for i in range(3)]
    os.symlink(".", album / "loop")  # the album inside itself
    os.symlink("..", album / "up")  # the artist inside its album
    os.symlink("..", tmp_path / "alice" / "root")  # the whole corpus inside an artist

    assert ids(tmp_path) == ["alice/al1/t0", "alice/al1/t1", "alice/al1/t2"]
    assert find_audio_files([tmp_path]) == files
    assert find_audio_files([album / "loop"]) == [album / "loop" / file.name for file in files]


def test_a_folder_1100_levels_deep_is_walked_without_recursion(tmp_path):
    deep = Path("alice", "al1")
    for _ in range(11):  # os.makedirs recurses per missing level: 100 at a time
        deep = deep.joinpath(*["d"] * 100)  # short names keep the path under PATH_MAX
        os.makedirs(tmp_path / deep)
    song = touch(tmp_path / deep / "t.flac")
    try:
        assert ids(tmp_path) == [deep.joinpath("t").as_posix()]
        assert find_audio_files([tmp_path]) == [song]
        assert song_ids([song]) == ["t"]
    finally:  # pytest's own clean-up (shutil.rmtree) recurses per level: too deep for it
        song.unlink()
        for folder in (deep, *deep.parents[:-2]):
            os.rmdir(tmp_path / folder)


def test_a_link_into_another_album_does_not_give_a_song_twice(tmp_path):
    touch(tmp_path / "alice" / "al1" / "a.mp3")
    bob = [touch(tmp_path / "bob" / "b1" / f"b{i}.mp3") for i in range(2)]
    # Links sorted before and after the real folder; a folder link and a file link.
    os.symlink(Path("..", "..", "bob", "b1"), tmp_path / "alice" / "al1" / "0-borrowed")
    os.symlink(Path("..", "bob", "b1"), tmp_path / "alice" / "zz")
    os.symlink(Path("..", "..", "bob", "b1", "b0.mp3"), tmp_path / "alice" / "al1" / "copy.mp3")
    os.symlink("bob", tmp_path / "abob")  # an artist that is another's folder

    assert ids(tmp_path) == ["alice/al1/a", "bob/b1/b0", "bob/b1/b1"]
    assert find_audio_files([tmp_path]) == [tmp_path / "alice" / "al1" / "a.mp3", *bob]
    assert singers_from_folder(tmp_path) == {"alice": [tmp_path / "alice" / "al1" / "a.mp3"], "bob": bob}


def test_links_out_of_the_corpus_are_still_followed(tmp_path):
    library = tmp_path / "library"
    touch(library / "record" / "1.flac")
    outside = touch(library / "single.flac")
    root = tmp_path / "corpus"
    (root / "alice").mkdir(parents=True)
    os.symlink(library / "record", root / "alice" / "al1")
    os.symlink(outside, root / "alice" / "al1-single.flac")
    os.symlink(library, root / "library-too")  # the same files again, under another artist

    assert ids(root) == ["alice/al1-single", "alice/al1/1"]
    assert find_audio_files([root / "alice"]) == [root / "alice" / "al1" / "1.flac",
                                                  root / "alice" / "al1-single.flac"]
    # An explicit file is always answered, even when it is the same song as another.
    assert find_audio_files([root / "alice", outside]) == [*find_audio_files([root / "alice"]), outside]


def test_song_ids_tell_repeated_stems_and_extensions_apart(tmp_path):
    files = [touch(tmp_path / "a" / "x" / "1.mp3"), touch(tmp_path / "a" / "y" / "1.mp3"),
             touch(tmp_path / "a" / "y" / "2.mp3")]
    touch(tmp_path / "a" / "x" / "1.flac")
    assert ids(tmp_path) == ["a/x/1.flac", "a/x/1.mp3", "a/y/1", "a/y/2"]
    assert song_ids(files) == ["x/1", "y/1", "2"]


def test_find_songs_benchmark_prints_its_rows(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "find_songs.py"), "--counts", "40", "80"],
                          cwd=tmp_path, env=dict(os.environ, HF_HUB_OFFLINE="1"), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = [line.split() for line in done.stdout.splitlines()]
    for name in ("find_songs", "find_audio_files", "song_ids"):
        row = next(row for row in rows if row and row[0] == name)
        assert len(row) == 4 and all(float(value) >= 0 for value in row[1:]), row  # 40, 80 files, ratio
    assert list(tmp_path.iterdir()) == []  # its corpora are temporary
