"""Who is calling: the caller and their session as the guards saw them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated user as the session check saw them: ids and role.

    Enough for every ownership and admin check; the guards load the full User
    row only for the endpoints that show or change it.
    """

    id: int
    public_id: uuid.UUID
    is_admin: bool


@dataclass(frozen=True, slots=True)
class SessionRef:
    """The caller's session as the guard saw it: enough to revoke or compare it."""

    id: int
    public_id: uuid.UUID
    user: Caller
