"""Request dependencies. All ``async`` and cheap: they run on the event loop, not in the thread pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kbassist.api.auth import KeyRing, Role
from kbassist.api.errors import ApiError
from kbassist.api.metrics import Metrics
from kbassist.api.reload import Reloader
from kbassist.api.state import IndexHolder, IndexNotLoadedError
from kbassist.search import Searcher
from kbassist.settings import Settings
from kbassist.store import QueryLog


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_holder(request: Request) -> IndexHolder:
    holder: IndexHolder = request.app.state.holder
    return holder


async def get_searcher(request: Request) -> Searcher:
    """The serving version, taken once for the whole request: a swap mid-request does not affect it."""
    holder: IndexHolder = request.app.state.holder
    try:
        return holder.get()
    except IndexNotLoadedError:
        raise ApiError(503, "索引尚未加载，请稍后重试", headers={"Retry-After": "5"}) from None


async def get_reloader(request: Request) -> Reloader:
    reloader: Reloader = request.app.state.reloader
    return reloader


async def get_store(request: Request) -> QueryLog:
    store: QueryLog = request.app.state.store
    return store


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def agent_role(request: Request) -> Role:
    keys: KeyRing = request.app.state.keys
    return keys.authenticate(request.headers, Role.AGENT)


async def admin_role(request: Request) -> Role:
    keys: KeyRing = request.app.state.keys
    return keys.authenticate(request.headers, Role.ADMIN)


SettingsDep = Annotated[Settings, Depends(get_settings)]
HolderDep = Annotated[IndexHolder, Depends(get_holder)]
SearcherDep = Annotated[Searcher, Depends(get_searcher)]
ReloaderDep = Annotated[Reloader, Depends(get_reloader)]
StoreDep = Annotated[QueryLog, Depends(get_store)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AgentRole = Annotated[Role, Depends(agent_role)]
AdminRole = Annotated[Role, Depends(admin_role)]
