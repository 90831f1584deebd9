"""Logging for the service: uvicorn's format, our loggers beside it, personal data masked on the way out.

Nothing logs a request body. The filter is a second line of defence for what does get logged: the
access log's request line (a path or query string someone filled with a phone number) and messages.
"""

from __future__ import annotations

import copy
import logging
from typing import Any
from urllib.parse import quote, unquote

from uvicorn.config import LOGGING_CONFIG

from kbassist.privacy import find_personal_data, mask_personal_data


class MaskPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = {k: _masked(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_masked(a) for a in record.args)
        if isinstance(record.msg, str):
            record.msg = mask_personal_data(record.msg)
        return True


def _masked(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = mask_personal_data(value)
    if "%" in value:
        # A request line is percent-encoded: "139%208765%204321" is a phone number too. It is only
        # re-encoded when masking changed it, so a log line never gains raw control characters.
        decoded = unquote(value)
        if find_personal_data(decoded):
            value = quote(mask_personal_data(decoded), safe="/?&=:*@+,;.~-_")
    return value


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging config plus the masking filter and the ``kbassist`` logger."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["mask_personal_data"] = {"()": "kbassist.api.logs.MaskPersonalData"}
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("mask_personal_data")
    config["loggers"]["kbassist"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config
