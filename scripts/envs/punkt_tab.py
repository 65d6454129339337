"""Write NLTK `punkt_tab` sentence-splitter parameters into a data folder, offline.

whisperx's align() splits each segment into sentences with `nltk.data.load("tokenizers/punkt_tab/
<language>.pickle")` and, when that is missing, calls `nltk.download("punkt_tab")`, which needs the
internet at run time. This writes the parameters instead, with NLTK's own writer
(`save_punkt_params`), into a folder NLTK searches (`<venv>/nltk_data` is on `nltk.data.path` for
that venv's Python):

- `english`: the Punkt algorithm with a short list of common English abbreviations (so "Dr. Smith"
  stays one sentence); no learned collocations, sentence starters or orthographic statistics.
- every other language whisperx maps to a Punkt model: the bare Punkt algorithm (breaks after
  `.`, `?`, `!`), so alignment in those languages never tries to download either.

The split only groups aligned words into sentences; the word times come from the wav2vec2 aligner.

    python scripts/envs/punkt_tab.py .venv-whisperx/nltk_data
"""
from __future__ import annotations

import sys
from pathlib import Path

from nltk.tokenize.punkt import PunktParameters, PunktTokenizer, save_punkt_params

# Lower case, without the final period, as Punkt stores abbreviation types. Words that also end
# spoken sentences ("no.", "sat.", "sun.") are left out: these are transcripts of speech.
ENGLISH_ABBREVIATIONS = (
    "mr mrs ms dr prof sr jr st mt ft vs etc e.g i.e cf approx dept fig inc ltd corp "
    "jan feb apr jun jul aug sep sept oct nov dec u.s u.k a.m p.m"
).split()


def languages() -> set[str]:
    """The Punkt model names whisperx's aligner may load (english alone if whisperx is absent)."""
    try:
        from whisperx.alignment import PUNKT_LANGUAGES
    except ImportError:
        return {"english"}
    return {"english", *PUNKT_LANGUAGES.values()}


def write(root: Path) -> list[str]:
    written = []
    for language in sorted(languages()):
        params = PunktParameters()
        if language == "english":
            params.abbrev_types = set(ENGLISH_ABBREVIATIONS)
        folder = root / "tokenizers" / "punkt_tab" / language
        folder.parent.mkdir(parents=True, exist_ok=True)
        save_punkt_params(params, dir=str(folder))
        written.append(language)
    return written


def main(root: str) -> None:
    target = Path(root).resolve()
    import nltk.data

    if str(target) not in {str(Path(p).resolve()) for p in nltk.data.path}:
        raise SystemExit(f"{target} is not on this Python's nltk.data.path, so NLTK would not find it")
    written = write(target)
    splitter = PunktTokenizer("english")
    assert splitter.tokenize("It was good. Dr. Smith agreed!") == ["It was good.", "Dr. Smith agreed!"], "punkt_tab check failed"
    print(f"punkt_tab for {len(written)} languages ({', '.join(written)}) in {target}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(sys.prefix) / "nltk_data"))
