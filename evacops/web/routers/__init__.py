"""The routers: one module per resource under ``/api/v1``, and the pages."""

from evacops.web.routers import (
    admin,
    auth,
    dedup,
    flights,
    operations,
    pages,
    people,
    replans,
    scans,
    work,
)

#: in the order requests are matched against them: the scans first (a gate's scans are most of
#: the requests, and each router passed over costs a match of its routes; no two routers share a
#: path, so the order changes nothing else)
ROUTERS = [
    scans.router,
    auth.router,
    operations.router,
    replans.router,
    people.router,
    flights.router,
    dedup.router,
    admin.router,
    admin.pages,
    auth.pages,
    pages.router,
    replans.pages,
    work.router,
    pages.sw,
]


def api_routes() -> list:
    """Every route of the service (each an ``APIRoute`` with its full path and name): the route
    table the permission matrix is checked against."""
    from fastapi.routing import APIRoute

    return [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
