"""Each face detector of the face pass (params `features.face.detector`) on faces that are hard to find.

    .venv/bin/python bench/face_detectors.py

Frames are generated from public-domain and CC0 images that scikit-image ships: the astronaut photo
(the only frontal human face among them) rotated in the image plane (roll), turned about the vertical
axis (yaw, a perspective warp of the photo), shrunk into a frame, half covered, and combinations of
these, each pasted on a CC0 texture; and face-free frames cut from the other images (a coffee cup,
cats, a rocket, bricks, grass, gravel, the Hubble deep field, a horse, coins, a clock, text,
cells, a retina, the moon, a page, a logo, a colour wheel). A face counts as found when the largest box the detector returns holds the true face's
centre. Printed per detector:
- the share of face frames found, per kind and in all;
- the share of face-free frames with any detection (false detections);
- the whole face pass (detector + expression network) in seconds per second of video on the demo
  clips, at the default frame rate (median of 3 runs per clip);
and, for the frames RetinaFace finds, how the expression network reads the aligned crop against the
unaligned box crop of the same face, both compared with its reading of the upright photo.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.features.config import FaceConfig  # noqa: E402
from pipeline.features.expression import COLUMNS, crop as box_crop, expressions  # noqa: E402
from pipeline.features.face import aligned_crop, face_features  # noqa: E402
from pipeline.features.face_detectors import DETECTORS, face_detector  # noqa: E402
from pipeline.features.media import probe  # noqa: E402
from pipeline.threads import set_threads  # noqa: E402

FRAME = (320, 240)  # width, height: the default max_side is 320
FACE_CENTRE = np.array([224.0, 112.0])  # the astronaut's face in her 512 x 512 photo (between eyes and mouth)
FACE_WIDTH = 95.0  # its width there, pixels
BACKGROUNDS = ("brick", "grass", "gravel", "coffee")
FACE_FREE = ("coffee", "chelsea", "cat", "rocket", "brick", "grass", "gravel", "hubble_deep_field", "horse", "coins",
             "clock", "text", "immunohistochemistry", "retina", "moon", "page", "logo", "colorwheel")


@dataclasses.dataclass
class Sample:
    kind: str
    frame: np.ndarray  # (H, W, 3) BGR
    centre: np.ndarray | None  # (2,) the true face centre in the frame; None: no face


def colour(image: np.ndarray) -> np.ndarray:
    """A scikit-image picture as 8-bit BGR."""
    image = image if image.dtype == np.uint8 else (image / image.max() * 255).astype(np.uint8)
    image = np.stack([image] * 3, -1) if image.ndim == 2 else image[..., :3]
    return np.ascontiguousarray(image[..., ::-1])


def background(index: int) -> np.ndarray:
    name = BACKGROUNDS[index % len(BACKGROUNDS)]
    return cv2.resize(colour(getattr(data, name)()), FRAME, interpolation=cv2.INTER_AREA)


def place(face_width: float, roll: float = 0.0, yaw: float = 0.0, shift: tuple[float, float] = (0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """The photo warped so the face is `face_width` px wide, rolled by `roll` and turned by `yaw`
    degrees, its centre at the frame's centre + `shift`; (3, 3) homography and the warped frame's mask."""
    photo_side = 512.0
    focal = photo_side * 1.2
    to_centre = np.array([[1, 0, -FACE_CENTRE[0]], [0, 1, -FACE_CENTRE[1]], [0, 0, 1.0]])
    a = np.radians(yaw)  # the photo as a plane turned about the face's vertical axis, seen by a pinhole camera
    turn = np.array([[np.cos(a), 0, 0], [0, 1, 0], [-np.sin(a) / focal, 0, 1.0]])
    r, s = np.radians(roll), face_width / FACE_WIDTH
    spin = np.array([[s * np.cos(r), -s * np.sin(r), 0], [s * np.sin(r), s * np.cos(r), 0], [0, 0, 1.0]])
    to_frame = np.array([[1, 0, FRAME[0] / 2 + shift[0]], [0, 1, FRAME[1] / 2 + shift[1]], [0, 0, 1.0]])
    return to_frame @ spin @ turn @ to_centre


def face_frame(kind: str, index: int, face_width: float, roll: float = 0.0, yaw: float = 0.0,
               cover: str = "", variant: int = 0) -> Sample:
    """Variant 0 puts each face exactly as asked (but for a random shift); another variant moves
    every angle by up to 8 degrees and every width by up to 15 %, with other shifts and backgrounds."""
    rng = np.random.default_rng(1000 * variant + index)
    shift = tuple(rng.uniform(-30, 30, 2))
    if variant:
        face_width *= rng.uniform(0.85, 1.15)
        roll, yaw = (angle + np.sign(angle) * rng.uniform(-8, 8) for angle in (roll, yaw))
    homography = place(face_width, roll, yaw, shift)
    photo = colour(data.astronaut())
    frame = background(index + variant)
    warped = cv2.warpPerspective(photo, homography, FRAME)
    mask = cv2.warpPerspective(np.full(photo.shape[:2], 255, np.uint8), homography, FRAME) > 0
    frame[mask] = warped[mask]
    centre = cv2.perspectiveTransform(FACE_CENTRE[None, None], homography)[0, 0]
    if cover:  # a grey card over half the face
        half = face_width * 0.65
        x0, x1, y0, y1 = (int(v) for v in (centre[0] - half, centre[0] + half, centre[1] - half * 1.3, centre[1] + half))
        xm, ym = int(centre[0]), int(centre[1] + half * 0.1)
        box = {"left": (y0, y1, x0, xm), "right": (y0, y1, xm, x1), "lower": (ym, y1, x0, x1)}[cover]
        frame[max(0, box[0]): box[1], max(0, box[2]): box[3]] = 90
    return Sample(kind, frame, centre)


def face_frames(variant: int = 0) -> list[Sample]:
    samples, index = [], 0
    def add(kind, *args, **kwargs):
        nonlocal index
        samples.append(face_frame(kind, index, *args, **kwargs, variant=variant))
        index += 1
    for width in (60, 90):
        add("frontal", width)
        for roll in (-45, -30, -20, 20, 30, 45):
            add("tilted (roll)", width, roll=roll)
        for yaw in (-60, -45, -30, 30, 45, 60):
            add("turned (yaw)", width, yaw=yaw)
        for cover in ("left", "right", "lower"):
            add("half covered", width, cover=cover)
        for roll, yaw in ((-25, 30), (25, -30), (35, 40), (-35, -40)):
            add("tilted + turned", width, roll=roll, yaw=yaw)
    for width in (18, 22, 26, 32, 40):
        add("small", width)
        add("small + tilted", width, roll=25 if width % 4 else -25)
    return samples


def face_free_frames() -> list[Sample]:
    """Two crops of each face-free picture, at two scales."""
    samples = []
    for name in FACE_FREE:
        image = colour(getattr(data, name)())
        height, width = image.shape[:2]
        samples.append(Sample("face-free", cv2.resize(image, FRAME, interpolation=cv2.INTER_AREA), None))
        part = image[: max(FRAME[1], height // 2), : max(FRAME[0], width // 2)]
        samples.append(Sample("face-free", cv2.resize(part, FRAME, interpolation=cv2.INTER_AREA), None))
    return samples


def largest(frame: np.ndarray, detect) -> tuple[list, object]:
    faces = detect(frame, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    return faces, max(faces, key=lambda f: f.area) if faces else None


def holds(face, centre: np.ndarray) -> bool:
    x, y, w, h = face.box
    return x <= centre[0] <= x + w and y <= centre[1] <= y + h


def detection_table(samples: list[Sample], free: list[Sample]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for name in DETECTORS:
        detect = face_detector(FaceConfig(detector=name), 1)
        row: dict[str, list[bool]] = {}
        for sample in samples:
            _, face = largest(sample.frame, detect)
            row.setdefault(sample.kind, []).append(face is not None and holds(face, sample.centre))
        shares = {kind: float(np.mean(hits)) for kind, hits in row.items()}
        shares["all face frames"] = float(np.mean([hit for hits in row.values() for hit in hits]))
        hard = [hit for kind, hits in row.items() if kind != "frontal" for hit in hits]
        shares["turned/tilted/small/covered"] = float(np.mean(hard))
        shares["false detections (face-free)"] = float(np.mean([bool(largest(s.frame, detect)[0]) for s in free]))
        table[name] = shares
    return table


def speed(clips: list[Path], runs: int) -> dict[str, float]:
    """Median seconds per second of video of the whole face pass, per detector."""
    result = {}
    for name in DETECTORS:
        settings = FaceConfig(detector=name)
        face_features(probe(clips[0]), settings)  # loads the models
        per_clip = []
        for clip in clips:
            info = probe(clip)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                face_features(info, settings)
                times.append(time.perf_counter() - start)
            per_clip.append(statistics.median(times) / info.duration)
        result[name] = statistics.median(per_clip)
    return result


def expression_agreement(samples: list[Sample]) -> list[tuple[str, int, float, float, float, float]]:
    """Per kind of frame: faces RetinaFace found, then for the unaligned box crop and the aligned crop,
    how often the top expression equals the upright photo's and the mean |valence - upright valence|."""
    detect = face_detector(FaceConfig(), 1)
    upright = face_frame("frontal", 0, 90)
    _, face = largest(upright.frame, detect)
    grey = cv2.cvtColor(upright.frame, cv2.COLOR_BGR2GRAY)
    reference = expressions(aligned_crop(grey, face.landmarks)[None], "fer")[0]
    rows = []
    for kind in dict.fromkeys(s.kind for s in samples):
        box, aligned = [], []
        for sample in (s for s in samples if s.kind == kind):
            _, face = largest(sample.frame, detect)
            if face is None or not holds(face, sample.centre):
                continue
            grey = cv2.cvtColor(sample.frame, cv2.COLOR_BGR2GRAY)
            box.append(box_crop(grey, tuple(max(0, v) for v in face.box)))
            aligned.append(aligned_crop(grey, face.landmarks))
        if not box:
            continue
        readings = [expressions(np.stack(crops), "fer") for crops in (box, aligned)]  # (N, 8) each
        top = [float(np.mean(r[:, :7].argmax(1) == reference[:7].argmax())) for r in readings]
        valence = [float(np.abs(r[:, COLUMNS.index("valence")] - reference[COLUMNS.index("valence")]).mean()) for r in readings]
        rows.append((kind, len(box), top[0], top[1], valence[0], valence[1]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=6, help="demo clips timed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variant", type=int, default=0, help="0: the angles and sizes as listed; else jittered (see face_frame)")
    args = parser.parse_args()
    set_threads(requested=1)
    samples, free = face_frames(args.variant), face_free_frames()
    table = detection_table(samples, free)
    kinds = list(table["haar"])
    print(f"{len(samples)} generated face frames, {len(free)} face-free frames; one thread\n")
    print(f"{'share of frames':<32}" + "".join(f"{name:>12}" for name in table))
    for kind in kinds:
        count = sum(s.kind == kind for s in samples) if kind in {s.kind for s in samples} else ""
        print(f"{kind + (f' ({count})' if count else ''):<32}" + "".join(f"{table[name][kind]:>12.2f}" for name in table))
    clips = sorted((ROOT / "raw" / "demo").glob("*/*.mp4"))[: args.clips]
    seconds = speed(clips, args.runs)
    print(f"{'face pass, s per s of video':<32}" + "".join(f"{seconds[name]:>12.3f}" for name in table)
          + f"   ({len(clips)} demo clips, {FaceConfig().fps:g} fps, expressions included)")
    print("\nexpression network on RetinaFace's faces: unaligned box crop vs eye-aligned crop, against the upright photo")
    print(f"{'kind':<22}{'faces':>6}{'same top, box':>15}{'aligned':>9}{'|dvalence|, box':>17}{'aligned':>9}")
    for kind, count, top_box, top_aligned, valence_box, valence_aligned in expression_agreement(samples):
        print(f"{kind:<22}{count:>6}{top_box:>15.2f}{top_aligned:>9.2f}{valence_box:>17.3f}{valence_aligned:>9.3f}")


if __name__ == "__main__":
    main()
