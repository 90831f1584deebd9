"""The agent sidebar page: ``GET /`` and its two assets under ``/web/``, static files shipped in the package.

Only the files listed here are served, never a path taken from the request. The page builds every piece
of knowledge-base text with ``textContent``; the Content-Security-Policy is a second line: no inline
script, no script or style from anywhere else, so even a mistake there could not run injected code.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from kbassist.api.errors import ApiError

router = APIRouter(include_in_schema=False)

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"

ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}

# connect-src allows any http(s) origin: the page may be pointed at the API of another origin (设置 → 服务地址).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' http: https:; object-src 'none'; base-uri 'none'; form-action 'none'"
)

# no-cache still lets the browser revalidate with the ETag: a new release shows at the next reload.
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _file(name: str, media_type: str) -> FileResponse:
    path = WEB_DIR / name
    if not path.is_file():
        raise ApiError(404, f"页面文件 {name} 缺失：安装包不完整，请重新安装 kbassist")
    return FileResponse(path, media_type=media_type, headers=HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
async def sidebar() -> FileResponse:
    response = _file("index.html", "text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


@router.api_route("/web/{name}", methods=["GET", "HEAD"])
async def asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, "页面资源不存在", "name")
    return _file(name, media_type)
