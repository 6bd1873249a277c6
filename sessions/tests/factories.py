"""Factories for support sessions and their event log, with the invariants sessions.services keeps: the agent
is a member of the session's organization whose role takes sessions, the share code is nine digits and expires,
and a joined customer's credential is stored hashed (``session.customer_token`` is the plaintext)."""

from __future__ import annotations

import secrets

import factory
from django.conf import settings
from django.utils import timezone

from connect.ids import new_secret, secret_hash
from orgs.models import Role
from orgs.tests.factories import KeepsPlaintext, MembershipFactory, OrganizationFactory
from sessions.models import ChatMessage, SessionEvent, SessionNote, Status, SupportSession
from sessions.services import CUSTOMER_TOKEN_PREFIX


class SupportSessionFactory(KeepsPlaintext):
    """A waiting session. ``SupportSessionFactory(joined=True)``: the customer has entered the code and holds
    ``session.customer_token``; ``active=True``: they consented too."""

    _plaintext = "customer_token"

    class Meta:
        model = SupportSession

    class Params:
        joined = False
        active = factory.Trait(
            joined=True,
            status=Status.ACTIVE,
            started_at=factory.LazyFunction(timezone.now),
        )

    organization = factory.SubFactory(OrganizationFactory)
    agent = factory.LazyAttribute(lambda o: MembershipFactory(organization=o.organization, role=Role.AGENT).user)
    agent_label = factory.LazyAttribute(lambda o: o.agent.get_full_name()[:150] if o.agent else "")
    code = factory.LazyFunction(lambda: f"{secrets.randbelow(10**9):09d}")
    code_expires_at = factory.LazyFunction(lambda: timezone.now() + settings.CONNECT_SHARE_CODE_TTL)
    status = Status.WAITING
    customer_name = factory.Faker("name")
    customer_token = factory.LazyAttribute(lambda o: new_secret(CUSTOMER_TOKEN_PREFIX) if o.joined else "")
    customer_token_hash = factory.LazyAttribute(lambda o: secret_hash(o.customer_token) if o.customer_token else "")
    joined_at = factory.LazyAttribute(lambda o: timezone.now() if o.joined else None)


class SessionEventFactory(factory.django.DjangoModelFactory):
    """One line of a session's log, by the session's agent unless told otherwise."""

    class Meta:
        model = SessionEvent

    session = factory.SubFactory(SupportSessionFactory)
    type = "created"
    actor_kind = "agent"
    actor = factory.LazyAttribute(lambda o: o.session.agent)
    ip = "192.0.2.10"
    data = factory.LazyFunction(dict)


class ChatMessageFactory(factory.django.DjangoModelFactory):
    """One chat line of an active session, sent by its agent unless told otherwise."""

    class Meta:
        model = ChatMessage

    session = factory.SubFactory(SupportSessionFactory, active=True)
    sender_kind = "agent"
    sender = factory.LazyAttribute(lambda o: o.session.agent)
    sender_name = factory.LazyAttribute(lambda o: o.sender.get_full_name() if o.sender else "Customer")
    text = factory.Faker("sentence")


class SessionNoteFactory(factory.django.DjangoModelFactory):
    """A private note the session's agent keeps on it."""

    class Meta:
        model = SessionNote

    session = factory.SubFactory(SupportSessionFactory)
    author = factory.LazyAttribute(lambda o: o.session.agent)
    author_label = factory.LazyAttribute(lambda o: o.author.get_full_name() if o.author else "")
    text = factory.Faker("sentence")
