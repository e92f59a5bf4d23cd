"""The HTTP system-call API (FastAPI)."""

from aos.api.app import create_app

__all__ = ["create_app"]
