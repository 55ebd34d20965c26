"""Names are data: song IDs, file paths and singer names come from users' files, and reach
the tables and file names singerid writes as text only, never as formulas, rows or paths.

- A CSV cell of such text that begins with `=`, `+`, `-`, `@`, a tab or a carriage return
  gets a leading `'`, so a spreadsheet shows it instead of running it as a formula
  (`text_cell`); numbers singerid formats itself are written as they are.
- A TSV field escapes backslash, tab, newline and carriage return as `\\\\`, `\\t`, `\\n`,
  `\\r`, so a record is one line (`tsv_field`, `write_errors_file`).
- A per-song file name keeps an ID's folders but never leaves its folder (`file_names`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from pathlib import Path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Characters that are not text to show: controls, surrogates (undecodable bytes), line and
# paragraph separators, and invisible format characters (bidi overrides and isolates
# reorder what is shown); except the zero-width non-joiner and joiner, which Persian,
# Indic scripts and emoji sequences need.
HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
JOINERS = frozenset({"\u200c", "\u200d"})
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def hidden_characters(text: str) -> list[str]:
    """The characters of `text` that would not show as themselves (see HIDDEN_CATEGORIES)."""
    return [ch for ch in text if ch not in JOINERS and unicodedata.category(ch) in HIDDEN_CATEGORIES]


def text_cell(text: str, raw: bool = False) -> str:
    """A CSV cell of text that comes from a name (song ID, singer, split): with a leading
    `'` where a spreadsheet would read a formula, unless `raw` (byte for byte, for scorers)."""
    text = str(text)
    return text if raw or not text.startswith(FORMULA_STARTS) else "'" + text


def tsv_field(text: str) -> str:
    """`text` as one TSV field: backslash, tab, newline and carriage return escaped."""
    return str(text).translate(_TSV_ESCAPES)


def write_errors_file(path: str | Path, failed: Iterable[tuple[str, str]]) -> Path | None:
    """The `(song path, error)` rows of a run as TSV (escaped, see `tsv_field`), returning
    its path; with no rows, an earlier run's file is removed: the file belongs to its run."""
    path, rows = Path(path), [f"{tsv_field(song)}\t{tsv_field(error)}\n" for song, error in failed]
    if not rows:
        path.unlink(missing_ok=True)
        return None
    path.write_text("".join(rows), encoding="utf-8")
    return path


def file_names(ids: list[str]) -> list[str]:
    """Relative file names (no suffix) for per-song files, one per ID, all different.

    An ID's `/` parts stay folders (IDs hold them where stems repeat), without `.`, `..`,
    empty parts and hidden characters, so a name stays inside its folder and never names
    a file beside it (an ID `.` would be the folder itself); `_` where nothing is left.
    Names that coincide, ignoring case as some file systems do, get `~2`, `~3`, ..."""
    names, taken = [], set()
    for song_id in ids:
        parts = ("".join(ch for ch in part if not hidden_characters(ch)) for part in str(song_id).split("/"))
        base = "/".join(part for part in parts if part not in ("", ".", "..")) or "_"
        name, count = base, 1
        while name.casefold() in taken:
            count += 1
            name = f"{base}~{count}"
        taken.add(name.casefold())
        names.append(name)
    return names
