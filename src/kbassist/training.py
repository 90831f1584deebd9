"""Training drills for new agents: a customer's wording of a standard question, then the standard answer."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from kbassist.schema import Entry, Kind
from kbassist.scripts import ScriptSuggestion
from kbassist.search import Searcher


@dataclass(frozen=True)
class Drill:
    entry: Entry  # the FAQ whose answer is expected
    prompt: str  # what the "customer" says: one of the entry's 相似问 (or its standard question)
    scripts: tuple[ScriptSuggestion, ...]


def make_drills(
    searcher: Searcher,
    count: int,
    category: str | None = None,
    seed: int | None = None,
    as_of: date | None = None,
) -> list[Drill]:
    """``count`` FAQ entries valid today (optionally of one category), each asked in a customer's words.

    The scripts are those the sidebar would offer when the standard question is searched, so a trainee
    drills the same answer and 话术 an agent will see.
    """
    day = as_of or date.today()
    pool = [
        e
        for e in searcher.entries
        if e.kind is Kind.FAQ and e.is_valid_on(day) and (category is None or e.category == category)
    ]
    if not pool:
        categories = sorted({e.category for e in searcher.entries if e.kind is Kind.FAQ and e.category})
        raise ValueError(f"没有可练习的问答（分类 {category!r}）；可选分类：{'、'.join(categories)}")
    rng = random.Random(seed)
    chosen = rng.sample(pool, min(count, len(pool)))
    drills = []
    for entry in chosen:
        prompt = rng.choice(entry.similar_questions or (entry.title,))
        result = searcher.search(entry.title, top_k=3, as_of=day)
        drills.append(Drill(entry=entry, prompt=prompt, scripts=result.scripts))
    return drills
