"""Find the songs of a corpus laid out as `<root>/<artist>/<album>/<track>.<ext>`.

`<root>/<artist>/<track>.<ext>` (no albums) works too. Top-level folders whose names
start with `_` or `.` (the demo corpus's `_stems`, `.git`) are not artists; files that
are not audio by extension (cover.jpg, .DS_Store) are ignored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..audio import is_audio_file


@dataclass(frozen=True)
class Song:
    path: Path
    artist: str
    album: str | None  # None for the `<artist>/<track>` layout
    song_id: str  # `artist/album/track` without extension, as artist20's lists write it


def find_songs(root: str | Path) -> list[Song]:
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; give the folder of songs, laid out as "
                                "<artist>/<album>/<track>")
    found: list[tuple[Path, tuple[str, ...]]] = []
    for artist_dir in sorted(root.iterdir()):
        if not artist_dir.is_dir() or artist_dir.name.startswith(("_", ".")):
            continue
        for folder, _, files in os.walk(artist_dir, followlinks=True):
            for name in files:
                path = Path(folder, name)
                if is_audio_file(path) and path.is_file():
                    found.append((path, path.relative_to(root).parts))
    ids = [_song_id(parts, with_extension=False) for _, parts in found]
    clashing = {song_id for song_id in ids if ids.count(song_id) > 1}
    songs = []
    for (path, parts), song_id in zip(found, ids):
        if song_id in clashing:  # `a.mp3` beside `a.flac`: keep both, told apart by extension
            song_id = _song_id(parts, with_extension=True)
        album = parts[1] if len(parts) > 2 else None
        songs.append(Song(path=path, artist=parts[0], album=album, song_id=song_id))
    return sorted(songs, key=lambda song: song.song_id)


def _song_id(parts: tuple[str, ...], with_extension: bool) -> str:
    last = parts[-1] if with_extension else Path(parts[-1]).stem
    return "/".join((*parts[:-1], last))
