"""SingerClassifier: the two strategies, chunked whole-song prediction, saving."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch._inductor import config as inductor_config
from transformers.modeling_outputs import SequenceClassifierOutput

from singerid import SingerClassifier, SingerClassifierConfig
from singerid.models.singer.backbones import preset_config

LABELS = {0: "ann", 1: "bob", 2: "cat"}
FIXTURE_V0_1 = Path(__file__).resolve().parent / "fixtures" / "model_v0_1"  # saved by singerid 0.1


def _model(backbone="tiny-mert", strategy="weighted_sum", **overrides):
    torch.manual_seed(0)
    return SingerClassifier.from_backbone(backbone, strategy=strategy, id2label=LABELS, **overrides)


def _wave(seconds, rate=24000, batch=1, seed=0):
    return torch.randn(batch, round(seconds * rate), generator=torch.Generator().manual_seed(seed)) * 0.1


def _train_steps(model, steps=3, seconds=5.0):
    model.train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(steps):
        loss = model(_wave(seconds, model.config.sampling_rate, batch=2, seed=step), labels=torch.tensor([0, 2])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("backbone", ["tiny-mert", "tiny-wavlm"])
def test_weighted_sum_trains_only_layer_weights_and_head(backbone):
    model = _model(backbone)
    rate = model.config.sampling_rate
    before = {name: p.clone() for name, p in model.state_dict().items()}
    probe = _wave(2.0, rate, seed=9)
    with torch.no_grad():
        states_before = model.backbone(probe, output_hidden_states=True).hidden_states
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer_weights", "head.0.weight", "head.0.bias", "head.3.weight", "head.3.bias"}
    assert torch.all(model.layer_weights == 0)

    _train_steps(model)
    assert not model.backbone.training  # train mode never reaches the frozen backbone
    after = model.state_dict()
    for name, value in before.items():
        changed = not torch.equal(value, after[name])
        assert changed == (name in trainable), name
    with torch.no_grad():
        states_after = model.backbone(probe, output_hidden_states=True).hidden_states
    assert all(torch.equal(a, b) for a, b in zip(states_before, states_after))


def test_weighted_sum_uses_every_hidden_state(monkeypatch):
    model = _model().eval()
    wave = _wave(5.0)
    pooled = model.pooled_layer_features(wave)
    assert pooled.shape == (1, model.config.num_hidden_states, model.config.encoder_config.hidden_size)
    with torch.no_grad():
        reference = model(wave).logits
    record = model.backbone_hidden_states
    for layer in range(model.config.num_hidden_states):
        def perturbed(*args, layer=layer, **kwargs):
            states = list(record(*args, **kwargs))
            states[layer] = states[layer] + torch.randn_like(states[layer])
            return states

        monkeypatch.setattr(model, "backbone_hidden_states", perturbed)
        with torch.no_grad():
            changed = model(wave).logits
        monkeypatch.undo()
        assert not torch.allclose(changed, reference, atol=1e-6), f"hidden state {layer} is ignored"


# Each preset's encoder architecture at toy size: HuBERT/MERT and WavLM, pre- and post-layer-norm,
# feature encoders with group and with layer norm (the latter also gets the attention mask).
PRESET_ARCHITECTURES = {
    "mert-v1-330m": ("tiny-mert", {}),
    "mert-v1-95m": ("tiny-mert", {"do_stable_layer_norm": False}),
    "wavlm-large": ("tiny-wavlm", {}),
    "wavlm-base-plus": ("tiny-wavlm", {"do_stable_layer_norm": False, "feat_extract_norm": "group"}),
}


@pytest.mark.parametrize("preset", PRESET_ARCHITECTURES)
def test_recorded_hidden_states_are_the_output_hidden_states(preset):
    tiny, overrides = PRESET_ARCHITECTURES[preset]
    model = _model(tiny, backbone_overrides=overrides)
    config, real = model.config.encoder_config, preset_config(preset)[0]
    assert (config.model_type, config.do_stable_layer_norm, config.feat_extract_norm) == \
        (real.model_type, real.do_stable_layer_norm, real.feat_extract_norm)
    rate = model.config.sampling_rate
    wave = _wave(1.0, rate, batch=2)
    mask = torch.ones_like(wave, dtype=torch.long)
    mask[1, rate // 2 :] = 0
    for train in (False, True):  # the classifier's mode: the frozen backbone stays in eval
        model.train(train)
        with torch.no_grad():
            recorded = model.backbone_hidden_states(wave, mask)
            expected = model.backbone(wave, attention_mask=model._backbone_mask(mask), output_hidden_states=True)
        assert len(recorded) == len(expected.hidden_states) == model.config.num_hidden_states
        for index, (ours, theirs) in enumerate(zip(recorded, expected.hidden_states)):
            assert torch.equal(ours, theirs), f"hidden state {index}, train={train}"


@pytest.mark.parametrize("freeze", [True, False])
def test_finetune_trains_the_transformer(freeze):
    model = _model(strategy="finetune", freeze_feature_encoder=freeze)
    before = {name: p.clone() for name, p in model.backbone.named_parameters()}
    _train_steps(model, steps=2)
    assert model.backbone.training
    changed = {name for name, p in model.backbone.named_parameters() if not torch.equal(p, before[name])}
    assert any(name.startswith("encoder.layers") for name in changed)
    assert any(name.startswith("feature_extractor") for name in changed) == (not freeze)


def test_finetune_supports_gradient_checkpointing():
    model = _model(strategy="finetune")
    model.activation_checkpointing_enable()
    assert model.backbone.encoder.gradient_checkpointing
    model.train()
    model(_wave(5.0, batch=2), labels=torch.tensor([0, 1])).loss.backward()
    assert model.backbone.encoder.layers[0].attention.q_proj.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("backbone", ["tiny-mert", "tiny-wavlm"])
def test_pooled_feature_path_equals_the_full_forward(backbone):
    model = _model(backbone).eval()
    wave = _wave(5.0, model.config.sampling_rate, batch=3)
    with torch.no_grad():
        via_pooled = model.classify_pooled(model.pooled_layer_features(wave)).log_softmax(-1)
        full = model(wave).logits
    torch.testing.assert_close(full, via_pooled, rtol=0, atol=1e-6)


@pytest.mark.parametrize("strategy", ["weighted_sum", "finetune"])
def test_song_prediction_is_the_mean_of_chunk_probabilities(strategy):
    model = _model(strategy=strategy, chunk_batch_size=2).eval()
    rate = model.config.sampling_rate
    song = _wave(13.0, rate)  # chunks at 0, 5 and 10 s; the 3 s tail (>= 2.5 s) is padded and kept
    with torch.no_grad():
        logits = model(song).logits
        chunk_probs = []
        for start in (0, 5, 10):
            piece = song[:, start * rate : (start + 5) * rate]
            padded = torch.nn.functional.pad(piece, (0, 5 * rate - piece.shape[-1]))
            mask = (torch.arange(5 * rate) < piece.shape[-1]).long()[None]
            chunk_probs.append(model.chunk_logits(padded, mask).softmax(-1))
    expected = torch.stack(chunk_probs).mean(0)
    torch.testing.assert_close(logits.softmax(-1), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(logits.exp().sum(-1), torch.ones(1), rtol=0, atol=1e-5)


def test_a_short_tail_is_dropped_like_preprocessing_drops_it():
    model = _model().eval()
    rate = model.config.sampling_rate
    with torch.no_grad():
        ten = model(_wave(10.0, rate)).logits
        ten_and_a_bit = model(torch.cat([_wave(10.0, rate), _wave(1.0, rate, seed=5)], dim=-1)).logits
    torch.testing.assert_close(ten, ten_and_a_bit, rtol=0, atol=1e-6)


@pytest.mark.parametrize("backbone", ["tiny-mert", "tiny-wavlm"])
def test_batch_padding_with_attention_mask_changes_nothing(backbone):
    model = _model(backbone).eval()
    rate = model.config.sampling_rate
    long, short = _wave(8.0, rate, seed=1), _wave(3.0, rate, seed=2)
    batch = torch.zeros(2, long.shape[-1])
    batch[0], batch[1, : short.shape[-1]] = long[0], short[0]
    mask = torch.zeros_like(batch, dtype=torch.long)
    mask[0], mask[1, : short.shape[-1]] = 1, 1
    with torch.no_grad():
        together = model(batch, attention_mask=mask).logits
        alone = torch.cat([model(long).logits, model(short).logits])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-5)


def test_inputs_shorter_than_a_chunk_work():
    model = _model().eval()
    with torch.no_grad():
        logits = model(_wave(0.2)).logits
    assert logits.shape == (1, 3) and torch.isfinite(logits).all()


def test_save_and_load_roundtrip(tmp_path):
    model = _model(strategy="finetune").eval()
    model.config.preprocessing = {"separator": "htdemucs", "segment_seconds": 5.0}
    model.save_pretrained(tmp_path)
    files = {path.name for path in tmp_path.iterdir()}
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "configuration_singer.py",
            "modeling_singer.py", "backbones.py", "segments.py"} <= files
    assert not any(name.endswith(".bin") for name in files)
    assert any(key.startswith("backbone.encoder") for key in load_file(tmp_path / "model.safetensors"))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["auto_map"]["AutoModelForAudioClassification"] == "modeling_singer.SingerClassifier"
    assert config["model_type"] == "singer-classifier" and config["encoder_config"]["model_type"] == "hubert"
    extractor = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert extractor["sampling_rate"] == 24000 and extractor["do_normalize"] is False

    loaded = SingerClassifier.from_pretrained(tmp_path).eval()
    assert loaded.config.preprocessing == model.config.preprocessing
    assert loaded.config.id2label == LABELS
    wave = _wave(7.0)
    with torch.no_grad():
        assert torch.equal(model(wave).logits, loaded(wave).logits)
    assert {n for n, p in loaded.named_parameters() if p.requires_grad} == \
        {n for n, p in model.named_parameters() if p.requires_grad}


def test_from_pretrained_honours_transformers_keywords(tmp_path):
    _model(strategy="finetune").save_pretrained(tmp_path)
    model, info = SingerClassifier.from_pretrained(tmp_path, output_loading_info=True)
    assert isinstance(model, SingerClassifier)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert not model.backbone.feature_extractor.conv_layers[0].conv.weight.requires_grad  # freezing applied
    half = SingerClassifier.from_pretrained(tmp_path, dtype=torch.bfloat16, device_map="cpu")
    assert half.dtype == torch.bfloat16 and half.device.type == "cpu"
    with torch.no_grad():  # float32 audio into a bf16 model: the model casts it
        assert half(_wave(6.0)).logits.shape == (1, 3)


def test_config_rejects_an_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        SingerClassifierConfig(strategy="linear_probe")


@pytest.mark.parametrize("strategy", ["weighted_sum", "finetune"])
def test_one_chunk_inputs_skip_the_plan_and_give_the_planned_answer(strategy):
    model = _model(strategy=strategy).eval()
    rate = model.config.sampling_rate
    wave = _wave(5.0, rate, batch=2)
    mask = torch.ones_like(wave, dtype=torch.long)
    mask[1, 3 * rate :] = 0  # the second is a padded last segment
    longer = torch.nn.functional.pad(wave, (0, rate))  # the same audio in a longer tensor: planned
    with torch.no_grad():
        direct = model(wave, attention_mask=mask, output_embeddings=True)
        planned = model(longer, attention_mask=torch.nn.functional.pad(mask, (0, rate)), output_embeddings=True)
    torch.testing.assert_close(direct.logits, planned.logits, rtol=0, atol=1e-5)
    torch.testing.assert_close(direct.embeddings, planned.embeddings, rtol=0, atol=1e-5)


@pytest.mark.parametrize("strategy", ["weighted_sum", "finetune"])
def test_a_one_chunk_forward_is_one_graph_without_breaks(strategy):
    model = _model(strategy=strategy).eval()
    wave = _wave(5.0, batch=2)
    mask = torch.ones_like(wave, dtype=torch.long)
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(wave, attention_mask=mask)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), \
        [str(reason.reason)[:200] for reason in explained.break_reasons]
    with torch.no_grad():  # and the graph computes what eager does (the hidden-state hooks included)
        compiled = torch.compile(model, backend="eager", fullgraph=True)(wave, attention_mask=mask).logits
        assert torch.equal(compiled, model(wave, attention_mask=mask).logits)


def _padded(lengths, rate, seed=0):
    """A batch of noise `[len(lengths), max]` (noise in the padding too) and its attention mask."""
    wave = _wave(max(lengths) / rate, rate, batch=len(lengths), seed=seed)
    return wave, (torch.arange(wave.shape[-1]) < torch.tensor(lengths)[:, None]).long()


@pytest.mark.parametrize("backbone", ["tiny-mert", "tiny-wavlm"])
def test_input_lengths_give_the_attention_masks_logits_and_embeddings(backbone):
    model = _model(backbone, chunk_seconds=1.0, chunk_batch_size=4).eval()  # min_chunk: 0.5 s
    rate = model.config.sampling_rate
    # three chunks (a 0.6 s tail kept), under one chunk, two chunks (a 0.2 s tail dropped), one chunk exactly
    lengths = [round(2.6 * rate), rate // 10, round(2.2 * rate), rate]
    wave, mask = _padded(lengths, rate)
    segments = [min(n, rate) for n in lengths]  # one-chunk inputs, the training path
    with torch.no_grad():
        for by_lengths, by_mask in [
            (model(wave, input_lengths=lengths, output_embeddings=True),
             model(wave, attention_mask=mask, output_embeddings=True)),
            (model(wave[:, :rate], input_lengths=segments, output_embeddings=True),
             model(wave[:, :rate], attention_mask=mask[:, :rate], output_embeddings=True)),
        ]:
            assert torch.equal(by_lengths.logits, by_mask.logits)
            assert torch.equal(by_lengths.embeddings, by_mask.embeddings)


def test_input_lengths_plan_chunks_without_reading_the_device():
    # A meta tensor holds no data: any read back to the host (.tolist(), boolean indexing) raises.
    model = _model(chunk_seconds=1.0).eval().to("meta")
    rate = model.config.sampling_rate
    wave = torch.zeros(3, round(2.6 * rate), device="meta")
    with torch.no_grad():
        assert model(wave, input_lengths=[wave.shape[-1], rate // 10, round(2.2 * rate)]).logits.shape == (3, 3)
        with pytest.raises(NotImplementedError, match="meta"):  # the mask's lengths must be read back
            model(wave, attention_mask=torch.ones_like(wave, dtype=torch.long))


@pytest.mark.parametrize("lengths, message", [
    ([6, 6], "2 entries for a batch of 3"),
    ([6, 6, 6, 6], "4 entries for a batch of 3"),
    ([6, 6 * 24000 + 1, 6], r"between 0 and the inputs' width 144000, got \[144001\]"),
    ([6, -1, 6], r"got \[-1\]"),
], ids=["too-few", "too-many", "too-long", "negative"])
def test_bad_input_lengths_are_refused(lengths, message):
    model = _model().eval()
    with torch.no_grad(), pytest.raises(ValueError, match=message):
        model(_wave(6.0, batch=3), input_lengths=lengths)


# -- song embeddings -----------------------------------------------------------------------

def _chunk_embedding(model, chunk, mask):
    """One chunk's unnormalised embedding, from the config's definition of it."""
    features = model.chunk_features(chunk, mask)
    return features if model.config.embedding == "pooled" else torch.relu(model.head[0](features))


@pytest.mark.parametrize("embedding", ["head", "pooled"])
@pytest.mark.parametrize("strategy", ["weighted_sum", "finetune"])
def test_embeddings_are_unit_norm_song_vectors(strategy, embedding):
    model = _model(strategy=strategy, embedding=embedding, head_hidden_size=24).eval()
    width = {"head": 24, "pooled": model.config.encoder_config.hidden_size}[embedding]
    for seconds in (5.0, 7.0):  # one chunk each (the fast path), two chunks each
        with torch.no_grad():
            embeddings = model(_wave(seconds, batch=3), output_embeddings=True).embeddings
        assert embeddings.shape == (3, width) and embeddings.dtype == torch.float32
        torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(3))
        assert not torch.allclose(embeddings[0], embeddings[1], atol=1e-3)  # each input its own vector
        assert bool(embeddings.min() >= 0) == (embedding == "head")  # after the ReLU, or the signed head input


@pytest.mark.parametrize("embedding", ["head", "pooled"])
@pytest.mark.parametrize("strategy", ["weighted_sum", "finetune"])
def test_a_song_embedding_is_the_normalised_mean_of_its_unit_chunk_embeddings(strategy, embedding):
    model = _model(strategy=strategy, embedding=embedding, chunk_batch_size=2).eval()
    rate = model.config.sampling_rate
    song = _wave(13.0, rate)  # chunks at 0, 5 and 10 s, the last padded
    with torch.no_grad():
        embedding_of_song = model(song, output_embeddings=True).embeddings
        chunks = []
        for start in (0, 5, 10):
            piece = song[:, start * rate : (start + 5) * rate]
            padded = torch.nn.functional.pad(piece, (0, 5 * rate - piece.shape[-1]))
            chunks.append(_chunk_embedding(model, padded, (torch.arange(5 * rate) < piece.shape[-1]).long()[None]))
    normalize = torch.nn.functional.normalize
    expected = normalize(normalize(torch.cat(chunks), dim=-1).mean(0, keepdim=True), dim=-1)  # "unit_mean"
    torch.testing.assert_close(embedding_of_song, expected, rtol=0, atol=1e-6)
    # not the mean of raw chunk embeddings, which weighs the loudest chunk most
    assert not torch.allclose(embedding_of_song, normalize(torch.cat(chunks).mean(0, keepdim=True), dim=-1), atol=1e-5)
    assert not torch.allclose(embedding_of_song, torch.nn.functional.normalize(chunks[0], dim=-1), atol=1e-3)


def test_without_the_flag_the_output_is_what_trainer_and_the_pipeline_had():
    model = _model().eval()
    wave, labels = _wave(7.0, batch=2), torch.tensor([0, 2])
    with torch.no_grad():
        plain = model(wave, labels=labels)
        with_embeddings = model(wave, labels=labels, output_embeddings=True)
    assert plain.embeddings is None and list(plain.keys()) == ["loss", "logits"]
    assert isinstance(plain, SequenceClassifierOutput)
    assert len(plain.to_tuple()) == 2  # what Trainer collects: (loss, logits)
    assert torch.equal(plain.to_tuple()[1], plain.logits)
    assert torch.equal(plain.logits, with_embeddings.logits) and torch.equal(plain.loss, with_embeddings.loss)
    assert len(with_embeddings.to_tuple()) == 3


@pytest.mark.parametrize("embedding", ["head", "pooled"])
def test_embeddings_from_pooled_features_equal_those_from_audio(embedding):
    model = _model(embedding=embedding).eval()
    wave = _wave(5.0, batch=3)
    with torch.no_grad():
        from_audio = model(wave, output_embeddings=True)
        from_features = model(pooled_features=model.pooled_layer_features(wave), output_embeddings=True)
    torch.testing.assert_close(from_features.embeddings, from_audio.embeddings, rtol=0, atol=1e-6)
    torch.testing.assert_close(from_features.logits, from_audio.logits, rtol=0, atol=1e-6)


def test_config_rejects_an_unknown_embedding():
    with pytest.raises(ValueError, match=r"embedding must be one of \('head', 'pooled'\)"):
        SingerClassifierConfig(embedding="logits")


def test_a_model_saved_before_the_embedding_field_gives_head_embeddings():
    model = SingerClassifier.from_pretrained(FIXTURE_V0_1).eval()
    assert "embedding" not in json.loads((FIXTURE_V0_1 / "config.json").read_text())
    assert model.config.embedding == "head"
    with torch.no_grad():
        embeddings = model(_wave(7.0), output_embeddings=True).embeddings
    assert embeddings.shape == (1, model.config.head_hidden_size)


# -- chunk outputs (song timelines) --------------------------------------------------------

@pytest.mark.parametrize("strategy", ["weighted_sum", "finetune"])
def test_chunk_outputs_are_the_rows_the_song_answer_averages(strategy):
    model = _model(strategy=strategy, chunk_batch_size=2).eval()
    rate = model.config.sampling_rate
    lengths = [13 * rate, 3 * rate]  # chunks at 0, 5 and 10 s (a 3 s tail kept); one short chunk
    wave, mask = _padded(lengths, rate)
    with torch.no_grad():
        plain = model(wave, input_lengths=lengths)
        chunked = model(wave, input_lengths=lengths, output_chunks=True)
        by_mask = model(wave, attention_mask=mask, output_chunks=True)
        manual = []
        for start, end in [(0, 5 * rate), (5 * rate, 10 * rate), (10 * rate, 13 * rate)]:
            piece = torch.nn.functional.pad(wave[:1, start:end], (0, 5 * rate - (end - start)))
            manual.append(model.chunk_logits(piece, (torch.arange(5 * rate) < end - start).long()[None]))
    assert chunked.chunk_rows == by_mask.chunk_rows == [(0, 3), (3, 4)]
    assert chunked.chunk_samples == by_mask.chunk_samples == [(0, 5 * rate), (5 * rate, 10 * rate),
                                                              (10 * rate, 13 * rate), (0, 3 * rate)]
    assert chunked.chunk_log_probs.shape == (4, 3) and chunked.chunk_log_probs.dtype == torch.float32
    torch.testing.assert_close(chunked.chunk_log_probs[:3], torch.cat(manual).log_softmax(-1), rtol=0, atol=1e-5)
    assert torch.equal(chunked.logits, plain.logits)  # asking for chunks changes no answer
    for row, (first, end) in enumerate(chunked.chunk_rows):
        song = chunked.chunk_log_probs[first:end].exp().mean(0)
        torch.testing.assert_close(chunked.logits[row].exp(), song, rtol=0, atol=1e-6)


def test_one_chunk_inputs_give_their_chunk_rows_too():
    model = _model().eval()
    rate = model.config.sampling_rate
    wave, mask = _padded([5 * rate, 3 * rate], rate)
    with torch.no_grad():
        by_lengths = model(wave, input_lengths=[5 * rate, 3 * rate], output_chunks=True)
        by_mask = model(wave, attention_mask=mask, output_chunks=True)
        features = model.pooled_layer_features(wave * mask, mask)  # padding zeroed, as the model zeroes it
        from_features = model(pooled_features=features, output_chunks=True)
    for outputs in (by_lengths, by_mask):
        assert outputs.chunk_rows == [(0, 1), (1, 2)] and outputs.chunk_samples == [(0, 5 * rate), (0, 3 * rate)]
        assert torch.equal(outputs.chunk_log_probs, outputs.logits)
    assert from_features.chunk_rows == [(0, 1), (1, 2)]
    torch.testing.assert_close(from_features.chunk_log_probs, by_mask.chunk_log_probs, rtol=0, atol=1e-5)


def test_chunk_outputs_stay_out_of_the_output_unless_asked():
    model = _model().eval()
    wave, labels = _wave(7.0, batch=2), torch.tensor([0, 2])
    with torch.no_grad():
        plain = model(wave, labels=labels)
        chunked = model(wave, labels=labels, output_chunks=True)
    assert plain.chunk_log_probs is None and plain.chunk_rows is None and plain.chunk_samples is None
    assert list(plain.keys()) == ["loss", "logits"] and len(plain.to_tuple()) == 2
    assert list(chunked.keys()) == ["loss", "logits", "chunk_log_probs", "chunk_rows", "chunk_samples"]
    assert torch.equal(plain.loss, chunked.loss)


def test_inductor_compiles_the_forward_and_a_training_step_to_what_eager_computes(monkeypatch):
    # `--torch_compile`'s default backend on the CPU: inductor generates C++ and builds it with
    # the compiler `make install-test` installs, every time (no cache of an earlier run). One
    # transformer layer keeps compiling short; no dropout or SpecAugment: the same arithmetic.
    quiet = dict(num_hidden_layers=1, hidden_dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
                 feat_proj_dropout=0.0, mask_time_prob=0.0)
    model = _model(strategy="finetune", backbone_overrides=quiet, head_dropout=0.0, chunk_seconds=1.0)
    wave, labels = _wave(1.0, batch=2), torch.tensor([0, 2])
    monkeypatch.setattr(inductor_config, "force_disable_caches", True)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend="inductor", fullgraph=True)

    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(compiled(wave).logits, model(wave).logits, rtol=1e-4, atol=1e-5)

    def step(forward) -> tuple[torch.Tensor, dict]:
        model.zero_grad(set_to_none=True)
        output = forward(wave, labels=labels)
        output.loss.backward()
        return output, {name: p.grad for name, p in model.named_parameters() if p.grad is not None}

    model.train()
    (eager, eager_grads), (inductor, inductor_grads) = step(model), step(compiled)
    torch.testing.assert_close(inductor.logits, eager.logits, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(inductor.loss, eager.loss, rtol=1e-4, atol=1e-5)
    assert inductor_grads.keys() == eager_grads.keys() and len(eager_grads) > 4
    torch.testing.assert_close(inductor_grads, eager_grads, rtol=1e-3, atol=1e-5)
