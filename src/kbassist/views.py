"""The shape of an answer as the sidebar, the CLI's --json and the HTTP API all show it."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from kbassist.intent import Classification, CueMatch
from kbassist.schema import Entry, Kind, Stage
from kbassist.scripts import ScriptSuggestion, is_no_answer_script
from kbassist.search import Hit, SearchResult

KIND_LABELS = {Kind.FAQ: "问答", Kind.POLICY: "政策", Kind.PRODUCT: "产品", Kind.SCRIPT: "话术"}


class SourceView(BaseModel):
    file: str
    line: int
    citation: str
    policy_id: str | None = None
    policy_title: str | None = None
    clause: int | None = None
    chapter: str | None = None
    version: str | None = None
    effective_from: date | None = None
    effective_to: date | None = None

    @classmethod
    def of(cls, entry: Entry) -> SourceView:
        source = entry.source
        return cls(
            file=source.file,
            line=source.line,
            citation=source.citation,
            policy_id=source.policy_id,
            policy_title=source.policy_title,
            clause=source.clause,
            chapter=source.chapter,
            version=source.version,
            effective_from=entry.effective_from,
            effective_to=entry.effective_to,
        )


class ExplanationView(BaseModel):
    bm25_rank: int | None
    bm25_score: float | None
    dense_rank: int | None
    dense_score: float | None
    fused_score: float


class HitView(BaseModel):
    id: str
    kind: Kind
    kind_label: str
    title: str
    text: str
    score: float
    exact_match: bool
    category: str | None
    product_line: str | None
    model: str | None = None
    source: SourceView
    matched_terms: list[str]
    explanation: ExplanationView | None = None

    @classmethod
    def of(cls, hit: Hit, explain: bool) -> HitView:
        entry = hit.entry
        return cls(
            id=entry.id,
            kind=entry.kind,
            kind_label=KIND_LABELS[entry.kind],
            title=entry.title,
            text=entry.text,
            score=round(hit.score, 6),
            exact_match=hit.exact_match,
            category=entry.category,
            product_line=entry.product_line,
            model=entry.model,
            source=SourceView.of(entry),
            matched_terms=list(hit.matched_terms),
            explanation=ExplanationView(**vars(hit.explanation)) if explain else None,
        )


class ScriptView(BaseModel):
    id: str
    stage: Stage
    scenario: str | None
    text: str
    reason: str
    no_answer_script: bool = False  # a verify-and-call-back / transfer 话术 (tag 无答案), offered with no good answer

    @classmethod
    def of(cls, suggestion: ScriptSuggestion) -> ScriptView:
        return cls(
            id=suggestion.entry.id,
            stage=suggestion.stage,
            scenario=suggestion.entry.scenario,
            text=suggestion.text,
            reason=suggestion.reason,
            no_answer_script=is_no_answer_script(suggestion.entry),
        )


class CueView(BaseModel):
    label: str  # the intent or emotion this cue supports
    cue: str  # as written in intent_cues.yaml
    text: str  # what matched: query[start:end]
    start: int
    end: int
    weight: float

    @classmethod
    def of(cls, match: CueMatch) -> CueView:
        return cls(**vars(match))


class NeighbourView(BaseModel):
    text: str
    intent: str
    emotion: str
    similarity: float


class IntentView(BaseModel):
    """The customer's intent and emotion, each with its confidence and the evidence behind it."""

    intent: str
    intent_confidence: float
    emotion: str
    emotion_confidence: float
    intent_scores: dict[str, float]  # every label's confidence, best first
    emotion_scores: dict[str, float]
    cues: list[CueView]  # every matched cue, intent and emotion, in text order
    neighbours: list[NeighbourView]  # nearest labelled utterances (empty in bm25 mode)
    explanation: str  # one line in Chinese

    @classmethod
    def of(cls, result: Classification) -> IntentView:
        return cls(
            intent=result.intent.label,
            intent_confidence=result.intent.confidence,
            emotion=result.emotion.label,
            emotion_confidence=result.emotion.confidence,
            intent_scores=dict(result.intent.scores),
            emotion_scores=dict(result.emotion.scores),
            cues=[CueView.of(c) for c in sorted((*result.intent.cues, *result.emotion.cues), key=lambda c: c.start)],
            neighbours=[NeighbourView(**vars(n)) for n in result.neighbours],
            explanation=result.explain(),
        )


class SearchView(BaseModel):
    query: str
    mode: str
    results: list[HitView]
    scripts: list[ScriptView]
    exact_match: bool
    no_good_answer: bool
    index_version: str
    took_ms: float
    timings: dict[str, float] | None = None
    intent: IntentView | None = None
    confidence: float | None = None  # calibrated answer confidence; no_good_answer when below the threshold

    @classmethod
    def of(cls, result: SearchResult, explain: bool = False) -> SearchView:
        return cls(
            query=result.query,
            mode=result.mode,
            results=[HitView.of(h, explain) for h in result.hits],
            scripts=[ScriptView.of(s) for s in result.scripts],
            exact_match=result.exact_match,
            no_good_answer=result.no_good_answer,
            index_version=result.index_version,
            took_ms=round(result.took_ms, 3),
            timings=dict(result.timings) if explain else None,
            intent=IntentView.of(result.intent) if result.intent else None,
            confidence=result.confidence,
        )


class EntryView(BaseModel):
    """The whole entry, for GET /v1/entries/{id} and `kbassist show`."""

    entry: Entry
    kind_label: str
    source: SourceView

    @classmethod
    def of(cls, entry: Entry) -> EntryView:
        return cls(entry=entry, kind_label=KIND_LABELS[entry.kind], source=SourceView.of(entry))
