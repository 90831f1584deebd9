"""One error shape for every 4xx (and the rare 5xx): ``{"detail": [{"field": ..., "message": ...}]}``.

Messages are Chinese because the agent desktop shows them. An error body never echoes what was sent:
the input may hold a customer's phone number.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from kbassist.api.auth import AuthError

log = logging.getLogger("kbassist.api")


class ErrorItem(BaseModel):
    field: str | None
    message: str


class ErrorBody(BaseModel):
    detail: list[ErrorItem]


class ApiError(StarletteHTTPException):
    """An error we raise on purpose: status, the field it is about, a message for people."""

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(status_code=status, detail=message, headers=headers)
        self.field = field
        self.message = message


def error_body(message: str, field: str | None = None) -> bytes:
    return json.dumps(
        {"detail": [{"field": field, "message": message}]}, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def error_response(
    status: int, items: Sequence[ErrorItem] | ErrorItem, headers: dict[str, str] | None = None
) -> JSONResponse:
    detail = [items] if isinstance(items, ErrorItem) else list(items)
    return JSONResponse(ErrorBody(detail=detail).model_dump(), status_code=status, headers=headers)


# Responses documented on every route (OpenAPI), all in the one shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        401: "缺少或无效的 API 密钥",
        403: "权限不足",
        413: "请求体过大",
        422: "请求参数有误（field 指出哪个字段）",
    }.items()
}

_LOCATIONS = {"body", "query", "path", "header", "cookie"}

_MESSAGES: dict[str, str] = {
    "missing": "缺少此字段",
    "string_type": "应为字符串",
    "string_too_short": "不能为空",
    "string_too_long": "不能超过 {max_length} 个字符",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限的数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "list_type": "应为列表",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "dict_type": "应为 JSON 对象",
    "model_type": "应为 JSON 对象",
    "model_attributes_type": "应为 JSON 对象",
    "extra_forbidden": "不支持的字段",
    "uuid_type": "应为检索结果返回的 query_id（UUID 格式）",
    "uuid_parsing": "应为检索结果返回的 query_id（UUID 格式）",
    "uuid_version": "应为检索结果返回的 query_id（UUID 格式）",
    "date_type": "日期无效，应写成 YYYY-MM-DD",
    "date_parsing": "日期无效，应写成 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期无效，应写成 YYYY-MM-DD",
    "date_from_datetime_inexact": "日期无效，应写成 YYYY-MM-DD",
    "datetime_parsing": "时间无效，应写成 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM:SS",
    "datetime_from_date_parsing": "时间无效，应写成 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM:SS",
    "greater_than_equal": "应不小于 {ge}",
    "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}",
    "less_than": "应小于 {lt}",
    "json_invalid": "请求体不是合法的 JSON",
    "json_type": "请求体不是合法的 JSON",
}


def field_name(loc: Sequence[Any]) -> str:
    """``("body", "filters", "kind", 0)`` → ``filters.kind[0]``; the request body itself is ``body``."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name or "body"


def translate(error: dict[str, Any]) -> ErrorItem:
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    loc = tuple(error.get("loc") or ())
    if kind == "json_invalid":
        return ErrorItem(field="body", message="请求体不是合法的 JSON")
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return ErrorItem(field=field_name(loc), message=str(ctx["error"]))
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", " / ").replace(", ", " / ")
        return ErrorItem(field=field_name(loc), message=f"取值无效，可选：{expected}")
    if kind in ("model_attributes_type", "dict_type", "model_type") and len(loc) <= 1:
        if isinstance(error.get("input"), bytes | str):
            return ErrorItem(field="body", message="请求体应为 JSON 对象（Content-Type: application/json）")
        return ErrorItem(field="body", message="请求体应为 JSON 对象")
    if kind == "missing" and loc == ("body",):
        return ErrorItem(field="body", message="缺少请求体（JSON 对象）")
    template = _MESSAGES.get(kind, "格式不正确")
    try:
        message = template.format(**{k: v for k, v in ctx.items() if isinstance(v, int | float | str)})
    except (KeyError, IndexError, ValueError):
        message = template.split("{")[0].strip() or "格式不正确"
    return ErrorItem(field=field_name(loc), message=message)


_STATUS_MESSAGES = {
    400: "请求有误",
    401: "未授权",
    403: "权限不足",
    404: "接口不存在",
    405: "不支持此请求方法",
    406: "不支持的响应格式",
    413: "请求体过大",
    415: "不支持的请求格式：请使用 Content-Type: application/json",
    429: "请求过于频繁",
}


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = [translate(e) for e in exc.errors()]
    unique = list({(i.field, i.message): i for i in items}.values())
    return error_response(422, unique)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = getattr(exc, "headers", None)
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, ErrorItem(field=exc.field, message=exc.message), headers)
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError | UnicodeError):
        # FastAPI's body parser gave up (invalid UTF-8, a number too long to parse, nesting too deep):
        # for the caller that is just malformed JSON.
        return error_response(422, ErrorItem(field="body", message="请求体不是合法的 JSON（须为 UTF-8 编码）"))
    message = _STATUS_MESSAGES.get(exc.status_code, "请求有误" if exc.status_code < 500 else "服务暂时不可用")
    return error_response(exc.status_code, ErrorItem(field=None, message=message), headers)


async def _auth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'} if exc.status == 401 else None
    return error_response(exc.status, ErrorItem(field="X-API-Key", message=exc.message), headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(AuthError, _auth_error)
