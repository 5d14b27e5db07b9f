"""SQL expressions that render a column as its JSON text inside the database.

A listing page turns 20 rows into JSON; parsing each UUID and timestamp into a
Python object only to format it back into a string was a fifth of the request.
These render the wire form directly, per dialect, and are held to the Python
formatting (clock.isoformat, str(uuid)) by the tests on both databases.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class RFC3339(FunctionElement):
    """A UTC timestamp as RFC 3339 text with a Z, second precision (truncated)."""

    type = sa.String()
    name = "rfc3339"
    inherit_cache = True


class UUIDText(FunctionElement):
    """A UUID as its canonical lower-case, hyphenated text."""

    type = sa.String()
    name = "uuid_text"
    inherit_cache = True


@compiles(RFC3339, "sqlite")
def _rfc3339_sqlite(element, compiler, **kw):
    # SQLAlchemy stores SQLite timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff', in UTC:
    # cut and joined as text (strftime() would parse each value first).
    (column,) = element.clauses
    value = compiler.process(column, **kw)
    return f"substr({value}, 1, 10) || 'T' || substr({value}, 12, 8) || 'Z'"


@compiles(RFC3339, "postgresql")
def _rfc3339_postgresql(element, compiler, **kw):
    (column,) = element.clauses
    value = compiler.process(column, **kw)
    return f"to_char({value} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


@compiles(UUIDText, "sqlite")
def _uuid_text_sqlite(element, compiler, **kw):
    # SQLAlchemy stores a UUID on SQLite as 32 lower-case hex digits.
    (column,) = element.clauses
    value = compiler.process(column, **kw)
    parts = [f"substr({value}, {start}, {size})" for start, size in _UUID_GROUPS]
    return " || '-' || ".join(parts)


@compiles(UUIDText, "postgresql")
def _uuid_text_postgresql(element, compiler, **kw):
    (column,) = element.clauses
    return f"CAST({compiler.process(column, **kw)} AS TEXT)"


@compiles(RFC3339)
@compiles(UUIDText)
def _for_reading(element, compiler, **kw):
    # Any other dialect (str() of a statement, in logs and errors): readable only.
    (column,) = element.clauses
    return f"{element.name}({compiler.process(column, **kw)})"


_UUID_GROUPS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
