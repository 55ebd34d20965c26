"""Find the songs of a corpus laid out as `<root>/<artist>/<album>/<track>.<ext>`.

`<root>/<artist>/<track>.<ext>` (no albums) works too. Top-level folders whose names
start with `_` or `.` (the demo corpus's `_stems`, `.git`) are not artists; files that
are not audio by extension (cover.jpg, .DS_Store) are ignored. Links are followed, each
folder once (see `singerid.preprocessing.folders`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..audio import is_audio_file
from .folders import find_files


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
    artists = [folder for folder in sorted(root.iterdir())
               if folder.is_dir() and not folder.name.startswith(("_", "."))]
    # One walk over all artists, with the root counted as entered: a link into another
    # artist, or back to the root (and its `_stems`), adds nothing.
    found = [(path, path.relative_to(root).parts)
             for path in find_files(artists, entered=[root]) if is_audio_file(path)]
    ids = [_song_id(parts, with_extension=False) for _, parts in found]
    counts = Counter(ids)
    songs = []
    for (path, parts), song_id in zip(found, ids):
        if counts[song_id] > 1:  # `a.mp3` beside `a.flac`: keep both, told apart by extension
            song_id = _song_id(parts, with_extension=True)
        album = parts[1] if len(parts) > 2 else None
        songs.append(Song(path=path, artist=parts[0], album=album, song_id=song_id))
    return sorted(songs, key=lambda song: song.song_id)


def _song_id(parts: tuple[str, ...], with_extension: bool) -> str:
    last = parts[-1] if with_extension else Path(parts[-1]).stem
    return "/".join((*parts[:-1], last))
