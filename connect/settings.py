"""Settings for BizGaze Connect, read from the environment.

With no environment at all the product runs on embedded defaults (SQLite under ``var/``, in-memory
channel layer and cache, eager Celery tasks, local files, console e-mail, a generated dev secret).
Real services are switched on by URL: ``DATABASE_URL`` and ``REDIS_URL``. Every variable is listed in
README.md ("Configuration"); keep that table in step with this file.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from connect.scopes import SCOPES

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

VAR_DIR = Path(env.str("CONNECT_VAR_DIR", default=str(BASE_DIR / "var")))
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)

# --- Core -----------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=True)

DEV_SECRET_FILE = VAR_DIR / "dev-secret-key"


def _dev_secret() -> str:
    """A per-checkout secret kept in var/, so dev sessions survive restarts. Never valid in production."""
    if not DEV_SECRET_FILE.exists():
        DEV_SECRET_FILE.write_text("dev-insecure-" + secrets.token_urlsafe(40))
        DEV_SECRET_FILE.chmod(0o600)
    return DEV_SECRET_FILE.read_text().strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or _dev_secret()
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# The public address of the product, for every absolute link it makes (connect.links.absolute_url). Unset, it is
# where `python -m connect.serve` (so `make run`) serves: http://127.0.0.1:<its --port>.
SITE_URL = env.str(
    "CONNECT_SITE_URL", default=f"http://127.0.0.1:{env.int('CONNECT_SERVE_PORT', default=8000)}"
).rstrip("/")

if not DEBUG:
    problems = []
    if SECRET_KEY.startswith("dev-insecure-") or len(SECRET_KEY) < 32:
        problems.append("DJANGO_SECRET_KEY must be set to a random value of at least 32 characters")
    if not ALLOWED_HOSTS:
        problems.append("DJANGO_ALLOWED_HOSTS must list the host names this server answers to")
    if problems:
        raise ImproperlyConfigured("Refusing to start with DJANGO_DEBUG off: " + "; ".join(problems) + ".")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "integrations.sso.oidc",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "oauth2_provider",
    "axes",
    "csp",
    "connect.apps.ConnectConfig",
    "orgs",
    "sessions.apps.SupportSessionsConfig",
    "signaling",
    "djstripe",  # Stripe objects and verified webhooks (billing.payments, billing.stripe_events)
    "billing",
    "integrations",
    "machines",
    "push",
    "recordings",
    "meetings",
    "audit",
]

MIDDLEWARE = [
    # First, so every log line of the request carries its id (X-Request-ID): connect.request_id.
    "connect.request_id.request_id_middleware",
    "django.middleware.security.SecurityMiddleware",
    # Every request timed by route, method and status class for /metrics: connect.metrics.
    "connect.metrics.http_metrics_middleware",
    # Every 429, page or API, says when to try again (Retry-After): connect.errors.
    "connect.errors.RetryAfterMiddleware",
    "connect.middleware.BodySizeLimitMiddleware",
    # NUL in a path or query, a non-form body posted to a page: refused before any view or app sees them.
    "connect.middleware.HostileInputMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Times in the viewer's time zone (the ``tz`` cookie the pages' script sets): connect.timezone.
    "connect.timezone.ViewerTimeZoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Whether the cookie's person may act now (two-factor and single sign-on requirements): orgs.access.
    "orgs.access.CookieAccessMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # With DEBUG on, the product's own 404 and 500 pages instead of Django's debug pages (connect.error_pages).
    "connect.error_pages.ProductErrorPagesMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into a clear answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "connect.urls"
WSGI_APPLICATION = "connect.wsgi.application"
ASGI_APPLICATION = "connect.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data -----------------------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'connect.sqlite3'}")}
# Under ASGI every request (and every database_sync_to_async call) may run on a thread of its own, so a
# connection kept per thread (CONN_MAX_AGE) is one more PostgreSQL connection per thread until the server refuses
# clients (make bench showed it: 500s after a few hundred requests). Connections come from psycopg's pool instead.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # the pool checks a connection before lending it
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Embedded mode serves several people at once (make run): SQLite's defaults answered most concurrent writes with
    # "database is locked" (500). WAL lets readers and one writer work side by side; a transaction takes the write
    # lock when it begins (IMMEDIATE), so it waits its turn (up to the busy timeout) instead of failing when it
    # upgrades from reading to writing, which SQLite refuses at once to avoid a deadlock.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("CONNECT_SQLITE_BUSY_TIMEOUT_SECONDS", default=20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        }
    )
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=10)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL_MAX_SIZE > 0:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": 10,  # seconds a request waits for a free connection before failing
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # The pub/sub layer: one PUBLISH per message, where the core layer costs four round trips
    # (../shared/FACTS.md). The benchmark issue re-checks this choice.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
# Without a broker, tasks run inline in the web process (embedded mode).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=CELERY_BROKER_URL == "memory://")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A message taken by a worker that dies comes back to the queue after this many seconds (acks are late).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "expire-unused-share-codes": {"task": "sessions.expire_unused_codes", "schedule": 60.0},
    "end-abandoned-sessions": {"task": "sessions.end_abandoned", "schedule": 30.0},
    "end-sessions-over-time": {"task": "sessions.end_over_time", "schedule": 30.0},
    "billing-dunning": {"task": "billing.dunning", "schedule": 3600.0},
    "billing-end-trials": {"task": "billing.end_trials", "schedule": 3600.0},
    "billing-trial-reminders": {"task": "billing.trial_reminders", "schedule": 6 * 3600.0},
    "deliver-due-webhooks": {"task": "integrations.deliver_due_webhooks", "schedule": 5.0},
    "deliver-due-pushes": {"task": "push.deliver_due", "schedule": 10.0},
    "retention-purge": {"task": "audit.retention_purge", "schedule": 24 * 3600.0},
    "purge-deleted-organizations": {"task": "orgs.purge_deleted_organizations", "schedule": 24 * 3600.0},
    "purge-device-authorizations": {"task": "orgs.purge_device_authorizations", "schedule": 3600.0},
    # Recordings past their plan's retention: objects deleted, rows kept as purged (recordings.services).
    "purge-expired-recordings": {"task": "recordings.purge_expired", "schedule": 3600.0},
    "salvage-abandoned-recordings": {"task": "recordings.salvage_abandoned", "schedule": 300.0},
    "end-empty-meetings": {"task": "meetings.end_empty", "schedule": 60.0},
    # Metering (billing.metering): API-call counters of ended minutes into records; daily totals recomputed.
    "flush-api-call-counts": {"task": "billing.flush_api_calls", "schedule": 60.0},
    "roll-up-usage": {"task": "billing.rollup_usage", "schedule": 3600.0},
}

# --- Users and authentication ---------------------------------------------------------------------
AUTH_USER_MODEL = "orgs.User"
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out account or address is refused before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_ADAPTER = "orgs.adapter.AccountAdapter"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
# Anyone may create an account only where the operator opens sign-up; otherwise people arrive by invitation.
CONNECT_OPEN_SIGNUP = env.bool("CONNECT_OPEN_SIGNUP", default=False)
# Abuse guard for open sign-up: how many organizations one person may own (operators' create_org is not counted).
CONNECT_SIGNUP_MAX_ORGANIZATIONS = env.int("CONNECT_SIGNUP_MAX_ORGANIZATIONS", default=5)
OTP_TOTP_ISSUER = "BizGaze Connect"
CONNECT_ADMIN_REQUIRE_MFA = env.bool("CONNECT_ADMIN_REQUIRE_MFA", default=not DEBUG)
# Failed sign-ins are counted by django-axes (below) for every entry point alike, with an admin-visible record;
# allauth's own failed-login limit would stop the web form before axes sees the attempt.
ACCOUNT_RATE_LIMITS = {"login_failed": None}
# Organization SSO (integrations.sso.oidc): the organization's identity provider vouches for the address.
SOCIALACCOUNT_ADAPTER = "integrations.sso.adapter.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_LOGIN_ON_GET = True
SOCIALACCOUNT_STORE_TOKENS = False

# Brute force: django-axes locks an account, and separately an address, after repeated failures
# (web form, admin and the token endpoint alike). Attempts are listed in the admin.
AXES_FAILURE_LIMIT = env.int("CONNECT_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("CONNECT_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_USERNAME_CALLABLE = "orgs.security.axes_username"
AXES_LOCKOUT_CALLABLE = "orgs.security.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Native-app tokens (orgs.devices): access tokens live minutes, refresh tokens weeks.
CONNECT_ACCESS_TOKEN_TTL = timedelta(minutes=env.int("CONNECT_ACCESS_TOKEN_MINUTES", default=15))
CONNECT_REFRESH_TOKEN_TTL = timedelta(days=env.int("CONNECT_REFRESH_TOKEN_DAYS", default=30))
CONNECT_WS_TICKET_SECONDS = 60
# Device sign-in (orgs.device_grant, RFC 8628): how long a shown code waits for a person to approve it.
CONNECT_DEVICE_CODE_SECONDS = env.int("CONNECT_DEVICE_CODE_SECONDS", default=600)

# Support sessions and signaling.
CONNECT_SHARE_CODE_TTL = timedelta(minutes=env.int("CONNECT_SHARE_CODE_MINUTES", default=10))
# How long a machine enrollment token lasts unless its creator says otherwise (machines.services).
CONNECT_ENROLLMENT_TOKEN_TTL = timedelta(hours=env.int("CONNECT_ENROLLMENT_TOKEN_HOURS", default=24 * 7))
CONNECT_RECONNECT_GRACE = env.int("CONNECT_RECONNECT_GRACE_SECONDS", default=60)
CONNECT_PRESENCE_TTL = 60  # a connection that sends no heartbeat for this long counts as gone
CONNECT_CODE_ATTEMPTS_PER_MINUTE = 10
# The largest file the agent and the customer may send each other in a session (over the WebRTC data channel, never
# through the server); an organization may set its own in Settings.
CONNECT_FILE_TRANSFER_MAX_BYTES = env.int("CONNECT_FILE_TRANSFER_MAX_BYTES", default=100 * 1024 * 1024)
CONNECT_STUN_URLS = env.list("CONNECT_STUN_URLS", default=[])
CONNECT_TURN_URLS = env.list("CONNECT_TURN_URLS", default=[])
CONNECT_TURN_SECRET = env.str("CONNECT_TURN_SECRET", default="")
CONNECT_TURN_TTL = timedelta(hours=env.int("CONNECT_TURN_TTL_HOURS", default=6))

# Outbound requests to user-supplied URLs (webhooks): https only (http too in debug), never to our own network
# unless a network is listed here.
CONNECT_OUTBOUND_ALLOW_HTTP = env.bool("CONNECT_OUTBOUND_ALLOW_HTTP", default=DEBUG)
CONNECT_OUTBOUND_ALLOWED_NETWORKS = env.list("CONNECT_OUTBOUND_ALLOWED_NETWORKS", default=[])
# A webhook delivery claimed longer ago than this is taken to be abandoned by a dead worker (must exceed the 15 s
# request timeout).
CONNECT_WEBHOOK_STALE_CLAIM_SECONDS = env.int("CONNECT_WEBHOOK_STALE_CLAIM_SECONDS", default=60)

# Prometheus metrics (connect.metrics, docs/operations.md): the addresses and networks /metrics answers (anyone else
# gets a 404; empty: the endpoint is off), and the Celery queues whose depth a scrape reads from a Redis broker.
CONNECT_METRICS_ALLOWED_IPS = env.str("CONNECT_METRICS_ALLOWED_IPS", default="127.0.0.1,::1")
CONNECT_METRICS_CELERY_QUEUES = env.str("CONNECT_METRICS_CELERY_QUEUES", default="celery")
# The load balancers whose X-Forwarded-For connect.serve believes (it reads the variable itself) are also the ones
# whose X-Request-ID is kept (connect.request_id).
CONNECT_FORWARDED_ALLOW_IPS = env.str("CONNECT_FORWARDED_ALLOW_IPS", default="")

# Push notifications to the native apps (push.providers). A provider without its settings is off: its messages are
# recorded and dropped as "not configured". APNs uses token authentication (a .p8 key of the Apple developer account).
CONNECT_APNS_KEY_FILE = env.str("CONNECT_APNS_KEY_FILE", default="")
CONNECT_APNS_KEY_ID = env.str("CONNECT_APNS_KEY_ID", default="")
CONNECT_APNS_TEAM_ID = env.str("CONNECT_APNS_TEAM_ID", default="")
CONNECT_APNS_TOPIC = env.str("CONNECT_APNS_TOPIC", default="")  # the iOS app's bundle id
CONNECT_APNS_USE_SANDBOX = env.bool("CONNECT_APNS_USE_SANDBOX", default=False)
# host:port to reach instead of Apple's (a relay, or the tests' fake server), and a CA file to trust for it.
CONNECT_APNS_SERVER = env.str("CONNECT_APNS_SERVER", default="")
CONNECT_APNS_CA_FILE = env.str("CONNECT_APNS_CA_FILE", default="")
CONNECT_FCM_CREDENTIALS_FILE = env.str("CONNECT_FCM_CREDENTIALS_FILE", default="")  # a service account's JSON key
CONNECT_PUSH_TIMEOUT_SECONDS = env.float("CONNECT_PUSH_TIMEOUT_SECONDS", default=10.0)

# Invitations are the way into an organization; their links expire.
INVITATION_TTL = timedelta(days=env.int("CONNECT_INVITATION_TTL_DAYS", default=7))
# A deleted organization can be restored by an operator this many days; then every row it owns is purged.
CONNECT_ORGANIZATION_PURGE_DAYS = env.int("CONNECT_ORGANIZATION_PURGE_DAYS", default=30)

# OAuth2 applications belong to an organization, so the model is swapped from the first migration.
OAUTH2_PROVIDER_APPLICATION_MODEL = "integrations.Application"
OAUTH2_PROVIDER = {
    "SCOPES": SCOPES,
    "SCOPES_BACKEND_CLASS": "integrations.credentials.oauth.ApplicationScopes",
    "PKCE_REQUIRED": True,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("CONNECT_OAUTH_TOKEN_SECONDS", default=3600),
    "ACCESS_TOKEN_GENERATOR": "integrations.credentials.oauth.generate_access_token",
    "REFRESH_TOKEN_GENERATOR": "integrations.credentials.oauth.generate_refresh_token",
    "ROTATE_REFRESH_TOKEN": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"] if DEBUG else ["https"],
    "OIDC_ENABLED": False,
    # Looks the client up by client_id across organizations, by name (orgs.tenancy).
    "OAUTH2_VALIDATOR_CLASS": "integrations.credentials.oauth.OrganizationOAuth2Validator",
}

# --- API ------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "connect.api.authentication.NativeTokenAuthentication",
        "connect.api.authentication.APIKeyAuthentication",
        "connect.api.authentication.OAuth2TokenAuthentication",
        "connect.api.authentication.CookieAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["connect.api.permissions.HasPrincipal"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["connect.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "connect.errors.api_exception_handler",
    # The plan's API requests per minute for API keys and OAuth apps, counted for metering (billing.throttles).
    "DEFAULT_THROTTLE_CLASSES": ["billing.throttles.PlanRateThrottle"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_PAGINATION_CLASS": "connect.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "PATH_CONVERTER_OVERRIDES": {"public_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}},
    "TITLE": "BizGaze Connect API",
    "DESCRIPTION": "The versioned API of BizGaze Connect for native apps and integrations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Choice sets whose field names ("status", "role") other components use too: named by their model.
    "ENUM_NAME_OVERRIDES": {
        "MeetingStatusEnum": "meetings.models.Meeting.Status",
        "MeetingParticipantRoleEnum": "meetings.models.MeetingParticipant.Role",
        "MeetingParticipantStateEnum": "meetings.models.MeetingParticipant.State",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "connect.api.schema.add_error_responses",
    ],
}
# Bodies over this are refused before a view parses them (JSON APIs and forms alike).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("CONNECT_MAX_BODY_BYTES", default=1024 * 1024)
# Slow clients (python -m connect.serve): request headers not complete this long after the connection or the request
# began, or a body that stalls this long between two chunks, get 408 and the connection is closed.
CONNECT_HEADER_TIMEOUT_SECONDS = env.float("CONNECT_HEADER_TIMEOUT_SECONDS", default=10.0)
CONNECT_BODY_TIMEOUT_SECONDS = env.float("CONNECT_BODY_TIMEOUT_SECONDS", default=30.0)

# --- Internationalisation -------------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files, e-mail -------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": VAR_DIR / "media"}},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Support-session recordings (recordings/), always reached as storages["recordings"]: an S3 bucket (or any
# S3-compatible service, by its endpoint URL) when one is named, else files under var/recordings. Objects are private;
# downloads are presigned S3 URLs, or the product's own signed links for local files, valid this many seconds.
CONNECT_RECORDINGS_URL_SECONDS = env.int("CONNECT_RECORDINGS_URL_SECONDS", default=300)
CONNECT_RECORDINGS_S3_BUCKET = env.str("CONNECT_RECORDINGS_S3_BUCKET", default="")
if CONNECT_RECORDINGS_S3_BUCKET:
    STORAGES["recordings"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": CONNECT_RECORDINGS_S3_BUCKET,
            "endpoint_url": env.str("CONNECT_RECORDINGS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("CONNECT_RECORDINGS_S3_REGION", default="") or None,
            "access_key": env.str("CONNECT_RECORDINGS_S3_ACCESS_KEY_ID", default="") or None,
            "secret_key": env.str("CONNECT_RECORDINGS_S3_SECRET_ACCESS_KEY", default="") or None,
            # "path" for services without virtual-host buckets (MinIO, a test server); empty: boto3 decides.
            "addressing_style": env.str("CONNECT_RECORDINGS_S3_ADDRESSING_STYLE", default="") or None,
            "signature_version": "s3v4",
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": CONNECT_RECORDINGS_URL_SECONDS,
            "file_overwrite": True,
        },
    }
else:
    STORAGES["recordings"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": VAR_DIR / "recordings", "allow_overwrite": True},
    }
# One uploaded chunk at most; a request body can never be larger than CONNECT_MAX_BODY_BYTES anyway.
CONNECT_RECORDING_CHUNK_MAX_BYTES = env.int("CONNECT_RECORDING_CHUNK_MAX_BYTES", default=DATA_UPLOAD_MAX_MEMORY_SIZE)
# An upload nobody has added a chunk to for this long is completed from the chunks that arrived (beat, every 5 min).
CONNECT_RECORDING_ABANDON_SECONDS = env.int("CONNECT_RECORDING_ABANDON_SECONDS", default=600)
# Speech-to-text (recordings/stt.py): an OpenAI-compatible API (`https://stt.example.com/v1`) transcribes every
# recording that completes. Empty (the default): off. Recordings larger than the max are not sent (OpenAI's own
# limit is 25 MiB).
CONNECT_STT_URL = env.str("CONNECT_STT_URL", default="")
CONNECT_STT_API_KEY = env.str("CONNECT_STT_API_KEY", default="")
CONNECT_STT_MODEL = env.str("CONNECT_STT_MODEL", default="whisper-1")
CONNECT_STT_TIMEOUT_SECONDS = env.int("CONNECT_STT_TIMEOUT_SECONDS", default=300)
CONNECT_STT_MAX_BYTES = env.int("CONNECT_STT_MAX_BYTES", default=25 * 1024 * 1024)

# Meetings (meetings/) run through a LiveKit SFU: its URL (wss://... for browsers; the room API is reached over the
# same host with https) and an API key and secret. All empty (the default): meetings are a WebRTC mesh of at most
# four over the meeting's own socket (meetings.consumers).
LIVEKIT_URL = env.str("LIVEKIT_URL", default="")
LIVEKIT_API_KEY = env.str("LIVEKIT_API_KEY", default="")
LIVEKIT_API_SECRET = env.str("LIVEKIT_API_SECRET", default="")
# Seconds a participant's LiveKit token may be used to connect; seconds an empty room stays open.
LIVEKIT_TOKEN_TTL_SECONDS = env.int("LIVEKIT_TOKEN_TTL_SECONDS", default=6 * 3600)
LIVEKIT_EMPTY_TIMEOUT_SECONDS = env.int("LIVEKIT_EMPTY_TIMEOUT_SECONDS", default=300)

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="BizGaze Connect <no-reply@localhost>")

# --- Security -------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "connect.error_pages.page_csrf_failure"  # the product's 403 page, with what to do next
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False) else None
)
if not DEBUG:
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True

_s3_endpoint = env.str("CONNECT_RECORDINGS_S3_ENDPOINT_URL", default="")
RECORDINGS_MEDIA_ORIGINS = (
    (
        [urlsplit(_s3_endpoint)._replace(path="", query="", fragment="").geturl()]
        if _s3_endpoint
        else ["https://*.amazonaws.com"]
    )
    if CONNECT_RECORDINGS_S3_BUCKET
    else []
)

_livekit = urlsplit(env.str("LIVEKIT_URL", default=""))
LIVEKIT_ORIGINS = (
    [
        f"{scheme}://{_livekit.netloc}"
        for scheme in (("wss", "https") if _livekit.scheme in ("wss", "https") else ("ws", "http"))
    ]
    if _livekit.netloc
    else []
)

# Content Security Policy: no inline script anywhere; the product is framed by nobody.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        # LiveKit's browser SDK talks to the SFU itself (WebSocket, and HTTP for its checks), when there is one.
        "connect-src": [SELF, *LIVEKIT_ORIGINS],
        # Recordings play from the bucket's presigned URLs: its origin, when they are kept in S3.
        "media-src": [SELF, "blob:", *RECORDINGS_MEDIA_ORIGINS],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Logging --------------------------------------------------------------------------------------
# Every line carries the id of its HTTP request, WebSocket connection or Celery task (connect.request_id): "plain" for
# people (make run), "json" for log collectors, one object per line.
CONNECT_LOG_FORMAT = env.str("CONNECT_LOG_FORMAT", default="plain")
if CONNECT_LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"CONNECT_LOG_FORMAT must be plain or json, not {CONNECT_LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "connect.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "connect.request_id.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": CONNECT_LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own handlers for its loggers would write some lines twice, once without the format: the root's only.
    "loggers": {"django": {"handlers": []}, "django.db.backends": {"level": "WARNING"}},
}

# Licensing (billing/): a new organization tries this plan for this many days; with no Stripe keys billing is offline
# and operators set plan and seats in the Django admin.
CONNECT_TRIAL_PLAN = env.str("CONNECT_TRIAL_PLAN", default="business")
CONNECT_TRIAL_DAYS = env.int("CONNECT_TRIAL_DAYS", default=14)

# --- Billing (Stripe) -----------------------------------------------------------------------------
# Stripe through dj-stripe (billing.payments, billing.stripe_events). An empty secret key (the embedded default) is
# offline billing: operators set plan and seats in the Django admin, as for invoiced customers.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_PUBLIC_KEY = STRIPE_PUBLISHABLE_KEY  # dj-stripe's name for it
# The signing secret of the endpoint at /billing/stripe/webhook/ (whsec_...), from Stripe's dashboard.
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Where the stripe library sends its requests; the tests point it at a fake Stripe on loopback.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="https://api.stripe.com").rstrip("/")
STRIPE_LIVE_MODE = STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
# dj-stripe's schema in one migration of ours (why: billing/djstripe_migrations/__init__.py).
MIGRATION_MODULES = {"djstripe": "billing.djstripe_migrations"}
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
# A payment that stays overdue this long makes the organization read-only (nothing is deleted; paying restores it).
CONNECT_PAST_DUE_GRACE_DAYS = env.int("CONNECT_PAST_DUE_GRACE_DAYS", default=7)
