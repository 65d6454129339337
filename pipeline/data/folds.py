"""Which videos make the train, valid and test splits of a CMU-MultimodalSDK dataset.

The standard MOSI folds are embedded below (the public lists of the SDK's
`cmu_mosi_std_folds.py`); other datasets name their SDK folds file in `data.folds`: a `.py` file
with `standard_train_fold = [...]` etc. (read as data, never run) or a `.json`
`{"train": [...], "valid": [...], "test": [...]}`.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

MOSI_TRAIN = (
    '2iD-tVS8NPw', '8d-gEyoeBzc', 'Qr1Ca94K55A', 'Ci-AH39fi3Y', '8qrpnFRGt2A', 'Bfr499ggo-0',
    'QN9ZIUWUXsY', '9T9Hf74oK10', '7JsX8y1ysxY', '1iG0909rllw', 'Oz06ZWiO20M', 'BioHAh1qJAQ',
    '9c67fiY0wGQ', 'Iu2PFX3z_1s', 'Nzq88NnDkEk', 'Clx4VXItLTE', '9J25DZhivz8', 'Af8D0E4ZXaw',
    'TvyZBvOMOTc', 'W8NXH0Djyww', '8OtFthrtaJM', '0h-zjBukYpk', 'Vj1wYRQjB-o', 'GWuJjcEuzt8',
    'BI97DNYfe5I', 'PZ-lDQFboO8', '1DmNV9C1hbY', 'OQvJTdtJ2H4', 'I5y0__X72p0', '9qR7uwkblbs',
    'G6GlGvlkxAQ', '6_0THN4chvY', 'Njd1F0vZSm4', 'BvYR0L6f2Ig', '03bSnISJMiM', 'Dg_0XKD0Mf4',
    '5W7Z1C_fDaE', 'VbQk4H8hgr0', 'G-xst2euQUc', 'MLal-t_vJPM', 'BXuRRbG0Ugk', 'LSi-o-IrDMs',
    'Jkswaaud0hk', '2WGyTLYerpo', '6Egk_28TtTM', 'Sqr0AcuoNnk', 'POKffnXeBds', '73jzhE8R1TQ',
    'OtBXNcAL_lE', 'HEsqda8_d0Q', 'VCslbP0mgZI', 'IumbAb8q2dM',
)

MOSI_VALID = (
    'WKA5OygbEKI', 'c5xsKMxpXnc', 'atnd_PF-Lbs', 'bvLlb-M3UXU', 'bOL9jKpeJRs', '_dI--eQ6qVU',
    'ZAIRrfG22O0', 'X3j2zQgwYgE', 'aiEXnCPZubE', 'ZUXBRvtny7o',
)

MOSI_TEST = (
    'tmZoasNr4rU', 'zhpQhgha_KU', 'lXPQBPVc5Cw', 'iiK8YX8oH1E', 'tStelxIAHjw', 'nzpVDcQ0ywM',
    'etzxEpPuc6I', 'cW1FSBF59ik', 'd6hH302o4v8', 'k5Y_838nuGo', 'pLTX3ipuDJI', 'jUzDDGyPkXU',
    'f_pcplsH_V0', 'yvsjCA6Y5Fc', 'nbWiPyCm4g0', 'rnaNMUZpvvg', 'wMbj6ajWbic', 'cM3Yna7AavY',
    'yDtzw_Y-7RU', 'vyB00TXsimI', 'dq3Nf_lMPnE', 'phBUpBr1hSo', 'd3_k5Xpfmik', 'v0zCBqDeKcE',
    'tIrG4oNLFzE', 'fvVhgmXxadc', 'ob23OKe5a9Q', 'cXypl4FnoZo', 'vvZ4IcEtiZc', 'f9O3YtZ2VfI',
    'c7UH_rxdZv4',
)


def read_folds(path: str, dataset: str) -> dict[str, str]:
    """video id -> split; "" means the embedded standard folds, which exist for MOSI only."""
    if not path:
        if dataset != "mosi":
            raise ValueError(f"data.folds: no embedded folds for {dataset}; name the SDK folds file (.py or .json)")
        lists = {"train": MOSI_TRAIN, "valid": MOSI_VALID, "test": MOSI_TEST}
    else:
        lists = _read_lists(Path(path))
    split_of: dict[str, str] = {}
    for split, videos in lists.items():
        for video in videos:
            if split_of.setdefault(video, split) != split:
                raise ValueError(f"{path or 'embedded folds'}: video {video} is in both {split_of[video]} and {split}")
    return split_of


def _read_lists(path: Path) -> dict[str, list[str]]:
    if not path.is_file():
        raise ValueError(f"{path}: folds file not found")
    text = path.read_text()
    try:
        if path.suffix == ".json":
            raw = json.loads(text)
        else:  # the SDK's module: plain list assignments, parsed without running it
            raw = {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(text).body
                   if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"{path}: not a folds file ({error})") from None
    lists = {}
    for split in ("train", "valid", "test"):
        names = [n for n in (split, f"standard_{split}_fold") if n in raw]
        if not names or not isinstance(raw[names[0]], list):
            raise ValueError(f"{path}: no list {split!r} or 'standard_{split}_fold'")
        lists[split] = [str(v) for v in raw[names[0]]]
    return lists
