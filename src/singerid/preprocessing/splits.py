"""Train / validation / test assignment by album, never by segment.

Default rule (artist20's 2023 split, generalised), per artist with albums sorted by name:
- 3 or more albums: the last is test, the one before it validation, the rest train
  (6 albums give artist20's 4 / 1 / 1);
- 2 albums: the first train, the second test (the artist has no validation album);
- 1 album: train only.
Songs without an album folder (`<artist>/<track>`) are split by song instead, in name
order, cycling 4 train / 1 validation / 1 test, with a warning.

Explicit lists override the rule: a folder with `train.list`, `validation.list`,
`test.list` (or artist20's `a20-trn-tracks.list`, `a20-val-tracks.list`,
`a20-tst-tracks.list`), one `artist/album/track` per line without extension. An album whose songs the lists put
in more than one split is named in a warning and in the preprocessing report.

Copies of one recording (`duplicates`) are kept in one split by `keep_together`: the
earliest of their splits, train first.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from .corpus import Song

SPLITS = ("train", "validation", "test")
LIST_FILES = {
    "train": ("train.list", "a20-trn-tracks.list"),
    "validation": ("validation.list", "a20-val-tracks.list"),
    "test": ("test.list", "a20-tst-tracks.list"),
}
logger = logging.getLogger(__name__)


def split_by_album(songs: list[Song]) -> dict[str, str]:
    """song_id → split, by the default rule above."""
    by_artist: dict[str, list[Song]] = defaultdict(list)
    for song in songs:
        by_artist[song.artist].append(song)
    assignment: dict[str, str] = {}
    for artist, artist_songs in sorted(by_artist.items()):
        loose = sorted(s.song_id for s in artist_songs if s.album is None)
        if loose:
            logger.warning(
                "%s: %d songs without an album folder are split by song, not by album",
                artist, len(loose),
            )
            for index, song_id in enumerate(loose):
                assignment[song_id] = _cycle(index)
        albums = sorted({s.album for s in artist_songs if s.album is not None})
        if 0 < len(albums) < 3:
            logger.warning(
                "%s has %d album(s): no validation album%s",
                artist, len(albums), "" if len(albums) == 2 else " and no test album",
            )
        split_of_album = _album_rule(albums)
        for song in artist_songs:
            if song.album is not None:
                assignment[song.song_id] = split_of_album[song.album]
    return assignment


def _cycle(index: int) -> str:
    # Four in train for each one in validation and test, as with six albums.
    return ("train", "train", "train", "train", "validation", "test")[index % 6]


def _album_rule(albums: list[str]) -> dict[str, str]:
    if len(albums) >= 3:
        splits = ["train"] * (len(albums) - 2) + ["validation", "test"]
    elif len(albums) == 2:
        splits = ["train", "test"]
    else:
        splits = ["train"] * len(albums)
    return dict(zip(albums, splits))


def split_from_lists(songs: list[Song], lists_dir: str | Path) -> dict[str, str]:
    """song_id → split, from list files; songs on no list are left out, with a warning."""
    lists_dir = Path(lists_dir)
    assignment: dict[str, str] = {}
    for split, names in LIST_FILES.items():
        path = next((lists_dir / name for name in names if (lists_dir / name).is_file()), None)
        if path is None:
            raise FileNotFoundError(f"{lists_dir}: no {' or '.join(names)} found")
        for line in path.read_text(encoding="utf-8").splitlines():
            song_id = line.strip().removesuffix("/")
            if not song_id:
                continue
            if assignment.get(song_id, split) != split:
                raise ValueError(f"{path}: {song_id} is also listed for {assignment[song_id]}")
            assignment[song_id] = split
    known = {song.song_id for song in songs}
    missing = sorted(set(assignment) - known)
    if missing:
        logger.warning("%d listed songs were not found under the input, e.g. %s", len(missing), missing[0])
    unlisted = sorted(known - set(assignment))
    if unlisted:
        logger.warning("%d songs are on no list and are left out, e.g. %s", len(unlisted), unlisted[0])
    return {song_id: split for song_id, split in assignment.items() if song_id in known}


def keep_together(groups: list[list[str]], assignment: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """`assignment` with each group of song ids whole in the earliest of its splits (in
    `SPLITS` order), and song_id → the split it left, for each song moved."""
    assignment, moved = dict(assignment), {}
    for group in groups:
        split = min((assignment[song_id] for song_id in group), key=SPLITS.index)
        for song_id in group:
            if assignment[song_id] != split:
                moved[song_id], assignment[song_id] = assignment[song_id], split
    return assignment, moved


def albums_in_several_splits(songs: list[Song], assignment: dict[str, str]) -> dict[str, list[str]]:
    """`artist/album` → its splits, for albums whose songs are not all in one split
    (possible only with list files, or for copies moved by `keep_together`: the default
    rule assigns whole albums)."""
    splits_of: dict[str, set[str]] = defaultdict(set)
    for song in songs:
        if song.album is not None and song.song_id in assignment:
            splits_of[f"{song.artist}/{song.album}"].add(assignment[song.song_id])
    return {album: [split for split in SPLITS if split in splits] for album, splits in sorted(splits_of.items())
            if len(splits) > 1}
