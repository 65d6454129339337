"""Scoring new clips with a trained model, and what each modality does to the score: occlusion (the
score without it) for any model, and DSRF's explanation tensors.

A `train` output folder gives every seed it kept: the score is the mean of the seeds' scores (the
ensemble `evaluate` reports), the explanation the mean of theirs, and the confidence says how sure
the score is and what that meant on the valid split.

The clip goes through the extraction settings stored in the checkpoint (never the current
params.yaml), then through the store's own truncation and normalization, so the model sees
features made exactly as its training features were. A feature header that differs from the
training store's (another extractor, model or setting) is refused, not scored.

Long clips are cut into windows of `window` seconds (every modality by its own frame times);
each window is scored as one sample and the clip's score is the duration-weighted mean, so
memory stays bounded by the model's max lengths whatever the clip's length.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_checkpoint, model_from_checkpoint
from .confidence import CALIBRATION, ensemble, in_words
from .data.batch import Batch
from .data.build import truncate
from .explanations import occlusion_effects
from .features.clip import ClipFeatures
from .features.expression import COLUMNS as EXPRESSION_COLUMNS
from .metrics import class_names, fine_classes
from .modalities import MODALITY_NAMES
from .model import FACTORS, DSRFOutput, ModelOutput, SentimentModel

# Verbal names of the fine classes, lowest first (7 for MOSI/MOSEI, 5 for SIMS).
CLASS_LABELS = {
    7: ["strongly negative", "negative", "weakly negative", "neutral", "weakly positive", "positive", "strongly positive"],
    5: ["negative", "weakly negative", "neutral", "weakly positive", "positive"],
}


@dataclass
class TrainedModel:
    """The seeds `train` kept (one model each, all of one config and store), or one checkpoint."""

    models: list[SentimentModel]
    manifest: dict[str, Any]
    extraction: dict[str, Any] | None  # None: trained on imported features (MMSA / CSD), not extractable
    path: Path  # the train output folder, or the one checkpoint given
    seeds: list[int]
    calibration: dict[str, Any] | None = None  # confidence bands on valid (train.out/confidence.json)

    @property
    def model(self) -> SentimentModel:
        """The first seed's model: what the seeds share (config, modalities) is read here."""
        return self.models[0]

    def describe(self) -> str:
        seeds = ", ".join(map(str, self.seeds))
        return f"{self.model.config.name}, {self.path} (mean of seed{'s' if len(self.seeds) > 1 else ''} {seeds})"


@dataclass
class ModalityReport:
    present: bool
    # Occlusion, for every model: score − the score with this modality removed (None where it is
    # missing, or the only one present).
    effect: float | None = None
    # DSRF's explanation; None for a model that has none (the baselines), left out of the JSON.
    weight: float | None = None
    factor_weights: dict[str, float] | None = None
    uncertainty: dict[str, float] | None = None


@dataclass
class Prediction:
    video: str
    model: str  # which model made the score (model.name)
    score: float
    polarity: str
    label_class: str
    modalities: dict[str, ModalityReport]
    transcript: dict[str, Any]
    seed_scores: dict[str, float] = field(default_factory=dict)  # each seed's own score; `score` is their mean
    # How sure the score is (docs/predict.md): 1 / (1 + expected absolute error), from the model's error
    # head (the mean over seeds) or, without one, from the seeds' spread; None for one seed without a head.
    confidence: float | None = None
    expected_error: float | None = None
    confidence_meaning: str | None = None  # what this confidence meant on valid, in words
    windows: list[dict[str, float]] = field(default_factory=list)  # start, end, score per window
    expressions: list[dict[str, float]] = field(default_factory=list)  # per face frame: time, the 7 probabilities, valence
    routing: dict[str, list[list[float]]] = field(default_factory=dict)  # m -> (4 factors, K capsules)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["modalities"] = {m: {k: v for k, v in r.items() if v is not None} for m, r in out["modalities"].items()}
        if not self.routing:
            del out["routing"]
        return out

    @property
    def explained(self) -> bool:
        """Whether the model gave DSRF's explanation (weights, factors, uncertainty, routing)."""
        return any(r.weight is not None for r in self.modalities.values())

    def least_trusted(self) -> str | None:
        """The present modality with the lowest weight w^m; None without DSRF's weights or with one modality."""
        present = [m for m, r in self.modalities.items() if r.present and r.weight is not None]
        return min(present, key=lambda m: self.modalities[m].weight) if len(present) > 1 else None

    def most_trusted(self) -> str | None:
        present = [m for m, r in self.modalities.items() if r.present and r.weight is not None]
        return max(present, key=lambda m: self.modalities[m].weight) if len(present) > 1 else None

    def matters_most(self) -> str | None:
        """The modality whose removal moves the score most (occlusion); None where none was measured."""
        measured = [m for m, r in self.modalities.items() if r.effect is not None]
        return max(measured, key=lambda m: abs(self.modalities[m].effect)) if measured else None

    def certainty(self) -> str:
        """The confidence, the seeds' spread, and what the confidence meant on valid."""
        seeds = list(self.seed_scores.values())
        spread = f"{len(seeds)} seeds gave {min(seeds):+.2f} to {max(seeds):+.2f}" if len(seeds) > 1 else "one seed"
        if self.confidence is None:
            return f"Confidence: none (one seed and no error head); {spread}."
        meaning = f" {self.confidence_meaning[0].upper()}{self.confidence_meaning[1:]}." if self.confidence_meaning else ""
        return f"Confidence {self.confidence:.2f} (expected error ±{self.expected_error:.2f}); {spread}.{meaning}"

    def verdict(self) -> str:
        """One sentence: which modality matters most by occlusion and, for DSRF, whether its weights agree."""
        most = self.matters_most()
        if most is None:
            return "Occlusion: not measured (a single modality)."
        text = f"Removing {MODALITY_NAMES[most]} moves the score most ({-self.modalities[most].effect:+.2f})."
        least, trusted = self.least_trusted(), self.most_trusted()
        if least is None:
            return text
        agree = "and" if trusted == most else "but"
        return (text + f" The model trusts {MODALITY_NAMES[least]} least (weight {self.modalities[least].weight:.2f})"
                f" {agree} {MODALITY_NAMES[trusted]} most: weights and occlusion {'agree' if trusted == most else 'disagree'}.")


def resolve_checkpoints(path: Path | None) -> tuple[Path, list[Path]]:
    """(where, its checkpoints): a checkpoint file alone, or every seed of a `train` output folder
    (default: models/)."""
    path = Path(path or "models")
    if path.is_file():
        return path, [path]
    summary = path / "train_summary.json"
    if not summary.is_file():
        raise ValueError(f"{path}: no checkpoint here (run `dvc repro`, or pass --model FILE.pt)")
    content = json.loads(summary.read_text())
    if "select_metric" not in content:
        raise ValueError(f"{summary}: written by an older version of `pipeline train`; rerun it (dvc repro)")
    return path, [path / f"seed_{seed}.pt" for seed in content["seeds"]]


def load_trained(path: Path | None) -> TrainedModel:
    where, files = resolve_checkpoints(path)
    payloads = [load_checkpoint(file) for file in files]
    calibration = where / CALIBRATION if where.is_dir() else None
    return TrainedModel([model_from_checkpoint(p) for p in payloads], payloads[0]["manifest"], payloads[0].get("extraction"),
                        where, [p["seed"] for p in payloads],
                        json.loads(calibration.read_text()) if calibration is not None and calibration.is_file() else None)


def check_features(clip: ClipFeatures, manifest: dict[str, Any], modalities: tuple[str, ...], video: str) -> None:
    """Refuse features that are not made the way the training store's were."""
    for m in modalities:
        trained = manifest["features"].get(m)
        got = clip.modalities.get(m)
        if trained is None or got is None or not got.present:
            continue
        now = {"extractor": got.extractor, "model": got.model, "settings": got.settings}
        if json.dumps(now, sort_keys=True) != json.dumps(trained, sort_keys=True) or got.dim != manifest["dims"][m]:
            raise ValueError(
                f"{video}: modality {m} extracted with {got.extractor}/{got.model} ({got.dim}-d, {got.settings}) "
                f"but the model was trained on {trained['extractor']}/{trained['model']} "
                f"({manifest['dims'][m]}-d, {trained['settings']})"
            )


def windows_of(duration: float, window: float) -> list[tuple[float, float]]:
    """[start, end) spans covering the clip; one span for a clip under 1.5 windows."""
    if window <= 0 or duration <= 1.5 * window:
        return [(0.0, max(duration, 1e-3))]
    count = int(np.ceil(duration / window))
    return [(i * window, min((i + 1) * window, duration)) for i in range(count)]


def rows_in(times: np.ndarray, start: float, end: float) -> np.ndarray:
    """Rows starting inside [start, end), and rows spanning all of it (e.g. [CLS] over a sentence)."""
    return ((times[:, 0] >= start) & (times[:, 0] < end)) | ((times[:, 0] <= start) & (times[:, 1] >= end))


def clip_batch(clip: ClipFeatures, manifest: dict[str, Any], modalities: tuple[str, ...],
               spans: list[tuple[float, float]]) -> Batch:
    """One sample per span, truncated and normalized as the store does; absent or faceless → missing."""
    inputs, lengths, present, tokens = {}, {}, [], None
    for m in modalities:
        features = clip.modalities.get(m)
        dim = manifest["dims"][m]
        # Each span's kept rows (L,): none for a missing modality; the values and, for text, the
        # token ids are both taken at these rows.
        kept = [np.zeros(0, np.int64) if features is None or not features.present else
                truncate(np.flatnonzero(rows_in(features.times, start, end)), manifest["max_lengths"][m], manifest["truncate"][m])
                for start, end in spans]
        steps = max(1, max(len(k) for k in kept))
        padded = np.zeros((len(spans), steps, dim), np.float32)  # (W, T, d)
        for i, k in enumerate(kept):
            if not len(k):
                continue  # padding stays 0
            x = features.values[k].astype(np.float32)  # (L, d)
            if m in manifest["norm"]:
                x = (x - np.asarray(manifest["norm"][m]["mean"], np.float32)) / np.asarray(manifest["norm"][m]["std"], np.float32)
            padded[i, : len(k)] = x
        inputs[m] = torch.from_numpy(padded)
        lengths[m] = torch.tensor([len(k) for k in kept])
        present.append(lengths[m] > 0)
        if features is not None and features.tokens is not None:
            tokens = torch.zeros(len(spans), steps, dtype=torch.int64)  # (W, T)
            for i, k in enumerate(kept):
                tokens[i, : len(k)] = torch.from_numpy(features.tokens[k])
    return Batch(inputs, lengths, torch.stack(present, 1), torch.zeros(len(spans)), tokens=tokens)


def explain(trained: TrainedModel, clip: ClipFeatures, video: str, window: float) -> Prediction:
    """Score one extracted clip, measure what each modality does to the score (occlusion), and read
    DSRF's explanation tensors of its windows."""
    model, manifest = trained.model, trained.manifest
    modalities = model.config.modalities
    check_features(clip, manifest, modalities, video)
    spans = windows_of(clip.duration, window)
    batch = clip_batch(clip, manifest, modalities, spans)
    with torch.no_grad():
        outs = [m.eval()(batch.inputs, batch.lengths, batch.present, tokens=batch.tokens) for m in trained.models]
    out = mean_output(outs)
    effects = np.mean([occlusion_effects(m, batch) for m in trained.models], axis=0)  # (W, M)
    effects[~batch.present.numpy()] = 0.0  # removing what a window lacks changes nothing
    weights = np.array([end - start for start, end in spans])
    weights = weights / weights.sum()  # (W,) duration shares

    def mean(t: torch.Tensor) -> np.ndarray:  # over windows, by duration
        return np.tensordot(weights, t.float().numpy(), axes=1)

    low, high = manifest["label_range"]
    seed_scores = np.clip([float(mean(o.prediction)) for o in outs], low, high)  # (S,)
    score = float(seed_scores.mean())
    heads = None if any(o.expected_error is None for o in outs) else np.array([[mean(o.expected_error)] for o in outs])  # (S, 1)
    members = ensemble(seed_scores[:, None], heads)  # the rule evaluate uses: the heads' mean, else the seeds' spread
    expected_error = None if heads is None and len(outs) == 1 else float(members.expected_error[0])  # one seed: no spread
    sure = float(members.confidence[0]) if expected_error is not None else None
    names = CLASS_LABELS[len(class_names(manifest["dataset"]))]
    present = batch.present.any(0)
    reports, routing = explanation(out, modalities, present, mean) if isinstance(out, DSRFOutput) else (
        {m: ModalityReport(m in modalities and bool(present[modalities.index(m)])) for m in ("t", "a", "v")}, {})
    for i, effect in enumerate(mean(torch.from_numpy(effects))):  # NaN: the only modality of some window
        if reports[modalities[i]].present and np.isfinite(effect):
            reports[modalities[i]].effect = float(effect)
    return Prediction(
        video=video,
        model=model.config.name,
        score=score,
        polarity="positive" if score > 0 else "negative" if score < 0 else "neutral",
        label_class=names[int(fine_classes([score], manifest["dataset"])[0])],
        modalities=reports,
        transcript=asdict(clip.transcript),
        seed_scores={str(seed): float(v) for seed, v in zip(trained.seeds, seed_scores)},
        confidence=sure,
        expected_error=expected_error,
        confidence_meaning=in_words(sure, trained.calibration) if sure is not None and trained.calibration else None,
        windows=[{"start": s, "end": e, "score": float(p)} for (s, e), p in zip(spans, out.prediction)],
        expressions=expression_timeline(clip),
        routing=routing,
    )


def mean_output(outs: list[ModelOutput]) -> ModelOutput:
    """The seeds' outputs averaged field by field (every tensor field; losses are not kept)."""
    if len(outs) == 1:
        return outs[0]
    fields = {f.name: getattr(outs[0], f.name) for f in dataclasses.fields(outs[0])}
    for name, value in fields.items():
        if isinstance(value, torch.Tensor):
            fields[name] = torch.stack([getattr(o, name).float() for o in outs]).mean(0)
    fields["losses"] = {}
    return type(outs[0])(**fields)


def expression_timeline(clip: ClipFeatures) -> list[dict[str, float]]:
    """The face pass's expression probabilities and valence of each frame with a face; [] without them."""
    face = clip.modalities.get("v")
    columns = face.settings.get("columns", []) if face is not None and face.present else []
    if not set(EXPRESSION_COLUMNS) <= set(columns):
        return []
    index = [columns.index(c) for c in EXPRESSION_COLUMNS]
    return [{"time": round(float(t), 3), **{c: round(float(v), 4) for c, v in zip(EXPRESSION_COLUMNS, row[index])}}
            for t, row, found in zip(face.times[:, 0], face.values, face.face) if found]


def explanation(out: DSRFOutput, modalities: tuple[str, ...], present: torch.Tensor,
                mean) -> tuple[dict[str, ModalityReport], dict[str, list[list[float]]]]:
    """DSRF's per-modality weights, factor weights and uncertainties, and its routing, averaged over
    the windows by duration (`mean`); a modality the model does not use is missing with weight 0."""
    factor_weights, modality_weights, uncertainty, routing = (mean(out.factor_weights), mean(out.modality_weights),
                                                               mean(out.uncertainty), mean(out.routing))
    reports = {m: ModalityReport(False, 0.0, dict.fromkeys(FACTORS, 0.0), dict.fromkeys(FACTORS, 0.0)) for m in ("t", "a", "v")}
    for i, m in enumerate(modalities):
        reports[m] = ModalityReport(
            present=bool(present[i]),
            weight=float(modality_weights[i]),
            factor_weights=dict(zip(FACTORS, map(float, factor_weights[i]))),
            uncertainty=dict(zip(FACTORS, map(float, uncertainty[i]))),
        )
    return reports, {m: routing[i].round(4).tolist() for i, m in enumerate(modalities)}
