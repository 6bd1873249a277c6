"""Factories for the orgs app: rows that keep the invariants orgs.services and orgs.devices keep.

Secrets are stored hashed, as the services store them; the plaintext a test needs to present (an invitation
link's token, a device's bearer token) is kept on the built instance under the name the service returns it by.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import factory
from django.conf import settings
from django.utils import timezone

from connect.ids import new_secret, secret_hash
from orgs.models import Device, DeviceAuthorization, DeviceToken, Invitation, Membership, Organization, Role, User

PASSWORD = "correct-horse-battery-staple"


class KeepsPlaintext(factory.django.DjangoModelFactory):
    """Hands the plaintext of a hashed secret back on the instance, as the service returns it to its caller.

    ``_plaintext`` names a declaration that is not a model field: it is removed before the row is built, and set
    on the instance afterwards. The hash field is an ordinary ``LazyAttribute`` computed from it.
    """

    _plaintext: str = ""  # underscored: factory_boy does not take it for a field

    class Meta:
        abstract = True

    @classmethod
    def _build(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        secret = kwargs.pop(cls._plaintext)
        instance = super()._build(model_class, *args, **kwargs)
        setattr(instance, cls._plaintext, secret)
        return instance

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        secret = kwargs.pop(cls._plaintext)
        instance = super()._create(model_class, *args, **kwargs)
        setattr(instance, cls._plaintext, secret)
        return instance


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)

    @factory.post_generation
    def verified_email(self, create, extracted, **kwargs):
        if create and extracted is not False:
            from orgs.services import user_mark_email_verified

            user_mark_email_verified(self)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.AGENT


def _owner_of(organization: Organization) -> User:
    """Someone who may invite or run things in ``organization``: a new owner, as the services require a member."""
    return MembershipFactory(organization=organization, role=Role.OWNER).user


class InvitationFactory(KeepsPlaintext):
    """An open invitation; ``invitation.token`` is what the e-mailed link carries."""

    _plaintext = "token"

    class Meta:
        model = Invitation

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.test")
    role = Role.AGENT
    token = factory.LazyFunction(lambda: new_secret("inv"))
    token_hash = factory.LazyAttribute(lambda o: secret_hash(o.token))
    invited_by = factory.LazyAttribute(lambda o: _owner_of(o.organization))
    expires_at = factory.LazyFunction(lambda: timezone.now() + settings.INVITATION_TTL)


class DeviceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Device

    user = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Phone {n}")
    platform = Device.Platform.ANDROID
    last_seen_at = factory.LazyFunction(timezone.now)


_TOKEN_PREFIX = {DeviceToken.Kind.ACCESS: "cat", DeviceToken.Kind.REFRESH: "crt"}
_TOKEN_TTL = {
    DeviceToken.Kind.ACCESS: "CONNECT_ACCESS_TOKEN_TTL",
    DeviceToken.Kind.REFRESH: "CONNECT_REFRESH_TOKEN_TTL",
}


class DeviceTokenFactory(KeepsPlaintext):
    """An access token by default (``kind=DeviceToken.Kind.REFRESH`` for the other); ``.token`` is the bearer."""

    _plaintext = "token"

    class Meta:
        model = DeviceToken

    device = factory.SubFactory(DeviceFactory)
    kind = DeviceToken.Kind.ACCESS
    token = factory.LazyAttribute(lambda o: new_secret(_TOKEN_PREFIX[o.kind]))
    token_hash = factory.LazyAttribute(lambda o: secret_hash(o.token))
    expires_at = factory.LazyAttribute(lambda o: timezone.now() + getattr(settings, _TOKEN_TTL[o.kind]))


class DeviceAuthorizationFactory(KeepsPlaintext):
    """A pending device sign-in restricted to an organization; ``.device_code`` is what the client polls with."""

    _plaintext = "device_code"

    class Meta:
        model = DeviceAuthorization

    device_code = factory.LazyFunction(lambda: new_secret("cdc"))
    device_code_hash = factory.LazyAttribute(lambda o: secret_hash(o.device_code))
    user_code = factory.Sequence(lambda n: "BCDF" + "".join("GHJKLMNPQRSTVWXZ"[(n >> (4 * i)) % 16] for i in range(4)))
    client_name = factory.Sequence(lambda n: f"Front desk TV {n}")
    platform = Device.Platform.OTHER
    organization = factory.SubFactory(OrganizationFactory)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(seconds=settings.CONNECT_DEVICE_CODE_SECONDS))
