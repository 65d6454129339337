"""The explanation report: one self-contained HTML page (figures inlined as PNG) per set of clips.

Per clip: the transcript on a timeline with the window scores and, under it on the same time axis,
the facial expression of each frame with a face (the face pass's probabilities and valence); the
frame with the strongest facial signal (the most expressive one: least neutral; for features
without expressions, the face frame furthest from the training mean); per modality, what removing
it does to the score (occlusion), the one that matters most marked; and, for DSRF, the modality
weights (the least trusted one marked, and whether the most trusted one is the one occlusion says
matters most) and heat maps of the factor weights and of the routing coefficients per modality.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .features.clip import ClipFeatures  # noqa: E402
from .features.media import iter_frames, probe  # noqa: E402
from .modalities import MODALITY_NAMES  # noqa: E402
from .model import FACTORS  # noqa: E402
from .predict import Prediction, TrainedModel  # noqa: E402


def strongest_face_time(values: np.ndarray, times: np.ndarray, face: np.ndarray, mean: np.ndarray, std: np.ndarray) -> float | None:
    """Time (s) of the face frame whose features lie furthest from the training mean; None without a face."""
    if face is None or not face.any():
        return None
    distance = np.linalg.norm((values - mean) / std, axis=1)  # (T,)
    distance[~face] = -np.inf
    return float(times[int(np.argmax(distance)), 0])


def strongest_expression_time(timeline: list[dict[str, float]]) -> float | None:
    """Time (s) of the most expressive face frame (the lowest neutral probability); None without one."""
    return min(timeline, key=lambda frame: frame["expr_neutral"])["time"] if timeline else None


def strongest_frame(trained: TrainedModel, clip: ClipFeatures, video: Path, prediction: Prediction) -> tuple[np.ndarray, float] | None:
    """The face frame with the strongest facial signal, as (BGR image, seconds); None without one:
    the most expressive frame, or (features without expressions) the one furthest from the training mean."""
    face = clip.modalities.get("v")
    norm = trained.manifest["norm"].get("v")
    if face is None or not face.present or norm is None:
        return None
    moment = (strongest_expression_time(prediction.expressions) if prediction.expressions else
              strongest_face_time(face.values, face.times, face.face, np.asarray(norm["mean"]), np.asarray(norm["std"])))
    if moment is None:
        return None
    fps = face.settings.get("fps", 5.0)
    for t, frame in iter_frames(probe(video), fps, face.settings.get("max_side", 320)):
        if t >= moment - 1e-6:
            return frame.copy(), t
    return None


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def timeline(prediction: Prediction) -> str:
    words = prediction.transcript["words"]
    end = max([w["end"] for w in words] + [win["end"] for win in prediction.windows] + [1e-3])
    rows = 2 if prediction.expressions else 1
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.4 * rows), sharex=True, squeeze=False)
    ax = axes[0, 0]
    for win in prediction.windows:
        ax.hlines(win["score"], win["start"], win["end"], color="tab:red", linewidth=3)
    for i, w in enumerate(words):
        ax.text(w["start"], -3.6 + 0.9 * (i % 3), w["word"], fontsize=8, rotation=0)
        ax.axvspan(w["start"], w["end"], color="tab:blue", alpha=0.08)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set(xlim=(0, end), ylim=(-3.8, 3.2), xlabel="seconds", ylabel="score", title="transcript and window scores")
    if prediction.expressions:
        expression_axes(axes[1, 0], prediction.expressions)
    return _png(fig)


def expression_axes(ax, frames: list[dict[str, float]]) -> None:
    """Stacked expression probabilities per face frame, the valence over them; gaps where no face."""
    times = np.array([f["time"] for f in frames])
    names = [k for k in frames[0] if k.startswith("expr_")]
    ax.stackplot(times, *[[f[n] for f in frames] for n in names], labels=[n[5:] for n in names], alpha=0.75, step="post")
    ax.plot(times, [(f["valence"] + 1) / 2 for f in frames], color="black", linewidth=1.5, label="valence (rescaled)")
    ax.set(ylim=(0, 1), xlabel="seconds", ylabel="probability", title="facial expression (frames with a face)")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7)


def weights_figure(prediction: Prediction) -> str:
    modalities = list(prediction.modalities)
    fig, (left, middle) = plt.subplots(1, 2, figsize=(9, 2.6), gridspec_kw={"width_ratios": [1, 1.4]})
    weights = [prediction.modalities[m].weight for m in modalities]
    colors = ["tab:green" if prediction.modalities[m].present else "lightgrey" for m in modalities]
    left.bar([MODALITY_NAMES[m] for m in modalities], weights, color=colors)
    left.set(ylim=(0, 1), title="modality weights (grey: missing)")
    factors = np.array([[prediction.modalities[m].factor_weights[f] for f in FACTORS] for m in modalities])
    image = middle.imshow(factors, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    middle.set(xticks=range(4), xticklabels=FACTORS, yticks=range(len(modalities)),
               yticklabels=[MODALITY_NAMES[m] for m in modalities], title="factor weights")
    for (i, j), v in np.ndenumerate(factors):
        middle.text(j, i, f"{v:.2f}", ha="center", va="center", color="white" if v < 0.5 else "black", fontsize=8)
    fig.colorbar(image, ax=middle)
    return _png(fig)


def routing_figure(prediction: Prediction) -> str:
    modalities = list(prediction.routing)
    fig, axes = plt.subplots(1, len(modalities), figsize=(3.2 * len(modalities), 2.4), squeeze=False, sharey=True)
    for ax, m in zip(axes[0], modalities):
        coupling = np.array(prediction.routing[m])  # (4 factors, K capsules)
        ax.imshow(coupling, vmin=0, vmax=1, cmap="magma", aspect="auto")
        ax.set(title=f"routing: {MODALITY_NAMES[m]}", xticks=range(coupling.shape[1]),
               xticklabels=[f"u{k + 1}" for k in range(coupling.shape[1])], yticks=range(4), yticklabels=FACTORS)
    return _png(fig)


def frame_image(frame_bgr: np.ndarray, time: float) -> str:
    fig, ax = plt.subplots(figsize=(2.6, 2.6))
    ax.imshow(frame_bgr[:, :, ::-1])
    ax.set(title=f"strongest facial signal, {time:.2f} s", xticks=[], yticks=[])
    return _png(fig)


def marks(prediction: Prediction) -> dict[str, str]:
    """modality -> its label: the one the model trusts least, the one that matters most by occlusion."""
    labels: dict[str, str] = {}
    for m, label in ((prediction.least_trusted(), "trusted least"), (prediction.matters_most(), "matters most")):
        if m is not None:
            labels[m] = f"{labels[m]}, {label}" if m in labels else label
    return labels


def clip_section(prediction: Prediction, frame: tuple[np.ndarray, float] | None) -> str:
    explained = prediction.explained
    labels = marks(prediction)

    def mark(m: str) -> str:
        return f" <span class='mark'>{labels[m]}</span>" if m in labels else ""

    rows = "".join(
        f"<tr><td>{MODALITY_NAMES[m]}{mark(m)}</td><td>{'present' if r.present else 'missing'}</td>"
        f"<td>{'–' if r.effect is None else f'{-r.effect:+.3f}'}</td>"
        + (f"<td>{r.weight:.3f}</td>" + "".join(f"<td>{r.factor_weights[f]:.3f}</td>" for f in FACTORS)
           + "".join(f"<td>{v:.3f}</td>" for v in r.uncertainty.values()) if explained else "") + "</tr>"
        for m, r in prediction.modalities.items()
    )
    header = ("<tr><th>modality</th><th>status</th><th>score change without it</th>"
              + ("<th>weight</th>" + "".join(f"<th>α {f}</th>" for f in FACTORS)
                 + "".join(f"<th>u {f}</th>" for f in FACTORS) if explained else "") + "</tr>")
    figures = [timeline(prediction)] + ([weights_figure(prediction), routing_figure(prediction)] if explained else [])
    if frame is not None:
        figures.append(frame_image(*frame))
    images = "".join(f'<img alt="figure" src="data:image/png;base64,{data}">' for data in figures)
    return (
        f"<section><h2>{html.escape(prediction.video)}</h2>"
        f"<p class='score'>score <b>{prediction.score:+.2f}</b> · {prediction.polarity} · {html.escape(prediction.label_class)}</p>"
        f"<p class='certainty'>{html.escape(prediction.certainty())}</p>"
        f"<p class='transcript'>“{html.escape(prediction.transcript['text'])}”</p>"
        f"<p class='verdict'>{html.escape(prediction.verdict())}</p>"
        f"<table>{header}{rows}</table>{images}</section>"
    )


def render(sections: list[tuple[Prediction, tuple[np.ndarray, float] | None]], model_name: str) -> str:
    """The page; `model_name` says which model made the scores and from which checkpoint."""
    body = "".join(clip_section(p, frame) for p, frame in sections)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sentiment explanation report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
section {{ border-top: 1px solid #ccc; padding-top: 1em; margin-top: 1em; }}
.score {{ font-size: 1.3em; }}
table {{ border-collapse: collapse; margin: .5em 0; font-size: .9em; }}
td, th {{ border: 1px solid #ddd; padding: .2em .5em; text-align: right; }}
img {{ display: block; margin: .5em 0; max-width: 100%; }}
.mark {{ background: #ffe08a; border-radius: .3em; padding: 0 .3em; font-size: .85em; }}
</style></head>
<body><h1>Sentiment explanation report</h1><p>model: {html.escape(model_name)}</p>{body}</body></html>
"""
