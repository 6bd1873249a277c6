import pytest
from django.core.management import CommandError, call_command

from connect.errors import ApplicationError, Conflict
from orgs import services
from orgs.models import Membership, Organization, Role, User
from orgs.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_create_org_creates_organization_and_owner(capsys):
    call_command("create_org", "Acme Inc", owner="Alice@Acme.test", password=PASSWORD)
    org = Organization.objects.get(slug="acme-inc")
    assert org.name == "Acme Inc" and org.public_id.startswith("org_")
    alice = User.objects.get(email="alice@acme.test")
    assert alice.check_password(PASSWORD)
    assert Membership.objects.get(organization=org, user=alice).role == Role.OWNER
    assert "Created organization 'Acme Inc'" in capsys.readouterr().out


def test_password_from_environment(monkeypatch):
    monkeypatch.setenv("CONNECT_OWNER_PASSWORD", PASSWORD)
    call_command("create_org", "Acme Inc", owner="alice@acme.test")
    assert User.objects.get(email="alice@acme.test").check_password(PASSWORD)


def test_existing_slug_fails_clearly_and_creates_nothing():
    call_command("create_org", "Acme Inc", owner="alice@acme.test", slug="acme", password=PASSWORD)
    with pytest.raises(CommandError, match="slug 'acme' already exists"):
        call_command("create_org", "Acme Two", owner="zed@acme.test", slug="acme", password=PASSWORD)
    assert Organization.objects.count() == 1
    assert not User.objects.filter(email="zed@acme.test").exists()


def test_malformed_owner_email_fails_clearly():
    with pytest.raises(CommandError, match="not a valid e-mail"):
        call_command("create_org", "Acme Inc", owner="alice-at-acme", password=PASSWORD)
    assert not Organization.objects.exists()


def test_missing_password_without_terminal_fails_clearly(monkeypatch):
    monkeypatch.delenv("CONNECT_OWNER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="needs a password"):
        call_command("create_org", "Acme Inc", owner="alice@acme.test")
    assert not Organization.objects.exists()


def test_existing_user_becomes_owner_without_password_change():
    User.objects.create_user(email="alice@acme.test", password=PASSWORD)
    call_command("create_org", "Globex", owner="alice@acme.test")
    assert User.objects.get(email="alice@acme.test").check_password(PASSWORD)
    assert Membership.objects.get(organization__slug="globex").role == Role.OWNER


def test_bad_slug_is_explained():
    with pytest.raises(ApplicationError) as exc:
        services.organization_create(
            name="Acme", slug="Not A Slug!", owner_email="a@acme.test", owner_password=PASSWORD
        )
    assert exc.value.details["suggestion"] == "not-a-slug"


def test_duplicate_slug_from_service_is_conflict(acme):
    with pytest.raises(Conflict) as exc:
        services.organization_create(name="Acme", slug="acme", owner_email="a@acme.test", owner_password=PASSWORD)
    assert exc.value.code == "slug_taken"
