"""What the API routers share: pagination (``limit``, an opaque ``cursor``)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from fastapi import Query

from evacops.errors import UserError

API = "/api/v1"
OP = API + "/operations/{op}"


class Page:
    """``limit`` (1..500, default 100) and ``cursor`` (from the previous page's
    ``next_cursor``)."""

    def __init__(self, limit: int = Query(100, ge=1, le=500), cursor: str | None = None):
        self.limit = limit
        self.offset = 0
        if cursor:
            try:
                self.offset = int(base64.urlsafe_b64decode(cursor.encode()).decode())
            except ValueError:
                raise UserError("not a cursor from this API", field="cursor") from None

    def of(self, items: Sequence[Any]) -> dict[str, Any]:
        return self.window(items[self.offset : self.offset + self.limit], len(items))

    def window(self, chunk: Sequence[Any], total: int) -> dict[str, Any]:
        """The page of ``chunk``, the items from ``offset`` (at most ``limit``) of ``total``
        that a service cut itself."""
        end = self.offset + len(chunk)
        nxt = base64.urlsafe_b64encode(str(end).encode()).decode() if end < total else None
        return {"items": list(chunk), "next_cursor": nxt, "total": total}
