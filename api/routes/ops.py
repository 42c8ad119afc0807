"""Operations routes: health (public) and Prometheus metrics (public, no personal data)."""

from __future__ import annotations

from typing import Literal

from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import AnchoringDep, LogDep
from api.routing import Router
from api.schemas import HealthPublic

router = Router(tags=["operations"])


@router.get("/healthz")
@router.head("/healthz", include_in_schema=False)
def healthz(log: LogDep, anchoring: AnchoringDep) -> HealthPublic:
    """Liveness and readiness: the database answers; how far checkpoints and anchors lag behind the log.

    A failing chain does not make the service unhealthy (appends go on); it shows as ``anchoring: failing``.
    """
    size = log.size()
    latest = log.latest_checkpoint()
    covered = latest.tree_size if latest else 0
    if not anchoring.configured:
        return HealthPublic(status="ok", tree_size=size, checkpoint_size=covered, checkpoint_lag=size - covered,
                            anchoring="off", anchor_lag=None, anchoring_error=None)
    state = anchoring.status(limit=1)
    error = state.last_error or (
        f"{state.failed} anchoring transaction(s) failed; see /v1/log/anchors" if state.failed else None)
    mode: Literal["failing", "standby", "ok"] = "failing" if error else ("standby" if state.standby else "ok")
    return HealthPublic(status="ok", tree_size=size, checkpoint_size=covered, checkpoint_lag=size - covered,
                        anchoring=mode, anchor_lag=state.lag, anchoring_error=error)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the ledger's metrics."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
