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
        chunk = list(items[self.offset : self.offset + self.limit])
        end = self.offset + len(chunk)
        nxt = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
        return {"items": chunk, "next_cursor": nxt, "total": len(items)}
