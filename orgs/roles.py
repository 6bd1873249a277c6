"""One vocabulary of roles and scopes.

Roles grant scopes to people; API keys and OAuth2 apps carry scopes directly. Permission checks ask for
scopes, never for roles, so every kind of credential is judged the same way.
"""

from __future__ import annotations

from connect.scopes import SCOPES

from .models import Role

# Most powerful first: a role may only grant roles at or below its own rank.
ROLE_RANK: dict[str, int] = {Role.OWNER: 40, Role.ADMIN: 30, Role.AGENT: 20, Role.MEMBER: 10}


# Every member may take part in the organization's meetings (only hosts, owners and admins run them: meetings.services).
_MEETINGS = {"meetings:read", "meetings:write"}
_AGENT = {"org:read", "members:read", "sessions:read", "sessions:write", "machines:read", *_MEETINGS}
assert _AGENT <= set(SCOPES)

ROLE_SCOPES: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(SCOPES),
    Role.ADMIN: frozenset(SCOPES),  # owners differ by rank: only they manage owners
    Role.AGENT: frozenset(_AGENT),
    Role.MEMBER: frozenset({"org:read", "members:read", *_MEETINGS}),
}


def role_at_least(role: str | None, minimum: str) -> bool:
    return role is not None and ROLE_RANK.get(role, 0) >= ROLE_RANK[minimum]


def can_grant(granter_role: str | None, role: str) -> bool:
    """An inviter may grant their own role or a lower one, and only owners and admins invite at all."""
    return role_at_least(granter_role, Role.ADMIN) and ROLE_RANK[role] <= ROLE_RANK.get(granter_role, 0)


def scopes_for_role(role: str | None) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())
