"""How sure a prediction is, and whether that ranks its error: the seed ensemble, its confidence,
risk–coverage, and the valid split's calibration that gives a confidence its meaning in words.

A clip's confidence is 1 / (1 + b), b its expected absolute error in label units: from the model's
own error head (DSRF, docs/model.md §5; the mean over seeds), or, for a model without one, the
spread (standard deviation) of the seeds' predictions. Higher is surer; 1 would be b = 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

COVERAGES = (0.25, 0.5, 0.8, 1.0)
CALIBRATION = "confidence.json"  # in `train.out`, beside the checkpoints: calibration_record of valid


@dataclass(frozen=True)
class Ensemble:
    prediction: np.ndarray  # (N,) mean over seeds
    spread: np.ndarray  # (N,) standard deviation of the seeds' predictions (0 for one seed)
    expected_error: np.ndarray  # (N,) b: the heads' mean where the model has one, else the spread
    source: str  # "head" | "seed spread"

    @property
    def confidence(self) -> np.ndarray:
        return confidence(self.expected_error)


def confidence(expected_error: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.asarray(expected_error, dtype=float))


def ensemble(predictions: np.ndarray, expected_errors: np.ndarray | None) -> Ensemble:
    """predictions (S, N) of S seeds; expected_errors (S, N) of their heads, or None."""
    spread = predictions.std(0)
    if expected_errors is not None:
        return Ensemble(predictions.mean(0), spread, expected_errors.mean(0), "head")
    return Ensemble(predictions.mean(0), spread, spread, "seed spread")


def risk_coverage(errors: np.ndarray, confidence: np.ndarray) -> dict[str, float]:
    """MAE of the most confident 25 / 50 / 80 / 100 % of clips, and the area under the
    risk–coverage curve (the mean over k of the MAE of the k most confident clips; lower is better).

    Ties in confidence are broken by clip order, so a constant confidence ranks like the clips'
    order, not by their errors."""
    _, running = risk_coverage_curve(errors, confidence)  # MAE of the k most confident
    out = {f"mae@{round(c * 100)}": float(running[max(1, round(c * len(running))) - 1]) for c in COVERAGES}
    out["aurc"] = float(running.mean())
    return out


def risk_coverage_curve(errors: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coverage (N,), MAE of the most confident clips at each coverage (N,))."""
    ranked = np.abs(np.asarray(errors, dtype=float))[np.argsort(-np.asarray(confidence, dtype=float), kind="stable")]
    k = np.arange(1, len(ranked) + 1)
    return k / len(ranked), np.cumsum(ranked) / k


def random_ranking(errors: np.ndarray) -> dict[str, float]:
    """What a random ranking gives in expectation: the overall MAE at every coverage."""
    mae = float(np.abs(errors).mean())
    return {**{f"mae@{round(c * 100)}": mae for c in COVERAGES}, "aurc": mae}


@dataclass(frozen=True)
class Band:
    low: float  # confidence from (inclusive) ...
    high: float  # ... to (inclusive)
    mae: float  # of the ensemble on the clips in this band
    clips: int


def calibration(errors: np.ndarray, confidence: np.ndarray, bands: int = 4) -> list[Band]:
    """The clips cut into `bands` equal-count bands of confidence, lowest first, with their MAE."""
    order = np.argsort(confidence, kind="stable")
    return [Band(float(confidence[part].min()), float(confidence[part].max()), float(np.abs(errors[part]).mean()), len(part))
            for part in np.array_split(order, bands) if len(part)]


def band_of(value: float, bands: list[Band]) -> Band:
    """The band a confidence falls in (the nearest one outside the valid split's range)."""
    for band in bands:
        if value <= band.high:
            return band
    return bands[-1]


def calibration_record(split: str, members: Ensemble, errors: np.ndarray) -> dict:
    """What `pipeline predict` reads to put a confidence into words (models/confidence.json)."""
    return {"split": split, "source": members.source, "mae": float(np.abs(errors).mean()),
            "bands": [asdict(b) for b in calibration(errors, members.confidence)]}


def in_words(value: float, record: dict) -> str:
    """e.g. "on valid, the 57 clips this confident had MAE 0.61 (all clips: 0.85)"."""
    band = band_of(value, [Band(**b) for b in record["bands"]])
    return (f"on {record['split']}, the {band.clips} clips this confident (confidence {band.low:.2f}–{band.high:.2f}) "
            f"had MAE {band.mae:.2f} (all clips: {record['mae']:.2f})")
