"""Shared pieces of the scenario's pydantic models: the strict base model, number types with
their bounds, and the check of a time reference."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from evacops.scenario.timeline import OFFSET, TimeRef

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(ge=0, le=1)]


def check_timeref(value: TimeRef) -> TimeRef:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"must be timezone-aware, e.g. 2021-08-14T00:00:00+04:30, got {value.isoformat()}"
            )
        return value
    if isinstance(value, str):
        if OFFSET.match(value):
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"must be a time like 2021-08-14T00:00:00+04:30 or an offset like '+12h', "
                f"got {value!r}"
            ) from None
        return check_timeref(parsed)
    raise ValueError(f"must be a time or an offset like '+12h', got {value!r}")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)
