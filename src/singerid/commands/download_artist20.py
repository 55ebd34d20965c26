"""`singerid download_artist20 --output DIR`: download (resuming), check and safely unpack artist20."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import SingeridError
from ..recipes.artist20 import ARCHIVE_PAGE, ARCHIVE_URL, DownloadError, fetch_artist20
from . import OutputOptions, claim, command, parse


@dataclass
class DownloadArguments:
    output: str = field(metadata={"help": "folder for the archive and the extracted corpus"})
    url: str = field(default=ARCHIVE_URL, metadata={
        "help": "archive URL, also a mirror or a local copy's server; user:password@host is sent as HTTP basic auth"})
    sha256: str | None = field(default=None, metadata={"help": "expected sha256 of the archive; a mismatch is an error"})
    keep_archive: bool = field(default=True, metadata={"help": "keep the .tgz after extraction"})

    def __post_init__(self):
        if self.sha256 is not None:
            if not re.fullmatch(r"[0-9a-fA-F]{64}", self.sha256.strip()):
                raise ValueError(f"--sha256: expected 64 hexadecimal digits, got {self.sha256!r}")
            self.sha256 = self.sha256.strip().lower()


@command
def main(argv: list[str] | None = None) -> int:
    args, output = parse(argv, DownloadArguments, OutputOptions, prog="download_artist20",
                 description="Download the artist20 mp3 archive (resuming a broken download), verify it "
                             "(full tar listing, sha256) and extract it safely.")
    claim(args.output, "download_artist20", argv, output)
    try:
        root = fetch_artist20(args.output, url=args.url, sha256=args.sha256, keep_archive=args.keep_archive)
    except DownloadError as error:
        hint = (f"see {ARCHIVE_PAGE} for access, or pass --url" if args.url == ARCHIVE_URL
                else "check the URL and the network; the same command resumes the download")
        raise SingeridError(f"{error} ({hint})") from None
    except KeyboardInterrupt:
        raise SingeridError("interrupted; run the same command again to resume") from None
    print(f"artist20 corpus: {root}")
    print(f"songs: {root / 'mp3s-32k'}   artist20's own splits: {root / 'lists'}")
    print("next:")
    print(f"  python scripts/preprocess.py --input {root / 'mp3s-32k'} --output data/artist20 "
          f"--split-lists {root / 'lists'}")
    print("  (leave out --split-lists to split by album with singerid's default rule)")
    return 0
