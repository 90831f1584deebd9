"""Stage 1 of the pipeline: normalise text the same way at index and at query time."""

from __future__ import annotations

import re
import unicodedata

# Dashes that NFKC leaves alone but customers type in model numbers.
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−﹣－"})
_SPACES = re.compile(r"\s+")
# Everything that is not a letter, digit or CJK character; used for exact-match keys.
_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC), lower case, unified dashes, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES).lower()
    return _SPACES.sub(" ", text).strip()


def exact_key(text: str) -> str:
    """The form two questions share when they are "the same question": no spaces, no punctuation."""
    return _NOT_WORD.sub("", normalize(text))
