"""The routers: one module per resource under ``/api/v1``, and the pages."""

from evacops.web.routers import (
    admin,
    auth,
    dedup,
    flights,
    operations,
    pages,
    people,
    scans,
)

ROUTERS = [
    auth.router,
    operations.router,
    people.router,
    scans.router,
    flights.router,
    dedup.router,
    admin.router,
    auth.pages,
    pages.router,
    pages.sw,
]
