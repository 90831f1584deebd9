"""The library API: load an index, answer a customer's question.

    searcher = Searcher.open("index")
    result = searcher.search("空调35GW的变频和定频有啥区别", top_k=5)

The HTTP service, the CLI and the evaluation all go through ``Searcher.search``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import chain
from pathlib import Path
from typing import Literal

import numpy as np

from kbassist.assistdata import NO_ANSWER, STAGE_PLANS
from kbassist.dense import Embedder, ModelMismatchError, QueryBatcher, QueryCache, make_embedder
from kbassist.fuse import Fused, Ranked, reciprocal_rank_fusion
from kbassist.index import IndexData, load_index
from kbassist.intent import Classification, IntentClassifier
from kbassist.noanswer import Evidence, load_no_answer
from kbassist.normalize import exact_key, normalize
from kbassist.schema import ANSWER_KINDS, Entry, Kind, Stage
from kbassist.scripts import (
    ScriptSuggestion,
    choose_plan,
    linked_scripts,
    load_stage_plans,
    order_by_stage,
    scenario_scripts,
)
from kbassist.segment import Token, compact_model, is_model_number, model_numbers_in
from kbassist.settings import Settings

Mode = Literal["hybrid", "bm25", "dense"]
MODES: tuple[Mode, ...] = ("hybrid", "bm25", "dense")
_DAY0 = date(1970, 1, 1).toordinal()
_OPEN_START = np.iinfo(np.int32).min
_OPEN_END = np.iinfo(np.int32).max
_MASKS_KEPT = 64  # filter masks kept per searcher (about 100 KB each at 100,000 entries)


def _as_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    return tuple(v for v in value if v and v.strip())


@dataclass(frozen=True)
class Filters:
    """Empty means no restriction, except ``kinds``: by default scripts are not answers."""

    kinds: tuple[Kind, ...] = ANSWER_KINDS
    categories: tuple[str, ...] = ()
    product_lines: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        kind: str | Iterable[str] | None = None,
        category: str | Iterable[str] | None = None,
        product_line: str | Iterable[str] | None = None,
        channel: str | Iterable[str] | None = None,
    ) -> Filters:
        kinds = tuple(Kind.parse(k) for k in _as_tuple(kind)) or ANSWER_KINDS
        return cls(kinds, _as_tuple(category), _as_tuple(product_line), _as_tuple(channel))


@dataclass(frozen=True)
class Explanation:
    bm25_rank: int | None
    bm25_score: float | None
    dense_rank: int | None
    dense_score: float | None
    fused_score: float


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float
    matched_terms: tuple[str, ...]
    exact_match: bool
    explanation: Explanation


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: Mode
    hits: tuple[Hit, ...]
    scripts: tuple[ScriptSuggestion, ...]
    exact_match: bool
    no_good_answer: bool
    index_version: str
    took_ms: float
    timings: Mapping[str, float] = field(default_factory=dict)
    intent: Classification | None = None  # the customer's intent and emotion, with cues and neighbours
    confidence: float | None = None  # calibrated; None in bm25 mode (no query vector) or with no hits
    evidence: Evidence | None = None  # what the confidence was computed from


class Searcher:
    """A loaded, immutable index version plus the embedder that queries it. Safe to share."""

    def __init__(self, data: IndexData, embedder: Embedder, settings: Settings):
        if embedder.model_id != data.model_id:
            raise ModelMismatchError(
                f"索引 {data.version} 用模型 {data.model_id} 构建，当前配置的模型是 {embedder.model_id}；"
                "请用同一模型查询，或用当前模型重新构建索引"
            )
        if embedder.dim != data.dense.dim:
            raise ModelMismatchError(f"向量维度不一致：索引 {data.dense.dim}，模型 {embedder.dim}")
        self.data = data
        self.settings = settings
        self.embedder = embedder
        # Concurrent requests' new questions share model calls (see QueryBatcher); cached ones never wait.
        batched = QueryBatcher(embedder, settings.query_batch_max) if settings.query_batch_max else embedder
        self.queries = QueryCache(batched, settings.query_cache_size)
        entries = data.entries
        self.entries = entries
        self.by_id = {e.id: n for n, e in enumerate(entries)}
        self._kind = np.array([list(Kind).index(e.kind) for e in entries], dtype=np.int8)
        self._from = np.array(
            [e.effective_from.toordinal() - _DAY0 if e.effective_from else _OPEN_START for e in entries],
            dtype=np.int64,
        )
        self._to = np.array(
            [e.effective_to.toordinal() - _DAY0 if e.effective_to else _OPEN_END for e in entries], dtype=np.int64
        )
        self._category_codes, self._category = _codes(e.category for e in entries)
        self._product_line_codes, self._product_line = _codes(e.product_line for e in entries)
        self._no_channel = np.array([not e.channel for e in entries], dtype=bool)
        self._channel = {
            c: np.array([c in e.channel for e in entries], dtype=bool) for c in {c for e in entries for c in e.channel}
        }
        # Each entry's model number without case, width or separators ('' when it has none).
        self._compact_models = [compact_model(e.model) if e.model else "" for e in entries]
        self._models = [(model, n) for n, model in enumerate(self._compact_models) if model]
        self._exact: dict[str, list[int]] = {}
        for number, entry in enumerate(entries):
            if entry.kind is Kind.FAQ:
                for key in entry.match_keys():
                    self._exact.setdefault(exact_key(key), []).append(number)
        self._scripts_by_link: dict[str, list[Entry]] = {}
        for entry in entries:
            if entry.kind is Kind.SCRIPT:
                for link in entry.links:
                    self._scripts_by_link.setdefault(link, []).append(entry)
        groups: dict[str, set[str]] = {}
        for word, canonical in data.analyzer.synonyms.items():
            groups.setdefault(canonical, {canonical}).add(word)
        self._synonym_group = groups
        self._scripts = tuple(e for e in entries if e.kind is Kind.SCRIPT)
        self._masks: dict[tuple[Filters, date], np.ndarray] = {}
        self._masks_lock = threading.Lock()
        self._scenario_memo: dict[tuple[str | None, str | None, bool], _ScenarioPools] = {}
        # The assist data built into this index version, unless a folder is configured explicitly.
        built_in = data.path / "assist"
        assist = settings.assist_dir or (built_in if built_in.is_dir() else settings.assist_folder)
        self.intents = IntentClassifier.from_folder(assist, embedder)
        self.no_answer = load_no_answer(assist / NO_ANSWER).with_threshold(settings.no_answer_threshold)
        self.stage_plans = load_stage_plans(assist / STAGE_PLANS) if (assist / STAGE_PLANS).is_file() else ()

    @classmethod
    def open(
        cls, path: Path | str | None = None, settings: Settings | None = None, embedder: Embedder | None = None
    ) -> Searcher:
        settings = settings or Settings()
        data = load_index(Path(path) if path else settings.index_dir, settings)
        return cls(data, embedder or make_embedder(settings), settings)

    @property
    def version(self) -> str:
        return self.data.version

    def get(self, entry_id: str) -> Entry | None:
        number = self.by_id.get(entry_id)
        return None if number is None else self.entries[number]

    # --- filtering ------------------------------------------------------------------------------

    def allowed(self, filters: Filters, as_of: date) -> np.ndarray:
        day = as_of.toordinal() - _DAY0
        mask = (self._from <= day) & (day <= self._to)
        mask &= np.isin(self._kind, [list(Kind).index(k) for k in filters.kinds])
        for wanted, codes, values in (
            (filters.categories, self._category, self._category_codes),
            (filters.product_lines, self._product_line, self._product_line_codes),
        ):
            if wanted:
                mask &= np.isin(codes, [values[v] for v in wanted if v in values])
        if filters.channels:
            mask &= self._no_channel | np.any(
                [self._channel[c] for c in filters.channels if c in self._channel] or [self._no_channel], axis=0
            )
        return mask

    def _allowed_cached(self, filters: Filters, as_of: date) -> np.ndarray:
        """``allowed`` for the search: agents search with a handful of filter sets on one day, and the
        mask costs about a millisecond at 100,000 entries. Read-only: callers share it."""
        key = (filters, as_of)
        mask = self._masks.get(key)
        if mask is None:
            mask = self.allowed(filters, as_of)
            mask.flags.writeable = False
            with self._masks_lock:
                while len(self._masks) >= _MASKS_KEPT:
                    self._masks.pop(next(iter(self._masks)))
                self._masks[key] = mask
        return mask

    # --- the retrievers -------------------------------------------------------------------------

    def _bm25(self, term_ids: Sequence[int], mask: np.ndarray, depth: int) -> list[tuple[int, float]]:
        scores = self.data.bm25.scores(term_ids)
        scores[~mask] = 0.0
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > depth:
            candidates = candidates[np.argpartition(-scores[candidates], depth - 1)[:depth]]
        order = candidates[np.lexsort((candidates, -scores[candidates]))]
        return [(int(n), float(scores[n])) for n in order]

    def _dense(self, vector: np.ndarray, mask: np.ndarray, depth: int) -> list[tuple[int, float]]:
        dense = self.data.dense
        entries, scores = dense.search(vector, depth * 2, ef_search=self.settings.hnsw_ef_search)
        keep = mask[entries]
        if keep.sum() < min(depth, int(mask.sum())):
            # The filters removed too much of the unfiltered neighbourhood: search only allowed rows.
            rows = mask[dense.row_entry]
            entries, scores = dense.search(vector, depth, rows, ef_search=self.settings.hnsw_ef_search)
            keep = mask[entries]
        return [(int(e), float(s)) for e, s in zip(entries[keep][:depth], scores[keep][:depth], strict=True)]

    # --- search ---------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        top_k: int = 5,
        filters: Filters | None = None,
        as_of: date | None = None,
        mode: Mode = "hybrid",
        explain: bool = False,
        values: Mapping[str, str] | None = None,
    ) -> SearchResult:
        if mode not in MODES:
            raise ValueError(f"未知检索模式 {mode!r}，可选：{' / '.join(MODES)}")
        if top_k < 1:
            raise ValueError("top_k 至少为 1")
        started = time.perf_counter()
        timings: dict[str, float] = {}
        filters = filters or Filters()
        as_of = as_of or date.today()
        depth = max(self.settings.candidates, top_k)

        tick = time.perf_counter()
        tokens = self.data.analyzer.tokens(query)
        term_ids = [self.data.vocab[t.term] for t in tokens if t.term in self.data.vocab]
        mask = self._allowed_cached(filters, as_of)
        timings["analyze"] = _ms(tick)

        rankings: dict[str, list[tuple[int, float]]] = {}
        vector: np.ndarray | None = None
        if mode in ("hybrid", "bm25"):
            tick = time.perf_counter()
            rankings["bm25"] = self._bm25(term_ids, mask, depth)
            timings["bm25"] = _ms(tick)
        has_text = bool(normalize(query))  # punctuation alone gives the model nothing to embed
        if mode in ("hybrid", "dense") and has_text:
            tick = time.perf_counter()
            vector = self.queries.embed_query(query)
            timings["embed"] = _ms(tick)
            tick = time.perf_counter()
            rankings["dense"] = self._dense(vector, mask, depth)
            timings["faiss"] = _ms(tick)

        tick = time.perf_counter()
        fused = reciprocal_rank_fusion(
            rankings, {"bm25": self.settings.weight_bm25, "dense": self.settings.weight_dense}, self.settings.rrf_k
        )
        exact = [n for n in self._exact.get(exact_key(query), []) if mask[n]]
        if exact:
            fused = self._exact_first(fused, exact)
        elif (model := self.model_named(query, mask)) is not None:  # entry 0 is a match too
            fused = self._exact_first(fused, [model])
        timings["fuse"] = _ms(tick)

        hits = tuple(self._hit(f, tokens, f.entry in exact) for f in fused[:top_k])

        tick = time.perf_counter()
        # The query vector the dense search already has: classification never calls the model again.
        classification = self.intents.classify(query, vector) if self.intents and has_text else None
        timings["intent"] = _ms(tick)
        evidence = self._evidence(hits, rankings, term_ids, depth)
        confidence = 1.0 if exact and hits else (self.no_answer.confidence(evidence) if evidence else None)
        no_good_answer = not hits or (confidence is not None and confidence < self.no_answer.threshold)

        tick = time.perf_counter()
        scripts = self.select_scripts(hits, as_of, values, classification, no_good_answer)
        timings["scripts"] = _ms(tick)
        timings["total"] = _ms(started)
        return SearchResult(
            query=query,
            mode=mode,
            hits=hits,
            scripts=scripts,
            exact_match=bool(exact),
            no_good_answer=no_good_answer,
            index_version=self.version,
            took_ms=timings["total"],
            timings=timings,
            intent=classification,
            confidence=None if confidence is None else round(confidence, 4),
            evidence=evidence,
        )

    def ranked_ids(
        self, query: str, depth: int = 100, mode: Mode = "hybrid", as_of: date | None = None
    ) -> list[tuple[str, float]]:
        """Just the ranking, for evaluation."""
        result = self.search(query, top_k=depth, mode=mode, as_of=as_of)
        return [(h.entry.id, h.score) for h in result.hits]

    def model_named(self, query: str, mask: np.ndarray) -> int | None:
        """The one product whose model number contains what the customer typed (at least 4 characters),
        whatever its case, width or hyphens; None when it names no model or several."""
        for typed in model_numbers_in(query):
            if len(typed) < 4:
                continue
            matches = {n for model, n in self._models if typed in model and mask[n]}
            if len(matches) == 1:
                return matches.pop()
        return None

    def _exact_first(self, fused: list[Fused], exact: list[int]) -> list[Fused]:
        by_entry = {f.entry: f for f in fused}
        top = fused[0].score if fused else 0.0
        first = [
            Fused(n, top + 1e-6 * (len(exact) - i), by_entry[n].ranks if n in by_entry else {})
            for i, n in enumerate(exact)
        ]
        return first + [f for f in fused if f.entry not in set(exact)]

    def _hit(self, fused: Fused, tokens: Sequence[Token], exact: bool) -> Hit:
        entry = self.entries[fused.entry]
        bm25: Ranked | None = fused.ranks.get("bm25")
        dense: Ranked | None = fused.ranks.get("dense")
        return Hit(
            entry=entry,
            score=fused.score,
            matched_terms=self.matched_terms(fused.entry, tokens),
            exact_match=exact,
            explanation=Explanation(
                bm25_rank=bm25.rank if bm25 else None,
                bm25_score=bm25.score if bm25 else None,
                dense_rank=dense.rank if dense else None,
                dense_score=dense.score if dense else None,
                fused_score=fused.score,
            ),
        )

    def matched_terms(self, number: int, tokens: Sequence[Token]) -> tuple[str, ...]:
        """Strings to highlight in the entry: the query's words found there, and their synonyms there."""
        entry = self.entries[number]
        shown = normalize(f"{entry.title}\n{entry.text}")
        found: list[str] = []
        for token in tokens:
            if len(token.surface) < 2:
                continue  # a lone 不 or 没 highlighted everywhere helps nobody
            term_id = self.data.vocab.get(token.term)
            if term_id is None or not self.data.bm25.entry_has_term(number, term_id):
                continue
            if token.surface in shown:
                found.append(token.surface)
            elif (
                entry.model
                and is_model_number(token.surface)
                and compact_model(token.surface) in self._compact_models[number]
            ):
                found.append(entry.model)
            found += [w for w in self._synonym_group.get(token.term, ()) if w in shown]
        return tuple(dict.fromkeys(found))

    def _evidence(
        self, hits: Sequence[Hit], rankings: Mapping[str, list[tuple[int, float]]], term_ids: Sequence[int], depth: int
    ) -> Evidence | None:
        """The top hit's BM25 score and cosine (see kbassist.noanswer); None without a dense ranking."""
        if not hits or "dense" not in rankings:
            return None
        explanation = hits[0].explanation
        bm25 = explanation.bm25_score
        if bm25 is None:
            listed = rankings.get("bm25")
            if listed is None:  # dense mode: score the one entry
                bm25 = float(self.data.bm25.scores(term_ids)[self.by_id[hits[0].entry.id]]) if term_ids else 0.0
            else:  # not among the candidates: below the last one, or 0 when every match was listed
                bm25 = listed[-1][1] if len(listed) >= depth else 0.0
        cosine = explanation.dense_score
        if cosine is None:
            cosine = rankings["dense"][-1][1] if rankings["dense"] else 0.0
        return Evidence(bm25=float(bm25), cosine=float(cosine))

    def select_scripts(
        self,
        hits: Sequence[Hit],
        as_of: date,
        values: Mapping[str, str] | None = None,
        classification: Classification | None = None,
        no_good_answer: bool = False,
    ) -> tuple[ScriptSuggestion, ...]:
        """Linked scripts of the top results first, then scenario scripts for the intent and emotion,
        in the stage order of the situation's plan; the call-back scripts when there is no good answer.

        When the top results have linked scripts, their scenarios are the topic: a stage is filled from
        the topic's scenarios and from those the situation's plan names for any topic (an angry
        customer's calming words, the complaint procedure), not from every scenario that fits the intent
        (a refund-delay opening does not fit a question about air conditioners)."""
        intent = classification.intent.label if classification else None
        emotion = classification.emotion.label if classification else None
        linked = [] if no_good_answer else linked_scripts([h.entry for h in hits[:3]], self._scripts_by_link)
        wanted = classification is not None or no_good_answer
        pools = self._scenario_by_stage(intent, emotion, no_good_answer) if wanted else _ScenarioPools()
        plan = choose_plan(self.stage_plans, intent, emotion, no_good_answer)
        per_stage = self.settings.scripts_per_stage
        topic = [script.scenario for script, _ in linked if script.scenario]
        scenarios = list(dict.fromkeys([*topic, *plan.scenarios]))

        def stage_candidates(stage: Stage) -> Iterable[tuple[Entry, str]]:
            if not topic:
                return pools.by_stage.get(stage, ())
            return chain.from_iterable(pools.by_scenario.get((stage, name), ()) for name in scenarios)

        def candidates() -> Iterator[tuple[Entry, str]]:
            """What order_by_stage would keep from linked + the scenario scripts, without walking all of
            them (thousands in a large knowledge base): within a stage, only ``per_stage`` can be kept, and
            only linked scripts can make one of them a duplicate."""
            yield from ((script, reason) for script, reason in linked if script.is_valid_on(as_of))
            for stage in plan.stages:
                taken = 0
                for script, reason in stage_candidates(stage):
                    if taken >= per_stage + len(linked):
                        break
                    if script.is_valid_on(as_of):
                        taken += 1
                        yield script, reason

        return order_by_stage(candidates(), per_stage, values, stages=plan.stages)

    def _scenario_by_stage(self, intent: str | None, emotion: str | None, no_good_answer: bool) -> _ScenarioPools:
        """scenario_scripts per stage, in its order; the same for every question of a situation."""
        key = (intent, emotion, no_good_answer)
        found = self._scenario_memo.get(key)
        if found is None:
            found = _ScenarioPools()
            for script, reason in scenario_scripts(self._scripts, intent, emotion, no_good_answer):
                assert script.stage is not None  # scenario_scripts skips scripts without a stage
                found.by_stage.setdefault(script.stage, []).append((script, reason))
                found.by_scenario.setdefault((script.stage, script.scenario or ""), []).append((script, reason))
            self._scenario_memo[key] = found  # a race computes it twice, with the same result
        return found


@dataclass
class _ScenarioPools:
    """The scenario scripts of one situation, most specific first: per stage, and per stage and scenario."""

    by_stage: dict[Stage, list[tuple[Entry, str]]] = field(default_factory=dict)
    by_scenario: dict[tuple[Stage, str], list[tuple[Entry, str]]] = field(default_factory=dict)


def _codes(values: Iterable[str | None]) -> tuple[dict[str, int], np.ndarray]:
    """Each distinct value gets a code; None gets -1. Filters compare codes, not strings."""
    table: dict[str, int] = {}
    codes = [-1 if v is None else table.setdefault(v, len(table)) for v in values]
    return table, np.array(codes, dtype=np.int32)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
