"""The two push services, behind one small interface: APNs (token authentication, HTTP/2, through ``aioapns``) and
FCM's HTTP v1 API (through ``firebase-admin``, with a service account).

A sender turns an :class:`Outgoing` notification into a :class:`Result` whose ``outcome`` is all the outbox needs:
``sent``; ``retry`` (the service is down or busy, a timeout); ``unregistered`` (the token is gone for good: the
registration is disabled); ``failed`` (anything else, not worth repeating). A sender never raises for what the
service answers.

Without the settings of a provider, :func:`sender_for` answers ``None`` and the outbox drops the message as
"not configured": the embedded product runs with neither.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
import ssl
import warnings
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from django.conf import settings
from django.core.signals import setting_changed
from django.utils import timezone

logger = logging.getLogger(__name__)

Outcome = Literal["sent", "retry", "unregistered", "failed"]


@dataclass(frozen=True)
class Outgoing:
    token: str
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    collapse_key: str = ""
    high_priority: bool = False
    expires_at: datetime | None = None

    def seconds_to_live(self, now: datetime | None = None) -> int | None:
        if self.expires_at is None:
            return None
        return max(0, int((self.expires_at - (now or timezone.now())).total_seconds()))


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    provider_message_id: str = ""
    error: str = ""


class Sender(Protocol):
    def send(self, outgoing: Outgoing) -> Result: ...


# --- APNs ------------------------------------------------------------------------------------------------------

# APNs answers these reasons for a token that will never work again (410 is always one).
APNS_GONE_REASONS = {"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic", "ExpiredToken"}
APNS_RETRY_STATUSES = {"429", "500", "503"}


class APNsSender:
    """One HTTP/2 connection per send: a Celery task sends one message, and aioapns needs an event loop of its own
    (this keeps none between tasks). Good enough for the volume of a support desk; a long-lived sender process would
    keep the connection open."""

    def __init__(
        self,
        *,
        key: str,
        key_id: str,
        team_id: str,
        topic: str,
        use_sandbox: bool = False,
        server: str = "",
        ca_file: str = "",
        timeout: float = 10.0,
    ) -> None:
        self.key, self.key_id, self.team_id, self.topic = key, key_id, team_id, topic
        self.use_sandbox, self.server, self.ca_file, self.timeout = use_sandbox, server, ca_file, timeout

    def payload(self, outgoing: Outgoing) -> dict[str, Any]:
        aps: dict[str, Any] = {"alert": {"title": outgoing.title, "body": outgoing.body}, "sound": "default"}
        if outgoing.collapse_key:
            aps["thread-id"] = outgoing.collapse_key
        return {"aps": aps, **outgoing.data}

    def send(self, outgoing: Outgoing) -> Result:
        return run_coroutine(self._send(outgoing))

    async def _send(self, outgoing: Outgoing) -> Result:
        import jwt
        from aioapns import APNs, NotificationRequest, PushType
        from aioapns.common import PRIORITY_HIGH, PRIORITY_NORMAL
        from aioapns.exceptions import ConnectionClosed, MaxAttemptsExceeded
        from aioapns.exceptions import ConnectionError as APNsConnectionError

        async def quiet(_request: Any, _result: Any) -> None:
            """aioapns logs every refusal as an error; the outbox records and handles them instead."""

        client = APNs(
            key=self.key,
            key_id=self.key_id,
            team_id=self.team_id,
            topic=self.topic,
            use_sandbox=self.use_sandbox,
            max_connection_attempts=1,
            ssl_context=ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None,
            err_func=quiet,
        )
        if self.server:
            # A relay or a test server instead of Apple's: the same protocol, another host and port.
            host, _, port = self.server.rpartition(":") if ":" in self.server else (self.server, "", "443")
            base = client.pool.protocol_class
            client.pool.protocol_class = type(base.__name__, (base,), {"APNS_SERVER": host, "APNS_PORT": int(port)})
        request = NotificationRequest(
            device_token=outgoing.token,
            message=self.payload(outgoing),
            time_to_live=outgoing.seconds_to_live(),
            priority=int(PRIORITY_HIGH if outgoing.high_priority else PRIORITY_NORMAL),
            collapse_key=outgoing.collapse_key or None,
            push_type=PushType.ALERT,
        )
        try:
            response = await asyncio.wait_for(client.send_notification(request), self.timeout)
        except TimeoutError:
            return Result("retry", error="APNs did not answer in time")
        except (MaxAttemptsExceeded, APNsConnectionError, ConnectionClosed, OSError) as exc:
            return Result("retry", error=f"APNs unreachable: {type(exc).__name__}")
        except (ValueError, jwt.PyJWTError) as exc:  # the .p8 key cannot sign: a configuration error
            return Result("failed", error=f"APNs token authentication: {exc}"[:300])
        finally:
            client.pool.close()
            await asyncio.sleep(0)  # let the closed transports finish before the loop goes
        status, reason = str(response.status), response.description or ""
        if status == "200":
            return Result("sent", provider_message_id=response.notification_id)
        error = f"APNs {status} {reason}".strip()
        if status == "410" or reason in APNS_GONE_REASONS:
            return Result("unregistered", error=error)
        if status in APNS_RETRY_STATUSES:
            return Result("retry", error=error)
        return Result("failed", error=error)


def run_coroutine(coroutine: Coroutine[Any, Any, Result]) -> Result:
    """Run ``coroutine`` to its end from synchronous code, also where this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


# --- FCM -------------------------------------------------------------------------------------------------------


class FCMSender:
    """FCM HTTP v1 through firebase-admin: an app of its own per credentials file, so the product's use of
    Firebase (if any) is never affected. firebase-admin retries 500 and 503 itself a few times before it gives up."""

    def __init__(self, *, credentials_file: str, timeout: float = 10.0) -> None:
        import firebase_admin
        from firebase_admin import credentials

        name = "connect-push-" + hashlib.sha256(credentials_file.encode()).hexdigest()[:12]
        try:
            self.app = firebase_admin.get_app(name)
        except ValueError:
            self.app = firebase_admin.initialize_app(
                credentials.Certificate(credentials_file), options={"httpTimeout": timeout}, name=name
            )

    def message(self, outgoing: Outgoing) -> Any:
        """The firebase-admin message for ``outgoing``: notification, data, and the Android and APNs options."""
        ttl = outgoing.seconds_to_live()
        apns_headers = {
            "apns-priority": "10" if outgoing.high_priority else "5",
            "apns-push-type": "alert",
        }
        if outgoing.collapse_key:
            apns_headers["apns-collapse-id"] = outgoing.collapse_key
        if outgoing.expires_at is not None:
            apns_headers["apns-expiration"] = str(int(outgoing.expires_at.timestamp()))
        with warnings.catch_warnings():
            # firebase-admin 7.7 deprecates ``token`` for ``fid`` (an installation id); the apps register FCM
            # registration tokens, which the v1 API still takes as ``token``.
            warnings.filterwarnings("ignore", "Message.token is deprecated", DeprecationWarning)
            return self._message(outgoing, ttl, apns_headers)

    def _message(self, outgoing: Outgoing, ttl: int | None, apns_headers: dict[str, str]) -> Any:
        from firebase_admin import messaging

        return messaging.Message(
            token=outgoing.token,
            notification=messaging.Notification(title=outgoing.title, body=outgoing.body),
            data=dict(outgoing.data),
            android=messaging.AndroidConfig(
                priority="high" if outgoing.high_priority else "normal",
                collapse_key=outgoing.collapse_key or None,
                ttl=timedelta(seconds=ttl) if ttl is not None else None,
                notification=messaging.AndroidNotification(tag=outgoing.collapse_key or None),
            ),
            apns=messaging.APNSConfig(
                headers=apns_headers,
                payload=messaging.APNSPayload(
                    aps=messaging.Aps(sound="default", thread_id=outgoing.collapse_key or None)
                ),
            ),
        )

    def send(self, outgoing: Outgoing) -> Result:
        from firebase_admin import exceptions, messaging

        try:
            name = messaging.send(self.message(outgoing), app=self.app)
        except (messaging.UnregisteredError, messaging.SenderIdMismatchError, exceptions.NotFoundError) as exc:
            return Result("unregistered", error=f"FCM {exc.code}: {exc}"[:300])
        except (
            exceptions.UnavailableError,
            exceptions.InternalError,
            exceptions.DeadlineExceededError,
            exceptions.ResourceExhaustedError,
        ) as exc:
            return Result("retry", error=f"FCM {exc.code}: {exc}"[:300])
        except exceptions.FirebaseError as exc:
            return Result("failed", error=f"FCM {exc.code}: {exc}"[:300])
        except ValueError as exc:  # a message firebase-admin refuses to build
            return Result("failed", error=f"FCM message refused: {exc}"[:300])
        return Result("sent", provider_message_id=name)


# --- Configuration ---------------------------------------------------------------------------------------------

_senders: dict[str, Sender] = {}


def sender_for(provider: str) -> Sender | None:
    """The configured sender for ``apns`` or ``fcm``, built once per process; ``None`` when not configured."""
    if provider in _senders:
        return _senders[provider]
    sender: Sender | None = None
    if provider == "apns":
        parts = (
            settings.CONNECT_APNS_KEY_FILE,
            settings.CONNECT_APNS_KEY_ID,
            settings.CONNECT_APNS_TEAM_ID,
            settings.CONNECT_APNS_TOPIC,
        )
        if all(parts):
            with open(settings.CONNECT_APNS_KEY_FILE) as key_file:
                key = key_file.read()
            sender = APNsSender(
                key=key,
                key_id=settings.CONNECT_APNS_KEY_ID,
                team_id=settings.CONNECT_APNS_TEAM_ID,
                topic=settings.CONNECT_APNS_TOPIC,
                use_sandbox=settings.CONNECT_APNS_USE_SANDBOX,
                server=settings.CONNECT_APNS_SERVER,
                ca_file=settings.CONNECT_APNS_CA_FILE,
                timeout=settings.CONNECT_PUSH_TIMEOUT_SECONDS,
            )
    elif provider == "fcm" and settings.CONNECT_FCM_CREDENTIALS_FILE:
        sender = FCMSender(
            credentials_file=settings.CONNECT_FCM_CREDENTIALS_FILE, timeout=settings.CONNECT_PUSH_TIMEOUT_SECONDS
        )
    if sender is not None:
        _senders[provider] = sender
    return sender


def reset_senders(**_signal: Any) -> None:
    """Forget the senders built so far (their settings changed: tests)."""
    if _signal and not str(_signal.get("setting", "")).startswith(("CONNECT_APNS_", "CONNECT_FCM_", "CONNECT_PUSH_")):
        return
    for sender in _senders.values():
        if isinstance(sender, FCMSender):
            import firebase_admin

            firebase_admin.delete_app(sender.app)
    _senders.clear()


setting_changed.connect(reset_senders, dispatch_uid="push-reset-senders")
