"""Credentials the WebSocket suites connect with: a native app's token pair, and a ticket made from a token."""

from __future__ import annotations

from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from orgs.tests.factories import PASSWORD


@database_sync_to_async
def native_pair(email: str) -> dict:
    response = APIClient().post(
        "/api/v1/auth/token",
        {"email": email, "password": PASSWORD, "device": {"name": "Surface", "platform": "windows"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    return response.json()


async def native_token(email: str) -> str:
    return (await native_pair(email))["access_token"]


@database_sync_to_async
def ticket_for(token: str) -> str:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post("/api/v1/ws-ticket")
    assert response.status_code == 200, response.content
    return response.json()["ticket"]
