"""singerid app: a web page that tells who sings an uploaded or recorded song (see --help). Also `singerid app` and `python -m singerid app`."""

from singerid.commands.app import main

if __name__ == "__main__":
    raise SystemExit(main())
