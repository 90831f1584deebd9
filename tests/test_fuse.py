"""Reciprocal rank fusion."""

from __future__ import annotations

import pytest

from kbassist.fuse import reciprocal_rank_fusion


def test_rrf_scores_and_order() -> None:
    fused = reciprocal_rank_fusion({"bm25": [(1, 9.0), (2, 5.0)], "dense": [(2, 0.9), (3, 0.8)]}, {}, k=60)
    assert [f.entry for f in fused] == [2, 1, 3]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)
    assert fused[0].ranks["bm25"].rank == 2 and fused[0].ranks["dense"].rank == 1
    assert fused[0].ranks["bm25"].score == 5.0


def test_weights_and_k() -> None:
    rankings = {"bm25": [(1, 1.0), (2, 0.5)], "dense": [(2, 0.9), (1, 0.1)]}
    assert [f.entry for f in reciprocal_rank_fusion(rankings, {"bm25": 2.0, "dense": 1.0}, k=1)] == [1, 2]
    assert [f.entry for f in reciprocal_rank_fusion(rankings, {"bm25": 1.0, "dense": 2.0}, k=1)] == [2, 1]
    fused = reciprocal_rank_fusion(rankings, {"bm25": 0.5, "dense": 0.0}, k=10)
    assert fused[0].score == pytest.approx(0.5 / 11)


def test_duplicates_are_merged_and_ties_keep_first_seen_order() -> None:
    fused = reciprocal_rank_fusion({"a": [(5, 1.0), (5, 0.9), (6, 0.8)], "b": [(6, 1.0), (5, 0.5)]}, {}, k=60)
    assert len(fused) == 2
    assert fused[0].ranks["a"].rank == 1
    assert [f.entry for f in fused] == [5, 6]  # equal scores: 5 was seen first


def test_invalid_k() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        reciprocal_rank_fusion({}, {}, k=0)
