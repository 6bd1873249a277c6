"""Machines: enrollment, the list and its tenancy, policies, connecting (and every refusal audited), the socket."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, time, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEntry
from machines import presence, services
from machines.consumers import signed_message
from machines.models import EnrollmentToken, Machine, MachineConnection, MachineGroup
from orgs.tenancy import org_context_for_user
from sessions.models import Status, SupportSession


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def new_key() -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return private, base64.urlsafe_b64encode(raw).decode().rstrip("=")


def token_for(user, slug="acme", **kwargs) -> str:
    return services.enrollment_token_create(org=org_context_for_user(user, slug), name="laptops", **kwargs)[1]


def enroll(token: str, public_key: str, hostname="pc-1"):
    return APIClient().post(
        "/api/v1/machines/enroll",
        {"token": token, "hostname": hostname, "os": "linux", "public_key": public_key, "agent_version": "0.1.0"},
        format="json",
    )


def enrolled(user, slug="acme", hostname="pc-1") -> tuple[Machine, Ed25519PrivateKey]:
    private, public = new_key()
    response = enroll(token_for(user, slug), public, hostname)
    assert response.status_code == 201, response.content
    return Machine.objects.unscoped("test").get(public_id=response.json()["machine_id"]), private


def online(machine: Machine) -> None:
    async_to_sync(presence.machine_online)(machine.public_id, {})


@pytest.mark.django_db
class TestEnrollment:
    def test_a_token_enrolls_one_machine_into_its_group(self, alice):
        machine, _key = enrolled(alice)
        assert machine.organization.slug == "acme" and machine.group.name == services.DEFAULT_GROUP_NAME
        assert AuditEntry.objects.unscoped("test").filter(action="machine.enrolled", target_id=machine.public_id)
        again = enroll(EnrollmentToken.objects.unscoped("t").get().prefix, new_key()[1])
        assert again.status_code == 401

    def test_a_single_use_token_is_spent(self, alice):
        token = token_for(alice)
        assert enroll(token, new_key()[1]).status_code == 201
        second = enroll(token, new_key()[1], "pc-2")
        assert second.status_code == 401 and second.json()["error"]["code"] == "enrollment_token_used"
        assert Machine.objects.unscoped("t").count() == 1

    def test_expired_and_revoked_tokens_are_refused(self, alice):
        token = token_for(alice)
        EnrollmentToken.objects.unscoped("t").update(expires_at=timezone.now() - timedelta(seconds=1))
        assert enroll(token, new_key()[1]).json()["error"]["code"] == "enrollment_token_expired"
        other = token_for(alice, max_uses=None)
        row = EnrollmentToken.objects.unscoped("t").get(prefix=other[:10])
        services.enrollment_token_revoke(org=org_context_for_user(alice, "acme"), token=row)
        assert enroll(other, new_key()[1]).json()["error"]["code"] == "enrollment_token_revoked"
        assert not Machine.objects.unscoped("t").exists()

    @pytest.mark.parametrize(
        "change",
        [{"public_key": "short"}, {"os": "amiga"}, {"hostname": ""}, {"hostname": "x" * 300}, {"extra": 1}],
    )
    def test_bad_input_changes_nothing(self, alice, change):
        body = {"token": token_for(alice), "hostname": "pc", "os": "linux", "public_key": new_key()[1], **change}
        response = APIClient().post("/api/v1/machines/enroll", body, format="json")
        assert response.status_code == 400 and "error" in response.json()
        assert not Machine.objects.unscoped("t").exists()
        assert EnrollmentToken.objects.unscoped("t").get().uses == 0

    def test_wrong_tokens_are_rate_limited(self, alice, settings):
        settings.CONNECT_CODE_ATTEMPTS_PER_MINUTE = 3
        for _ in range(3):
            assert enroll("cme_wrong", new_key()[1]).status_code == 401
        assert enroll(token_for(alice), new_key()[1]).status_code == 429

    def test_the_plan_limits_machines(self, alice):
        from billing.models import License

        license_ = (
            License.objects.unscoped("t").get(organization__slug="acme")
            if License.objects.unscoped("t").exists()
            else None
        )
        enrolled(alice)
        license_ = license_ or License.objects.unscoped("t").get(organization__slug="acme")
        license_.overrides = {"unattended_machines": 1}
        license_.save()
        response = enroll(token_for(alice), new_key()[1], "pc-2")
        assert response.status_code == 402
        assert response.json()["error"]["details"]["limit"] == "unattended_machines"


@pytest.mark.django_db
class TestTenancy:
    def test_another_organization_cannot_reach_a_machine(self, alice, gina):
        machine, _ = enrolled(alice)
        client = api(gina)
        assert client.get("/api/v1/machines").json()["results"] == []
        for method, path in [
            ("get", f"/api/v1/machines/{machine.public_id}"),
            ("patch", f"/api/v1/machines/{machine.public_id}"),
            ("delete", f"/api/v1/machines/{machine.public_id}"),
            ("post", f"/api/v1/machines/{machine.public_id}/sessions"),
            ("get", f"/api/v1/machines/{machine.public_id}/connections"),
        ]:
            assert getattr(client, method)(path, {}, format="json").status_code == 404, path
        assert Machine.objects.unscoped("t").get().removed_at is None
        assert not SupportSession.objects.unscoped("t").exists()
        self_client = APIClient()
        self_client.force_login(gina)
        assert self_client.get(f"/o/acme/machines/{machine.public_id}/").status_code == 404
        assert self_client.get(f"/o/globex/machines/{machine.public_id}/").status_code == 404

    def test_an_agent_sees_the_list_but_cannot_change_it(self, alice, bob):
        machine, _ = enrolled(alice)
        client = api(bob)
        assert [m["id"] for m in client.get("/api/v1/machines").json()["results"]] == [machine.public_id]
        assert client.patch(f"/api/v1/machines/{machine.public_id}", {"name": "x"}, format="json").status_code == 403
        assert client.post("/api/v1/machine-enrollment-tokens", {"name": "t"}, format="json").status_code == 403
        assert Machine.objects.unscoped("t").get().name == "pc-1"


@pytest.mark.django_db
class TestConnecting:
    def test_an_admin_connects_to_an_online_machine(self, alice):
        machine, _ = enrolled(alice)
        online(machine)
        response = api(alice).post(f"/api/v1/machines/{machine.public_id}/sessions", format="json")
        assert response.status_code == 201, response.content
        session = SupportSession.objects.unscoped("t").get(public_id=response.json()["id"])
        assert session.status == Status.CONSENT_REQUESTED and session.customer_name == "pc-1"
        assert MachineConnection.objects.unscoped("t").get().outcome == "opened"
        assert AuditEntry.objects.unscoped("t").filter(action="machine.connected").count() == 1

    def test_an_offline_machine_says_so(self, alice):
        machine, _ = enrolled(alice)
        response = api(alice).post(f"/api/v1/machines/{machine.public_id}/sessions", format="json")
        assert response.status_code == 409 and response.json()["error"]["code"] == "machine_offline"

    def test_policy_forbids_another_agent_and_the_refusal_is_audited(self, alice, bob):
        machine, _ = enrolled(alice)
        online(machine)
        response = api(bob).post(f"/api/v1/machines/{machine.public_id}/sessions", format="json")
        assert response.status_code == 403 and response.json()["error"]["code"] == "machine_policy_forbids"
        assert not SupportSession.objects.unscoped("t").exists()
        refused = MachineConnection.objects.unscoped("t").get()
        assert refused.outcome == "refused" and refused.user == bob
        entry = AuditEntry.objects.unscoped("t").get(action="machine.connection_refused")
        assert entry.data == {"reason": "machine_policy_forbids"}

    def test_a_listed_agent_may_connect_and_another_may_not(self, alice, bob, carol):
        machine, _ = enrolled(alice)
        online(machine)
        services.group_save(
            org=org_context_for_user(alice, "acme"),
            group=machine.group,
            name=machine.group.name,
            access=MachineGroup.Access.LISTED,
            allowed_users=[bob],
        )
        assert api(bob).post(f"/api/v1/machines/{machine.public_id}/sessions").status_code == 201
        assert api(carol).post(f"/api/v1/machines/{machine.public_id}/sessions").status_code == 403

    def test_outside_the_allowed_hours_is_refused(self, alice):
        machine, _ = enrolled(alice)
        online(machine)
        now = timezone.now().astimezone(UTC)
        start = (datetime.combine(now.date(), now.time()) + timedelta(hours=2)).time().replace(second=0, microsecond=0)
        end = (datetime.combine(now.date(), now.time()) + timedelta(hours=3)).time().replace(second=0, microsecond=0)
        services.group_save(
            org=org_context_for_user(alice, "acme"),
            group=machine.group,
            name=machine.group.name,
            hours_start=start,
            hours_end=end,
        )
        response = api(alice).post(f"/api/v1/machines/{machine.public_id}/sessions")
        assert response.status_code == 403 and response.json()["error"]["code"] == "machine_outside_hours"
        assert AuditEntry.objects.unscoped("t").filter(action="machine.connection_refused").count() == 1

    def test_hours_spanning_midnight(self, alice):
        machine, _ = enrolled(alice)
        group = machine.group
        group.hours_start, group.hours_end = time(22, 0), time(6, 0)
        assert services._within_hours(group, datetime(2026, 12, 1, 23, 0, tzinfo=UTC))
        assert services._within_hours(group, datetime(2026, 12, 1, 5, 59, tzinfo=UTC))
        assert not services._within_hours(group, datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
        group.weekdays = [0]  # 2026-12-01 is a Tuesday
        assert not services._within_hours(group, datetime(2026, 12, 1, 23, 0, tzinfo=UTC))

    @pytest.mark.parametrize(
        "body",
        [{"timezone": "Mars/Olympus"}, {"weekdays": [7]}, {"hours_start": "09:00"}, {"access": "everyone"}],
    )
    def test_bad_policies_are_refused(self, alice, body):
        machine, _ = enrolled(alice)
        response = api(alice).patch(f"/api/v1/machine-groups/{machine.group.public_id}", body, format="json")
        assert response.status_code == 400, response.content
        group = MachineGroup.objects.unscoped("t").get()
        assert group.timezone == "UTC" and group.weekdays == [] and group.hours_start is None


@pytest.mark.django_db(transaction=True)
class TestMachineSocket:
    async def _open(self, machine_id, headers=None):
        from connect.asgi import application

        communicator = WebsocketCommunicator(
            application,
            "/ws/v1/machine",
            headers=headers if headers is not None else [(b"authorization", f"Machine {machine_id}".encode())],
        )
        connected, _ = await communicator.connect()
        return communicator, connected

    async def test_a_signed_challenge_brings_the_machine_online_and_it_hears_requests(self, alice):
        machine, key = await database_sync_to_async(enrolled)(alice)
        communicator, connected = await self._open(machine.public_id)
        assert connected
        challenge = await communicator.receive_json_from()
        assert challenge["type"] == "challenge"
        signature = base64.urlsafe_b64encode(key.sign(signed_message(machine.public_id, challenge["nonce"]))).decode()
        await communicator.send_json_to({"type": "auth", "signature": signature, "agent_version": "0.2.0"})
        hello = await communicator.receive_json_from()
        assert hello["type"] == "hello" and hello["machine"]["id"] == machine.public_id
        assert await database_sync_to_async(presence.machine_online_sync)(machine.public_id)
        response = await database_sync_to_async(
            lambda: api(alice).post(f"/api/v1/machines/{machine.public_id}/sessions")
        )()
        assert response.status_code == 201
        request = await communicator.receive_json_from(timeout=5)
        assert request["type"] == "session.request" and request["session"] == response.json()["id"]
        assert request["customer_token"].startswith("cst_")
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from())["type"] == "pong"
        await database_sync_to_async(
            lambda: services.machine_remove(org=org_context_for_user(alice, "acme"), machine=machine)
        )()
        removed = await communicator.receive_json_from(timeout=5)
        assert removed["code"] == "machine_removed"
        assert (await communicator.receive_output(timeout=5))["code"] == 4403

    async def test_a_wrong_signature_is_refused(self, alice):
        machine, _key = await database_sync_to_async(enrolled)(alice)
        impostor, _ = new_key()
        communicator, _connected = await self._open(machine.public_id)
        challenge = await communicator.receive_json_from()
        signature = base64.urlsafe_b64encode(
            impostor.sign(signed_message(machine.public_id, challenge["nonce"]))
        ).decode()
        await communicator.send_json_to({"type": "auth", "signature": signature})
        assert (await communicator.receive_json_from())["code"] == "auth_failed"
        assert (await communicator.receive_output(timeout=5))["code"] == 4401
        assert not await database_sync_to_async(presence.machine_online_sync)(machine.public_id)

    async def test_nothing_before_auth_and_no_browser(self, alice):
        machine, _key = await database_sync_to_async(enrolled)(alice)
        communicator, _ = await self._open(machine.public_id)
        await communicator.receive_json_from()
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from())["code"] == "not_allowed"
        await communicator.send_to(text_data="not json")
        assert (await communicator.receive_json_from())["code"] == "malformed"
        await communicator.disconnect()
        browser, connected = await self._open(
            machine.public_id,
            headers=[(b"origin", b"http://localhost"), (b"authorization", f"Machine {machine.public_id}".encode())],
        )
        assert not connected


@pytest.mark.django_db
class TestPages:
    def login(self, user):
        client = APIClient()
        client.force_login(user)
        return client

    def test_the_list_enroll_and_policy_pages(self, alice):
        machine, _ = enrolled(alice)
        online(machine)
        client = self.login(alice)
        page = client.get("/o/acme/machines/")
        assert page.status_code == 200 and b"pc-1" in page.content and b"Connect" in page.content
        connected = client.post(f"/o/acme/machines/{machine.public_id}/connect")
        assert connected.status_code == 302 and "/sessions/ses_" in connected["Location"]
        created = client.post(
            "/o/acme/machines/enroll/",
            {"name": "Office", "group": machine.group.public_id, "uses": "many", "expires_in_hours": 24},
        )
        assert created.status_code == 201 and b"connect-agent enroll --server" in created.content
        group_page = client.post(
            f"/o/acme/machines/groups/{machine.group.public_id}/",
            {"name": "Office", "access": "agents", "timezone": "Europe/Berlin", "weekdays": ["0", "1"]},
        )
        assert group_page.status_code == 302
        group = MachineGroup.objects.unscoped("t").get()
        assert group.access == "agents" and group.weekdays == [0, 1] and group.timezone == "Europe/Berlin"

    def test_an_agent_cannot_open_enrollment(self, bob):
        client = self.login(bob)
        assert client.get("/o/acme/machines/").status_code == 200
        assert client.get("/o/acme/machines/enroll/").status_code == 403
