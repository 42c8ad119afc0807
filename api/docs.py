"""Swagger UI at /docs, served from the project's own copy of swagger-ui-dist (no CDN), when enabled."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ledger.errors import ConfigurationError

VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
SWAGGER = VENDOR / "swagger-ui-dist"


def install_docs(app: FastAPI) -> None:
    """Serve /docs and its assets. Raises ``ConfigurationError`` if the assets were not built."""
    if not (SWAGGER / "swagger-ui-bundle.js").is_file():
        raise ConfigurationError(f"LIFELEDGER_API_DOCS is on but {SWAGGER} has no Swagger UI assets; run "
                                 f"`make setup` (it copies them from node_modules)")
    app.mount("/static/vendor", StaticFiles(directory=VENDOR), name="vendor")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="lifeledger API",
                                   swagger_js_url="/static/vendor/swagger-ui-dist/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui-dist/swagger-ui.css",
                                   swagger_favicon_url="/static/vendor/swagger-ui-dist/favicon-32x32.png")
