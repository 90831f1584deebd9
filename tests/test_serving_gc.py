"""The service keeps its loaded index out of the cyclic garbage collector's full collections."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kbassist.api.state import IndexHolder
from kbassist.search import Searcher
from kbassist.settings import Settings


@pytest.fixture
def unfreeze() -> Iterator[None]:
    yield
    gc.unfreeze()  # give the rest of the test session its collector back


def tracked(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_a_served_index_is_frozen_out_of_the_collector(
    tiny_searcher: Searcher, settings: Settings, unfreeze: None
) -> None:
    gc.unfreeze()
    assert tracked(tiny_searcher.entries)
    IndexHolder(settings, tiny_searcher)
    assert not tracked(tiny_searcher.entries) and gc.get_freeze_count() > 0


def test_a_swapped_in_index_is_frozen_too(tiny_searcher: Searcher, settings: Settings, unfreeze: None) -> None:
    holder = IndexHolder(settings)
    gc.unfreeze()
    assert tracked(tiny_searcher.entries)
    assert holder.swap(tiny_searcher) is None
    assert holder.get() is tiny_searcher and not tracked(tiny_searcher.entries)
