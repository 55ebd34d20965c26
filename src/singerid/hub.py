"""Cards for what singerid publishes, rendered from the templates in hub_cards/."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

# `cards` is a link to the repository's hub_cards/ folder, shipped as package data.
CARDS_DIR = Path(__file__).with_name("cards")


def write_dataset_card(output_dir: str | Path, result, config, source: str) -> Path:
    """Render hub_cards/dataset_card.md for a preprocessed DatasetDict into OUTPUT/README.md."""
    songs = list(result.songs.values())
    split_rows = []
    for split, dataset in result.dataset.items():
        ok = [s for s in songs if s.split == split and s.status == "ok"]
        split_rows.append({
            "split": split, "songs": len(ok), "segments": dataset.num_rows,
            "albums": len(set(zip(dataset["artist"], dataset["album"]))),
        })
    skipped = [s for s in songs if s.status == "skipped"]
    artists = result.dataset["train"].features["label"].names
    card_data = DatasetCardData(
        pretty_name="Singer identification segments",
        task_categories=["audio-classification"],
        tags=["singer-identification", "music", "singerid"],
        size_categories=[_size_category(sum(row["segments"] for row in split_rows))],
    )
    card = DatasetCard.from_template(
        card_data,
        template_path=str(CARDS_DIR / "dataset_card.md"),
        pretty_name="Singer identification segments",
        source=source,
        sampling_rate=config.sampling_rate,
        num_artists=len(artists),
        split_rows=split_rows,
        skipped_note=f"{len(skipped)} undecodable file(s) were skipped; see preprocess_report.json." if skipped else "",
        split_rule="per artist, albums sorted by name: the last album is test, the one before it "
        "validation, the rest train (artist20's 4 / 1 / 1 for six albums), unless list files were given.",
        preprocessing=config.to_dict(),
        separator_text=f"demucs `{config.separator}`, vocals stem" if config.uses_separator else "none: the full mix",
        silence_text=f"below {config.silence_db} dBFS for at least {config.min_silence_seconds} s, cut out"
        if config.remove_silence else "off",
        segment_seconds=config.segment_seconds,
        hop_seconds=config.hop_seconds,
        min_segment_seconds=config.min_segment_seconds,
        command_options=_options(config),
    )
    path = Path(output_dir, "README.md")
    card.save(path)
    return path


def _options(config) -> str:
    parts = [f"--sampling-rate {config.sampling_rate}", f"--separator {config.separator}",
             f"--segment-seconds {config.segment_seconds}", f"--hop-seconds {config.hop_seconds}",
             f"--min-segment-seconds {config.min_segment_seconds}"]
    parts += [f"--silence-db {config.silence_db}", f"--min-silence-seconds {config.min_silence_seconds}"] \
        if config.remove_silence else ["--no-silence-removal"]
    return " ".join(parts)


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return name
    return "n>1M"
