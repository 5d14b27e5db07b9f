"""Helpers for the personal access token tests: mint one through the API."""

from __future__ import annotations

from datetime import datetime

from tests.auth.helpers import API

TOKENS = f"{API}/auth/tokens"
ALL_SCOPES = ["books:read", "books:write", "profile:read"]
DAY = 86_400


def mint(client, headers: dict, scopes=("books:read",), **extra) -> dict:
    """Create a personal access token through the API; return the 201 body."""
    response = client.post(
        TOKENS, json={"name": "ci", "scopes": list(scopes), **extra}, headers=headers
    )
    assert response.status_code == 201, response.json
    return response.json


def pat(body_or_token) -> dict:
    token = body_or_token if isinstance(body_or_token, str) else body_or_token["token"]
    return {"Authorization": f"Bearer {token}"}


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp of the API (with its Z) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
