"""Stage 2 of the pipeline: segment normalised Chinese text into index terms.

jieba cuts the Chinese; a user dictionary (from ``data/dict`` and the knowledge base's own titles,
categories and product names) keeps domain words whole. Runs of ASCII letters and digits are cut
out first: model numbers such as ``KFR-35GW/BP3DN8Y`` become their whole compact form plus their
parts and prefixes, so ``35GW``, ``kfr35gw`` and ``KFR－35GW`` all meet the same terms.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jieba

from kbassist.normalize import normalize

jieba.setLogLevel(logging.WARNING)

# An ASCII run, possibly joined by the separators model numbers use.
ASCII_RUN = re.compile(r"[a-z0-9]+(?:[-/._()+·]+[a-z0-9]+)*\)?")
_SEPARATORS = re.compile(r"[-/._()+·]+")
_LETTER_DIGIT_RUNS = re.compile(r"[a-z]+|[0-9]+")
_ALNUM = re.compile(r"[a-z0-9]+")
_DECIMAL = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-z]+)$")  # 0.1mpa, 3500w, 1.5p
_WORDLIKE = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]")
_MAX_PARTS = 8


@dataclass(frozen=True)
class Token:
    term: str  # what is indexed: canonical after synonyms
    surface: str  # the normalised text it came from, for highlighting
    start: int
    end: int


def is_model_number(run: str) -> bool:
    return any(c.isalpha() for c in run) and any(c.isdigit() for c in run)


def model_number_terms(run: str) -> list[str]:
    """Whole compact form, parts, spans of parts, letter/digit pieces and prefixes of a model number."""
    parts = [p for p in _SEPARATORS.split(run) if p]
    compact = "".join(parts)
    terms = [compact]
    if 1 < len(parts) <= _MAX_PARTS:
        for size in range(1, len(parts)):
            for start in range(len(parts) - size + 1):
                terms.append("".join(parts[start : start + size]))
    for part in parts:
        pieces = _LETTER_DIGIT_RUNS.findall(part)
        if 1 < len(pieces) <= 4:
            for size in range(1, len(pieces)):
                for start in range(len(pieces) - size + 1):
                    piece = "".join(pieces[start : start + size])
                    if len(piece) >= 2:
                        terms.append(piece)
    pieces = _LETTER_DIGIT_RUNS.findall(compact)
    prefix = ""
    for piece in pieces[:-1]:
        prefix += piece
        if len(prefix) >= 3:
            terms.append(prefix)
    return list(dict.fromkeys(terms))


@functools.lru_cache(maxsize=1)
def _base_dictionary() -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def compact_model(text: str) -> str:
    """A model number without case, width or separators: KFR－35GW/BP3 → kfr35gwbp3."""
    return "".join(_SEPARATORS.split(normalize(text).replace(" ", "")))


def model_numbers_in(text: str) -> list[str]:
    """Model numbers a customer typed, compacted: each run, and runs typed apart with spaces joined
    (``kfr35gw bp3dn8y ph200`` is one model number)."""
    found: list[str] = []
    group: list[str] = []
    end = -1
    normalised = normalize(text)
    for match in ASCII_RUN.finditer(normalised):
        if group and normalised[end : match.start()].strip():
            group = []
        group.append(match.group())
        end = match.end()
        for run in (match.group(), "".join(group)):
            compact = "".join(_SEPARATORS.split(run))
            if is_model_number(compact) and compact not in found:
                found.append(compact)
    return found


def read_word_file(path: Path) -> list[str]:
    """One item per line; '#' starts a comment."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def read_synonyms(path: Path) -> dict[str, str]:
    """Each line is a group (spaces, '=' or ',' between words); the first word is canonical."""
    mapping: dict[str, str] = {}
    for line in read_word_file(path):
        words = [normalize(w) for w in re.split(r"[\s=,，、]+", line) if w.strip()]
        if len(words) < 2:
            continue
        for word in words[1:]:
            mapping.setdefault(word, words[0])
    return mapping


class Analyzer:
    """Turns text into terms. Immutable after construction, safe to share between threads."""

    def __init__(
        self,
        words: Iterable[str] = (),
        synonyms: Mapping[str, str] | None = None,
        stopwords: Iterable[str] = (),
    ):
        self.synonyms = dict(synonyms or {})
        self.stopwords = frozenset(normalize(w) for w in stopwords)
        vocabulary = {normalize(w) for w in words} | set(self.synonyms) | set(self.synonyms.values())
        self.words = sorted(w for w in vocabulary if w and not ASCII_RUN.fullmatch(w))
        self._jieba = jieba.Tokenizer()
        base = _base_dictionary()
        # Start from a copy of jieba's main dictionary instead of loading it again for every analyzer.
        self._jieba.FREQ, self._jieba.total = dict(base.FREQ), base.total
        self._jieba.initialized = True
        self._lock = threading.Lock()
        with self._lock:
            for word in self.words:
                # A generous frequency so the dictionary word wins over jieba's own split.
                self._jieba.add_word(word, freq=max(self._jieba.suggest_freq(word), 5000))

    @classmethod
    def from_folder(cls, folder: Path, extra_words: Iterable[str] = ()) -> Analyzer:
        """``folder`` holds user_dict.txt, synonyms.txt and stopwords.txt (any may be missing)."""
        user_words = [line.split()[0] for line in read_word_file(folder / "user_dict.txt")]
        return cls(
            words=[*user_words, *extra_words],
            synonyms=read_synonyms(folder / "synonyms.txt"),
            stopwords=read_word_file(folder / "stopwords.txt"),
        )

    def save(self, folder: Path) -> None:
        """Write exactly what this analyzer uses, so a loaded index segments as it was built."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "user_dict.txt").write_text("\n".join(self.words) + "\n", encoding="utf-8")
        groups: dict[str, list[str]] = {}
        for word, canonical in sorted(self.synonyms.items()):
            groups.setdefault(canonical, []).append(word)
        (folder / "synonyms.txt").write_text(
            "".join(" ".join([c, *ws]) + "\n" for c, ws in sorted(groups.items())), encoding="utf-8"
        )
        (folder / "stopwords.txt").write_text("\n".join(sorted(self.stopwords)) + "\n", encoding="utf-8")

    def tokens(self, text: str) -> list[Token]:
        text = normalize(text)
        out: list[Token] = []
        position = 0
        for match in ASCII_RUN.finditer(text):
            if match.start() > position:
                out += self._chinese(text[position : match.start()], position)
            out += self._ascii(match.group(), match.start())
            position = match.end()
        if position < len(text):
            out += self._chinese(text[position:], position)
        return out

    def terms(self, text: str) -> list[str]:
        return [t.term for t in self.tokens(text)]

    def _ascii(self, run: str, offset: int) -> list[Token]:
        end = offset + len(run)
        quantity = _QUANTITY.match(run)
        if quantity and "." in run:
            return [Token(term, run, offset, end) for term in (run, *quantity.groups())]
        if is_model_number(run):
            return [Token(term, run, offset, end) for term in model_number_terms(run)]
        if _DECIMAL.match(run):
            return [self._token(run, offset, end)]
        out = []
        for part in _ALNUM.finditer(run):
            token = self._token(part.group(), offset + part.start(), offset + part.end())
            if token.term not in self.stopwords:
                out.append(token)
        return out

    def _chinese(self, segment: str, offset: int) -> list[Token]:
        out = []
        # Search mode also emits the shorter words inside long ones (验货时限 → 验货, 时限, 验货时限),
        # so a dictionary word never hides its parts from a query that uses only one of them.
        for word, start, end in self._jieba.tokenize(segment, mode="search", HMM=True):
            word = word.strip()
            if not word or not _WORDLIKE.search(word) or word in self.stopwords:
                continue
            token = self._token(word, offset + start, offset + end)
            if token.term not in self.stopwords:
                out.append(token)
        return out

    def _token(self, word: str, start: int, end: int) -> Token:
        return Token(self.synonyms.get(word, word), word, start, end)
