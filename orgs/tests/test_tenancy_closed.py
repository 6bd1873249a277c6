"""The tenant boundary fails closed: a query of an org-owned model that names no organization is refused.

Every model of every installed app that reaches ``orgs.Organization`` through foreign keys (directly, or through
another org-owned model) is checked, so a future model of ours that forgets the scoped manager fails here.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models
from django.db.models import Q
from django.utils import timezone

from connect.api.views import OrgAPIView
from connect.errors import NotFound
from integrations.models import APIKey, WebhookDelivery, WebhookEndpoint, WebhookEvent
from orgs.models import Invitation, Membership, Organization, Role
from orgs.roles import scopes_for_role
from orgs.tenancy import (
    OrgContext,
    UnscopedQuery,
    cross_organization,
    memberships_of,
    org_context_for_user,
)
from sessions import services as session_services
from sessions.models import SessionEvent, SupportSession

# Not ours, and reached only by a credential's hash or through an application we already scoped: the toolkit's
# token rows point at our (guarded) Application, and its own code looks them up by token checksum or code.
THIRD_PARTY = {
    "oauth2_provider.AccessToken": "django-oauth-toolkit: looked up by token checksum, in the toolkit's own code",
    "oauth2_provider.RefreshToken": "django-oauth-toolkit: looked up by token checksum, in the toolkit's own code",
    "oauth2_provider.Grant": "django-oauth-toolkit: authorization codes, looked up by code and client",
    "oauth2_provider.IDToken": "django-oauth-toolkit: OpenID Connect (off), looked up by jti",
}


def _org_owned_models() -> list[type[models.Model]]:
    """Every model with a foreign-key path to Organization, found by walking foreign keys to a fixpoint."""
    owned: set[type[models.Model]] = set()
    grew = True
    while grew:
        grew = False
        for model in apps.get_models():
            if model in owned:
                continue
            for field in model._meta.concrete_fields:
                if (
                    field.is_relation
                    and (field.many_to_one or field.one_to_one)
                    and (field.related_model is Organization or field.related_model in owned)
                ):
                    owned.add(model)
                    grew = True
                    break
    return sorted(owned, key=lambda model: model._meta.label)


OURS = [model for model in _org_owned_models() if model._meta.label not in THIRD_PARTY]


def test_the_walk_finds_the_models_we_know_are_org_owned():
    labels = {model._meta.label for model in OURS}
    assert {
        "orgs.Membership",
        "orgs.Invitation",
        "support.SupportSession",
        "support.SessionEvent",
        "integrations.Application",
        "integrations.APIKey",
        "integrations.OrganizationSSO",
        "integrations.WebhookDelivery",
        "integrations.DeliveryAttempt",
    } <= labels
    # The exclusions name models that exist: a stale entry would hide nothing and mislead.
    assert set(THIRD_PARTY) <= {model._meta.label for model in _org_owned_models()}


@pytest.mark.parametrize("model", OURS, ids=lambda model: model._meta.label)
def test_every_org_owned_model_refuses_an_unscoped_query_and_answers_a_scoped_one(model, acme):
    with pytest.raises(UnscopedQuery, match=model.__name__):
        model.objects.count()
    with pytest.raises(UnscopedQuery):
        list(model.objects.all()[:1])
    with pytest.raises(UnscopedQuery):
        model.objects.filter(pk__gt=0).exists()
    with pytest.raises(UnscopedQuery):
        model.objects.update()
    assert model.objects.for_org(acme).count() == 0
    assert list(model.objects.for_org(acme)[:1]) == []


def test_every_refusal_says_what_to_call(acme):
    with pytest.raises(UnscopedQuery) as refused:
        SessionEvent.objects.filter(type="chat").first()
    message = str(refused.value)
    assert "support.SessionEvent" in message and "for_org(organization)" in message and "unscoped(" in message


def test_get_delete_aggregate_values_iterator_and_in_bulk_are_refused_too(acme, alice):
    queries = [
        lambda: Membership.objects.get(user=alice),
        lambda: Membership.objects.filter(user=alice).delete(),
        lambda: Membership.objects.aggregate(models.Count("pk")),
        lambda: list(Membership.objects.values_list("role", flat=True)),
        lambda: next(Membership.objects.iterator()),
        lambda: Membership.objects.in_bulk(),
        lambda: Membership.objects.filter(user=alice).update(role=Role.AGENT),
    ]
    for query in queries:
        with pytest.raises(UnscopedQuery):
            query()
    assert Membership.objects.for_org(acme).get(user=alice).role == Role.OWNER  # nothing was changed


def test_filters_that_do_not_pin_one_organization_are_refused(acme, globex, alice, gina):
    for queryset in [
        Membership.objects.filter(Q(organization=acme) | Q(role=Role.OWNER)),
        Membership.objects.exclude(organization=globex),
        Membership.objects.filter(organization__in=[acme, globex]),
        Membership.objects.filter(organization__status=Organization.Status.ACTIVE),
        # Another membership of the same person is in acme: that pins the other row, not this one.
        Membership.objects.filter(user__memberships__organization=acme),
        Membership.objects.filter(organization__in=Organization.objects.all()),
    ]:
        with pytest.raises(UnscopedQuery):
            list(queryset)


def test_for_org_of_another_organization_returns_none_of_this_ones_rows(acme, globex, alice, bob, gina):
    acme_rows = set(Membership.objects.for_org(acme).values_list("pk", flat=True))
    globex_rows = set(Membership.objects.for_org(globex).values_list("pk", flat=True))
    assert len(acme_rows) >= 2 and globex_rows and not acme_rows & globex_rows
    session = session_services.session_start(
        org=org_context_for_user(bob, "acme"), actor=session_services.Actor(kind="agent", user=bob)
    )
    assert SessionEvent.objects.for_org(acme).filter(session=session).exists()
    assert not SessionEvent.objects.for_org(globex).exists()  # owned through its session, scoped all the same


def test_chaining_keeps_the_scope_and_the_escape_hatch(acme, globex, alice, bob, gina):
    chained = Membership.objects.for_org(acme).filter(role__in=[Role.OWNER, Role.AGENT]).exclude(user=gina)
    assert sorted(chained.order_by("user__email").values_list("user__email", flat=True)) == [
        "alice@acme.test",
        "bob@acme.test",
    ]
    assert chained.select_related("user").first() is not None
    everyone = Membership.objects.unscoped("test: every organization").filter(role=Role.OWNER).order_by("pk")
    assert {m.organization_id for m in everyone.select_related("organization")} == {acme.pk, globex.pk}


def test_the_escape_hatch_needs_a_reason(acme, globex, alice, gina):
    for reason in ["", "   ", None]:
        with pytest.raises(ValueError, match="reason"):
            Membership.objects.unscoped(reason)
        with pytest.raises(ValueError, match="reason"), cross_organization(reason):
            pass
    with cross_organization("test: a sweep over every organization"):
        assert Membership.objects.filter(role=Role.OWNER).count() == 2
    with pytest.raises(UnscopedQuery):  # the block ended, and with it the crossing
        Membership.objects.filter(role=Role.OWNER).count()


def test_reverse_managers_of_a_held_parent_answer(acme, alice, bob):
    assert acme.membership_set.count() >= 2
    assert acme.membership_set.filter(user=alice).get().role == Role.OWNER
    session = session_services.session_start(
        org=org_context_for_user(bob, "acme"), actor=session_services.Actor(kind="agent", user=bob)
    )
    assert session.events.filter(type="created").exists()
    # A person's own memberships across organizations is the named crossing, not the reverse manager.
    with pytest.raises(UnscopedQuery):
        alice.memberships.count()
    assert memberships_of(alice).count() == 1


def test_prefetching_the_rows_of_held_parents_answers(acme, globex, django_assert_num_queries):
    endpoint = WebhookEndpoint.objects.create(organization=acme, url="https://203.0.113.9/", secret="s")
    event = WebhookEvent.objects.create(organization=acme, type="session.ended", data={})
    WebhookDelivery.objects.create(event=event, endpoint=endpoint)
    WebhookEndpoint.objects.create(organization=globex, url="https://203.0.113.10/", secret="s")
    with django_assert_num_queries(3):
        endpoints = list(WebhookEndpoint.objects.for_org(acme).prefetch_related("deliveries__attempt_log"))
    assert [len(e.deliveries.all()) for e in endpoints] == [1]


def test_django_unique_checks_see_every_organization(acme, globex, alice):
    Invitation.objects.create(
        organization=globex, email="x@globex.test", token_hash="a" * 64, expires_at=timezone.now() + timedelta(days=1)
    )
    clash = Invitation(
        organization=acme, email="y@acme.test", token_hash="a" * 64, expires_at=timezone.now() + timedelta(days=1)
    )
    with pytest.raises(Exception, match="token"):
        clash.full_clean()  # Django's unique check ran (through the escape hatch) and found globex's row


def test_the_admin_and_dumpdata_still_read_every_organization(client, django_user_model, acme, globex, alice, gina):
    staff = django_user_model.objects.create_superuser(email="ops@connect.test", password="x" * 20)
    client.force_login(staff)
    for page in [
        "/admin/orgs/membership/",
        "/admin/orgs/organization/",
        f"/admin/orgs/organization/{acme.pk}/change/",
        "/admin/integrations/apikey/",
        "/admin/integrations/application/",
        "/admin/oauth2_provider/accesstoken/",
    ]:
        response = client.get(page)
        assert response.status_code == 200, page
    assert "gina@globex.test" in client.get("/admin/orgs/membership/").content.decode()
    out = io.StringIO()
    call_command("dumpdata", "orgs.Membership", stdout=out)
    assert '"orgs.membership"' in out.getvalue() and out.getvalue().count('"model"') == 2


class _KeyView(OrgAPIView):
    model = APIKey
    lookup_field = "public_id"
    lookup_url_kwarg = "key_id"


def _view(view_class: type[OrgAPIView], organization: Organization, key: APIKey) -> OrgAPIView:
    view = view_class()
    view.org = OrgContext(organization, None, scopes_for_role(Role.OWNER))
    view.kwargs = {"key_id": key.public_id}
    return view


def _key(organization: Organization, name: str) -> APIKey:
    return APIKey.objects.create(organization=organization, name=name, prefix=name, key_hash=name * 8, scopes=[])


def test_the_api_base_view_answers_only_an_object_of_its_organization(acme, globex):
    ours, theirs = _key(acme, "ours"), _key(globex, "theirs")
    assert _view(_KeyView, acme, ours).get_object() == ours
    with pytest.raises(NotFound):
        _view(_KeyView, acme, theirs).get_object()

    class Careless(_KeyView):
        def dangerously_get_queryset(self):
            return APIKey.objects.unscoped("test: a view that escaped")

    # Even when a view knowingly escapes the organization, get_object checks the object it found.
    with pytest.raises(NotFound):
        _view(Careless, acme, theirs).get_object()
    assert _view(Careless, acme, ours).get_object() == ours

    class Replacing(_KeyView):
        def scope_queryset(self, queryset):
            return APIKey.objects.unscoped("test: scope_queryset replaced the organization's rows")

    with pytest.raises(UnscopedQuery):
        _view(Replacing, acme, ours).get_object()


def test_api_views_cannot_override_get_object_or_get_queryset():
    for name in ["get_object", "get_queryset"]:
        with pytest.raises(TypeError, match=name):
            type("Sneaky", (OrgAPIView,), {name: lambda self: None, "__module__": __name__})


def test_sessions_of_other_organizations_stay_out_of_reach_of_the_scoped_manager(acme, globex, bob, gina):
    session_services.session_start(
        org=org_context_for_user(gina, "globex"), actor=session_services.Actor(kind="agent", user=gina)
    )
    assert SupportSession.objects.for_org(acme).count() == 0
    with pytest.raises(UnscopedQuery):
        SupportSession.objects.filter(status="waiting").count()
