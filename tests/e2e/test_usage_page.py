"""An owner opens the Usage page in a browser: the charts are drawn (Chart.js under the page's CSP), this month's
figures and the per-agent list are there, and the page reads well at a laptop's and a small window's width."""

import random
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from billing import metering

from .test_audit_page import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def fill_a_month(org, agents) -> None:
    rng = random.Random(13)
    now = timezone.now()
    for back in range(30):
        moment = now - timedelta(days=back)
        for n in range(rng.randint(0, 5)):
            agent = rng.choice(agents)
            who = {"agent_id": agent.public_id, "agent_name": agent.get_full_name(), "occurred_at": moment}
            key = f"session:e2e_{back}_{n}"
            metering.record(organization=org, metric="sessions", quantity=1, source_key=key, **who)
            metering.record(
                organization=org, metric="session_minutes", quantity=rng.randint(3, 60), source_key=key, **who
            )
        metering.record(
            organization=org,
            metric="meeting_minutes",
            quantity=rng.randint(0, 300),
            source_key=f"m{back}",
            occurred_at=moment,
        )
        metering.record(
            organization=org,
            metric="recording_bytes",
            quantity=rng.randint(0, 400) * 1024 * 1024,
            source_key=f"r{back}",
            occurred_at=moment,
        )
        for n in range(rng.randint(0, 6)):  # an integration's busy minutes
            metering.record(
                organization=org,
                metric="api_calls",
                quantity=rng.randint(1, 240),
                source_key=f"api:{org.public_id}:{back}:{n}",
                occurred_at=moment - timedelta(minutes=n),
            )
    metering.usage_rollup_recent()


def test_owner_sees_the_usage_charts(live_server, page, screenshot, acme, alice, bob, carol):
    fill_a_month(acme, [alice, bob, carol])
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    sign_in(page, live_server.url, alice.email)
    page.get_by_role("link", name="Billing").click()  # the plan page leads to its usage
    page.get_by_role("link", name="Usage").click()
    assert page.get_by_role("heading", name="Usage", exact=True).is_visible()
    page.wait_for_selector("body[data-usage-charts='6']")
    assert page.locator("#usage-agents tbody tr").count() == 3
    assert page.locator("#usage-figures .figure").count() == 5
    # Chart.js drew into every canvas (a blank canvas has no width from the chart's layout).
    assert all(box["width"] > 100 for box in (c.bounding_box() for c in page.locator("canvas").all()))
    for width in (1366, 1000):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(300)  # Chart.js resizes on the next frame
        screenshot(f"usage-{width}")
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download CSV")).click()
    assert download.value.suggested_filename.startswith("usage-acme-")
