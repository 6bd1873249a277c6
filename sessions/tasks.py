"""Periodic session housekeeping (Celery beat)."""

from celery import shared_task

from . import services


@shared_task(name="sessions.expire_unused_codes")
def expire_unused_codes() -> int:
    """Expire waiting sessions whose share code was not used in time; returns how many."""
    return services.sessions_expire_unused()


@shared_task(name="sessions.end_abandoned")
def end_abandoned() -> int:
    """Safety net for the in-process reconnect timers: a server that restarts loses them, so this ends live
    sessions whose agent or customer has been gone past the grace period."""
    from signaling import live

    return services.sessions_end_abandoned(party_gone=live.party_gone_sync)


@shared_task(name="sessions.end_over_time")
def end_over_time() -> int:
    """End active sessions that reached their plan's maximum length; warn both ends in the last five minutes."""
    from signaling import live

    return services.sessions_end_over_time(warn=live.session_time_limit_near)
