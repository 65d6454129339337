"""Random weights for py-feat 2.1.5's Detectorv2, written where py-feat looks for its weights.

THESE ARE NOT A MODEL. Every parameter is drawn at random (seeded); the files exist only so that
py-feat's own loading and inference code (hub download offline, safetensors loading, RetinaFace,
the face crops, the multitask network, the Fex table) runs in tests where the real weights, which
live only on the Hugging Face hub, cannot be fetched. What they output means nothing.

Detectorv2(identity_model=None) loads two files, both through `hf_hub_download(repo_id, filename,
cache_dir=feat.utils.io.get_resource_path())`:
- py-feat/retinaface_r34 / model.safetensors: RetinaFace (ResNet34 + FPN + SSH heads), the
  state dict loaded with strict=True.
- py-feat/face_multitask_v2 / face_multitask_v28.safetensors: MEGraphAUv2 (a timm ConvNeXt-V2
  tiny backbone, built with pretrained=False, + AU/emotion/mesh/pose/gaze/blendshape heads), its
  ModelV2Config JSON in the file's metadata. The hub file's exact config is unknown here; the one
  below follows what py-feat 2.1.5 documents for the shipped v2.5 model (20 AUs, 7 emotions,
  52 blendshapes, normalized mesh, the v2.3 heads, the v2.4 flags, v2.6 gaze flags off). py-feat
  builds the network from this metadata, so its loading code is exercised as it is.
They are written in the hub cache layout (models--org--name/{blobs,snapshots/<rev>,refs/main}),
which `hf_hub_download` resolves with HF_HUB_OFFLINE=1. (Detectorv1 loads seven more models,
three of them hundreds of MB; not generated here.)

Beyond random parameters, three deterministic choices keep the random network usable in a test:
1. BatchNorm statistics are those of the random network itself, measured on a few images
   (otherwise activations explode through 34 layers and every anchor scores exactly 0 or 1).
2. RetinaFace's face-vs-background logit (`calibrate_face_score`): only its coarsest level may
   fire, its face weights are the best of DRAWS seeded random draws, rescaled (two scalars) so
   that on the astronaut photo (scikit-image's, the test clip's face) the best anchor scores well
   above the 0.5 detection threshold and on a flat frame none comes near it. Without this, a
   random detector finds hundreds of "faces" per frame (each then runs the multitask network)
   or none, and the test could not tell a frame with a face from one without.
3. The seed is fixed (SEED) and reset for each file, so the same bytes come out on every run.

Usage: .venv-face-test/bin/python scripts/envs/pyfeat_random_weights.py   (idempotent; ~30 s)
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

SEED = 0
NOTE = "random weights for testing py-feat's code path (scripts/envs/pyfeat_random_weights.py); not a model"
FRAME = 320  # side of the calibration images: the test clip's frame size
DRAWS = 64  # random draws of the detector's face weights, the best kept (calibrate_face_score)
MARGIN = 4.0  # logits: the photo's best anchor at +MARGIN or more, a flat frame's at -MARGIN or less


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from feat.utils.io import get_resource_path

    cache = Path(get_resource_path())
    written = [
        put(cache, "py-feat/retinaface_r34", "model.safetensors", seeded(lambda: safetensors_bytes(retinaface().state_dict()))),
        put(cache, "py-feat/face_multitask_v2", "face_multitask_v28.safetensors", seeded(multitask_bytes)),
    ]
    for path in written:
        print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")


def seeded(make):
    """make() from the same random state every time: each file is the same whatever is made before it."""
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    return make()


# ---------------------------------------------------------------------------------------------
# The hub cache layout


def put(cache: Path, repo: str, filename: str, data: bytes) -> Path:
    """Writes `data` as `repo`'s `filename` at revision main in the hub cache under `cache`."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    revision = hashlib.sha1(f"random test weights {repo}".encode()).hexdigest()  # a fixed stand-in commit id
    blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not blob.is_file() or blob.stat().st_size != len(data):
        tmp = blob.with_suffix(".incomplete")
        tmp.write_bytes(data)
        tmp.replace(blob)
    link = folder / "snapshots" / revision / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    try:
        link.symlink_to(os.path.relpath(blob, link.parent))
    except OSError:  # no symlinks here: the hub library copies too
        link.write_bytes(data)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    # Blobs of earlier runs that no snapshot points to any more (each is ~100 MB).
    kept = {path.resolve() for path in folder.glob("snapshots/*/*")}
    for old in (folder / "blobs").iterdir():
        if old.resolve() not in kept:
            old.unlink()
    return link


def safetensors_bytes(state: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    from safetensors.torch import save

    tensors = {name: value.detach().clone().contiguous() for name, value in state.items()}
    return save(tensors, metadata={"note": NOTE, **(metadata or {})})


# ---------------------------------------------------------------------------------------------
# Images: the test clip's face, a flat frame, and a few more for BatchNorm statistics


def image(name: str) -> torch.Tensor:
    """(3, FRAME, FRAME) float RGB in [0, 255] from scikit-image's bundled photos."""
    import cv2
    from skimage import data

    pixels = getattr(data, name)()
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    pixels = cv2.resize(pixels[..., :3], (FRAME, FRAME))
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).float()


def calibration_images() -> torch.Tensor:
    photos = [image(name) for name in ("astronaut", "coffee", "chelsea", "rocket", "camera")]
    noise = [torch.rand(3, FRAME, FRAME) * 255 for _ in range(3)]
    return torch.stack(photos + noise)  # (8, 3, FRAME, FRAME)


@torch.no_grad()
def measure_batchnorm(model: torch.nn.Module, inputs: torch.Tensor) -> None:
    """Replaces every BatchNorm's running statistics by those of `model` on `inputs`."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches seen
    model.train()
    for batch in inputs.split(4):
        model(batch)
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


# ---------------------------------------------------------------------------------------------
# RetinaFace (py-feat/retinaface_r34)


def retinaface() -> torch.nn.Module:
    from feat.face_detectors.Retinaface.Retinaface_model import RETINAFACE_R34_CFG, RetinaFace
    from feat.face_detectors.Retinaface.Retinaface_test import _RGB_MEAN

    net = RetinaFace(RETINAFACE_R34_CFG)  # torchvision's resnet34(weights=None): random
    measure_batchnorm(net, calibration_images() - _RGB_MEAN)
    photo = image("astronaut")
    flats = torch.stack([torch.full((3, FRAME, FRAME), level) for level in (0.0, 64.0, 128.0, 192.0, 255.0)])
    calibrate_face_score(net, torch.stack(renderings(photo)) - _RGB_MEAN, flats - _RGB_MEAN)
    return net


def renderings(photo: torch.Tensor) -> list[torch.Tensor]:
    """The photo as a video frame may reach the detector: JPEG-compressed, 4:2:0 chroma, shifted."""
    import cv2

    rgb = photo.permute(1, 2, 0).numpy().astype(np.uint8)
    out = [rgb]
    for quality in (90, 70, 50):
        _, encoded = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])
        out.append(cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED))
    out.append(cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), cv2.COLOR_YUV2RGB_I420))
    out += [np.roll(rgb, shift, axis=(0, 1)) for shift in ((1, 1), (-1, 2))]
    return [torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1).float() for x in out]


@torch.no_grad()
def calibrate_face_score(net: torch.nn.Module, photos: torch.Tensor, flats: torch.Tensor) -> None:
    """Sets the class head so that the random detector finds a few boxes on the photo, none on a flat frame.

    The class head's 1x1 convs give 2 logits per anchor and FPN level, (background, face),
    softmaxed: the face score is sigmoid(face - background). Background is set to 0. Only the
    coarsest level (stride 32: 200 anchors of 256 and 512 px on a 320 px frame) may fire: the
    finer levels' face logit is a constant -20, so a frame yields a handful of boxes after
    non-maximum suppression at most. That level's face weights are drawn at random DRAWS times
    (seeded); the draw that best separates the photo from flat frames is kept, rescaled so that
    the best anchor of every rendering of the photo scores +MARGIN or more and every anchor of a
    flat frame -MARGIN or less.
    """
    convs = net.ClassHead._convs
    for level, conv in enumerate(convs):
        weight, bias = conv.weight.view(-1, 2, *conv.weight.shape[1:]), conv.bias.view(-1, 2)
        weight[:, 0] = 0.0
        bias[:, 0] = 0.0
        bias[:, 1] = 0.0 if level == len(convs) - 1 else -20.0
        if level < len(convs) - 1:
            weight[:, 1] = 0.0
    net.eval()
    features = []
    hook = convs[-1].register_forward_hook(lambda module, inputs, output: features.append(inputs[0]))
    net(photos), net(flats)
    hook.remove()
    on_photos, on_flats = features  # (N, C, 10, 10): what the coarsest class conv reads

    last = convs[-1]
    face_weight = last.weight.view(-1, 2, *last.weight.shape[1:])[:, 1]  # (anchors per cell, C, 1, 1)
    bound = 1 / np.sqrt(face_weight.shape[1])  # nn.Conv2d's default init range
    generator = torch.Generator().manual_seed(SEED)
    best = None
    for _ in range(DRAWS):
        draw = (torch.rand(face_weight.shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
        photo_logits = torch.nn.functional.conv2d(on_photos.double(), draw).flatten(1)  # (N, anchors)
        worst_best = photo_logits.max(dim=1).values.min()
        flat = torch.nn.functional.conv2d(on_flats.double(), draw).max()
        separation = float((worst_best - flat) / photo_logits.std())
        if best is None or separation > best[0]:
            best = separation, draw, worst_best, flat
    separation, draw, worst_best, flat = best
    if separation <= 0:
        sys.exit("pyfeat_random_weights: no draw tells the photo from a flat frame; change SEED")
    scale = 2 * MARGIN / (worst_best - flat)
    face_weight.copy_((draw * scale).to(face_weight.dtype))
    last.bias.view(-1, 2)[:, 1] = float(-scale * (worst_best + flat) / 2)
    print(f"RetinaFace: face logit x{scale:.1f}, separation {separation:.2f} standard deviations")


# ---------------------------------------------------------------------------------------------
# The multitask model (py-feat/face_multitask_v2)


def multitask_bytes() -> bytes:
    from feat.multitask import AU_COLUMNS_V2, EMOTION_COLUMNS_V2
    from feat.multitask.inference import IMAGENET_MEAN, IMAGENET_STD, MODEL_INPUT
    from feat.multitask.model_v2 import MEGraphAUv2, ModelV2Config

    config = ModelV2Config(
        pretrained=False,  # timm's backbone is built random, nothing is downloaded
        n_au=len(AU_COLUMNS_V2),  # 20 (v2.4+)
        n_emotion=len(EMOTION_COLUMNS_V2),  # 7 (v2.4+)
        n_blendshape=52,  # v2.5
        mesh_normalized=True,  # v2.5
        use_head_v3=True,  # v2.3 heads
        drop_mefl=True,  # v2.4
        emotion_use_au_prob=True,  # v2.4
    )
    model = MEGraphAUv2(config)
    chips = torch.nn.functional.interpolate(calibration_images() / 255, size=(MODEL_INPUT, MODEL_INPUT), mode="bilinear")
    chips = (chips - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    measure_batchnorm(model, chips)
    return safetensors_bytes(model.state_dict(), {"config": json.dumps(dataclasses.asdict(config))})


if __name__ == "__main__":
    main()
