"""Admin operations on the running service: POST /v1/admin/reload (serve the version `current` names)."""

from __future__ import annotations

from fastapi import APIRouter

from kbassist.api.deps import AdminRole, ReloaderDep
from kbassist.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from kbassist.api.models import ReloadResponse
from kbassist.api.reload import NotAnIndexRootError, ReloadFailedError

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post(
    "/reload",
    response_model=ReloadResponse,
    responses={
        **ERROR_RESPONSES,
        409: {"model": ErrorBody, "description": "服务是按单个索引版本目录启动的，无 current 可跟随"},
        500: {"model": ErrorBody, "description": "current 指向的版本无法加载；旧版本继续服务"},
    },
    summary="热加载索引：改用 current 指向的版本（管理员）",
)
def reload(role: AdminRole, reloader: ReloaderDep) -> ReloadResponse:
    """After `kbassist build` or `kbassist index rollback`. In-flight requests finish on the old version.

    Plain ``def``: opening a version reads files and embeds the intent examples, off the event loop.
    """
    try:
        result = reloader.reload("api")
    except NotAnIndexRootError as exc:
        raise ApiError(409, str(exc)) from None
    except ReloadFailedError as exc:
        raise ApiError(500, exc.message) from None
    return ReloadResponse(
        previous_version=result.previous_version, version=result.version, changed=result.changed, took_ms=result.took_ms
    )
