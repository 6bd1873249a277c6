"""Rate limits that hold: an attempt is counted before it is evaluated, so concurrent guesses cannot all slip under
the limit; and every 429, from the API or a page, says when to try again (``Retry-After``)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from connect import ratelimit
from connect.errors import ApplicationError
from orgs import mfa
from orgs.tenancy import org_context_for_user
from orgs.tests.factories import PASSWORD
from sessions import services as session_services

CODE_LIMIT = 10  # CONNECT_CODE_ATTEMPTS_PER_MINUTE
DEVICE = {"name": "Phone", "platform": "ios"}


@pytest.fixture
def fast_passwords(settings):
    """Sign-ins below hash passwords in microseconds; PBKDF2 on a busy machine outlasts django-otp's back-off."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def wrong_code(n: int) -> str:
    return f"{100_000_000 + n:09d}"


def assert_retry_after(response, *, at_most: int) -> int:
    assert response.status_code == 429
    seconds = int(response["Retry-After"])
    assert 1 <= seconds <= at_most, seconds
    if response["Content-Type"].startswith("application/json"):
        assert response.json()["error"]["details"]["retry_after_seconds"] == seconds
    return seconds


def run_at_once(count: int, attempt) -> list:
    """``attempt(i)`` from ``count`` threads released together; each thread's outcome (a value or the exception)."""
    barrier = threading.Barrier(count)

    def one(i: int):
        barrier.wait()
        try:
            return attempt(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test looks at
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


# --- Counting is atomic -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sixty_concurrent_wrong_share_codes_get_at_most_the_limit_evaluated(monkeypatch, acme, alice):
    """The probe that got 20 evaluations against a limit of 10: now exactly 10 are looked up, 50 refused."""
    evaluated = []
    real_lookup = session_services.session_for_code

    def slow_lookup(code: str):
        evaluated.append(code)
        time.sleep(0.05)  # what a real lookup under load takes: every attempt overlaps the others
        return real_lookup(code)

    monkeypatch.setattr(session_services, "session_for_code", slow_lookup)
    attacker = session_services.Actor(kind="customer", ip="203.0.113.7")

    outcomes = run_at_once(60, lambda i: session_services.session_join_guarded(code=wrong_code(i), actor=attacker))

    codes = [exc.code for exc in outcomes if isinstance(exc, ApplicationError)]
    assert len(codes) == 60, outcomes
    assert len(evaluated) == CODE_LIMIT
    assert codes.count("unknown_code") == CODE_LIMIT and codes.count("rate_limited") == 60 - CODE_LIMIT
    refused = next(exc for exc in outcomes if exc.code == "rate_limited")
    assert 1 <= refused.details["retry_after_seconds"] <= 60

    # The address stays refused; a customer elsewhere with the real code joins.
    with pytest.raises(ApplicationError) as again:
        session_services.session_join_guarded(code=wrong_code(99), actor=attacker)
    assert again.value.code == "rate_limited" and len(evaluated) == CODE_LIMIT
    session = session_services.session_start(
        org=org_context_for_user(alice, "acme"), actor=session_services.Actor(kind="agent", user=alice)
    )
    customer = session_services.Actor(kind="customer", ip="198.51.100.20")
    joined, token = session_services.session_join_guarded(code=session.code, actor=customer)
    assert joined.pk == session.pk and token


@pytest.mark.django_db
def test_concurrent_wrong_two_factor_codes_get_at_most_the_limit_evaluated(monkeypatch, bob):
    evaluated = []

    def slow_match(user, code):
        evaluated.append(code)
        time.sleep(0.05)
        return None  # wrong

    monkeypatch.setattr(mfa, "match_token", slow_match)
    monkeypatch.setattr(mfa, "_raise_if_backing_off", lambda user: None)  # django-otp's own back-off aside

    outcomes = run_at_once(30, lambda i: mfa.verify_code(bob, f"{i:06d}"))

    assert len(evaluated) == mfa.MAX_WRONG_CODES
    codes = [exc.code for exc in outcomes]
    assert codes.count("invalid_otp") == mfa.MAX_WRONG_CODES
    assert codes.count("otp_throttled") == 30 - mfa.MAX_WRONG_CODES


@pytest.mark.django_db
def test_a_right_code_does_not_use_up_the_address_allowance(acme, alice):
    """Only wrong codes count: an agent's colleague joining customers from one office address is not locked out."""
    owner = org_context_for_user(alice, "acme")
    office = session_services.Actor(kind="customer", ip="198.51.100.30")
    agent = session_services.Actor(kind="agent", user=alice)
    for _ in range(CODE_LIMIT + 2):
        session = session_services.session_start(org=owner, actor=agent)
        session_services.session_join_guarded(code=session.code, actor=office)
    for i in range(CODE_LIMIT):
        with pytest.raises(ApplicationError) as wrong:
            session_services.session_join_guarded(code=wrong_code(i), actor=office)
        assert wrong.value.code == "unknown_code"
    with pytest.raises(ApplicationError) as refused:
        session_services.session_join_guarded(code=wrong_code(99), actor=office)
    assert refused.value.code == "rate_limited"


def test_the_counter_reserves_gives_back_and_refuses(db):
    keys = ["test:a", "test:b"]
    for _ in range(3):
        assert ratelimit.attempt_refused(keys, limit=3, window_seconds=60) is None
    wait = ratelimit.attempt_refused(keys, limit=3, window_seconds=60)
    assert wait is not None and 1 <= wait <= 60
    ratelimit.release(keys)  # one attempt turned out not to count
    assert ratelimit.attempt_refused(keys, limit=3, window_seconds=60) is None
    ratelimit.clear(keys)
    assert ratelimit.attempt_refused(keys, limit=1, window_seconds=60) is None


# --- Every 429 says when to retry ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_share_code_guessing_on_the_api_gets_retry_after(acme):
    api = APIClient(REMOTE_ADDR="203.0.113.8")
    for i in range(CODE_LIMIT):
        assert api.post("/api/v1/join", {"code": wrong_code(i)}, format="json").status_code == 404
    refused = api.post("/api/v1/join", {"code": wrong_code(99)}, format="json")
    assert refused.json()["error"]["code"] == "rate_limited"
    assert_retry_after(refused, at_most=60)


@pytest.mark.django_db
def test_share_code_guessing_on_the_join_page_gets_retry_after(client, acme):
    for i in range(CODE_LIMIT):
        assert client.post(reverse("join"), {"code": wrong_code(i)}).status_code == 404
    refused = client.post(reverse("join"), {"code": wrong_code(99)})
    assert "Too many wrong codes" in refused.content.decode()
    assert_retry_after(refused, at_most=60)


@pytest.mark.django_db
def test_a_locked_out_token_sign_in_gets_retry_after(fast_passwords, bob, settings):
    def sign_in(password):
        body = {"email": "bob@acme.test", "password": password, "device": DEVICE}
        return APIClient().post("/api/v1/auth/token", body, format="json")

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in("wrong-password").status_code == 401
    locking = sign_in("wrong-password")
    assert locking.json()["error"]["code"] == "too_many_attempts"
    assert_retry_after(locking, at_most=int(settings.AXES_COOLOFF_TIME.total_seconds()))
    assert_retry_after(sign_in(PASSWORD), at_most=int(settings.AXES_COOLOFF_TIME.total_seconds()))


@pytest.mark.django_db
def test_a_locked_out_sign_in_page_gets_retry_after(fast_passwords, client, bob, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("account_login"), {"login": "bob@acme.test", "password": "wrong-password"})
    locked = client.post(reverse("account_login"), {"login": "bob@acme.test", "password": PASSWORD})
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert_retry_after(locked, at_most=int(settings.AXES_COOLOFF_TIME.total_seconds()))


@pytest.fixture
def bob_with_totp(fast_passwords, bob):
    return TOTPDevice.objects.create(user=bob, name="phone", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def not_the_code(device: TOTPDevice) -> str:
    return f"{(int(current_code(device)) + 1) % 1_000_000:06d}"


def otp_sign_in(otp: str):
    body = {"email": "bob@acme.test", "password": PASSWORD, "otp": otp, "device": DEVICE}
    return APIClient().post("/api/v1/auth/token", body, format="json")


@pytest.mark.django_db
def test_too_many_wrong_codes_on_the_api_get_retry_after(bob_with_totp, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp's own back-off aside: this is our per-user limit
    for _ in range(mfa.MAX_WRONG_CODES):
        assert otp_sign_in(not_the_code(bob_with_totp)).json()["error"]["code"] == "invalid_otp"
    refused = otp_sign_in(current_code(bob_with_totp))
    assert refused.json()["error"]["code"] == "otp_throttled"
    assert_retry_after(refused, at_most=mfa.WRONG_CODE_WINDOW)


@pytest.mark.django_db
def test_django_otp_back_off_on_the_api_gets_retry_after(bob_with_totp, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60  # the first wrong code makes the device wait a minute
    assert otp_sign_in(not_the_code(bob_with_totp)).status_code == 401
    backing_off = otp_sign_in(current_code(bob_with_totp))
    assert backing_off.json()["error"]["code"] == "otp_throttled"
    assert_retry_after(backing_off, at_most=60)


def code_step(client, device: TOTPDevice, code: str):
    return client.post(reverse("mfa_verify"), {"code": code})


@pytest.mark.django_db
def test_too_many_wrong_codes_on_the_sign_in_page_get_retry_after(client, acme, bob_with_totp, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client.post(reverse("account_login"), {"login": "bob@acme.test", "password": PASSWORD})
    for _ in range(mfa.MAX_WRONG_CODES):
        assert code_step(client, bob_with_totp, not_the_code(bob_with_totp)).status_code == 401
    refused = code_step(client, bob_with_totp, current_code(bob_with_totp))
    assert "Too many wrong codes" in refused.content.decode()
    assert_retry_after(refused, at_most=mfa.WRONG_CODE_WINDOW)


@pytest.mark.django_db
def test_django_otp_back_off_on_the_sign_in_page_gets_retry_after(client, acme, bob_with_totp, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 60
    client.post(reverse("account_login"), {"login": "bob@acme.test", "password": PASSWORD})
    assert code_step(client, bob_with_totp, not_the_code(bob_with_totp)).status_code == 401
    backing_off = code_step(client, bob_with_totp, current_code(bob_with_totp))
    assert backing_off.status_code == 429
    assert_retry_after(backing_off, at_most=60)


@pytest.mark.django_db
def test_the_right_code_after_a_wrong_one_still_signs_in(bob_with_totp, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    assert otp_sign_in(not_the_code(bob_with_totp)).status_code == 401
    assert otp_sign_in(current_code(bob_with_totp)).status_code == 200


@pytest.mark.django_db
def test_django_allauths_own_limits_get_retry_after_too(client, bob):
    """django-allauth refuses a sixth password-reset request for one address in a minute; it names no wait, so the
    answer carries the default."""
    answers = [client.post(reverse("account_reset_password"), {"email": "bob@acme.test"}).status_code for _ in range(6)]
    assert answers[-1] == 429, answers
    refused = client.post(reverse("account_reset_password"), {"email": "bob@acme.test"})
    assert_retry_after(refused, at_most=60)
