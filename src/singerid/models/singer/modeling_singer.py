"""SingerClassifier: MERT, HuBERT or WavLM with a weighted-sum or finetune head.

Copied beside saved models for `trust_remote_code`: it imports nothing from singerid,
only its neighbours (relative imports, copied with it).

Inputs of any length are cut into fixed chunks inside the model, the way preprocessing
cuts training segments; the chunks' class probabilities are averaged, and `logits` are
the log of that mean, so a softmax (as the audio-classification pipeline applies) gives
the song's mean probabilities back exactly.

Padding and attention masks: an attention mask only tells each input's valid length.
The model cuts chunks from the valid samples; the last chunk is zero-padded to full
length (as preprocessing pads a song's last segment). Pooling averages only frames that
cover valid samples. The backbone itself gets the chunk's attention mask only when its
feature encoder uses layer norm (WavLM-Large): with group norm (MERT, WavLM-Base-Plus)
statistics run over the whole chunk, padding included, as the checkpoints were trained;
so a short clip's frames depend slightly on how much zero padding follows it.

Callers that know each input's valid length on the host (the data collator, the
prediction batcher) pass it as `input_lengths`: the model then plans chunks without
reading anything back from the device. With only a mask it sums the mask and reads the
lengths back, which waits for the device.

Song embeddings (`output_embeddings=True`): each chunk's embedding (`config.embedding`: the
head's hidden layer, or its input), L2-normalised and averaged over the input's chunks, the
rows whose probabilities `logits` average, then L2-normalised again
(`config.song_embedding`); they come from the same forward.

Chunks (`output_chunks=True`, for song timelines): the class log-probabilities of every
chunk, the very rows `logits` average, with each input's rows among them and the samples
of its input each chunk covers: one row per `chunk_hop_seconds` (5 s by default) of input.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PreTrainedModel, Wav2Vec2FeatureExtractor
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

from .configuration_singer import SingerClassifierConfig
from .segments import plan_segments


@dataclass
class SingerClassifierOutput(SequenceClassifierOutput):
    """`SequenceClassifierOutput` plus, only when asked (None stays out of `to_tuple()`):

    - `embeddings` (`output_embeddings=True`): `[batch, E]` float32 unit-norm song embeddings;
    - `chunk_log_probs` (`output_chunks=True`): `[chunks, C]` float32 class log-probabilities
      of every chunk of the batch, input after input; `logits[i]` is the log of the mean of
      `chunk_log_probs[first:end].exp()` for `(first, end) = chunk_rows[i]`;
    - `chunk_rows`: per input, `(first, end)`, its rows of `chunk_log_probs`;
    - `chunk_samples`: per chunk, `(start, end)`, the valid samples of its input it holds
      (end clipped to the input's length; a chunk covers `chunk_seconds`, chunks start
      `chunk_hop_seconds` apart). From `pooled_features`, which carry no lengths: `(0, chunk)`.
    """

    embeddings: torch.FloatTensor | None = None
    chunk_log_probs: torch.FloatTensor | None = None
    chunk_rows: list[tuple[int, int]] | None = None
    chunk_samples: list[tuple[int, int]] | None = None


class _HiddenStateRecorder:
    """Forward hook on each encoder layer: while `states` is a list, it records the first
    layer's input and every layer's output, which is what transformers' `output_hidden_states`
    capture records. One recording at a time: not for one model run from several threads."""

    def __init__(self):
        self.states: list[torch.Tensor] | None = None

    def __call__(self, layer, args, output):
        if self.states is not None:
            if not self.states:
                self.states.append(args[0])
            self.states.append(output[0] if isinstance(output, tuple) else output)  # WavLM adds position_bias


class SingerClassifier(PreTrainedModel):
    config_class = SingerClassifierConfig
    main_input_name = "input_values"
    input_modalities = "audio"
    base_model_prefix = "singer"
    supports_gradient_checkpointing = True
    _supports_sdpa = True

    def __init__(self, config: SingerClassifierConfig):
        super().__init__(config)
        self.backbone = AutoModel.from_config(config.encoder_config)
        hidden = config.encoder_config.hidden_size
        if config.strategy == "weighted_sum":
            self.layer_weights = nn.Parameter(torch.zeros(config.num_hidden_states))
        # Every layer's output, for the weighted sum and for layer probes of any model; the
        # hook records only inside `backbone_hidden_states`.
        self._recorder = _HiddenStateRecorder()
        for layer in self.backbone.encoder.layers:
            layer.register_forward_hook(self._recorder)
        self.head = nn.Sequential(
            nn.Linear(hidden, config.head_hidden_size),
            nn.ReLU(),
            nn.Dropout(config.head_dropout),
            nn.Linear(config.head_hidden_size, config.num_labels),
        )
        self.post_init()
        self.apply_freezing()

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_backbone(cls, name_or_path: str, strategy: str = "weighted_sum", id2label: dict | None = None,
                      backbone_overrides: dict | None = None, **overrides) -> "SingerClassifier":
        """A new classifier around pretrained backbone weights (a preset name, Hub id or folder).

        `overrides` set SingerClassifierConfig fields; `backbone_overrides` the backbone's.
        """
        from .backbones import load_backbone, portable_name

        backbone, sampling_rate = load_backbone(name_or_path, **(backbone_overrides or {}))
        id2label = id2label or {0: "LABEL_0", 1: "LABEL_1"}
        config = SingerClassifierConfig(
            encoder_config=backbone.config, strategy=strategy, sampling_rate=sampling_rate,
            backbone_id=portable_name(name_or_path),
            id2label={int(i): label for i, label in id2label.items()},
            label2id={label: int(i) for i, label in id2label.items()}, **overrides,
        )
        model = cls(config)
        model.backbone.load_state_dict(backbone.state_dict())
        model.apply_freezing()
        return model

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        loaded = super().from_pretrained(*args, **kwargs)  # (model, info) with output_loading_info=True
        (loaded[0] if isinstance(loaded, tuple) else loaded).apply_freezing()  # loading replaces requires_grad
        return loaded

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=0.02)
            init.zeros_(module.bias)
        elif module is self and hasattr(self, "layer_weights"):
            init.zeros_(self.layer_weights)  # start from the plain mean of all layers

    def apply_freezing(self) -> None:
        """weighted_sum: the whole backbone frozen; finetune: optionally the CNN feature encoder."""
        if self.config.strategy == "weighted_sum":
            self.backbone.requires_grad_(False)
            self.backbone.eval()
        elif self.config.freeze_feature_encoder:
            self.backbone.feature_extractor._freeze_parameters()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.strategy == "weighted_sum":
            self.backbone.eval()  # no masking, dropout or norm-statistics updates, ever
        return self

    def feature_extractor(self) -> Wav2Vec2FeatureExtractor:
        """What the audio-classification pipeline feeds this model: raw waveforms at the
        backbone's rate. `do_normalize` is off, as in the reference and as the dataset stores
        audio: normalising per input would treat a 5 s segment and a whole song differently."""
        return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=self.config.sampling_rate, padding_value=0.0,
                                        do_normalize=False, return_attention_mask=True)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Also writes the feature extractor, so the folder is ready for the pipeline."""
        super().save_pretrained(save_directory, *args, **kwargs)
        self.feature_extractor().save_pretrained(save_directory)

    # -- the two heads -------------------------------------------------------------------
    def pooled_layer_features(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Per-layer mean-pooled features `[batch, L+1, D]` of chunk-length inputs.

        weighted_sum's logits are `classify_pooled` of these: the fast training path caches them.
        """
        with torch.no_grad():
            states = self.backbone_hidden_states(input_values, attention_mask)
        states = torch.stack(states, dim=1)  # [batch, L+1, frames, D]
        if self.config.layer_norm_per_layer:
            states = F.layer_norm(states, states.shape[-1:])
        return self._mean_over_frames(states, attention_mask, frame_dim=2)

    def backbone_hidden_states(self, input_values: torch.Tensor,
                               attention_mask: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The backbone's hidden states, the values `output_hidden_states=True` returns (the
        layers' input, then each layer's output), recorded by our own hooks: transformers installs
        its capturing hooks on first use under a lock, which torch.compile cannot trace."""
        self._recorder.states = []
        try:
            self.backbone(input_values, attention_mask=self._backbone_mask(attention_mask))
            return self._recorder.states
        finally:
            self._recorder.states = None

    def mix_layers(self, pooled: torch.Tensor) -> torch.Tensor:
        """weighted_sum's head input `[batch, D]` from per-layer pooled features `[batch, L+1, D]`."""
        weights = self.layer_weights.softmax(-1).to(pooled.dtype)
        return torch.einsum("l,bld->bd", weights, pooled)

    def classify_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """weighted_sum head logits from per-layer pooled features `[batch, L+1, D]`."""
        return self.head(self.mix_layers(pooled))

    def chunk_features(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """The head's input `[chunks, D]` for chunk-length inputs: the weighted sum of pooled
        layers, or (finetune) the pooled last hidden state."""
        if self.config.strategy == "weighted_sum":
            return self.mix_layers(self.pooled_layer_features(input_values, attention_mask))
        outputs = self.backbone(input_values, attention_mask=self._backbone_mask(attention_mask))
        return self._mean_over_frames(outputs.last_hidden_state, attention_mask, frame_dim=1)

    def chunk_logits(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Head logits of chunk-length inputs (one row per chunk)."""
        return self.head(self.chunk_features(input_values, attention_mask))

    def _head_outputs(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 class log-probabilities and embeddings (unnormalised) of head inputs. The
        head is run in two halves so the embedding costs nothing beyond the logits."""
        hidden = self.head[:2](features)  # Linear, ReLU: the hidden layer before dropout
        log_probs = self.head[2:](hidden).float().log_softmax(-1)
        return log_probs, (hidden if self.config.embedding == "head" else features).float()

    # -- whole inputs --------------------------------------------------------------------
    def forward(self, input_values: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, pooled_features: torch.Tensor | None = None,
                input_lengths: Sequence[int] | None = None, output_embeddings: bool = False,
                output_chunks: bool = False, **kwargs) -> SingerClassifierOutput:
        """`logits` are log mean chunk probabilities. `pooled_features` (weighted_sum only):
        precomputed `pooled_layer_features` of chunk-length inputs, instead of audio.
        `input_lengths`: each input's count of valid samples, as host ints (a list: Trainer
        would move a tensor to the device); when given, the attention mask is not read and
        no step waits for the device. Same logits as the matching attention mask.
        `output_embeddings`: also return `embeddings`, unit-norm song embeddings `[batch, E]`.
        `output_chunks`: also return every chunk's class log-probabilities (`chunk_log_probs`,
        `chunk_rows`, `chunk_samples`; see `SingerClassifierOutput`), from this same forward.
        With a mask and no `input_lengths`, one-chunk inputs then read the mask's lengths back.
        Inputs are cast to the model's dtype, so a model loaded in bf16 or fp16 takes float32 audio."""
        if pooled_features is not None:
            logits, embeddings = self._head_outputs(self.mix_layers(pooled_features.to(self.dtype)))
            if output_chunks:  # one chunk per input, whose valid length the features do not carry
                chunks = logits, [(i, i + 1) for i in range(len(logits))], [(0, self.config.chunk_samples)] * len(logits)
        else:
            logits, embeddings, chunks = self._song_outputs(input_values.to(self.dtype), attention_mask, input_lengths,
                                                            output_chunks)
        loss = F.nll_loss(logits, labels) if labels is not None else None
        embeddings = F.normalize(embeddings, dim=-1) if output_embeddings else None
        chunk_log_probs, chunk_rows, chunk_samples = chunks if output_chunks else (None, None, None)
        return SingerClassifierOutput(loss=loss, logits=logits, embeddings=embeddings, chunk_log_probs=chunk_log_probs,
                                      chunk_rows=chunk_rows, chunk_samples=chunk_samples)

    def _song_outputs(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None,
                      input_lengths: Sequence[int] | None, output_chunks: bool = False):
        """Each input's log mean chunk probabilities and its mean chunk embedding; with
        `output_chunks`, also the chunks' log-probabilities, each input's rows among them
        and each chunk's valid samples (else None)."""
        width = input_values.shape[-1]
        if input_lengths is not None:
            input_lengths = _checked_lengths(input_lengths, input_values)
        if width == self.config.chunk_samples:
            # Every input is one chunk (training segments): no plan to make, so nothing
            # waits on the device. Padding is zeroed, as the plan's chunks are zero-padded.
            lengths = input_lengths
            if input_lengths is not None:
                attention_mask = _lengths_mask(input_lengths, width, input_values.device)
            chunks = input_values if attention_mask is None else input_values * attention_mask.to(input_values.dtype)
            log_probs, embeddings = self._chunk_outputs(chunks, attention_mask)
            if not output_chunks:
                return log_probs, embeddings, None
            if lengths is None:  # asked for: reading the mask's lengths back waits for the device
                lengths = _host_lengths(input_values, attention_mask)
            rows = [(i, i + 1) for i in range(len(input_values))]
            return log_probs, embeddings, (log_probs, rows, [(0, int(n)) for n in lengths])
        if input_lengths is None:  # the plan needs the lengths on the host: reading a mask waits for the device
            input_lengths = _host_lengths(input_values, attention_mask)
        chunks, chunk_mask, rows, samples = self._cut_chunks(input_values, input_lengths)
        log_probs, embeddings = self._chunk_outputs(chunks, chunk_mask)
        pooled = [self.pool_chunks(log_probs[first:end], embeddings[first:end]) for first, end in rows]
        song_log_probs, song_embeddings = (torch.stack(parts) for parts in zip(*pooled))
        return song_log_probs, song_embeddings, (log_probs, rows, samples) if output_chunks else None

    # -- a song chunk by chunk: the caller streams the chunks, so any length fits --------
    def chunk_plan(self, num_samples: int) -> list[tuple[int, int]]:
        """Where a song of `num_samples` is cut into chunks: `(start, end)` samples, `end`
        past the song for a zero-padded last chunk (`segments.plan_segments`)."""
        rate = self.config.sampling_rate
        return plan_segments(num_samples, self.config.chunk_samples, round(self.config.chunk_hop_seconds * rate),
                             round(self.config.min_chunk_seconds * rate))

    def classify_chunks(self, chunks: torch.Tensor, lengths: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each chunk's class log-probabilities and embedding (unnormalised), as `forward`
        computes them for a song's chunks: `chunks` `[n, chunk_samples]` hold `lengths`
        valid samples each, zero after."""
        mask = _lengths_mask(_checked_lengths(lengths, chunks), chunks.shape[-1], chunks.device)
        return self._chunk_outputs(chunks.to(self.dtype), mask)

    def pool_chunks(self, log_probs: torch.Tensor, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A song's log mean chunk probability (computed stably in log space) and embedding
        (unnormalised: the mean of its unit chunk embeddings, `config.song_embedding`), from
        its chunks' `classify_chunks`."""
        embeddings = F.normalize(embeddings.float(), dim=-1)  # "unit_mean", the one definition
        return torch.logsumexp(log_probs, dim=0) - math.log(len(log_probs)), embeddings.mean(dim=0)

    def _chunk_outputs(self, chunks: torch.Tensor, chunk_mask: torch.Tensor | None):
        """Class log-probabilities and embeddings per chunk, `chunk_batch_size` chunks per backbone call."""
        step = max(1, self.config.chunk_batch_size)
        outputs = [
            self._head_outputs(self.chunk_features(
                chunks[i : i + step], None if chunk_mask is None else chunk_mask[i : i + step]))
            for i in range(0, len(chunks), step)
        ]
        return tuple(torch.cat(parts) for parts in zip(*outputs))

    def _cut_chunks(self, input_values: torch.Tensor, input_lengths: list[int]):
        """Chunks `[n, chunk]`, their sample masks, each input's rows `(first, end)` among them,
        and each chunk's valid samples `(start, end)` of its input."""
        length = self.config.chunk_samples
        chunks, valid, rows, spans = [], [], [], []
        for wave, samples in zip(input_values, input_lengths):
            first = len(chunks)
            for start, end in self.chunk_plan(samples):
                piece = wave[start : min(end, samples)]
                chunks.append(F.pad(piece, (0, length - len(piece))))
                valid.append(len(piece))
                spans.append((start, start + len(piece)))
            rows.append((first, len(chunks)))
        return torch.stack(chunks), _lengths_mask(valid, length, input_values.device), rows, spans

    def _backbone_mask(self, attention_mask):
        if attention_mask is None or self.config.encoder_config.feat_extract_norm != "layer":
            return None
        return attention_mask

    def _mean_over_frames(self, states: torch.Tensor, attention_mask: torch.Tensor | None, frame_dim: int):
        if attention_mask is None:
            return states.mean(dim=frame_dim)
        frames = states.shape[frame_dim]
        lengths = self.backbone._get_feat_extract_output_lengths(attention_mask.sum(-1)).clamp(1, frames)
        mask = (torch.arange(frames, device=states.device) < lengths.unsqueeze(-1)).to(states.dtype)  # [batch, frames]
        shape = [len(mask)] + [1] * (states.dim() - 1)
        shape[frame_dim] = frames
        mask = mask.view(shape)
        return (states * mask).sum(dim=frame_dim) / mask.sum(dim=frame_dim)


class SingerDataParallel(nn.DataParallel):
    """`nn.DataParallel` that gives each replica the `input_lengths` of its own inputs.

    DataParallel splits tensors along the batch but copies a list whole to every replica;
    the lengths stay host ints (a tensor would be moved to each replica's device and read
    back), split here like the inputs they describe, so no replica waits for its device."""

    def scatter(self, inputs, kwargs, device_ids):
        lengths = (kwargs or {}).get("input_lengths")
        if lengths is None:
            return super().scatter(inputs, kwargs, device_ids)
        inputs, pieces = super().scatter(inputs, {**kwargs, "input_lengths": None}, device_ids)
        start = 0
        for args, options in zip(inputs, pieces):
            count = len(args[0] if args else options["input_values"])
            options["input_lengths"] = list(lengths[start : start + count])
            start += count
        return inputs, pieces


def _checked_lengths(input_lengths: Sequence[int], input_values: torch.Tensor) -> list[int]:
    lengths = [operator.index(n) for n in input_lengths]
    if len(lengths) != len(input_values):
        raise ValueError(f"input_lengths has {len(lengths)} entries for a batch of {len(input_values)} inputs")
    width = input_values.shape[-1]
    wrong = [n for n in lengths if not 0 <= n <= width]
    if wrong:
        raise ValueError(f"input_lengths must lie between 0 and the inputs' width {width}, got {wrong}")
    return lengths


def _host_lengths(input_values: torch.Tensor, attention_mask: torch.Tensor | None) -> list[int]:
    """Each input's valid samples as host ints: the mask's sums (read back from the device), or the width."""
    if attention_mask is None:
        return [input_values.shape[-1]] * len(input_values)
    return attention_mask.sum(-1).tolist()


def _lengths_mask(lengths: list[int], width: int, device: torch.device) -> torch.Tensor:
    """`[len(lengths), width]` masks of host lengths, made on the device: nothing copied there or back."""
    positions = torch.arange(width, device=device)
    return torch.stack([positions < n for n in lengths]).long()
