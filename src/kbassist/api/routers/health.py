"""Probes and metrics: /healthz (alive), /readyz (index loaded), /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from kbassist.api.deps import AgentRole, HolderDep, MetricsDep
from kbassist.api.errors import ApiError, ErrorBody
from kbassist.api.models import Health, Ready
from kbassist.api.state import IndexNotLoadedError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="存活检查")
async def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Ready, responses={503: {"model": ErrorBody}}, summary="就绪检查")
async def readyz(holder: HolderDep) -> Ready:
    try:
        searcher = holder.get()
    except IndexNotLoadedError:
        raise ApiError(503, "索引尚未加载", headers={"Retry-After": "5"}) from None
    manifest = searcher.data.manifest
    counts = {k: int(v) for k, v in manifest.get("counts", {}).items() if isinstance(v, int)}
    return Ready(
        index_version=searcher.version,
        entries=len(searcher.entries),
        counts=counts,
        built_at=manifest.get("built_at"),
        model=searcher.data.model_id,
    )


@router.get("/metrics", response_class=Response, summary="Prometheus 指标（需密钥）")
async def metrics(metrics: MetricsDep, role: AgentRole) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)
