"""singerid embed: song embeddings of song files, with the model's own preprocessing. (see --help). Also `singerid embed` and `python -m singerid embed`."""

from singerid.commands.embed import main

if __name__ == "__main__":
    raise SystemExit(main())
