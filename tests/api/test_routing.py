"""The routers' literal-head gate: it skips what cannot match, and never changes which route a request reaches."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from fastapi.testclient import TestClient
from starlette.routing import Match

from api.app import create_app
from api.routing import Route, Router, literal_head
from ledger.settings import Settings

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def test_literal_head_is_the_text_before_the_first_parameter() -> None:
    assert literal_head("/v1/policies/{no}/servicing") == "/v1/policies/"
    assert literal_head("/v1/applications") == "/v1/applications"
    assert literal_head("/{path:path}") == "/"


def small_app() -> FastAPI:
    things = Router()

    @things.get("/v1/things/{thing_id}")
    def read(thing_id: int) -> dict[str, int]:
        return {"read": thing_id}

    @things.post("/v1/things")
    def make() -> dict[str, str]:
        return {"made": "yes"}

    others = Router(prefix="/v1/others")

    @others.get("/{name}")
    def other(name: str) -> dict[str, str]:
        return {"other": name}

    app = FastAPI()
    app.include_router(things)
    app.include_router(others)
    return app


def test_gated_routers_answer_as_fastapi_does() -> None:
    with TestClient(small_app()) as client:
        assert client.get("/v1/things/7").json() == {"read": 7}
        assert client.post("/v1/things").json() == {"made": "yes"}
        assert client.get("/v1/others/x").json() == {"other": "x"}
        wrong_method = client.delete("/v1/things/7")
        assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"
        assert client.get("/v1/things/seven").status_code == 422
        assert client.get("/v1/nothing").status_code == 404


def test_a_path_outside_every_head_never_reaches_fastapis_matching(monkeypatch: pytest.MonkeyPatch) -> None:
    router = Router()
    router.add_api_route("/v1/things/{thing_id}", lambda thing_id: thing_id, methods=["GET"])

    def refuse(*_: Any) -> Any:
        raise AssertionError("FastAPI's matching ran for a path the gate should have refused")

    monkeypatch.setattr(APIRouter, "matches", refuse)
    monkeypatch.setattr(APIRoute, "matches", refuse)
    scope = {"type": "http", "method": "GET", "path": "/v1/other/7", "root_path": ""}
    assert router.matches(scope) == (Match.NONE, {})
    route = router.routes[0]
    assert isinstance(route, Route)
    assert route.matches(scope) == (Match.NONE, {})


def test_heads_follow_routes_added_later() -> None:
    router = Router()
    router.add_api_route("/v1/a", lambda: None, methods=["GET"])
    heads = router.heads()
    assert heads is not None and heads.search("/v1/a") and not heads.search("/v1/b/7")
    router.add_api_route("/v1/b/{x}", lambda x: x, methods=["GET"])
    heads = router.heads()
    assert heads is not None and heads.search("/v1/b/7")
    router.routes.pop()
    router.add_api_route("/v1/c/{x}", lambda x: x, methods=["GET"])  # as many routes as before, another one last
    heads = router.heads()
    assert heads is not None and heads.search("/v1/c/7") and not heads.search("/v1/b/7")


def answers(app: FastAPI, requests: list[tuple[str, str]], *, root_path: str = "") -> list[tuple[int, str, str]]:
    with TestClient(app, root_path=root_path, follow_redirects=False) as client:
        found = []
        for method, path in requests:
            answer = client.request(method, path)
            found.append((answer.status_code, answer.headers.get("allow", ""), answer.headers.get("location", "")))
        return found


def routers_app(kind: type[APIRouter], *, prefix: str, nested: bool) -> FastAPI:
    """Two routers, included under ``prefix`` (or nested in a parent router under it), built of ``kind``."""
    things = kind()
    things.add_api_route("/things/{thing_id}", lambda thing_id: {"thing": thing_id}, methods=["GET"])
    things.add_api_route("/items", lambda: {"items": []}, methods=["GET", "POST"])
    files = kind()
    files.add_api_route("/files/{rest:path}", lambda rest: {"file": rest}, methods=["GET"])
    app = FastAPI()
    if nested:
        parent = kind(prefix=prefix)
        parent.include_router(things)
        parent.include_router(files)
        app.include_router(parent)
    else:
        app.include_router(things, prefix=prefix)
        app.include_router(files, prefix=prefix)
    return app


@pytest.mark.parametrize(("prefix", "nested"), [("", False), ("/api", False), ("/api", True),
                                                ("/t/{tenant}", False)])
def test_routers_included_under_a_prefix_answer_as_fastapis_own(prefix: str, nested: bool) -> None:
    base = prefix.replace("{tenant}", "acme")
    requests = [(method, base + path) for method in ("GET", "POST", "DELETE")
                for path in ("/things/7", "/things/", "/things", "/items", "/items/", "/files/a/b.pdf", "/files/",
                             "/nothing", "/api/things/7", "/things/7/more")]
    plain = answers(routers_app(APIRouter, prefix=prefix, nested=nested), requests)
    gated = answers(routers_app(Router, prefix=prefix, nested=nested), requests)
    assert gated == plain
    assert (200, "", "") in gated and any(status == 405 for status, _, _ in gated)


def test_a_root_path_changes_nothing() -> None:
    requests = [("GET", "/things/7"), ("GET", "/app/things/7"), ("POST", "/things/7"), ("GET", "/items/")]
    for root_path in ("", "/app"):
        assert (answers(routers_app(Router, prefix="", nested=False), requests, root_path=root_path)
                == answers(routers_app(APIRouter, prefix="", nested=False), requests, root_path=root_path))


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def dispatch(app: FastAPI, method: str, path: str) -> tuple[Match, Any]:
    """Which route the app's router picks for a request, as Starlette's loop does (first full match, else the
    first partial one), looking inside each included router for the route it holds."""
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}
    partial: tuple[Match, Any] | None = None
    for route in app.router.routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        # a router the app includes: FastAPI's own lookup names the route inside it
        inner = route._match({**scope, **child})[2] if hasattr(route, "original_router") else route
        if match is Match.FULL:
            return match, inner
        partial = partial or (match, inner)
    return partial or (Match.NONE, None)


@pytest.fixture
def real_app(settings: Settings) -> Iterator[FastAPI]:
    with TestClient(create_app(settings)) as client:
        yield client.app  # type: ignore[misc]


def test_every_route_of_the_app_is_reached_as_without_the_gate(real_app: FastAPI,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    routes = [inner for route in real_app.routes if hasattr(route, "original_router")
              for inner in route.original_router.routes]
    # the paths as routes declare them and as the app serves them (OpenAPI's, with any include prefix)
    declared = {route.path for route in routes if isinstance(route, APIRoute)}
    paths = sorted({concrete(path) for path in declared | set(real_app.openapi()["paths"])})
    probes = [*paths, *(path + "/" for path in paths), "/v1/nowhere", "/v1/policies/x1/nowhere", "/v1/policies", "/"]
    assert len(paths) > 50
    gated = {(method, path): dispatch(real_app, method, path) for path in probes for method in METHODS}
    monkeypatch.setattr(Router, "heads", lambda self: None)
    monkeypatch.setattr(Route, "matches", APIRoute.matches)
    plain = {(method, path): dispatch(real_app, method, path) for path in probes for method in METHODS}
    assert gated == plain
    assert sum(match is Match.FULL for match, _ in gated.values()) >= len(paths)
