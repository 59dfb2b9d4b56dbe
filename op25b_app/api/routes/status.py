"""``/status``: controllers and switches as the controllers reported them (``op25b status``).

Read from the database, never from a controller, so it answers - and shows a
controller's last heartbeat - while that controller is down.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from op25b_app.api import schemas
from op25b_app.api.routes.common import READ, Service

router = APIRouter(tags=["status"])


@router.get("/status", operation_id="getStatus", response_model=schemas.Status,
            responses=READ,
            summary="Controllers and switches as reported in the database (op25b status)")
def get_status(svc: Service) -> dict[str, Any]:
    return svc.status()
