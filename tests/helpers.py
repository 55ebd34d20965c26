"""Small real inputs the tests share: synthetic audio, corpora, datasets and checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 220.0, amplitude: float = 0.3,
         silent_spans: tuple[tuple[float, float], ...] = ()) -> np.ndarray:
    """A harmonic tone `[samples, channels]` with optional silent stretches."""
    t = np.arange(round(seconds * rate)) / rate
    wav = amplitude * sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))
    for start, end in silent_spans:
        wav[round(start * rate) : round(end * rate)] = 0.0
    return np.repeat(wav[:, None], channels, axis=1).astype(np.float32)


def write_tone(path: Path, seconds: float = 6.0, rate: int = 16000, channels: int = 1, **options) -> Path:
    subtype = options.pop("subtype", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, rate, channels, **options), rate, subtype=subtype)
    return path


def make_album_corpus(root: Path, artists: int = 2, albums: int = 6, seconds: float = 6.0, rate: int = 16000) -> Path:
    """`root/artist_i/album_j/01-song.flac`, each artist at its own pitch."""
    for a in range(artists):
        for b in range(albums):
            write_tone(root / f"artist_{a}" / f"album_{b}" / "01-song.flac", seconds, rate,
                       freq=180.0 + 90 * a + 5 * b, silent_spans=((1.0, 2.0),))
    return root


def tiny_backbone(kind: str):
    """A random tiny HubertModel ("hubert") or WavLMModel ("wavlm") with LayerDrop left on."""
    import torch
    from transformers import HubertModel, WavLMModel

    from singerid.models.singer.backbones import preset_config

    torch.manual_seed(0)
    config, _ = preset_config("tiny-mert" if kind == "hubert" else "tiny-wavlm")
    config.layerdrop = 0.1  # as checkpoints ship it; loading must force it to 0
    return (HubertModel if kind == "hubert" else WavLMModel)(config).eval()


RANKED_LABELS = {0: "ann", 1: "bob", 2: "cat", 3: "dan"}


def ranked_model(preprocessing: dict):
    """A tiny-mert classifier with a clear ranking whatever it hears (bob, cat, dan, ann),
    recording `preprocessing` as its training data's."""
    import torch

    from singerid import SingerClassifier

    torch.manual_seed(0)
    model = SingerClassifier.from_backbone("tiny-mert", id2label=RANKED_LABELS)
    with torch.no_grad():
        model.head[3].bias.copy_(torch.tensor([0.0, 3.0, 2.0, 1.0]))
    model.config.preprocessing = preprocessing
    return model.eval()


MERT_REMOTE_CODE = "raise RuntimeError('MERT remote code was executed')\n"


def write_mert_checkpoint(folder: Path) -> tuple[Path, object]:
    """A MERT-v1-format checkpoint: HuBERT weights, config.json as the Hub ships it
    (model_type mert_model, auto_map to modeling_MERT), and remote code that must never run."""
    import json

    model = tiny_backbone("hubert")
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="mert_model", architectures=["MERTModel"], feature_extractor_cqt=False,
                  deepnorm=False, attention_relax=32.0, sample_rate=24000,
                  auto_map={"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "configuration_MERT.py").write_text(MERT_REMOTE_CODE)
    (folder / "modeling_MERT.py").write_text(MERT_REMOTE_CODE)
    return folder, model


def make_segment_dataset(folder: Path, artists: int = 3, songs: dict | None = None, seconds: float = 1.0,
                         rate: int = 16000) -> Path:
    """A small DatasetDict as preprocess.py writes it (with preprocess_config.json):
    each artist sings at its own pitch; `songs` gives songs per split, 2 segments each."""
    import json

    from datasets import Audio, ClassLabel, Dataset, DatasetDict, Features, Value

    songs = songs or {"train": 3, "validation": 1, "test": 1}
    names = [f"artist_{a}" for a in range(artists)]
    features = Features({"audio": Audio(sampling_rate=rate), "label": ClassLabel(names=names),
                         "artist": Value("string"), "album": Value("string"), "song_id": Value("string"),
                         "segment_index": Value("int32"), "start_s": Value("float32"), "end_s": Value("float32")})
    rng = np.random.default_rng(0)
    splits = {}
    for split, count in songs.items():
        rows = []
        for a, name in enumerate(names):
            for s in range(count):
                for index in range(2):
                    wave = tone(seconds, rate, freq=150.0 * (a + 1) * (1 + 0.02 * s))[:, 0]
                    wave = wave + 0.05 * rng.standard_normal(len(wave)).astype(np.float32)
                    end = seconds if index == 0 else 0.75 * seconds  # a padded last segment
                    wave[round(end * rate):] = 0.0
                    rows.append({"audio": {"array": wave, "sampling_rate": rate}, "label": a, "artist": name,
                                 "album": split, "song_id": f"{name}/{split}/{s:02d}", "segment_index": index,
                                 "start_s": index * seconds, "end_s": index * seconds + end})
        splits[split] = Dataset.from_list(rows, features=features)
    DatasetDict(splits).save_to_disk(str(folder))
    (folder / "preprocess_config.json").write_text(json.dumps(
        {"sampling_rate": rate, "separator": "none", "segment_seconds": seconds, "hop_seconds": seconds,
         "min_segment_seconds": seconds / 2, "remove_silence": True, "silence_db": -35.0,
         "min_silence_seconds": 0.5}))
    return folder

