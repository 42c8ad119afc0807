"""Routers that skip what cannot match before running a pattern.

FastAPI tries an app's routes one after another, and each try costs a few microseconds of Python: with about a
hundred routes, finding one deep in the list took about 0.2 ms a request. A route's path holds literal text up to
its first ``{parameter}`` (its head), and any request path it matches contains that text, whatever prefix the
router was included under (a prefix only goes in front). So ``Route`` and ``Router`` answer ``Match.NONE`` at once
for a path that contains none of their heads, and run FastAPI's own matching (patterns, methods, the 405 for a
known path with another method) only for the rest. tests/api/test_routing.py holds the app to reaching every route
exactly as it does without the gate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Scope


def literal_head(path: str) -> str:
    """The literal text of a route pattern up to its first parameter: every path it matches contains it."""
    return path.split("{", 1)[0]


class Route(APIRoute):
    """An ``APIRoute`` that refuses a path without its literal head before trying its pattern."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.head = literal_head(self.path)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and self.head not in scope["path"]:
            return Match.NONE, {}
        return super().matches(scope)


def heads_pattern(routes: Sequence[BaseRoute]) -> re.Pattern[str] | None:
    """A pattern found in every path one of ``routes`` can match (any of their heads), or None when a route has
    no path to take a head from (then nothing may be skipped)."""
    paths = [getattr(route, "path", None) for route in routes]
    if not all(isinstance(path, str) and path for path in paths):
        return None
    heads = sorted({literal_head(path) for path in paths if isinstance(path, str)})
    return re.compile("|".join(re.escape(head) for head in heads))


class Router(APIRouter):
    """An ``APIRouter`` of ``Route``s that answers ``Match.NONE`` for a path holding none of its routes' heads."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(route_class=Route, **kwargs)
        self._heads: re.Pattern[str] | None = None
        self._heads_of: tuple[int, BaseRoute | None] = (-1, None)  # how many routes, and the last one (held)

    def heads(self) -> re.Pattern[str] | None:
        """The pattern of ``heads_pattern`` for the routes as they are now (worked out again when they change)."""
        routes = self.routes
        count, last = len(routes), (routes[-1] if routes else None)  # taken first: a route added meanwhile shows
        if count != self._heads_of[0] or last is not self._heads_of[1]:  # next time
            self._heads = heads_pattern(list(routes))
            self._heads_of = (count, last)
        return self._heads

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        heads = self.heads()
        if heads is not None and scope["type"] == "http" and heads.search(scope["path"]) is None:
            return Match.NONE, {}
        return super().matches(scope)
