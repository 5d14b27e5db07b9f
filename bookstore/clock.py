"""The one source of the current time; tests patch `utcnow` to move it."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Return `value` as aware UTC; SQLite hands back naive datetimes stored in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def isoformat(value: datetime) -> str:
    """Render a datetime as RFC 3339 UTC with a trailing Z, second precision."""
    # Hot in listings: naive values (SQLite) are UTC already; isoformat() is
    # cheaper than strftime.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"
