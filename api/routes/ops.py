"""Operations routes: health (public) and Prometheus metrics (public, no personal data)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import LedgerDep
from api.schemas import HealthPublic

router = APIRouter(tags=["operations"])


@router.get("/healthz")
@router.head("/healthz", include_in_schema=False)
def healthz(ledger: LedgerDep) -> HealthPublic:
    """Liveness and readiness: the database answers; how far checkpoints and anchors lag behind the log.

    A failing chain does not make the service unhealthy (appends go on); it shows as ``anchoring: failing``.
    """
    size = ledger.size()
    latest = ledger.latest_checkpoint()
    covered = latest.tree_size if latest else 0
    if ledger.anchorer is None:
        return HealthPublic(status="ok", tree_size=size, checkpoint_size=covered, checkpoint_lag=size - covered,
                            anchoring="off", anchor_lag=None, anchoring_error=None)
    state = ledger.anchor_status(limit=1)
    failed = state["jobs"].get("failed", 0)
    error = state["last_error"] or (
        f"{failed} anchoring transaction(s) failed; see /v1/log/anchors" if failed else None)
    mode = "failing" if error else ("standby" if ledger.anchorer.standby else "ok")
    return HealthPublic(status="ok", tree_size=size, checkpoint_size=covered, checkpoint_lag=size - covered,
                        anchoring=mode, anchor_lag=state["lag"], anchoring_error=error)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the ledger's metrics."""
    request.app.state.metrics.refresh()
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
