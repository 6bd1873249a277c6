"""Periodic organization housekeeping (Celery beat)."""

from celery import shared_task

from . import privacy


@shared_task(name="orgs.purge_deleted_organizations")
def purge_deleted_organizations() -> int:
    """Purge the organizations deleted longer ago than their grace period; returns how many. Idempotent: an
    organization already purged is no longer found."""
    return privacy.organizations_purge_due()


@shared_task(name="orgs.purge_device_authorizations")
def purge_device_authorizations() -> int:
    """Delete device sign-ins (RFC 8628) a day after they expired; returns how many."""
    from . import device_grant

    return device_grant.device_authorizations_purge()
