"""Download, check and unpack the artist20 corpus (see `--help`)."""

from singerid.download_artist20 import main

if __name__ == "__main__":
    raise SystemExit(main())
