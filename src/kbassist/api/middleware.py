"""Pure ASGI middleware: body size limit, request metrics, and a last line against unexpected errors.

Pure ASGI (not BaseHTTPMiddleware) so the search path pays no extra task or stream copying.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kbassist.api.errors import error_body
from kbassist.api.metrics import Metrics

log = logging.getLogger("kbassist.api")

_JSON = [(b"content-type", b"application/json")]


async def _send_error(send: Send, status: int, message: str, field: str | None) -> None:
    body = error_body(message, field)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for a body over ``max_bytes``: by its Content-Length at once, and by what actually arrives.

    The body is read here (it is small by construction) and replayed to the app, so a client that sends
    more than it announced, or announces nothing (chunked), is stopped before anything parses it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return f"请求体过大：最多 {self.max_bytes // 1024} KB"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    await _send_error(send, 400, "Content-Length 无效", "Content-Length")
                    return
                if announced > self.max_bytes:
                    await _send_error(send, 413, self._too_large(), "body")
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away before finishing its body: nothing to answer.
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(send, 413, self._too_large(), "body")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class MetricsMiddleware:
    """Counts requests and times them per route template (``/v1/entries/{entry_id}``, not each id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            route: Any = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(path, scope.get("method", ""), status, time.perf_counter() - started)


class SafeErrorsMiddleware:
    """An unexpected exception becomes a 500 in the one error shape, logged without its message.

    An exception's message can quote the request (a customer's phone number in a query); the type and
    the stack of code lines are enough to find the bug.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_and_watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        except Exception as exc:
            stack = "".join(traceback.format_tb(exc.__traceback__))
            log.error("unexpected %s on %s %s\n%s", type(exc).__name__, scope.get("method"), scope.get("path"), stack)
            if not started:
                await _send_error(send, 500, "服务内部错误，请稍后重试；如持续出现请联系管理员", None)
