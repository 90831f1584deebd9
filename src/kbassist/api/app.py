"""``create_app(settings, searcher=None)``: the FastAPI app the agent sidebar talks to.

The lifespan loads the index (unless a Searcher is handed in) and opens the query log; requests reach
both through ``app.state`` and the dependencies in deps.py.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from kbassist.api.auth import KeyRing
from kbassist.api.errors import install_error_handlers
from kbassist.api.metrics import Metrics
from kbassist.api.middleware import BodyLimitMiddleware, MetricsMiddleware, SafeErrorsMiddleware
from kbassist.api.reload import Reloader, start_polling
from kbassist.api.routers import admin, entries, facets, feedback, health, lint, reports, search, web
from kbassist.api.state import IndexHolder
from kbassist.search import Searcher
from kbassist.settings import Settings, get_settings
from kbassist.store import QueryLog

log = logging.getLogger("kbassist.api")

DESCRIPTION = """客服坐席知识检索服务：输入客户的原话，返回带来源与有效期的答案和推荐话术。

认证：请求头 `X-API-Key: <密钥>`（或 `Authorization: Bearer <密钥>`）。角色 agent 可检索、查看条目、提交反馈、合规检查；
admin 另可查看报表、热加载索引。错误统一为 `{"detail": [{"field": ..., "message": ...}]}`。"""


def create_app(
    settings: Settings | None = None, searcher: Searcher | None = None, keys: KeyRing | None = None
) -> FastAPI:
    settings = settings or get_settings()
    keys = keys or KeyRing.from_settings(settings)  # a bad keys file fails here, before anything is served
    holder = IndexHolder(settings, searcher)
    metrics = Metrics(lambda: holder.get() if holder.loaded else None)
    reloader = Reloader(holder, settings.index_dir, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not holder.loaded:
            holder.swap(await run_in_threadpool(holder.open, settings.index_dir))
        store = QueryLog(settings.db_url)
        await run_in_threadpool(store.create_schema)
        app.state.store = store
        if keys.dev_mode:
            log.warning("未配置 API 密钥：开发模式，所有请求按管理员处理（仅限本机地址）")
        log.info("serving index %s (%d entries)", holder.get().version, len(holder.get().entries))
        poller = start_polling(reloader, settings.reload_poll_seconds)
        try:
            yield
        finally:
            if poller is not None:
                await run_in_threadpool(poller.stop)
            store.close()

    app = FastAPI(
        title="kbassist",
        summary="客服坐席知识检索 API",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.holder = holder
    app.state.keys = keys
    app.state.metrics = metrics
    app.state.reloader = reloader
    install_error_handlers(app)
    for module in (search, entries, feedback, reports, health, facets, web):  # web: the sidebar page at /
        app.include_router(module.router)
    app.include_router(lint.router)
    app.include_router(admin.router)

    # Added innermost first: SafeErrors sees the app's exceptions; Metrics sees every answer, 413s included.
    app.add_middleware(SafeErrorsMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
