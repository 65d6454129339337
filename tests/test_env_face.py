"""The py-feat face backend in its own environment (.venv-face-test, built by scripts/envs/face.sh).

py-feat 2.1.5 needs torch 2.14.1 and torchvision, so it cannot run in the core environment. These
tests run `pipeline extract` with that environment's Python, as a user would, so py-feat's own
code runs: its hub loading (offline), RetinaFace, the face crops, the multitask network and its
Fex table. Its weights exist only on the Hugging Face hub; the build script generates random ones
of the same architectures into the hub cache py-feat reads (scripts/envs/pyfeat_random_weights.py).
Their outputs mean nothing, so the tests check what does not hang on their values: the output's
shape and names against what py-feat reports, the rows against py-feat run directly on the same
frames, and the one thing the weights were set up to do (find a box on the photo, none on a flat
frame). Skipped, naming why, only where the environment could not be built.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from .features_support import OFFLINE, ffmpeg, make_clip, optional_env, params_file, tiny_bert

ROOT = Path(__file__).resolve().parents[1]
PYTHON, needs_env = optional_env(".venv-face-test", "py-feat", "face.sh")
FPS = 4
FACE_SECONDS, GREY_SECONDS = 1.1, 1.0  # the astronaut photo, then a flat grey frame
POSE = ["Pitch", "Roll", "Yaw", "X", "Y", "Z"]


pytestmark = needs_env

# py-feat itself on the frames the pipeline samples, one frame per call (the pipeline batches
# them): per frame the number of faces over the detection threshold and the best one's values.
REFERENCE = """
import json, sys
from pathlib import Path
import numpy as np, torch, feat
from pipeline.features.media import iter_frames, probe

detector = feat.Detectorv2(device="cpu", identity_model=None)
frames, columns = [], None
for _, frame in iter_frames(probe(Path(sys.argv[1])), float(sys.argv[2]), 320):
    image = torch.from_numpy(np.ascontiguousarray(frame[..., ::-1])).permute(2, 0, 1)[None]  # (1, 3, H, W) RGB
    fex = detector.detect(image, data_type="tensor", batch_size=1, progress_bar=False)
    columns = list(fex.au_columns) + list(fex.emotion_columns) + list(fex.facepose_columns)
    found = fex[(fex["FaceScore"] >= detector.face_detection_threshold) & fex["FaceRectX"].notna()]
    best = found.loc[found["FaceScore"].idxmax(), columns].astype(float).tolist() if len(found) else None
    frames.append({"faces": len(found), "best": best})
print(json.dumps({"columns": columns, "au": list(fex.au_columns), "emotion": list(fex.emotion_columns),
                  "pose": list(fex.facepose_columns), "frames": frames}))
"""


def face_then_grey(path: Path) -> Path:
    """The astronaut photo (features_support's face clip), then a flat grey frame; a sine tone throughout."""
    face = make_clip(path.with_name("photo.mp4"), FACE_SECONDS, video="face", audio=None)
    ffmpeg("-i", str(face), "-f", "lavfi", "-i", "color=c=gray:size=320x320:rate=10",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000",
           "-filter_complex", f"[1:v]trim=duration={GREY_SECONDS}[grey];[0:v][grey]concat=n=2:v=1:a=0[v]",
           "-map", "[v]", "-map", "2:a", "-t", str(FACE_SECONDS + GREY_SECONDS),
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """`pipeline extract` with features.face.backend pyfeat in .venv-face-test, and py-feat's own reference."""
    folder = tmp_path_factory.mktemp("pyfeat")
    clip = face_then_grey(folder / "clip.mp4")
    params = params_file(folder / "params.yaml", {"backend": "given"},
                         {"text": {"model": str(tiny_bert(folder / "bert"))}, "face": {"backend": "pyfeat", "fps": FPS}})
    env = {**os.environ, **OFFLINE}
    out = folder / "out"
    result = subprocess.run([str(PYTHON), "-m", "pipeline", "extract", "--video", str(clip), "--out", str(out),
                             "--params", str(params), "--text", "it was really good"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    reference = subprocess.run([str(PYTHON), "-c", REFERENCE, str(clip), str(FPS)],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr[-3000:]
    header = json.loads((out / "features.json").read_text())
    return result, header, load_file(str(out / "features.safetensors")), json.loads(reference.stdout.strip().splitlines()[-1])


def test_extract_uses_pyfeat_detectorv2_and_its_columns(extracted):
    result, header, arrays, reference = extracted
    v = header["modalities"]["v"]
    # The OpenCV backend (16 columns, model "haarcascade...") would fail every line here.
    assert (v["extractor"], v["model"], v["present"]) == ("pyfeat", "py-feat Detectorv2", True)
    assert v["settings"]["columns"] == reference["columns"] == reference["au"] + reference["emotion"] + reference["pose"]
    assert v["dim"] == len(reference["columns"]) == arrays["v"].shape[1]
    assert all(c.startswith("AU") for c in reference["au"]) and reference["pose"] == POSE and reference["emotion"]
    frames = int((FACE_SECONDS + GREY_SECONDS) * FPS)  # 8: the fps filter's samples at 0, 0.25, ... 1.75 s
    assert v["frames"] == len(reference["frames"]) == len(arrays["v"]) == len(arrays["v_face"]) == frames
    assert np.allclose(arrays["v_times"][:, 0], np.arange(frames) / FPS)
    assert header["modalities"]["t"]["present"] and header["modalities"]["a"]["present"]
    faces = int(arrays["v_face"].sum())
    assert f"faces in {faces}/{frames} frames" in result.stdout


def test_face_rows_are_pyfeats_best_face_and_faceless_rows_are_marked(extracted):
    _, header, arrays, reference = extracted
    values, face, starts = arrays["v"], arrays["v_face"].astype(bool), arrays["v_times"][:, 0]
    assert np.isfinite(values).all() and values.dtype == np.float32
    # The same frames through py-feat directly: the same frames with a face, the same best face.
    assert face.tolist() == [f["faces"] > 0 for f in reference["frames"]]
    for row, frame in zip(values, reference["frames"]):
        if frame["best"] is None:
            assert not row.any()  # no face: zero-filled and marked
        else:
            assert np.allclose(row, frame["best"], rtol=1e-4, atol=1e-5)
    # What the random weights were made to do: a box on every photo frame, none on the flat ones.
    assert face[starts < FACE_SECONDS - 0.2].all() and not face[starts > FACE_SECONDS + 0.2].any()
    assert face.tolist() == sorted(face.tolist(), reverse=True)
    # py-feat's own outputs: AU probabilities, an emotion softmax.
    au = len(reference["au"])
    emotion = slice(au, au + len(reference["emotion"]))
    assert ((values[face, :au] >= 0) & (values[face, :au] <= 1)).all()
    assert np.allclose(values[face, emotion].sum(axis=1), 1.0, atol=1e-4)
