"""reproduce_table.py: the four configurations on a small corpus with the tiny presets."""

import pytest

from singerid.commands.reproduce_table import main as reproduce_main
from singerid.recipes import reproduction
from singerid.recipes.demo_corpus import synthesize_corpus
from singerid.recipes.reproduction import songs_folder


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, demucs_repo):
    root = tmp_path_factory.mktemp("table")
    synthesize_corpus(root / "artist20" / "mp3s-32k", seed=1, singers=2, albums=6, songs=1, seconds=6.0,
                      sampling_rate=22050, channels=1, progress=False)
    args = ["--data", str(root / "artist20"), "--output", str(root / "out"), "--quick",
            "--backbones", "mert=tiny-mert,wavlm=tiny-wavlm", "--separator", "tiny_htdemucs",
            "--demucs-repo", str(demucs_repo)]
    assert reproduce_main(args) == 0
    return root, args


def test_the_table_has_every_configuration_and_split(reproduced):
    root, _ = reproduced
    table = (root / "out" / "table.md").read_text()
    for title in ("MERT-330M weighted sum", "WavLM-Large weighted sum", "MERT-330M finetune |",
                  "MERT-330M finetune, no preprocessing"):
        assert title in table
    rows = [line for line in table.splitlines() if line.startswith("| MERT") or line.startswith("| WavLM")]
    assert len(rows) == 8
    assert all(row.split("|")[3].strip() == "2" for row in rows)  # songs per split: one per singer
    assert "| 86.1 / 97.5 |" in table and "mert = `tiny-mert`" in table


def test_one_dataset_per_distinct_preprocessing(reproduced):
    root, _ = reproduced
    from singerid.preprocessing import PreprocessConfig

    vocals, raw = PreprocessConfig.load(root / "out" / "data" / "vocals"), PreprocessConfig.load(root / "out" / "data" / "raw")
    assert vocals.separator == "tiny_htdemucs" and vocals.remove_silence
    assert raw.separator == "none" and not raw.remove_silence
    assert sorted(path.name for path in (root / "out" / "runs").iterdir()) == \
        ["mert_finetune", "mert_finetune_raw", "mert_weighted_sum", "wavlm_weighted_sum"]


def test_a_rerun_reuses_datasets_and_runs(reproduced, monkeypatch):
    root, args = reproduced
    before = (root / "out" / "table.md").read_text()

    def refuse(*_, **__):
        raise AssertionError("redone")

    monkeypatch.setattr(reproduction, "preprocess_corpus", refuse)
    monkeypatch.setattr(reproduction, "run_training", refuse)
    assert reproduce_main(args) == 0
    assert (root / "out" / "table.md").read_text() == before


def test_the_extracted_archive_root_is_accepted(tmp_path):
    (tmp_path / "mp3s-32k").mkdir()
    assert songs_folder(tmp_path) == tmp_path / "mp3s-32k"
    assert songs_folder(tmp_path / "mp3s-32k") == tmp_path / "mp3s-32k"
