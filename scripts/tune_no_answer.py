"""Tune the "no good answer" confidence on the dev questions and write data/assist/no_answer.json.

    python scripts/tune_no_answer.py --index index --queries data/eval/questions.jsonl

Runs every dev question through the hybrid search as the sidebar does (top 5), takes the top hit's
evidence (BM25 score, dense cosine), fits the logistic formula in ``kbassist.noanswer`` with
answerable = "has relevant ids", and picks the threshold with the best F1 for finding the questions
labelled ``"relevant_ids": []``. The holdout questions are refused: they only measure the result
(``kbassist eval-no-answer``). Re-run after the knowledge base, the index settings or the model change.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from kbassist.assistdata import NO_ANSWER
from kbassist.evaluate import load_questions
from kbassist.noanswer import FORMULA, choose_threshold, fit, flag_report
from kbassist.search import Searcher
from kbassist.settings import Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings()
    parser = argparse.ArgumentParser(description="在开发集问题上调“未找到可靠答案”的阈值")
    parser.add_argument("--index", type=Path, default=settings.index_dir, help="索引目录（默认 KBASSIST_INDEX_DIR）")
    parser.add_argument("--queries", type=Path, default=settings.data_dir / "eval" / "questions.jsonl")
    parser.add_argument("--out", type=Path, default=settings.assist_folder / NO_ANSWER, help="写出的参数文件")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--as-of", type=date.fromisoformat, default=None, help="有效期判断日期（默认今天）")
    args = parser.parse_args(argv)
    if "holdout" in args.queries.name:
        print(f"错误：{args.queries} 是留出集，只能用来评测（kbassist eval-no-answer），不能用来调参", file=sys.stderr)
        return 2

    questions = load_questions(args.queries)
    # Tune the formula itself: no threshold is in force while the evidence is collected.
    searcher = Searcher.open(args.index, settings.model_copy(update={"no_answer_threshold": 0.0}))
    evidence, answerable, exact, found = [], [], [], []
    for question in questions:
        result = searcher.search(question.query, top_k=args.top_k, as_of=args.as_of)
        if result.evidence is None:  # no hits at all: flagged whatever the threshold
            continue
        evidence.append(result.evidence)
        answerable.append(question.answerable)
        exact.append(result.exact_match)
        found.append(bool(set(question.relevant_ids) & {h.entry.id for h in result.hits}))
    model = fit(evidence, answerable)
    confidences = [1.0 if is_exact else model.confidence(e) for e, is_exact in zip(evidence, exact, strict=True)]
    unanswerable = [not a for a in answerable]
    threshold = choose_threshold(confidences, unanswerable)
    dev = flag_report((u, c < threshold, f) for u, c, f in zip(unanswerable, confidences, found, strict=True))
    data = {
        **model.as_json(),
        "threshold": round(threshold, 6),
        "formula": FORMULA,
        "features": {
            "cosine": "top hit's dense cosine similarity to the question",
            "bm25": "top hit's BM25 score (best question/title + body weight × body)",
        },
        "exact_match_confidence": 1.0,
        "tuned_on": str(args.queries),
        "questions": len(questions),
        "questions_with_hits": len(evidence),
        "top_k": args.top_k,
        "dev": dev.as_json(),
        "index_version": searcher.version,
        "model": searcher.embedder.model_id,
        "tuned_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(
        f"已写入 {args.out}：阈值 {threshold:.4f}；bias {model.bias:.3f}，w_cosine {model.w_cosine:.3f}，"
        f"w_bm25 {model.w_bm25:.3f}；开发集 {dev.questions} 题（无答案 {dev.unanswerable}）："
        f"精确率 {dev.precision:.3f}，召回率 {dev.recall:.3f}，F1 {dev.f1:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
