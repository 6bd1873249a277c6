"""Every domain event, declared once: its name, what it means, and the fields its payload holds.

The webhook catalogue (``integrations.webhooks.catalogue``), the subscription choices and the event list in
``docs/webhooks.md`` (``python manage.py events_doc --write``) are all computed from these declarations, so an event
cannot exist in one place and be missing from another. The mechanism that emits them is :mod:`connect.events`.

Each event is a frozen dataclass: its envelope (``organization``, ``actor``) and its payload fields. Building one with
a missing or unknown field raises ``TypeError`` where it is built; :func:`check` also checks the payload's types, and
``connect.events.emit`` calls it, so a malformed event fails in development at the line that emits it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, dataclass_transform

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from orgs.models import Organization

__all__ = [
    "DECLARED",
    "Actor",
    "APIKeyCreated",
    "APIKeyRevoked",
    "AuditEntryAppended",
    "AuditTarget",
    "Event",
    "MemberAdded",
    "MemberRemoved",
    "MemberRoleChanged",
    "SessionConsentRequested",
    "SessionCreated",
    "SessionDeclined",
    "SessionEnded",
    "SessionEvent",
    "SessionExpired",
    "SessionRated",
    "SessionStarted",
    "SessionTransferred",
    "SessionUpdated",
    "WebhookTest",
    "check",
    "payload_fields",
    "webhook_types",
]

# No payload field may take these names: the webhook ``data`` holds the envelope's keys beside the payload, and the
# others are the class's own attributes.
RESERVED_NAMES = ("organization_id", "actor", "type", "description", "webhook", "payload", "webhook_data")


def described(text: str, **kwargs: Any) -> Any:
    """A dataclass field with its one-line description (rendered in docs/webhooks.md)."""
    return dataclasses.field(metadata={"doc": text}, **kwargs)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Actor:
    """Who caused the event, as a snapshot: a receiver needs no lookup, and the person may since be erased."""

    kind: str = described(
        "`user` (a person, however signed in), `api_key` or `oauth_app` (an organization's machine credential), "
        "`api` (one of those, unnamed), `customer` (the person helped in a session) or `system`"
    )
    id: str = described("public id of the user, API key or OAuth2 application; empty for a customer or the system")
    label: str = described("what to show for them: a name or e-mail address, a customer's name, `system`")

    @classmethod
    def system(cls) -> Actor:
        return cls(kind="system", id="", label="system")

    @classmethod
    def of_user(cls, user: Any) -> Actor:
        return cls(kind="user", id=user.public_id, label=person_label(user))

    @classmethod
    def of_org_context(cls, org: Any) -> Actor:
        """The acting principal of an ``OrgContext``: its person, else its organization's machine credential."""
        if org.user is not None:
            return cls.of_user(org.user)
        principal = org.principal
        if principal is None:
            return cls(kind="api", id="", label="api")
        return cls.of(principal)

    @classmethod
    def of(cls, party: Any) -> Actor:
        """The snapshot of whoever acts, for events and the audit log alike: a user, a request's ``Principal`` or
        ``OrgContext``, a session ``Actor`` (agent, customer, system, a machine credential), an API key, or ``None``
        (the system)."""
        if party is None:
            return cls.system()
        if isinstance(party, Actor):
            return party
        if hasattr(party, "membership") and hasattr(party, "organization"):  # an OrgContext
            return cls.of_org_context(party)
        if hasattr(party, "credential_id") and hasattr(party, "kind"):  # a Principal
            if party.user is not None:
                return cls.of_user(party.user)
            kind = {"api_key": "api_key", "oauth": "oauth_app"}.get(party.kind, party.kind)
            return cls(kind=kind, id=party.credential_id, label=party.credential_id or kind)
        if hasattr(party, "user_agent") and hasattr(party, "kind"):  # a session Actor
            if party.user is not None:
                return cls.of_user(party.user)
            return cls(kind=party.kind, id=party.credential_id, label=(party.label or party.kind)[:LABEL_MAX])
        if getattr(party, "is_authenticated", False) and hasattr(party, "public_id"):  # a user
            return cls.of_user(party)
        if party.__class__.__name__ == "APIKey":
            return cls(kind="api_key", id=party.public_id, label=party.name[:LABEL_MAX])
        raise TypeError(f"cannot snapshot {party!r} as an actor")


LABEL_MAX = 150


def person_label(user: Any) -> str:
    """How a person is shown in events and the audit log: ``Name <e-mail>``, or the address alone."""
    return (f"{user.name} <{user.email}>" if getattr(user, "name", "") else user.email)[:LABEL_MAX]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Event:
    """The envelope every event carries. Subclasses declared with :func:`declare` add the payload fields."""

    type: ClassVar[str] = ""
    description: ClassVar[str | Promise] = ""
    webhook: ClassVar[bool] = True

    organization: Organization
    actor: Actor

    def payload(self) -> dict[str, Any]:
        """The payload, JSON-ready (datetimes as ISO 8601)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in payload_fields(type(self))}

    def webhook_data(self) -> dict[str, Any]:
        """What a webhook's ``data`` holds: the organization's public id, the actor, then the payload."""
        return {
            "organization_id": self.organization.public_id,
            "actor": _jsonable(self.actor),
            **self.payload(),
        }


DECLARED: dict[str, type[Event]] = {}
E = TypeVar("E", bound=type[Event])


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(dataclasses.field, described))
def declare(name: str, description: str | Promise, *, webhook: bool = True) -> Callable[[E], E]:
    """Declare an event type. ``webhook=False`` keeps it in-process (subscribers only, no outbox, no docs)."""

    def register(cls: E) -> E:
        if name in DECLARED:
            raise TypeError(f"event type {name!r} is declared twice")
        cls = dataclasses.dataclass(frozen=True, kw_only=True)(cls)
        cls.type, cls.description, cls.webhook = name, description, webhook
        for f in payload_fields(cls):
            if f.name in RESERVED_NAMES or "doc" not in f.metadata:
                raise TypeError(f"{name}: payload field {f.name!r} needs a description and a name of its own")
        DECLARED[name] = cls
        return cls

    return register


def payload_fields(cls: type) -> list[dataclasses.Field]:
    envelope = {f.name for f in dataclasses.fields(Event)}
    return [f for f in dataclasses.fields(cls) if f.name not in envelope]


def webhook_types() -> dict[str, type[Event]]:
    """The declared events integrations can subscribe to, by name, in declaration order."""
    return {name: cls for name, cls in DECLARED.items() if cls.webhook}


# --- Checking an event against its declaration --------------------------------------------------------------


def hints(cls: type) -> dict[str, Any]:
    # ``Organization`` is only imported for type checkers: at run time the envelope check below covers it.
    return typing.get_type_hints(cls, localns={"Organization": object})


def check(event: Event) -> None:
    """Raise ``TypeError`` unless ``event`` is a declared type whose fields hold what its declaration says."""
    cls = type(event)
    if not isinstance(event, Event) or DECLARED.get(cls.type) is not cls:
        raise TypeError(f"{cls.__name__} is not a declared event type (see connect/event_types.py)")
    if not getattr(event.organization, "public_id", None):
        raise TypeError(f"{cls.type}: organization must be an Organization, not {event.organization!r}")
    _check_value(f"{cls.type}.actor", event.actor, Actor)
    resolved = hints(cls)
    for f in payload_fields(cls):
        _check_value(f"{cls.type}.{f.name}", getattr(event, f.name), resolved[f.name])


def _check_value(where: str, value: Any, hint: Any) -> None:
    if not _matches(value, hint):
        raise TypeError(f"{where} must be {json_type(hint)}, not {value!r}")
    if dataclasses.is_dataclass(hint):
        resolved = hints(hint)
        for f in dataclasses.fields(hint):
            _check_value(f"{where}.{f.name}", getattr(value, f.name), resolved[f.name])


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def json_type(hint: Any) -> str:
    """The JSON type a receiver sees, for errors and the docs."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(json_type(arg) for arg in typing.get_args(hint))
    if origin is list:
        return f"array of {json_type(typing.get_args(hint)[0])}"
    if origin is dict:
        return "object"
    names = {str: "string", int: "integer", bool: "boolean", float: "number", type(None): "null"}
    if hint in names:
        return names[hint]
    if hint is datetime:
        return "string (ISO 8601 time)"
    if dataclasses.is_dataclass(hint):
        return "object"
    return getattr(hint, "__name__", str(hint))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


# --- Sessions -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class SessionEvent(Event):
    """A support session changed status. ``sessions.events.session_fields`` fills these from a session."""

    id: str = described("the session's public id")
    agent_id: str | None = described("public id of the agent running it; null once their account is erased")
    status: str = described("`waiting`, `consent_requested`, `active`, `ended`, `declined` or `expired`")
    customer_name: str = described("the name the customer gave, possibly empty")
    created_at: datetime | None = described("when the session was opened")
    started_at: datetime | None = described("when the customer consented, if they did")
    ended_at: datetime | None = described("when it ended, if it did")
    end_reason: str = described(
        "why it ended (`agent_ended`, `customer_ended`, `consent_revoked`, `declined`, `expired`, `disconnected`, "
        "`organization_deleted`), empty while it runs"
    )
    duration_seconds: int | None = described("seconds between consent and the end, once both happened")
    agent_name: str = described("the name of the agent running it (the recorded name once they are erased)")
    tags: list[str] = described("the agents' short labels on the session (never shown to the customer)")
    ticket_ref: str = described("the external ticket reference agents gave it, possibly empty")
    rating: int | None = described("the customer's rating after the end, 1 to 5, null until they rate")
    rating_comment: str = described("the customer's comment with their rating, possibly empty")
    notes_count: int = described("how many private agent notes the session has")


@declare("session.created", _("A support session was opened; it waits for the customer's code."))
class SessionCreated(SessionEvent):
    pass


@declare("session.consent_requested", _("The customer entered the code and is asked to consent."), webhook=False)
class SessionConsentRequested(SessionEvent):
    pass


@declare("session.started", _("The customer consented; media flows."))
class SessionStarted(SessionEvent):
    pass


@declare("session.ended", _("A session ended; end_reason and duration_seconds say how."))
class SessionEnded(SessionEvent):
    pass


@declare("session.declined", _("The customer declined to share."))
class SessionDeclined(SessionEvent):
    pass


@declare("session.expired", _("The share code was not used in time."), webhook=False)
class SessionExpired(SessionEvent):
    pass


@declare("session.transferred", _("A live session was handed to another agent; the customer stayed connected."))
class SessionTransferred(SessionEvent):
    from_agent_id: str | None = described("public id of the agent who had it; null once their account is erased")
    from_agent_name: str = described("the name of the agent who had it")
    to_agent_id: str = described("public id of the agent who has it now")
    to_agent_name: str = described("the name of the agent who has it now")


@declare("session.updated", _("An agent changed a session's tags or ticket reference, or added a private note."))
class SessionUpdated(SessionEvent):
    changed: list[str] = described("what changed: `tags`, `ticket_ref` and/or `notes`")


@declare("session.rated", _("The customer rated the session after it ended (rating, rating_comment)."))
class SessionRated(SessionEvent):
    pass


# --- Members --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class MemberEvent(Event):
    user_id: str = described("the member's public user id")
    email: str = described("the member's e-mail address")
    role: str = described("their role: `owner`, `admin`, `agent` or `member`")


@declare("member.added", _("Someone joined the organization."))
class MemberAdded(MemberEvent):
    pass


@declare("member.removed", _("Someone left or was removed from the organization."))
class MemberRemoved(MemberEvent):
    pass


@declare("member.role_changed", _("A member's role changed."))
class MemberRoleChanged(MemberEvent):
    previous_role: str = described("the role they had before")


# --- API keys -------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class APIKeyEvent(Event):
    id: str = described("the key's public id")
    name: str = described("the name it was given")
    prefix: str = described("the key's first characters, to recognise it")


@declare("api_key.created", _("An API key was created."))
class APIKeyCreated(APIKeyEvent):
    scopes: list[str] = described("the scopes it grants")


@declare("api_key.revoked", _("An API key was revoked."))
class APIKeyRevoked(APIKeyEvent):
    pass


# --- Webhooks -------------------------------------------------------------------------------------------------


@declare("webhook.test", _("Sent by 'send test event' to one endpoint; the actor is the system."))
class WebhookTest(Event):
    endpoint_id: str = described("the endpoint it was sent to")
    message: str = described("a fixed sentence")


# --- Audit ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuditTarget:
    type: str = described("the kind of object acted on (`supportsession`, `membership`, ...), empty if none")
    id: str = described("its public id, empty if none")
    label: str = described("what to show for it")


@declare(
    "audit.entry",
    _(
        "An entry was appended to the organization's audit log; the actor is the entry's actor. Sent only to "
        "endpoints that name `audit.entry` in their event types (not to those that take every event)."
    ),
)
class AuditEntryAppended(Event):
    seq: int = described("the entry's position in the organization's log (1, 2, 3, ...)")
    action: str = described("what was done, e.g. `session.ended`, `member.removed`")
    target: AuditTarget = described("what it was done to")
    ip: str | None = described("the address the actor acted from, if known")
    data: dict[str, Any] = described("details of the action")
    created_at: datetime = described("when the entry was written")
    hash: str = described("the entry's hash, which covers the previous entry's hash")
    prev_hash: str = described("the previous entry's hash (a fixed genesis value for the first), to verify the chain")
