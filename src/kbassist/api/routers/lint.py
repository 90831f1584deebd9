"""POST /v1/lint: the agent's draft reply checked before it is sent (kbassist.lint)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from kbassist.api.deps import AgentRole, SettingsDep
from kbassist.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from kbassist.api.models import LintRequest
from kbassist.assistdata import LINT_RULES, AssistDataError
from kbassist.lint import LintReport, get_linter

router = APIRouter(prefix="/v1", tags=["assist"])
log = logging.getLogger("kbassist.api")


@router.post(
    "/lint",
    response_model=LintReport,
    responses={**ERROR_RESPONSES, 503: {"model": ErrorBody, "description": "规则文件缺失或有误"}},
    summary="合规检查：否定表达、绝对化用语、个人信息",
)
def lint(role: AgentRole, body: LintRequest, settings: SettingsDep) -> Response:
    """Each hit has its character offsets (``text[start:end]``), the rule and positive alternatives.

    The draft is never logged: it may hold the customer's phone number, which is what the lint is for.
    Plain ``def``: the rules file is stat'ed (and re-read after an edit) off the event loop.
    """
    rules = settings.assist_folder / LINT_RULES
    try:
        linter = get_linter(rules)
    except AssistDataError as exc:
        log.error("lint rules %s unusable: %s", rules, exc)
        raise ApiError(
            503, "合规检查暂不可用：规则文件缺失或有误，请联系管理员", headers={"Retry-After": "60"}
        ) from None
    report = linter.lint(body.text)
    return Response(report.model_dump_json(), media_type="application/json")
