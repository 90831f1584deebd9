"""Is the best answer good enough to show as an answer? A calibrated confidence and a threshold.

The evidence is the top hit's BM25 score and its dense cosine similarity to the question:

    confidence = 1 / (1 + exp(-(bias + w_cosine * cosine + w_bm25 * ln(1 + bm25))))

``no_good_answer = confidence < threshold``. An exact FAQ match has confidence 1. A retriever that did
not return the top hit within its candidate depth contributes its lowest returned score (an upper bound
on the hit's own); a retriever that returned nothing contributes 0.

``bias``, ``w_cosine``, ``w_bm25`` and ``threshold`` are fitted by ``scripts/tune_no_answer.py`` on the
dev questions (``data/eval/questions.jsonl``; never the holdout) and stored in
``data/assist/no_answer.json``, read when a Searcher opens; ``Settings.no_answer_threshold`` overrides
the threshold. Without the file nothing is flagged except an empty result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from kbassist.assistdata import AssistDataError
from kbassist.sources.common import Problem

FORMULA = "confidence = 1 / (1 + exp(-(bias + w_cosine * cosine + w_bm25 * ln(1 + bm25))))"


@dataclass(frozen=True)
class Evidence:
    """What the confidence is computed from: the top hit's retriever scores."""

    bm25: float
    cosine: float


@dataclass(frozen=True)
class NoAnswerModel:
    bias: float = 0.0
    w_cosine: float = 0.0
    w_bm25: float = 0.0
    threshold: float = 0.0  # 0: nothing is ever below it, the untuned default
    source: str | None = None

    def confidence(self, evidence: Evidence) -> float:
        cosine, log_bm25 = features(evidence)
        z = self.bias + self.w_cosine * cosine + self.w_bm25 * log_bm25
        return 1.0 / (1.0 + math.exp(-max(min(z, 60.0), -60.0)))

    def with_threshold(self, threshold: float | None) -> NoAnswerModel:
        if threshold is None:
            return self
        return NoAnswerModel(self.bias, self.w_cosine, self.w_bm25, threshold, self.source)

    def as_json(self) -> dict[str, Any]:
        return {
            "formula": FORMULA,
            "bias": self.bias,
            "w_cosine": self.w_cosine,
            "w_bm25": self.w_bm25,
            "threshold": self.threshold,
        }


def load_no_answer(path: Path) -> NoAnswerModel:
    """The tuned parameters; the untuned default when the file does not exist."""
    if not path.is_file():
        return NoAnswerModel()
    file = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise AssistDataError([Problem(file, exc.lineno, "json", f"JSON 格式错误：{exc.msg}")]) from None
    problems = []
    values: dict[str, float] = {}
    if not isinstance(data, dict):
        raise AssistDataError([Problem(file, 1, "file", "应为一个对象：bias、w_cosine、w_bm25、threshold")])
    for name in ("bias", "w_cosine", "w_bm25", "threshold"):
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            problems.append(Problem(file, 1, name, "缺少或不是数字；请重新运行 scripts/tune_no_answer.py"))
        else:
            values[name] = float(value)
    if "threshold" in values and not 0 <= values["threshold"] <= 1:
        problems.append(Problem(file, 1, "threshold", "阈值应在 0 到 1 之间"))
    if problems:
        raise AssistDataError(problems)
    return NoAnswerModel(**values, source=file)


# --- tuning and measuring (scripts/tune_no_answer.py, `kbassist eval-no-answer`) -----------------


def features(evidence: Evidence) -> tuple[float, float]:
    return evidence.cosine, math.log1p(max(evidence.bm25, 0.0))


def fit(evidence: Sequence[Evidence], answerable: Sequence[bool], l2: float = 1.0) -> NoAnswerModel:
    """Logistic regression of "answerable" on (cosine, ln(1 + bm25)), classes weighted to balance.

    Newton's method on standardised features with a small L2 penalty on the weights (not the bias), so a
    few unanswerable questions cannot push the weights to infinity when they happen to be separable and
    the narrow range of cosines is not penalised more than the wide range of BM25 scores.
    """
    raw = np.array([features(e) for e in evidence], dtype=float).reshape(-1, 2)
    y = np.array(answerable, dtype=float)
    if len(raw) == 0 or y.min() == y.max():
        raise ValueError("需要同时有可回答与不可回答（relevant_ids 为空）的问题才能调参")
    mean, scale = raw.mean(axis=0), raw.std(axis=0)
    scale[scale == 0] = 1.0
    x = np.hstack([np.ones((len(raw), 1)), (raw - mean) / scale])
    positive = y.sum()
    weights = np.where(y == 1, len(y) / (2 * positive), len(y) / (2 * (len(y) - positive)))
    penalty = np.diag([0.0, l2, l2])
    beta = np.zeros(3)
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(x @ beta, -60, 60)))
        gradient = x.T @ (weights * (p - y)) + penalty @ beta
        hessian = (x * (weights * p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    slopes = beta[1:] / scale
    bias = beta[0] - float(slopes @ mean)
    return NoAnswerModel(bias=float(bias), w_cosine=float(slopes[0]), w_bm25=float(slopes[1]))


@dataclass(frozen=True)
class FlagReport:
    """``no_good_answer`` against the labels: positive = the question has no relevant entry."""

    questions: int
    unanswerable: int
    flagged: int
    true_positives: int
    flagged_answerable_unfound: int  # flagged answerable questions whose top results had no relevant entry

    @property
    def precision(self) -> float:
        return self.true_positives / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.unanswerable if self.unanswerable else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "questions": self.questions,
            "unanswerable": self.unanswerable,
            "flagged": self.flagged,
            "true_positives": self.true_positives,
            "flagged_answerable_unfound": self.flagged_answerable_unfound,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
        }


def flag_report(rows: Iterable[tuple[bool, bool, bool]]) -> FlagReport:
    """rows: (unanswerable, flagged, a relevant entry is among the results) per question."""
    rows = list(rows)
    return FlagReport(
        questions=len(rows),
        unanswerable=sum(u for u, _, _ in rows),
        flagged=sum(f for _, f, _ in rows),
        true_positives=sum(u and f for u, f, _ in rows),
        flagged_answerable_unfound=sum(f and not u and not found for u, f, found in rows),
    )


def choose_threshold(confidences: Sequence[float], unanswerable: Sequence[bool]) -> float:
    """The threshold with the best F1 of ``confidence < threshold`` for finding the unanswerable ones.

    Candidates lie midway between neighbouring confidences; among equally good ones the middle one,
    so the threshold sits well inside the gap rather than on a question's edge.
    """
    values = sorted(set(confidences))
    candidates = [(a + b) / 2 for a, b in pairwise(values)] + [values[-1] + 1e-6]
    scored = []
    for threshold in candidates:
        report = flag_report((u, c < threshold, False) for c, u in zip(confidences, unanswerable, strict=True))
        scored.append((round(report.f1, 12), threshold))
    best = max(f for f, _ in scored)
    tied = [t for f, t in scored if f == best]
    return min(max(tied[len(tied) // 2], 0.0), 1.0)
