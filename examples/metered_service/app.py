"""A tiny data API metered by creditbook: every call reserves its worst case, settles by what
it returned, and answers with the receipt in `X-Creditbook-*` headers.

    CREDITBOOK_URL=http://127.0.0.1:8000 CREDITBOOK_KEY=cb_... \\
        ../../.venv/bin/uvicorn app:app --port 8001
"""

# No `from __future__ import annotations`: FastAPI must see the dependencies made inside
# create_app, which string annotations would hide.
import os
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request

from creditbook.client import AsyncClient
from creditbook.metering import Meter, MeteredRoute, metered

LEADS = [f"lead-{n}" for n in range(30)]  # the whole "database": a search finds at most 30


def _requested(request: Request) -> int:
    return int(request.query_params.get("limit", "10"))


def create_app(*, base_url: str, key: str) -> FastAPI:
    client = AsyncClient(base_url=base_url, key=key)
    router = APIRouter(route_class=MeteredRoute)
    search_meter = metered(client, operation="search_database", units=_requested)
    email_meter = metered(client, operation="email_find", units=1)

    @router.get("/search")
    async def search(
        meter: Annotated[Meter, Depends(search_meter)],
        q: str = "",
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        """Charged per result returned, never more than `limit`."""
        found = [lead for lead in LEADS if q in lead][:limit]
        meter.units = len(found)
        return {"results": found}

    @router.get("/email")
    async def email(
        meter: Annotated[Meter, Depends(email_meter)], name: str = ""
    ) -> dict[str, Any]:
        """One unit per address found; a failure is not charged."""
        if name == "boom":
            raise HTTPException(status_code=503, detail="The mail server did not answer.")
        if not name:
            meter.units = 0  # nothing found: the reservation is settled at zero
            return {"email": None}
        return {"email": f"{name}@example.com"}

    app = FastAPI(title="Metered example service")
    app.include_router(router)
    app.router.on_shutdown.append(client.aclose)
    return app


app = create_app(
    base_url=os.environ.get("CREDITBOOK_URL", "http://127.0.0.1:8000"),
    key=os.environ.get("CREDITBOOK_KEY", ""),
)
