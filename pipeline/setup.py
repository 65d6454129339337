"""What `train`, `evaluate` and `model-summary` build from params.yaml and a tensor store.

`TrainConfig` is params.yaml `train:`; `train_setup` parses the `train` stage's sections once into
typed settings (`TrainSetup`), checked before any work starts; `store_manifest` reads the store
and checks what it must offer them; `build_model` assembles the model for a store (input widths from its manifest,
classes from its dataset, a fine-tuned text encoder from the store's own text model).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .data.store import Manifest, read_manifest
from .datasets import DATASETS, PRESETS
from .transcripts import DEFAULT as DEFAULT_TRANSCRIPT, check_sources
from .metrics import metric_names
from .modalities import MODALITIES
from .model import ModelConfig, SentimentModel, TextBackbone, model_config_from_params, own_config, registry
from .params import check_one_place, section_from_params

# torch.compile modes; the last two also record CUDA graphs on GPU.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


@dataclass(frozen=True)
class Perturbation:
    """Training-time perturbation rates (pipeline/augment.py applies them), off at 0."""

    dropout: float = 0.0
    noise: float = 0.0
    conflict: float = 0.0

    def __post_init__(self) -> None:
        for name, value in (("train.modality_dropout", self.dropout), ("train.feature_noise", self.noise),
                            ("train.feature_conflict", self.conflict)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}: {value} is not in [0, 1]")
        if self.noise + self.conflict > 1.0:
            raise ValueError(f"train.feature_noise + train.feature_conflict: {self.noise + self.conflict} is more than 1")

    @property
    def active(self) -> bool:
        return self.dropout > 0 or self.noise > 0 or self.conflict > 0


@dataclass(frozen=True)
class TrainConfig:
    """params.yaml `train:`."""

    seeds: tuple[int, ...] = (1111, 1112, 1113, 1114, 1115)
    epochs: int = 30
    lr: float = 5e-4
    batch_size: int = 32
    weight_decay: float = 1e-3
    preset: str = ""  # a paper preset (mosi, mosei, sims, simsv2): its lr, batch, weight decay, hidden win
    patience: int = 8  # epochs without a better valid criterion before stopping
    select_metric: str = "mae"  # the valid metric that picks the checkpoint
    grad_clip: float = 1.0
    nproc: int = 1  # processes per node; more than 1 launches DDP through torchrun
    nnodes: int = 1  # machines, each running `pipeline train` with these params; more than 1 needs rdzv_endpoint
    rdzv_endpoint: str = ""  # host:port where the nodes meet (torchrun's c10d rendezvous), e.g. node 0's address
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = False  # autocast to bfloat16 on GPU; CPU always runs fp32
    compile: str = ""  # torch.compile mode for the training step: "" (eager) or one of COMPILE_MODES
    finetune_text: bool = False  # train the text encoder with DSRF, from the store's token ids
    text_lr: float = 2e-5  # its learning rate (the rest of the model keeps lr)
    tune_text_layers: int = 0  # k > 0: train only the text encoder's top k layers, on the store's states below them
    transcripts: tuple[str, ...] = (DEFAULT_TRANSCRIPT,)  # the transcript sources drawn per train clip and epoch
    # Training-time perturbation (pipeline/augment.py), off at 0: a (clip, modality) dropped with this
    # probability; this fraction of clips with one modality replaced by noise / by another clip's.
    modality_dropout: float = 0.0
    feature_noise: float = 0.0
    feature_conflict: float = 0.0
    num_workers: int = 0
    threads: int = 0  # torch threads per process; 0 = the cores this process may use / nproc (pipeline/threads.py)
    store: str = "data/store"
    out: str = "models"  # best checkpoint per seed
    state: str = "runs"  # resumable state per seed (kept across `dvc repro`)

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("train.seeds: give at least one seed")
        if self.preset and self.preset not in PRESETS:
            raise ValueError(f"train.preset: {self.preset!r} is not one of {list(PRESETS)}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"train.device: {self.device!r} is not auto, cpu or cuda")
        if self.nproc < 1 or self.nnodes < 1 or self.batch_size < 1 or self.epochs < 1:
            raise ValueError("train.nproc, train.nnodes, train.batch_size and train.epochs must be at least 1")
        if self.nnodes > 1 and ":" not in self.rdzv_endpoint:
            raise ValueError(f"train.rdzv_endpoint: train.nnodes {self.nnodes} needs the host:port where the nodes "
                             f"meet (e.g. the first node's address and a free port), got {self.rdzv_endpoint!r}")
        if self.text_lr <= 0:
            raise ValueError(f"train.text_lr: {self.text_lr} must be positive")
        if self.tune_text_layers < 0 or (self.tune_text_layers and self.finetune_text):
            raise ValueError(f"train.tune_text_layers: {self.tune_text_layers} must be >= 0, and 0 when train.finetune_text "
                             "tunes the whole encoder")
        if self.compile and self.compile not in COMPILE_MODES:
            raise ValueError(f"train.compile: {self.compile!r} is not \"\" (eager) or one of {list(COMPILE_MODES)}")
        self.perturbation  # checks the three rates

    @property
    def perturbation(self) -> Perturbation:
        return Perturbation(self.modality_dropout, self.feature_noise, self.feature_conflict)

    @property
    def fixed_shapes(self) -> bool:
        """A compiled step sees one shape (a CUDA graph replays only that, and recompiling for every
        batch length costs more than it saves): batches keep the store's lengths, the last partial one
        is dropped."""
        return bool(self.compile)

    def with_preset(self) -> "TrainConfig":
        if not self.preset:
            return self
        p = PRESETS[self.preset]
        return dataclasses.replace(self, lr=p.lr, batch_size=p.batch_size, weight_decay=p.weight_decay)


@dataclass(frozen=True)
class TrainSetup:
    """Everything `train` reads from params, parsed once and checked before any work starts."""

    train: TrainConfig
    model: ModelConfig  # without what the store fixes (input widths, classes)
    own: Any  # the model's own settings: DSRF's `loss:`, a baseline's `model.<name>` (registry.MODELS)

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.model.modalities


def train_setup(params: dict[str, Any]) -> TrainSetup:
    """The `train` stage's settings from params.yaml's sections `train`, `model`, `loss` and `data.modalities`."""
    train = section_from_params(TrainConfig, "train", params.get("train")).with_preset()
    model_params = dict(params.get("model") or {})
    check_one_place("model", model_params, {"modalities": "data.modalities", "input_dims": "the store",
                                            "num_classes": "data.dataset", "class_edges": "data.dataset"})
    loss_params = dict(params.get("loss") or {})
    modalities = tuple((params.get("data") or {}).get("modalities", MODALITIES))
    model = model_config_from_params(model_params, modalities=modalities)
    own = own_config(model.name, loss_params if model.name == "dsrf" else model_params.get(model.name))
    return TrainSetup(train, model, own)


def store_manifest(setup: TrainSetup) -> Manifest:
    """The manifest of the store `train.store`, checked against what this setup needs of it: a
    one-line error before any seed trains."""
    cfg = setup.train
    manifest = read_manifest(cfg.store)
    known = metric_names(manifest.dataset)
    if cfg.select_metric not in known:
        raise ValueError(f"train.select_metric: {cfg.select_metric!r} is not a {manifest.dataset} metric (known: {', '.join(known)})")
    missing = [m for m in setup.modalities if m not in manifest.modalities]
    if missing:
        raise ValueError(f"data.modalities: {missing} not in the store (it has {list(manifest.modalities)})")
    check_sources(cfg.transcripts, manifest.transcripts, "train.transcripts", f"the store {cfg.store}")
    if cfg.tune_text_layers and manifest.text_hidden != cfg.tune_text_layers:
        raise ValueError(f"train.tune_text_layers: {cfg.tune_text_layers}, but the store {cfg.store} holds the text states below "
                         f"the top {manifest.text_hidden} layers; set features.text.top_layers: {cfg.tune_text_layers} and rerun "
                         "`pipeline features` and `pipeline tensors`")
    if cfg.fixed_shapes and manifest.splits["train"] < cfg.batch_size:
        raise ValueError(f"train.compile {cfg.compile}: full batches only, and the train split has "
                         f"{manifest.splits['train']} clips, fewer than train.batch_size {cfg.batch_size}")
    return manifest


def build_model(setup: TrainSetup, manifest: Manifest) -> SentimentModel:
    """The model for this store: input widths from its manifest, classes from its dataset."""
    dataset = DATASETS[manifest.dataset]
    overrides = dict(
        input_dims={m: manifest.dims[m] for m in setup.modalities},
        num_classes=dataset.num_classes,
        class_edges=dataset.class_edges,
    )
    if setup.train.preset:
        overrides["hidden"] = PRESETS[setup.train.preset].hidden
    model_config = dataclasses.replace(setup.model, **overrides)
    tuned = setup.train.finetune_text or setup.train.tune_text_layers
    backbone = text_backbone(manifest, setup) if tuned else None
    own = registry.for_store(setup.own, manifest.splits.get("train", 0))
    return registry.build_model(model_config, own, backbone)


def text_backbone(manifest: Manifest, setup: TrainSetup) -> TextBackbone:
    """The encoder the store's text features came from, with the store's text statistics."""
    from .features.models import resolve_model
    from .features.text import EXTRACTOR as TEXT_EXTRACTOR

    if "t" not in setup.modalities:
        raise ValueError(f"train.finetune_text: data.modalities {list(setup.modalities)} has no text")
    text = manifest.features["t"]
    if text.get("extractor") != TEXT_EXTRACTOR or not manifest.text_tokens:
        raise ValueError(f"train.finetune_text: the store {setup.train.store} has no text token ids (its text features come "
                         f"from {manifest.source.get('format', '?')} / {text.get('extractor')}; extract them with "
                         "`pipeline features`, which keeps the ids, then rerun `pipeline tensors`)")
    norm = manifest.norm.get("t")
    folder = resolve_model(text["model"], "features.text.model")
    return TextBackbone.pretrained(str(folder), norm.mean if norm else None, norm.std if norm else None, setup.train.tune_text_layers)
