"""Loading MERT, HuBERT and WavLM backbones natively, and the presets."""

import json

import pytest
import torch
from transformers import HubertModel, WavLMModel

from helpers import tiny_backbone
from singerid import PRESETS, SingerClassifier, UnsupportedBackbone
from singerid.models.singer.backbones import load_backbone, preset_config


def _same_outputs(a, b, rate=24000):
    wave = torch.randn(1, rate, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out_a, out_b = a(wave, output_hidden_states=True), b(wave, output_hidden_states=True)
    return all(torch.equal(x, y) for x, y in zip(out_a.hidden_states, out_b.hidden_states))


def test_mert_checkpoint_loads_into_native_hubert_without_remote_code(mert_folder, tmp_path, monkeypatch):
    folder, original = mert_folder
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    backbone, rate = load_backbone(str(folder))  # raises on any missing or unexpected key
    assert type(backbone) is HubertModel and rate == 24000
    assert backbone.config.layerdrop == 0.0
    assert _same_outputs(backbone.eval(), original)
    assert not (tmp_path / "modules").exists()  # nothing of the repo's code was copied or imported


def test_from_backbone_wraps_the_mert_weights(mert_folder):
    folder, original = mert_folder
    model = SingerClassifier.from_backbone(str(folder), id2label={0: "a", 1: "b"})
    assert type(model.backbone) is HubertModel
    assert model.config.sampling_rate == 24000 and model.config.num_hidden_states == 3
    assert all(torch.equal(p, q) for p, q in zip(model.backbone.state_dict().values(), original.state_dict().values()))


@pytest.mark.parametrize("flag", ["feature_extractor_cqt", "deepnorm"])
def test_unsupported_mert_variants_are_refused(mert_folder, flag):
    folder, _ = mert_folder
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, flag: True}))
    with pytest.raises(UnsupportedBackbone, match=flag):
        load_backbone(str(folder))


def test_unknown_model_type_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_size": 8}))
    with pytest.raises(UnsupportedBackbone, match="'bert' is not a supported backbone"):
        load_backbone(str(tmp_path))


def test_weights_that_do_not_fit_are_refused(mert_folder):
    folder, _ = mert_folder
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(UnsupportedBackbone, match="missing_keys"):
        load_backbone(str(folder))


@pytest.mark.parametrize("kind, model_class, rate", [("wavlm", WavLMModel, 16000), ("hubert", HubertModel, 16000)])
def test_wavlm_and_hubert_checkpoints_load_as_they_are(tmp_path, kind, model_class, rate):
    original = tiny_backbone(kind)
    original.save_pretrained(tmp_path / kind)
    backbone, loaded_rate = load_backbone(str(tmp_path / kind))
    assert type(backbone) is model_class and loaded_rate == rate
    assert backbone.config.layerdrop == 0.0
    assert _same_outputs(backbone.eval(), original, rate)


def _parameters(name):
    config, _ = preset_config(name)
    with torch.device("meta"):
        model = (HubertModel if config.model_type == "hubert" else WavLMModel)(config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, millions", [("mert-v1-330m", 315), ("mert-v1-95m", 94),
                                            ("wavlm-large", 315), ("wavlm-base-plus", 94)])
def test_real_presets_have_the_published_sizes(name, millions):
    assert PRESETS[name].hub_id
    assert abs(_parameters(name) / 1e6 - millions) / millions < 0.03


def test_tiny_presets_are_random_and_offline():
    model = SingerClassifier.from_backbone("tiny-wavlm", strategy="finetune")
    assert type(model.backbone) is WavLMModel and model.config.sampling_rate == 16000
    assert PRESETS["tiny-mert"].hub_id is None
