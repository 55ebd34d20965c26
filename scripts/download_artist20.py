"""singerid download_artist20: download, check and safely unpack the artist20 corpus (needs internet) (see --help). Also `singerid download_artist20` and `python -m singerid download_artist20`."""

from singerid.commands.download_artist20 import main

if __name__ == "__main__":
    raise SystemExit(main())
