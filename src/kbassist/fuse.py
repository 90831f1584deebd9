"""Stage 4: reciprocal rank fusion of the retrievers' ranked lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Ranked:
    """One retriever's opinion of one entry."""

    rank: int  # 1-based
    score: float


@dataclass(frozen=True)
class Fused:
    entry: int
    score: float
    ranks: Mapping[str, Ranked]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[tuple[int, float]]],
    weights: Mapping[str, float],
    k: int = 60,
) -> list[Fused]:
    """Fuse lists of (entry, score), each best first, into one list de-duplicated by entry.

    score(entry) = sum over retrievers of weight / (k + rank). A retriever missing from ``weights``
    counts with weight 1. Ties keep the order in which entries were first seen, retriever by retriever.
    """
    if k < 1:
        raise ValueError(f"RRF k must be at least 1, got {k}")
    totals: dict[int, float] = {}
    seen: dict[int, dict[str, Ranked]] = {}
    for name, ranking in rankings.items():
        weight = weights.get(name, 1.0)
        for position, (entry, score) in enumerate(ranking, start=1):
            per_entry = seen.setdefault(entry, {})
            if name in per_entry:  # a retriever listing an entry twice keeps its best rank
                continue
            per_entry[name] = Ranked(position, float(score))
            totals[entry] = totals.get(entry, 0.0) + weight / (k + position)
    order = sorted(totals, key=lambda e: -totals[e])
    return [Fused(entry, totals[entry], seen[entry]) for entry in order]
