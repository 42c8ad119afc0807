"""The ``lifeledger`` command line and the HTTP clients it drives (demo load, published evidence)."""

from __future__ import annotations

from api.cli.main import app, main

__all__ = ["app", "main"]
