"""Every absolute link comes from one place, and without CONNECT_SITE_URL it points where the product serves."""

from __future__ import annotations

import os
import subprocess
import sys

from rest_framework.test import APIClient

from orgs.services import invitation_url


def _site_url(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("CONNECT_SITE_URL", "CONNECT_SERVE_PORT")}
    code = "import django; django.setup(); from django.conf import settings; print(settings.SITE_URL)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**environment, "DJANGO_SETTINGS_MODULE": "connect.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_unset_site_url_follows_the_served_port():
    assert _site_url() == "http://127.0.0.1:8000"
    assert _site_url(CONNECT_SERVE_PORT="9000") == "http://127.0.0.1:9000"
    assert _site_url(CONNECT_SERVE_PORT="9000", CONNECT_SITE_URL="https://connect.example.com/") == (
        "https://connect.example.com"
    )


def test_join_and_invitation_links_use_the_site_url(settings, acme, bob):
    settings.SITE_URL = "https://support.example.com"
    client = APIClient()
    client.force_login(bob)
    session = client.post("/api/v1/sessions", {}, format="json").json()
    assert session["join_url"] == f"https://support.example.com/join/{session['code']}"
    page = client.get(f"/o/acme/sessions/{session['id']}/").content.decode()
    assert f"https://support.example.com/join/{session['code']}" in page
    assert invitation_url("tok123") == "https://support.example.com/invitations/tok123/"
