"""Pipeline stage: what the customer wants (intent) and how they feel (emotion), with the reasons why.

Two kinds of evidence, both shown to the agent:

* cue words and phrases from ``data/assist/intent_cues.yaml`` (a supervisor edits them);
* the nearest labelled customer utterances (``data/assist/utterances.jsonl``) by embedding cosine,
  reusing the query vector the search has already computed — classification never calls the model.

For each label: ``score = Σ weights of matched cues + knn.weight × kNN vote share + prior + smoothing``;
``confidence = score / Σ scores``. Intents: 咨询 / 投诉 / 建议 / 催办 / 退换货 / 维修 (see
``assistdata.INTENTS``); emotions: 平静 / 焦急 / 愤怒.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kbassist.assistdata import (
    EMOTIONS,
    INTENT_CUES,
    INTENTS,
    UTTERANCES,
    AssistDataError,
    Node,
    Utterance,
    fold,
    load_utterances,
    read_tree,
)
from kbassist.dense import Embedder
from kbassist.sources.common import Problem

# --- cues -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    label: str
    shown: str  # as the supervisor wrote it
    weight: float
    line: int
    literal: str | None = None
    pattern: re.Pattern[str] | None = None

    def spans(self, folded: str) -> Iterator[tuple[int, int]]:
        if self.pattern is not None:
            for match in self.pattern.finditer(folded):
                if match.end() > match.start():
                    yield match.start(), match.end()
            return
        assert self.literal
        start = folded.find(self.literal)
        while start >= 0:
            yield start, start + len(self.literal)
            start = folded.find(self.literal, start + 1)


@dataclass(frozen=True)
class CueMatch:
    """A cue found in the customer's words: ``text[start:end]`` is what matched."""

    label: str
    cue: str
    text: str
    start: int
    end: int
    weight: float


@dataclass(frozen=True)
class LabelSet:
    labels: tuple[str, ...]
    cues: tuple[Cue, ...]
    priors: Mapping[str, float]

    def match(self, text: str) -> list[CueMatch]:
        """Every cue found, each counted once.

        Words: longer ones first and none overlapping, so "不急" hides "急" and "我要投诉" hides "投诉".
        Patterns are matched on their own: a long pattern must not hide the words inside it.
        """
        folded = fold(text)
        found = [(start, end, cue) for cue in self.cues if cue.literal for start, end in cue.spans(folded)]
        found.sort(key=lambda f: (-(f[1] - f[0]), f[0]))
        taken = [False] * len(folded)
        counted: set[int] = set()
        out: list[CueMatch] = []
        for start, end, cue in found:
            if any(taken[start:end]):
                continue
            for i in range(start, end):
                taken[i] = True
            if id(cue) not in counted:
                counted.add(id(cue))
                out.append(CueMatch(cue.label, cue.shown, text[start:end], start, end, cue.weight))
        for cue in self.cues:
            if cue.pattern is not None:
                span = next(cue.spans(folded), None)
                if span is not None:
                    out.append(CueMatch(cue.label, cue.shown, text[span[0] : span[1]], span[0], span[1], cue.weight))
        return sorted(out, key=lambda m: (m.start, m.end))


@dataclass(frozen=True)
class CueBook:
    intents: LabelSet
    emotions: LabelSet
    knn_k: int = 5
    knn_weight: float = 1.0
    knn_temperature: float = 0.02
    smoothing: float = 0.3


def load_cues(path: Path) -> CueBook:
    """Read and check the cue file; every problem at once, as ``file:line: field: message``."""
    tree, file = read_tree(path)
    problems: list[Problem] = []
    if tree is None or not isinstance(tree.value, dict):
        raise AssistDataError([Problem(file, 1, "file", "应为键值对：knn、smoothing、intents、emotions")])

    def number(node: Node | None, name: str, default: float, low: float, kind: str = "float") -> float:
        """kind: "float" (value >= low), "positive" (value > 0) or "int" (whole number >= low)."""
        if node is None or node.value is None:
            return default
        value = node.value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (kind == "int" and not isinstance(value, int))
        ):
            problems.append(Problem(file, node.line, name, "应为整数" if kind == "int" else "应为数字"))
            return default
        if value < low or (kind == "positive" and value <= 0):
            problems.append(Problem(file, node.line, name, "应大于 0" if kind == "positive" else f"应不小于 {low}"))
            return default
        return value

    knn = tree.get("knn")
    if knn is not None and not isinstance(knn.value, dict):
        problems.append(Problem(file, knn.line, "knn", "应为键值对：k、weight、temperature"))
        knn = None
    k = int(number(knn.get("k") if knn else None, "knn.k", 5, 1, "int"))
    knn_weight = number(knn.get("weight") if knn else None, "knn.weight", 1.0, 0)
    temperature = number(knn.get("temperature") if knn else None, "knn.temperature", 0.02, 0, "positive")
    smoothing = number(tree.get("smoothing"), "smoothing", 0.3, 0)
    intents = _label_set(tree.get("intents"), "intents", INTENTS, file, problems)
    emotions = _label_set(tree.get("emotions"), "emotions", EMOTIONS, file, problems)
    unknown = set(tree.value) - {"knn", "smoothing", "intents", "emotions"}
    for key in sorted(unknown):
        problems.append(Problem(file, tree.line_of(key), key, "未知字段，可用：knn、smoothing、intents、emotions"))
    if problems:
        raise AssistDataError(problems)
    return CueBook(intents, emotions, k, knn_weight, temperature, smoothing)


def _label_set(node: Node | None, name: str, labels: tuple[str, ...], file: str, problems: list[Problem]) -> LabelSet:
    cues: list[Cue] = []
    priors: dict[str, float] = {}
    if node is None or not isinstance(node.value, dict):
        problems.append(
            Problem(file, node.line if node else 1, name, f"缺少 {name}：每个类别（{' / '.join(labels)}）的线索")
        )
        return LabelSet(labels, (), {})
    for label, spec in node.value.items():
        where = f"{name}.{label}"
        if label not in labels:
            line = node.line_of(label)
            problems.append(Problem(file, line, where, f"类别 {label!r} 无效，可选：{' / '.join(labels)}"))
            continue
        if not isinstance(spec.value, dict):
            problems.append(Problem(file, node.line_of(label), where, "应为键值对：description、prior、cues"))
            continue
        prior = spec.get("prior")
        if prior is not None:
            if isinstance(prior.value, bool) or not isinstance(prior.value, int | float) or prior.value < 0:
                problems.append(Problem(file, prior.line, f"{where}.prior", "应为不小于 0 的数字"))
            else:
                priors[label] = float(prior.value)
        items = spec.get("cues")
        if items is None or items.value is None:
            continue
        if not isinstance(items.value, list):
            problems.append(Problem(file, items.line, f"{where}.cues", "应为列表"))
            continue
        seen: dict[str, int] = {}
        for item in items.value:
            cue = _cue(item, label, f"{where}.cues", file, problems)
            if cue is None:
                continue
            if cue.shown in seen:
                problems.append(
                    Problem(file, item.line, f"{where}.cues", f"线索 {cue.shown!r} 与第 {seen[cue.shown]} 行重复")
                )
                continue
            seen[cue.shown] = item.line
            cues.append(cue)
    return LabelSet(labels, tuple(cues), priors)


def _cue(item: Node, label: str, where: str, file: str, problems: list[Problem]) -> Cue | None:
    value = item.value
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, str):
        return _literal(value, 1.0, label, item.line, where, file, problems)
    if not isinstance(value, dict):
        problems.append(
            Problem(file, item.line, where, "每条线索应为词语，或 {cue: 词语, weight: 数字} / {regex: 正则}")
        )
        return None
    unknown = set(value) - {"cue", "regex", "weight"}
    if unknown:
        problems.append(
            Problem(file, item.line, where, f"未知字段 {', '.join(sorted(unknown))}，可用：cue、regex、weight")
        )
        return None
    weight = 1.0
    if "weight" in value:
        raw = value["weight"].value
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
            problems.append(Problem(file, item.line, f"{where}.weight", "权重应为大于 0 的数字"))
            return None
        weight = float(raw)
    if ("cue" in value) == ("regex" in value):
        problems.append(Problem(file, item.line, where, "cue 与 regex 须写且只写一个"))
        return None
    if "cue" in value:
        raw_cue = value["cue"].value
        return _literal("" if raw_cue is None else str(raw_cue), weight, label, item.line, where, file, problems)
    source = str(value["regex"].value or "")
    try:
        pattern = re.compile(source)
    except re.error as exc:
        problems.append(Problem(file, item.line, f"{where}.regex", f"正则表达式 {source!r} 有误：{exc}"))
        return None
    if not source or pattern.match(""):
        problems.append(Problem(file, item.line, f"{where}.regex", f"正则表达式 {source!r} 会匹配空字符串"))
        return None
    return Cue(label, source, weight, item.line, pattern=pattern)


def _literal(
    text: str, weight: float, label: str, line: int, where: str, file: str, problems: list[Problem]
) -> Cue | None:
    if not text.strip():
        problems.append(Problem(file, line, where, "线索为空"))
        return None
    return Cue(label, text.strip(), weight, line, literal=fold(text.strip()))


# --- kNN over labelled utterances -----------------------------------------------------------------


@dataclass(frozen=True)
class Neighbour:
    text: str
    intent: str
    emotion: str
    similarity: float


_vectors_lock = threading.Lock()
_example_vectors: dict[tuple[str, str, str], np.ndarray] = {}


def example_vectors(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """The examples' query-side embeddings, computed once per process and embedding model.

    Keyed by model id (and the model's query prefix) and the texts, so a new Searcher after an index
    reload reuses them and a second embedder object of the same model does not embed them again.
    """
    digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()
    key = (embedder.model_id, str(getattr(embedder, "query_prefix", "")), digest)
    with _vectors_lock:
        cached = _example_vectors.get(key)
        if cached is None:
            cached = np.ascontiguousarray(embedder.embed_queries(list(texts)), dtype=np.float32)
            cached.setflags(write=False)
            _example_vectors[key] = cached
        return cached


# --- classification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    scores: Mapping[str, float]  # every label's confidence, best first
    cues: tuple[CueMatch, ...]  # every matched cue of this dimension, any label

    @property
    def supporting_cues(self) -> tuple[CueMatch, ...]:
        return tuple(c for c in self.cues if c.label == self.label)


@dataclass(frozen=True)
class Classification:
    intent: Prediction
    emotion: Prediction
    neighbours: tuple[Neighbour, ...] = ()
    used_knn: bool = False

    def explain(self) -> str:
        """One line in Chinese: the cues that support each label and the nearest examples."""
        parts = []
        for name, prediction in (("意图", self.intent), ("情绪", self.emotion)):
            cues = "、".join(f"「{c.text}」" for c in prediction.supporting_cues)
            parts.append(f"{name}{prediction.label}：{'命中 ' + cues if cues else '无线索词'}")
        if self.neighbours:
            nearest = "；".join(
                f"「{n.text}」（{n.intent}·{n.emotion}，{n.similarity:.2f}）" for n in self.neighbours[:3]
            )
            parts.append(f"相近例句：{nearest}")
        return "；".join(parts)


@dataclass
class IntentClassifier:
    """Immutable after construction; safe to share between threads."""

    cues: CueBook
    examples: tuple[Utterance, ...] = ()
    vectors: np.ndarray | None = None
    _intent_index: np.ndarray = field(init=False, repr=False)
    _emotion_index: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._intent_index = np.array([INTENTS.index(u.intent) for u in self.examples], dtype=np.int64)
        self._emotion_index = np.array([EMOTIONS.index(u.emotion) for u in self.examples], dtype=np.int64)
        if self.vectors is not None and len(self.vectors) != len(self.examples):
            raise ValueError("例句向量与例句条数不一致")

    @classmethod
    def load(cls, folder: Path, embedder: Embedder | None = None) -> IntentClassifier:
        """Cues from ``intent_cues.yaml``; kNN examples from ``utterances.jsonl`` only, never the holdout."""
        cues = load_cues(folder / INTENT_CUES)
        examples_path = folder / UTTERANCES
        if embedder is None or not examples_path.is_file():
            return cls(cues)
        examples = tuple(load_utterances(examples_path))
        vectors = example_vectors(embedder, [u.text for u in examples]) if examples else None
        return cls(cues, examples, vectors)

    @classmethod
    def from_folder(cls, folder: Path, embedder: Embedder | None = None) -> IntentClassifier | None:
        """None when the folder has no cue file (a knowledge base without agent-assist data)."""
        return cls.load(folder, embedder) if (folder / INTENT_CUES).is_file() else None

    def classify(
        self,
        text: str,
        vector: np.ndarray | None = None,
        *,
        use_cues: bool = True,
        exclude: int | None = None,
    ) -> Classification:
        """``vector``: the query's own embedding from the search (None: cues only).

        ``exclude`` leaves one example out of the kNN (leave-one-out evaluation on the training file);
        ``use_cues=False`` leaves out cues and priors (the kNN-only evaluation).
        """
        neighbours: list[tuple[int, float]] = []
        if vector is not None and self.vectors is not None and len(self.examples):
            similarity = self.vectors @ np.asarray(vector, dtype=np.float32)
            if exclude is not None:
                similarity = similarity.copy()
                similarity[exclude] = -np.inf
            k = min(self.cues.knn_k, len(self.examples) - (exclude is not None))
            if k > 0:
                top = np.argpartition(-similarity, k - 1)[:k]
                top = top[np.argsort(-similarity[top], kind="stable")]
                neighbours = [(int(i), float(similarity[i])) for i in top]
        votes = self._votes(neighbours)
        intent = self._predict(self.cues.intents, text, votes[0], use_cues)
        emotion = self._predict(self.cues.emotions, text, votes[1], use_cues)
        return Classification(
            intent,
            emotion,
            tuple(
                Neighbour(self.examples[i].text, self.examples[i].intent, self.examples[i].emotion, round(s, 4))
                for i, s in neighbours
            ),
            used_knn=bool(neighbours),
        )

    def _votes(self, neighbours: Sequence[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
        intent = np.zeros(len(INTENTS))
        emotion = np.zeros(len(EMOTIONS))
        if not neighbours:
            return intent, emotion
        sims = np.array([s for _, s in neighbours])
        weights = np.exp((sims - sims.max()) / self.cues.knn_temperature)
        weights /= weights.sum()
        for (i, _), w in zip(neighbours, weights, strict=True):
            intent[self._intent_index[i]] += w
            emotion[self._emotion_index[i]] += w
        return intent, emotion

    def _predict(self, labels: LabelSet, text: str, votes: np.ndarray, use_cues: bool) -> Prediction:
        matches = labels.match(text) if use_cues else []
        # Without cues (the kNN-only evaluation) the priors go too: the neighbours alone decide.
        priors = labels.priors if use_cues else {}
        scores = {label: self.cues.smoothing + priors.get(label, 0.0) for label in labels.labels}
        for match in matches:
            scores[match.label] += match.weight
        for n, label in enumerate(labels.labels):
            scores[label] += self.cues.knn_weight * float(votes[n])
        total = sum(scores.values()) or 1.0
        # Ties go to the earlier label in the fixed order (咨询 before 投诉, 平静 before 焦急).
        ranked = sorted(labels.labels, key=lambda label: (-scores[label], labels.labels.index(label)))
        confidences = {label: round(scores[label] / total, 4) for label in ranked}
        return Prediction(ranked[0], confidences[ranked[0]], confidences, tuple(matches))


# --- evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DimensionReport:
    labels: tuple[str, ...]
    correct: int
    total: int
    confusion: Mapping[str, Mapping[str, int]]  # gold label -> predicted label -> count

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def recall(self, label: str) -> float:
        row = self.confusion[label]
        return row[label] / sum(row.values()) if sum(row.values()) else 0.0

    def precision(self, label: str) -> float:
        predicted = sum(self.confusion[gold][label] for gold in self.labels)
        return self.confusion[label][label] / predicted if predicted else 0.0

    def top_confusions(self, n: int = 5) -> list[tuple[str, str, int]]:
        """The most frequent (gold, predicted) mistakes."""
        pairs = [
            (gold, predicted, count)
            for gold, row in self.confusion.items()
            for predicted, count in row.items()
            if gold != predicted and count
        ]
        return sorted(pairs, key=lambda p: (-p[2], self.labels.index(p[0]), self.labels.index(p[1])))[:n]


@dataclass(frozen=True)
class IntentReport:
    intent: DimensionReport
    emotion: DimensionReport
    mistakes: tuple[tuple[Utterance, Classification], ...]


def evaluate_classifier(
    classifier: IntentClassifier,
    utterances: Sequence[Utterance],
    vectors: np.ndarray | None,
    *,
    use_cues: bool = True,
    leave_one_out: bool = False,
) -> IntentReport:
    """Accuracy and confusion of each dimension. ``leave_one_out``: ``utterances`` are the classifier's
    own examples and each is classified without itself among the neighbours."""
    confusion = {
        "intent": {g: dict.fromkeys(INTENTS, 0) for g in INTENTS},
        "emotion": {g: dict.fromkeys(EMOTIONS, 0) for g in EMOTIONS},
    }
    mistakes = []
    for n, utterance in enumerate(utterances):
        vector = vectors[n] if vectors is not None else None
        result = classifier.classify(
            utterance.text, vector, use_cues=use_cues, exclude=n if leave_one_out and vector is not None else None
        )
        confusion["intent"][utterance.intent][result.intent.label] += 1
        confusion["emotion"][utterance.emotion][result.emotion.label] += 1
        if result.intent.label != utterance.intent or result.emotion.label != utterance.emotion:
            mistakes.append((utterance, result))

    def report(labels: tuple[str, ...], table: dict[str, dict[str, int]]) -> DimensionReport:
        return DimensionReport(labels, sum(table[g][g] for g in labels), len(utterances), table)

    return IntentReport(report(INTENTS, confusion["intent"]), report(EMOTIONS, confusion["emotion"]), tuple(mistakes))
