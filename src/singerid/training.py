"""Training: arguments, data, the Trainer, the cached weighted-sum path, and the outputs.

    dataset (audio, label, song_id) ─▶ SingerClassifier.from_backbone ─▶ Trainer
        weighted_sum: per-layer pooled features computed once (singerid's cache) ─▶ head only
        finetune: audio segments ─▶ the whole model
    ─▶ best checkpoint by validation song top-1 ─▶ save_pretrained
    ─▶ full-model evaluation on validation and test ─▶ metrics.json, confusion matrix
    ─▶ training_curves.png (losses and validation song top-1 by epoch, from the log history)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import Trainer, TrainingArguments, set_seed

from .data import AudioCollator, encoded_audio, feature_collator, load_corpus, without_artists
from .enrollment import training_gallery
from .digests import weights_digest
from .evaluation import autocast_for, classification_metrics, evaluate_split, probabilities_from_logits
from .errors import unavailable
from .gallery import DEFAULT_FALSE_ACCEPT_RATE, DEFAULT_SCORING
from .metrics.open_set import SCORINGS
from .models import STRATEGIES, SingerClassifier, SingerClassifierConfig, SingerDataParallel, portable_name
from .preprocessing import PreprocessConfig
from .preprocessing.stages import default_cache_dir
from .reports import TRAINING_CURVES, plot_training_curves, write_reports

logger = logging.getLogger(__name__)


def _config_default(name: str, text: str) -> dict:
    """Field metadata for an argument that mirrors a SingerClassifierConfig field: unset
    by default, so the config's own default (named in the help) stays in force."""
    return {"help": f"{text} (default: {getattr(SingerClassifierConfig, name)})"}


# -- arguments ---------------------------------------------------------------------------
@dataclass
class DataArguments:
    dataset: str = field(metadata={"help": "a folder from preprocess.py, or a Hub dataset id with columns "
                                           "audio, label (ClassLabel) and song_id"})
    feature_cache: bool = field(default=True, metadata={
        "help": "weighted_sum: compute each segment's pooled backbone features once and train the head on them"})
    cache_dir: str | None = field(default=None, metadata={
        "help": "weighted_sum: feature cache, in CACHE_DIR/features (default $SINGERID_CACHE or ~/.cache/singerid)"})
    feature_cache_dir: str | None = field(default=None, metadata={
        "help": "folder for the feature cache alone, e.g. on storage several nodes share (default: CACHE_DIR/features)"})
    leave_out_artists: list[str] | None = field(default=None, metadata={
        "help": "artists kept out of training entirely (their songs stay in the dataset for open-set evaluation)"})
    false_accept_rate: float = field(default=DEFAULT_FALSE_ACCEPT_RATE, metadata={
        "help": "the gallery's threshold lets at most this share of unknown singers' songs through"})
    gallery_scoring: str = field(default=DEFAULT_SCORING, metadata={
        "help": f"how the gallery scores a song against its singers, fixed with its threshold: {', '.join(SCORINGS)}"})

    def __post_init__(self):  # before any data is read
        if self.gallery_scoring not in SCORINGS:
            raise ValueError(f"--gallery_scoring {self.gallery_scoring!r}: choose one of {', '.join(SCORINGS)}")


@dataclass
class ModelArguments:
    backbone: str = field(default="mert-v1-330m", metadata={"help": "a preset name, Hub id or local folder"})
    strategy: str = field(default=SingerClassifierConfig.strategy, metadata={"help": " or ".join(STRATEGIES)})
    layer_norm_per_layer: bool | None = field(
        default=None, metadata=_config_default("layer_norm_per_layer", "weighted_sum: LayerNorm each layer"))
    head_hidden_size: int | None = field(default=None, metadata=_config_default("head_hidden_size", "head width"))
    head_dropout: float | None = field(default=None, metadata=_config_default("head_dropout", "head dropout"))
    freeze_feature_encoder: bool | None = field(
        default=None, metadata=_config_default("freeze_feature_encoder", "finetune: keep the CNN encoder frozen"))
    chunk_batch_size: int | None = field(
        default=None, metadata=_config_default("chunk_batch_size", "chunks per backbone call on whole songs"))

    def config_overrides(self) -> dict:
        """The SingerClassifierConfig fields the user set."""
        names = ("layer_norm_per_layer", "head_hidden_size", "head_dropout", "freeze_feature_encoder",
                 "chunk_batch_size")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


@dataclass
class SingerTrainingArguments(TrainingArguments):
    """TrainingArguments with the reference's defaults."""

    output_dir: str | None = field(default="singerid_run", metadata={"help": "where the model and reports go"})
    learning_rate: float = 1e-4
    weight_decay: float = 1e-6
    per_device_train_batch_size: int = 24
    per_device_eval_batch_size: int = 24
    max_grad_norm: float = 5.0
    num_train_epochs: float = 10.0
    eval_strategy: str = "epoch"
    save_strategy: str = "epoch"
    save_total_limit: int | None = 2
    load_best_model_at_end: bool = True
    metric_for_best_model: str | None = "song_top1"
    greater_is_better: bool | None = True
    logging_strategy: str = "epoch"
    remove_unused_columns: bool = False
    report_to: None | str | list[str] = field(default="auto", metadata={
        "help": "'auto': tensorboard when it is installed, else none"})
    adam_l2: bool = field(default=True, metadata={
        "help": "Adam with L2 weight decay, as the reference; false: the optimizer named by --optim"})
    mixed_precision: str = field(default="auto", metadata={
        "help": "'auto': bf16 (else fp16) on CUDA, fp32 elsewhere; 'no': never"})
    dataloader_num_workers: int = field(default=-1, metadata={
        "help": "processes decoding audio for the GPU; -1: one per free core on CUDA (at most 8), none on CPU"})
    # Every trainable parameter takes part in every step (the frozen parts have no
    # gradients), so DDP need not search the graph for unused ones each step.
    ddp_find_unused_parameters: bool | None = False

    def __post_init__(self):
        if self.dataloader_num_workers < 0:
            self.dataloader_num_workers = loader_workers()
        if self.dataloader_num_workers > 0:  # keep them, and their decoded batches, between epochs
            self.dataloader_persistent_workers = True
            self.dataloader_prefetch_factor = self.dataloader_prefetch_factor or 4
        if self.report_to == "auto":
            from transformers.integrations import is_tensorboard_available

            self.report_to = "tensorboard" if is_tensorboard_available() else "none"
        if self.mixed_precision == "auto" and not (self.bf16 or self.fp16) and torch.cuda.is_available():
            self.bf16 = torch.cuda.is_bf16_supported()
            self.fp16 = not self.bf16
        self.dataloader_pin_memory = self.dataloader_pin_memory and torch.cuda.is_available()
        super().__post_init__()


def loader_workers() -> int:
    """Data-loader processes by default: on CUDA one per core left over by the GPU
    processes (at most 8); on the CPU none, as decoding would compete with the model."""
    import os

    if not torch.cuda.is_available():
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores // max(1, torch.cuda.device_count()) - 1))


def backbone_digest(model: SingerClassifier) -> str:
    """A content hash of the backbone's weights and config: the cache key of its features.
    How the config was last stored (its dtype entry, origin, version) is no part of what the
    backbone computes, so a saved and reloaded model keeps its key."""
    import json

    config = model.config.encoder_config.to_dict()
    for key in ("dtype", "torch_dtype", "_name_or_path", "transformers_version"):
        config.pop(key, None)
    return weights_digest(model.backbone, json.dumps(config, sort_keys=True))


# The cache is cut in this many shards, whatever the number of processes, so that a
# cache built by N processes serves a run with M.
FEATURE_SHARDS = 8


def feature_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Where pooled features are cached: the `features` folder of singerid's cache."""
    return Path(cache_dir or default_cache_dir()) / "features"


def cache_pooled_features(model: SingerClassifier, dataset, collator: AudioCollator, batch_size: int = 16,
                          autocast: str = "no", process: tuple[int, int] | None = None,
                          cache_dir: str | Path | None = None):
    """`dataset` with a `features` column `[L+1, D]` per segment, computed once with the
    frozen backbone and kept in `cache_dir` (default: `feature_cache_dir()`), keyed by the
    data, the backbone and the compute precision (`autocast`: "no", "bf16" or "fp16";
    features are stored in fp32).

    Every process computes its share of the shards (`process`: its index and the count;
    default accelerate's), waits for the others, then reads the whole cache."""
    from accelerate import PartialState
    from datasets import Array2D, concatenate_datasets
    from datasets.fingerprint import Hasher

    state = PartialState() if process is None else None
    folder = Path(cache_dir) if cache_dir else feature_cache_dir()
    rank, processes = process or (state.process_index, state.num_processes)
    config = model.config
    fingerprint = Hasher.hash([dataset._fingerprint, backbone_digest(model), config.layer_norm_per_layer,
                               config.sampling_rate, config.chunk_seconds, autocast, "pooled-features-v2"])
    features = dataset.features.copy()
    del features["audio"]
    features["features"] = Array2D((config.num_hidden_states, config.encoder_config.hidden_size), "float32")
    device = next(model.parameters()).device

    def compute(batch):
        examples = [dict(zip(batch, values)) for values in zip(*batch.values())]
        inputs = collator(examples)
        if inputs["input_values"].shape[-1] > collator.chunk_samples:
            raise ValueError("segments longer than the model's chunk cannot be cached; pass --feature_cache false")
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(autocast)
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            pooled = model.pooled_layer_features(inputs["input_values"].to(device), inputs["attention_mask"].to(device))
        return {"features": pooled.float().cpu().numpy()}

    shards = max(1, min(FEATURE_SHARDS, len(dataset)))

    def shard(index: int):
        key = Hasher.hash([fingerprint, index, shards])
        # Named in our cache: datasets' default puts it beside the dataset's own files.
        return dataset.shard(shards, index, contiguous=True).map(
            compute, batched=True, batch_size=batch_size, remove_columns=["audio"], features=features,
            new_fingerprint=key, cache_file_name=str(folder / f"{key}.arrow"),
            desc=f"pooled backbone features, shard {index + 1}/{shards} (process {rank + 1} of {processes})")

    model.eval()
    for index in range(rank, shards, processes):
        shard(index)  # this process's share, into the cache
    if state is not None:
        state.wait_for_everyone()
    return concatenate_datasets([shard(index) for index in range(shards)])  # all of it, from the cache


# -- the run -----------------------------------------------------------------------------
class SingerTrainer(Trainer):
    """Trainer whose evaluation batches are collated without random cropping, and whose
    DataParallel (several GPUs, no distributed launch) splits `input_lengths` per replica."""

    def __init__(self, *args, eval_collator=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.eval_collator = eval_collator or self.data_collator

    def get_eval_dataloader(self, eval_dataset=None):
        train_collator, self.data_collator = self.data_collator, self.eval_collator
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.data_collator = train_collator

    def _wrap_model(self, model, training=True, dataloader=None):
        wrapped = super()._wrap_model(model, training, dataloader)
        if type(wrapped) is torch.nn.DataParallel:  # Trainer's own, with its defaults: ours instead
            wrapped = SingerDataParallel(wrapped.module)
        return wrapped


def build_model(model_args: ModelArguments, names: list[str], preprocessing: PreprocessConfig | None) -> SingerClassifier:
    """A new classifier whose config records the data's preprocessing and cuts songs as it did."""
    recorded = {"preprocessing": preprocessing.to_dict(), **preprocessing.chunking()} if preprocessing else {}
    try:
        return SingerClassifier.from_backbone(model_args.backbone, strategy=model_args.strategy,
                                              id2label=dict(enumerate(names)), **model_args.config_overrides(),
                                              **recorded)
    except OSError as error:  # a folder that is not there, a Hub id that cannot be reached
        raise unavailable("backbone", model_args.backbone, error) from None


def run_training(data_args: DataArguments, model_args: ModelArguments, args: SingerTrainingArguments) -> dict:
    """Train, save the best model and write metrics.json and the plots. Returns the metrics."""
    set_seed(args.seed)
    dataset, preprocessing = load_corpus(data_args.dataset)
    if "train" not in dataset:
        raise ValueError(f"{data_args.dataset}: no 'train' split")
    if data_args.leave_out_artists:
        dataset = without_artists(dataset, data_args.leave_out_artists)
    names = dataset["train"].features["label"].names
    model = build_model(model_args, names, preprocessing)
    dataset = encoded_audio(dataset)
    eval_collator = AudioCollator.for_model(model.config)
    has_validation = "validation" in dataset and dataset["validation"].num_rows > 0
    if not has_validation:
        logger.warning("no validation split: training without model selection")
        args.eval_strategy, args.load_best_model_at_end = "no", False

    train_data, eval_data = dataset["train"], dataset["validation"] if has_validation else None
    train_collator = AudioCollator.for_model(model.config, random_crop=True)
    if model.config.strategy == "weighted_sum" and data_args.feature_cache:
        model.to(args.device)
        autocast = autocast_for(training_precision(args))
        cache_dir = data_args.feature_cache_dir or feature_cache_dir(data_args.cache_dir)
        train_data = cache_pooled_features(model, train_data, eval_collator, args.per_device_eval_batch_size, autocast,
                                           cache_dir=cache_dir)
        if eval_data is not None:
            eval_data = cache_pooled_features(model, eval_data, eval_collator, args.per_device_eval_batch_size,
                                              autocast, cache_dir=cache_dir)
        train_collator = eval_collator = feature_collator

    validation_songs = list(dataset["validation"]["song_id"]) if has_validation else []

    def compute_metrics(prediction):
        return classification_metrics(probabilities_from_logits(prediction.predictions),
                                      np.asarray(prediction.label_ids), validation_songs)[0]

    optimizer = (torch.optim.Adam, {"lr": args.learning_rate}) if args.adam_l2 else None
    trainer = SingerTrainer(model=model, args=args, train_dataset=train_data, eval_dataset=eval_data,
                            data_collator=train_collator, eval_collator=eval_collator,
                            compute_metrics=compute_metrics if has_validation else None,
                            optimizer_cls_and_kwargs=optimizer)
    resume = args.resume_from_checkpoint
    trainer.train(resume_from_checkpoint=True if str(resume).lower() in ("true", "last") else resume)
    trainer.save_model(args.output_dir)

    # Final numbers: the saved full model, audio in, on every evaluation split.
    model = trainer.model
    metrics, songs = {}, {}
    for split in ("validation", "test"):
        if split in dataset and dataset[split].num_rows:
            metrics[split], songs[split] = evaluate_split(model, dataset[split], AudioCollator.for_model(model.config),
                                                          args.per_device_eval_batch_size,
                                                          autocast_for(training_precision(args)))
    # The gallery of trained artists, for open-set prediction and enrollment: from the data
    # the head was trained on (cached features when there are), no retraining.
    gallery = training_gallery(model, train_data, eval_data, eval_collator, args.per_device_eval_batch_size,
                               autocast_for(training_precision(args)), data_args.false_accept_rate,
                               audio=dataset["train"], scoring=data_args.gallery_scoring)
    if args.process_index == 0:
        gallery.save(args.output_dir)
        write_reports(args.output_dir, metrics, songs, names, layer_weights=layer_weights(model),
                      summary=training_summary(data_args, model, args))
        plot_training_curves(trainer.state.log_history, Path(args.output_dir) / TRAINING_CURVES)
    return metrics


def training_precision(args: SingerTrainingArguments) -> str:
    """"bf16", "fp16" or "fp32": how the run trained, and so how its final numbers are computed."""
    return "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32"


def layer_weights(model: SingerClassifier) -> np.ndarray | None:
    """The weighted sum's softmax weights per hidden state (None for finetune)."""
    if model.config.strategy != "weighted_sum":
        return None
    return model.layer_weights.detach().float().softmax(-1).cpu().numpy()


def training_summary(data_args: DataArguments, model: SingerClassifier, args: SingerTrainingArguments) -> dict:
    """What the model card reports about how the model was trained."""
    optimizer = "Adam (L2 weight decay)" if args.adam_l2 else str(args.optim)
    precision = training_precision(args)
    # Names that mean something elsewhere: the summary is shared with the model.
    return {"dataset": portable_name(data_args.dataset), "backbone": model.config.backbone_id,
            "strategy": model.config.strategy,
            "optimizer": optimizer, "learning_rate": args.learning_rate, "weight_decay": args.weight_decay,
            "batch_size": args.per_device_train_batch_size * max(1, args.world_size),
            "epochs": args.num_train_epochs, "max_steps": args.max_steps, "max_grad_norm": args.max_grad_norm,
            "lr_scheduler": getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type), "precision": precision, "seed": args.seed,
            "head_dropout": model.config.head_dropout, "feature_cache": data_args.feature_cache,
            "left_out_artists": data_args.leave_out_artists or []}
