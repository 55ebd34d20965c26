"""SingerClassifierConfig: a self-supervised backbone, a head strategy, and how songs are cut.

Copied beside saved models for `trust_remote_code`: it imports only its neighbours.
"""

from __future__ import annotations

from transformers import AutoConfig
from transformers.configuration_utils import PreTrainedConfig, SubConfigSpec

from .segments import check_number, check_spacing, segment_spacing

STRATEGIES = ("weighted_sum", "finetune")
EMBEDDINGS = ("head", "pooled")
# How a song's embedding pools its chunks': "unit_mean", the normalised mean of unit chunk
# embeddings, so every chunk counts alike. Chosen over the mean of raw chunk embeddings by
# benchmarks/open_set.py; training segments are one chunk each, so their songs pool alike.
SONG_EMBEDDINGS = ("unit_mean",)
# What the numbers of a config.json may be (a downloaded one is someone else's data): the
# ranges of what the code can do, each bounding the memory or time one song can take.
SAMPLING_RATES = (4_000, 192_000)  # Hz: what decoders and audio backbones use
MAX_CHUNK_BATCH = 1_024  # chunks per backbone call
MAX_HEAD_HIDDEN = 65_536


class SingerClassifierConfig(PreTrainedConfig):
    r"""
    Args:
        encoder_config: the backbone's config (`HubertConfig` for HuBERT and MERT, `WavLMConfig`).
        strategy: "weighted_sum" (frozen backbone, softmax-weighted sum of all hidden states)
            or "finetune" (trainable transformer, last hidden state).
        layer_norm_per_layer: weighted_sum only: LayerNorm (no affine) each hidden state
            before mixing, so layers of different scales mix fairly.
        head_hidden_size, head_dropout: the MLP head, Linear(D, hidden) → ReLU → Dropout → Linear.
        embedding: what a chunk's embedding is (`forward(output_embeddings=True)` averages them
            over a song and L2-normalises): "head", the head's hidden layer after the ReLU
            (head_hidden_size values), or "pooled", the head's input (the weighted sum of pooled
            layers, or finetune's pooled last hidden state; the backbone's hidden size).
        song_embedding: how a song's embedding pools its chunks' (`SONG_EMBEDDINGS`):
            "unit_mean", the normalised mean of unit chunk embeddings. Training songs,
            galleries and prediction all use it; a gallery records the one it was built with.
        sampling_rate: the backbone's input rate (MERT 24 kHz, WavLM and HuBERT 16 kHz).
        chunk_seconds, chunk_hop_seconds, min_chunk_seconds: longer inputs are cut into
            chunks of `chunk_seconds` every `chunk_hop_seconds`; a tail shorter than
            `min_chunk_seconds` is dropped, as preprocessing cuts segments.
        chunk_batch_size: at most this many chunks go through the backbone at once.
        freeze_feature_encoder: finetune only: keep the convolutional feature encoder frozen.
        backbone_id: where the backbone's weights came from: a preset name, a Hub id, or a local
            folder's name (never its path).
        preprocessing: the preprocessing parameters of the training data (see
            singerid.preprocessing.PreprocessConfig), so prediction can repeat them.
    """

    model_type = "singer-classifier"
    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="hubert")}

    encoder_config: dict | PreTrainedConfig | None = None
    strategy: str = "weighted_sum"
    layer_norm_per_layer: bool = True
    head_hidden_size: int = 512
    head_dropout: float = 0.1
    embedding: str = "head"
    song_embedding: str = SONG_EMBEDDINGS[0]
    sampling_rate: int = 24000
    chunk_seconds: float = 5.0
    chunk_hop_seconds: float | None = None
    min_chunk_seconds: float | None = None
    chunk_batch_size: int = 8
    freeze_feature_encoder: bool = True
    backbone_id: str | None = None
    preprocessing: dict | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.song_embedding not in SONG_EMBEDDINGS:
            raise ValueError(f"song_embedding must be one of {SONG_EMBEDDINGS}, got {self.song_embedding!r}")
        self.chunk_hop_seconds, self.min_chunk_seconds = segment_spacing(
            self.chunk_seconds, self.chunk_hop_seconds, self.min_chunk_seconds)
        if self.preprocessing is None:
            self.preprocessing = {}
        self.check()

    def check(self) -> None:
        """Refuse values the code cannot run with (one line: the field, its value, the range):
        a downloaded config.json must not make a song take the machine's memory or time."""
        source = "config.json"
        check_number("sampling_rate", self.sampling_rate, *SAMPLING_RATES, integer=True, source=source, unit=" Hz")
        check_spacing(("chunk_seconds", "chunk_hop_seconds", "min_chunk_seconds"), self.chunk_seconds,
                      self.chunk_hop_seconds, self.min_chunk_seconds, shortest=self.frame_seconds, source=source)
        check_number("chunk_batch_size", self.chunk_batch_size, 1, MAX_CHUNK_BATCH, integer=True, source=source)
        check_number("head_hidden_size", self.head_hidden_size, 1, MAX_HEAD_HIDDEN, integer=True, source=source)
        check_number("head_dropout", self.head_dropout, 0, 1, source=source)
        for name in ("layer_norm_per_layer", "freeze_feature_encoder"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"config.json: {name} = {getattr(self, name)!r}: must be true or false")
        if not isinstance(self.backbone_id, (str, type(None))) or not isinstance(self.preprocessing, dict):
            raise ValueError("config.json: backbone_id must be a name and preprocessing an object")
        labels = [self.id2label.get(index) for index in range(self.num_labels)]
        if len(self.id2label) != self.num_labels or not all(isinstance(label, str) and label for label in labels):
            raise ValueError(f"config.json: id2label must name each of the {self.num_labels} classes 0 to "
                             f"{self.num_labels - 1} once, got {len(self.id2label)} entries")

    @property
    def embedding_size(self) -> int:
        """The width of a song embedding: the head's hidden layer, or the backbone's hidden size."""
        return self.head_hidden_size if self.embedding == "head" else self.encoder_config.hidden_size

    @property
    def frame_seconds(self) -> float:
        """The shortest input the backbone turns into a frame: its convolutions' receptive field."""
        field, stride = 0, 1
        for kernel, step in zip(self.encoder_config.conv_kernel, self.encoder_config.conv_stride):
            field += (kernel - 1) * stride
            stride *= step
        return (field + 1) / self.sampling_rate

    @property
    def chunk_samples(self) -> int:
        """A chunk's length in samples at the model's rate."""
        return round(self.chunk_seconds * self.sampling_rate)

    @property
    def class_names(self) -> list[str]:
        """The artists' names in class order (the columns of the logits)."""
        return [self.id2label[index] for index in range(self.num_labels)]

    @property
    def num_hidden_states(self) -> int:
        """Hidden states the backbone returns: the CNN/projection output plus one per layer."""
        return self.encoder_config.num_hidden_layers + 1
