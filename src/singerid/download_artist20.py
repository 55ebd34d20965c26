"""Download, check and unpack the artist20 corpus: ``singerid download_artist20 --output DIR``."""

from __future__ import annotations

import argparse
import re
import sys

from singerid.cli import command
from singerid.artist20 import ARCHIVE_PAGE, ARCHIVE_URL, ArchiveError, DownloadError, fetch_artist20


def _sha256_hex(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text.strip()):
        raise argparse.ArgumentTypeError(f"expected 64 hexadecimal digits, got {text!r}")
    return text.strip().lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="singerid download_artist20",
        description="Download the artist20 mp3 archive (resuming a broken download), verify it "
        "(full tar listing, sha256) and extract it safely.",
    )
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="folder for the archive and the extracted corpus")
    parser.add_argument("--url", default=ARCHIVE_URL,
                        help=f"archive URL, also a mirror or a local copy's server; "
                        f"user:password@host is sent as HTTP basic auth (default {ARCHIVE_URL})")
    parser.add_argument("--sha256", type=_sha256_hex, metavar="HEX",
                        help="expected sha256 of the archive; a mismatch is an error")
    parser.add_argument("--keep-archive", action=argparse.BooleanOptionalAction, default=True,
                        help="keep the .tgz after extraction (default: keep)")
    return parser


@command
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        root = fetch_artist20(args.output, url=args.url, sha256=args.sha256, keep_archive=args.keep_archive)
    except DownloadError as error:
        hint = (f" (see {ARCHIVE_PAGE} for access, or pass --url)" if args.url == ARCHIVE_URL
                else " (check the URL and the network; the same command resumes the download)")
        print(f"error: {error}{hint}", file=sys.stderr)
        return 1
    except (ArchiveError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; run the same command again to resume", file=sys.stderr)
        return 1
    print(f"artist20 corpus: {root}")
    print(f"songs: {root / 'mp3s-32k'}   artist20's own splits: {root / 'lists'}")
    print("next:")
    print(f"  python scripts/preprocess.py --input {root / 'mp3s-32k'} --output data/artist20 "
          f"--split-lists {root / 'lists'}")
    print("  (leave out --split-lists to split by album with singerid's default rule)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
