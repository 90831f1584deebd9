"""The agent-sidebar HTTP service: ``create_app(settings)`` over the core-search library."""

from kbassist.api.app import create_app

__all__ = ["create_app"]
