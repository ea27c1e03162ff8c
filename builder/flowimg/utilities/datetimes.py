"""Datetimes that print like pendulum's, as Prefect 1's context values did (str ISO with 'T')."""
from __future__ import annotations

import datetime
from typing import Any, cast


class DateTime(datetime.datetime):
    """A stdlib datetime; only its str() and repr() follow pendulum (arithmetic keeps the type)."""

    def __str__(self) -> str:
        return self.isoformat()

    def __repr__(self) -> str:
        parts = [self.year, self.month, self.day, self.hour, self.minute, self.second]
        if self.microsecond:
            parts.append(self.microsecond)
        zone = ""
        if self.tzinfo is not None:
            name = "UTC" if self.utcoffset() == datetime.timedelta(0) else str(self.tzinfo)
            zone = f", tzinfo=Timezone('{name}')"
        return f"DateTime({', '.join(map(str, parts))}{zone})"


def as_datetime(value: Any) -> Any:
    """The same instant as a DateTime (anything that is not a datetime is returned unchanged)."""
    if isinstance(value, DateTime) or not isinstance(value, datetime.datetime):
        return value
    return DateTime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                    value.microsecond, tzinfo=value.tzinfo, fold=value.fold)


def now() -> DateTime:
    return cast(DateTime, as_datetime(datetime.datetime.now(datetime.timezone.utc)))
