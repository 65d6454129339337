"""Every model of the harness on one store, same seeds, selection on valid: the comparison table.

    .venv/bin/python scripts/baselines.py --corpus synthetic --seeds 1111 1112 1113 1114 1115
    .venv/bin/python scripts/baselines.py --corpus mosi-text --csv mosi.csv --models dsrf concat
    .venv/bin/python scripts/baselines.py --corpus store --store data/store       # any tensor store

Each model is params.yaml with `model.name` set (and the corpus's own overrides), trained by
`pipeline train` on every seed (selection on the valid split) and scored by `pipeline evaluate`, in
its own folder under data/evidence/baselines/<corpus>/ (a finished one is not rerun). The table
lists each split the store has (MOSI text has no test split: valid only), mean ± std over seeds,
and goes to data/evidence/baselines/<corpus>.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.model import MODEL_NAMES  # noqa: E402
from scripts.experiment import EVIDENCE, mean_std, project_params, text_dataset_params, train_and_evaluate, with_overrides  # noqa: E402

SHOWN = ("mae", "corr", "acc2_non0", "acc7")
WORK = EVIDENCE / "baselines"


def corpus(name: str, args: argparse.Namespace) -> tuple[Path, dict]:
    """(the store, the params overrides every model of this corpus shares)."""
    if name == "synthetic":
        from scripts.synthetic_multimodal import ensure_store

        return ensure_store(), {"data.modalities": ["t", "a", "v"]}
    if name == "mosi-text":
        from scripts import mosi_text

        params = text_dataset_params(mosi_text.WORK)
        return mosi_text.build_store(params, args.csv), {**mosi_text.CHOSEN, "data.modalities": ["t"], "evaluate.splits": ["valid"]}
    if args.store is None:
        raise SystemExit("--corpus store: give --store PATH")
    return Path(args.store), {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=("synthetic", "mosi-text", "store"), required=True)
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1111, 1112, 1113, 1114, 1115])
    parser.add_argument("--csv", type=Path, help="mosi-text: MOSI's label.csv (see scripts/mosi_text.py)")
    parser.add_argument("--store", help="store: a tensor store's folder")
    args = parser.parse_args()
    store, shared = corpus(args.corpus, args)
    results = {}
    for name in args.models:
        overrides = {**shared, "model.name": name, "train.store": str(store), "train.seeds": args.seeds}
        results[name] = train_and_evaluate(WORK / args.corpus / name, with_overrides(project_params(), overrides))
    splits = [s for s in ("test", "valid") if s in next(iter(results.values()))]
    header = ["model", *(f"{split} {m}" for split in splits for m in SHOWN)]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for name, summary in results.items():
        lines.append(f"| {name} | " + " | ".join(mean_std(summary[split], m) for split in splits for m in SHOWN) + " |")
    text = f"{len(args.seeds)} seeds ({', '.join(map(str, args.seeds))}), selection on valid\n\n" + "\n".join(lines)
    (WORK / f"{args.corpus}.md").write_text(text + "\n")
    (WORK / f"{args.corpus}.json").write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()
