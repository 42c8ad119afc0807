"""Routers that skip what cannot match before running a pattern.

FastAPI tries an app's routes one after another, and each try costs a few microseconds of Python: with about a
hundred routes, finding one deep in the list took about 0.2 ms a request. Every route's path starts with literal
text up to its first ``{parameter}``; a path that does not start with it cannot match, so ``Route`` and ``Router``
answer ``Match.NONE`` for it at once, and run FastAPI's own matching (patterns, methods, the 405 for a known path
with another method) only for the rest. They are for routers included without a prefix, as ``api.app`` does
(a route's head is taken from its own path); tests/api/test_routing.py fails if the app ever reaches a route
differently with the gate than without it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette._utils import get_route_path  # the path routes match against (root_path taken off), as Starlette's own
from starlette.routing import Match
from starlette.types import Scope


def literal_head(path: str) -> str:
    """The text every request path this route pattern matches starts with: up to its first parameter."""
    return path.split("{", 1)[0]


class Route(APIRoute):
    """An ``APIRoute`` that refuses a path outside its literal head without trying its pattern."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.head = literal_head(self.path)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and not get_route_path(scope).startswith(self.head):
            return Match.NONE, {}
        return super().matches(scope)


class Router(APIRouter):
    """An ``APIRouter`` of ``Route``s that answers ``Match.NONE`` for a path none of its routes' heads begins."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=Route, **kwargs)
        self._heads: tuple[str, ...] | None = None
        self._heads_of = -1

    def heads(self) -> tuple[str, ...] | None:
        """Every route's literal head, or None when a route has no path to take one from (then nothing is
        skipped). Worked out again when routes are added."""
        if self._heads_of != len(self.routes):
            paths = [getattr(route, "path", None) for route in self.routes]
            self._heads = (tuple(literal_head(path) for path in paths if isinstance(path, str))
                           if all(isinstance(path, str) and path for path in paths) else None)
            self._heads_of = len(self.routes)
        return self._heads

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        heads = self.heads()
        if heads is not None and scope["type"] == "http" and not get_route_path(scope).startswith(heads):
            return Match.NONE, {}
        return super().matches(scope)
