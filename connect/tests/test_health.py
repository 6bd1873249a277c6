import pytest
from django.test import override_settings


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_dependency(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True}
    assert ("redis" in checks) == bool(settings.REDIS_URL)


@pytest.mark.django_db
@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_readyz_names_what_is_down(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()["error"]
    assert body["code"] == "not_ready" and body["details"]["down"] == ["redis"]
    assert "redis" in body["message"]


def test_api_404_uses_the_error_shape(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
