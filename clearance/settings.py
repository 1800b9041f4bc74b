"""Django settings for Clearance.

One file for every mode (healthchecks style). With no environment set it runs the embedded default:
SQLite in ``var/`` and kombu's filesystem broker, so ``uv run manage.py demo`` needs no server.
Production is the same file with DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis), SECRET_KEY,
ALLOWED_HOSTS and HTTPS=true set.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from clearance import keyring
from clearance.env import env_bool, env_int, env_list, env_networks, env_str
from clearance.observability.logs import logging_config
from provisioning.config import scim_group_roles

# Lets generic Django classes be subscripted at run time (``forms.ModelForm[AISystem]``), as the
# type checker wants them written.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CLEARANCE_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # Embedded mode: a random key kept beside the SQLite database, so sessions survive restarts
    # and no well-known key is ever shipped.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "axes",
    "clearance",
    "catalog",
    "intake",
    "governance",
    "compliance",
    "risks",
    "provisioning",
    "integrations",
]

MIDDLEWARE = [
    # First: every log line of a request carries its id, and the metrics time the whole stack.
    "clearance.observability.requestid.RequestIdMiddleware",
    "clearance.observability.metrics.MetricsMiddleware",
    # Probes and the scrape are answered here, before host checks, the HTTPS redirect and sessions.
    "clearance.observability.health.OperationsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "clearance.outages.DatabaseOutageMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so it sees the login view's answer and replaces it with the lockout page when needed.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clearance.urls"
WSGI_APPLICATION = "clearance.wsgi.application"

# Forms mark required fields and show errors led by the field's label (clearance/forms.py).
FORM_RENDERER = "clearance.forms.FormRenderer"

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
                "governance.context_processors.navigation",
                "clearance.sso.views.signin_context",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "clearance.sqlite3"
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{SQLITE_PATH}")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        # The web process and the Celery worker share one file: wait for the lock instead of
        # failing, and take the write lock at BEGIN so read-then-write transactions cannot deadlock.
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so that a Celery worker process started by the tests sees the test data.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test-clearance.sqlite3")}
elif _db["ENGINE"] == "django.db.backends.postgresql":
    _db["CONN_HEALTH_CHECKS"] = True
    # An unreachable server fails the request in seconds (the API answers 503) instead of hanging.
    _db.setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 5, minimum=1))
    # Every statement of this process is cancelled past this (0: never). Set it for the web processes,
    # below gunicorn's --timeout, so a page stuck behind a lock answers 503 instead of being killed by
    # gunicorn; leave it off for Celery workers, whose imports may run long statements. The gate sets
    # its own, shorter, timeout (GATE_STATEMENT_TIMEOUT_MS) either way.
    DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 0, minimum=0)
    if DB_STATEMENT_TIMEOUT_MS:
        _db["OPTIONS"]["options"] = (_db["OPTIONS"].get("options", "") +
                                     f" -c statement_timeout={DB_STATEMENT_TIMEOUT_MS}").strip()
else:
    raise ImproperlyConfigured(f"DATABASE_URL must be postgres:// or sqlite://, got {_db['ENGINE']}")
DATABASES = {"default": _db}
# The PostgreSQL role the app runs as in production, owning nothing; when set, `migrate` (run as the
# owner role) grants it what it needs after each run (clearance/dbroles.py, `manage.py db_roles`).
DB_RUNTIME_ROLE = env_str("DB_RUNTIME_ROLE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes's backend comes first: it refuses a locked-out account or address before any password
# is checked, so a guess made during a lockout learns nothing. It needs the request, so code that signs
# in must pass it to authenticate(); tests use client.force_login (client.login passes none).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Passwords; refuses every attempt when LOCAL_PASSWORDS_ENABLED is off (clearance/sso/backend.py).
    "clearance.sso.backend.LocalPasswordBackend",
    # OpenID Connect sign-in; answers only the SSO callback, and only when SSO is configured.
    "clearance.sso.backend.OidcBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", False)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = True

# --- Single sign-on (OpenID Connect, clearance/sso/, docs/sso.md) -------------------------------------
# The provider: its issuer (the discovery document is read from <issuer>/.well-known/openid-configuration,
# or OIDC_DISCOVERY_URL) or explicit endpoints, which win over discovery one by one.
OIDC_ISSUER = env_str("OIDC_ISSUER").rstrip("/")
OIDC_DISCOVERY_URL = env_str("OIDC_DISCOVERY_URL")
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_USERINFO_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_JWKS_URI")
OIDC_OP_END_SESSION_ENDPOINT = env_str("OIDC_END_SESSION_ENDPOINT")
OIDC_RP_CLIENT_ID = env_str("OIDC_CLIENT_ID")
# The client secret comes from the environment or a file (a mounted secret); it is never shown.
OIDC_RP_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
if env_str("OIDC_CLIENT_SECRET_FILE"):
    try:
        OIDC_RP_CLIENT_SECRET = Path(env_str("OIDC_CLIENT_SECRET_FILE")).read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"OIDC_CLIENT_SECRET_FILE cannot be read: {exc.strerror}") from exc
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "your company account")
OIDC_RP_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
# ID tokens are accepted only when signed with one of these (asymmetric: the provider's JWKS holds the keys).
OIDC_SIGN_ALGORITHMS = env_list("OIDC_SIGN_ALGORITHMS", ["RS256", "ES256"])
if set(OIDC_SIGN_ALGORITHMS) - {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}:
    raise ImproperlyConfigured(f"OIDC_SIGN_ALGORITHMS may name RS*, PS* and ES* algorithms only, got {OIDC_SIGN_ALGORITHMS}")
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
# IdP group -> Clearance role names (clearance/roles.py), as JSON: {"ai-governance": ["governance-lead"]}.
# Role names are checked against clearance/roles.py by a system check (clearance/sso/checks.py).
try:
    OIDC_GROUP_ROLES: dict[str, list[str]] = json.loads(env_str("OIDC_GROUP_ROLES", "{}"))
except ValueError as exc:
    raise ImproperlyConfigured(f"OIDC_GROUP_ROLES must be a JSON object, got an error: {exc}") from exc
if not isinstance(OIDC_GROUP_ROLES, dict) or not all(
        isinstance(roles, list) and all(isinstance(r, str) for r in roles) for roles in OIDC_GROUP_ROLES.values()):
    raise ImproperlyConfigured('OIDC_GROUP_ROLES must map each group to a list of role names, e.g. {"g": ["auditor"]}')
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT_SECONDS", 10, minimum=1)
OIDC_DISCOVERY_CACHE_SECONDS = env_int("OIDC_DISCOVERY_CACHE_SECONDS", 3600, minimum=0)
OIDC_CLOCK_SKEW_SECONDS = env_int("OIDC_CLOCK_SKEW_SECONDS", 60, minimum=0)
# What mozilla-django-oidc reads: state, nonce and PKCE (S256) on every sign-in; the ID token kept in
# the session for RP-initiated logout (its id_token_hint).
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_STORE_ID_TOKEN = True
OIDC_AUTHENTICATION_CALLBACK_URL = "sso-callback"
OIDC_RP_SIGN_ALGO = "RS256"  # unused by our verification (OIDC_SIGN_ALGORITHMS), required by the library
OIDC_VERIFY_SSL = True
# The client authenticates at the token endpoint with client_secret_post, or HTTP Basic (client_secret_basic).
OIDC_TOKEN_USE_BASIC_AUTH = env_bool("OIDC_TOKEN_USE_BASIC_AUTH", False)
# Off: the password form, password sign-in (pages and admin) and password change are gone; /login/ offers SSO.
LOCAL_PASSWORDS_ENABLED = env_bool("LOCAL_PASSWORDS_ENABLED", True)
if not LOCAL_PASSWORDS_ENABLED and not (OIDC_ISSUER and OIDC_RP_CLIENT_ID):
    raise ImproperlyConfigured("LOCAL_PASSWORDS_ENABLED=false needs single sign-on configured (OIDC_ISSUER and "
                               "OIDC_CLIENT_ID), or nobody could sign in")

# --- Security -------------------------------------------------------------------------------------
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

_sso_origins = sorted({urlsplit(url)._replace(path="", query="", fragment="").geturl()
                       for url in (OIDC_ISSUER, OIDC_OP_END_SESSION_ENDPOINT) if url})
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        # Signing out ends the identity provider's session too: the logout form's redirect goes there.
        "form-action": [SELF, *_sso_origins],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [NONE],
    },
}

# --- Email ----------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "clearance@localhost")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
# An SMTP server that hangs must not hold a notification email past its lease (JOB_LEASE_SECONDS).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20, minimum=1)

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clearance.tokens.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["clearance.permissions.HasRoleScope"],
    "DEFAULT_SCHEMA_CLASS": "clearance.schema.ClearanceAutoSchema",
    # JSON only, bounded in size and nesting (see clearance.api.BoundedJSONParser).
    "DEFAULT_PARSER_CLASSES": ["clearance.api.BoundedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "clearance.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# API request bodies: larger or deeper JSON is refused with 400 before it is parsed.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 256 * 1024, minimum=1024)
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 32, minimum=4)
SPECTACULAR_SETTINGS = {
    "TITLE": "Clearance API",
    "DESCRIPTION": "AI governance: requests, reviews, systems and the deployment gate.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Closed by default like every other endpoint: the schema and docs need a login or a token.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {"RiskTierEnum": "catalog.choices.RiskTier"},
}
# Server-side pepper for API token digests; kept apart from SECRET_KEY so that rotating one does
# not silently invalidate or weaken the other.
TOKEN_PEPPER = env_str("TOKEN_PEPPER") or f"pepper:{SECRET_KEY}"

# --- Audit trail ---------------------------------------------------------------------------------
# Event hashes are HMAC-SHA256 under a key the database does not hold. AUDIT_KEY (with AUDIT_KEY_ID,
# default k1) signs new events; AUDIT_KEYS ("id=secret,id=secret") lists every key still needed to
# verify older events after a rotation. Unset, a key is derived from SECRET_KEY (embedded mode only:
# `check --deploy` refuses it). Events written before keying have no key id and a plain SHA-256.
_audit_keys = keyring.audit_keys(key=env_str("AUDIT_KEY"), key_id=env_str("AUDIT_KEY_ID"),
                                 keys=env_str("AUDIT_KEYS"), secret_key=SECRET_KEY)
AUDIT_KEY_ID = _audit_keys.current_id
AUDIT_KEYS = _audit_keys.keys
AUDIT_KEY_DERIVED = _audit_keys.derived
# Unkeyed (legacy) events above this seq are refused; set it to the last seq written before keying
# (0 for an installation that started keyed). Unset: only "no unkeyed event after a keyed one".
AUDIT_LEGACY_MAX_SEQ: int | None = (
    env_int("AUDIT_LEGACY_MAX_SEQ", 0, minimum=0) if env_str("AUDIT_LEGACY_MAX_SEQ").strip() else None
)
# The head is anchored outside the database: every AUDIT_CHECKPOINT_SECONDS beat appends a signed
# (Ed25519) checkpoint of (seq, hash, time) to AUDIT_CHECKPOINT_FILE, which audit_verify compares with
# the table. AUDIT_CHECKPOINT_KEY: base64 of the 32-byte private key or a PEM; unset, derived from
# SECRET_KEY (embedded mode only). AUDIT_CHECKPOINT_PUBLIC_KEYS: earlier keys' public halves.
AUDIT_CHECKPOINT_KEY, AUDIT_CHECKPOINT_KEY_DERIVED = keyring.checkpoint_private_key(
    value=env_str("AUDIT_CHECKPOINT_KEY"), secret_key=SECRET_KEY
)
AUDIT_CHECKPOINT_PUBLIC_KEYS = keyring.checkpoint_public_keys(
    values=env_str("AUDIT_CHECKPOINT_PUBLIC_KEYS"), private=AUDIT_CHECKPOINT_KEY
)
AUDIT_CHECKPOINT_FILE = Path(env_str("AUDIT_CHECKPOINT_FILE", str(VAR_DIR / "audit-checkpoints.jsonl")))

# --- Gate attestations ----------------------------------------------------------------------------
# A gate answer can carry a DSSE-signed in-toto statement (docs/attestations.md). Its Ed25519 key is
# its own, not the checkpoint key: every web process must hold it (the checkpoint key only beat
# needs), its public half goes to deploy tooling rather than auditors, and a leak of one must not let
# anyone forge the other. GATE_SIGNING_KEY (base64 of 32 bytes, or a PEM) or GATE_SIGNING_KEY_FILE;
# unset, derived from SECRET_KEY (embedded mode only: `check --deploy` refuses it). GATE_PUBLIC_KEYS:
# public halves of earlier keys, still published so attestations they signed keep verifying.
GATE_SIGNING_KEY, GATE_SIGNING_KEY_DERIVED = keyring.ed25519_private_key(
    value=keyring.secret_from_env_or_file(value=env_str("GATE_SIGNING_KEY"), path=env_str("GATE_SIGNING_KEY_FILE"),
                                          variable="GATE_SIGNING_KEY"),
    secret_key=SECRET_KEY, variable="GATE_SIGNING_KEY", label=b"clearance-gate-attestation",
)
GATE_PUBLIC_KEYS = keyring.ed25519_public_keys(values=env_str("GATE_PUBLIC_KEYS"), private=GATE_SIGNING_KEY,
                                               variable="GATE_PUBLIC_KEYS")
# How long clients and proxies may cache the published keys (seconds).
GATE_KEYS_MAX_AGE = env_int("GATE_KEYS_MAX_AGE", 3600, minimum=0)

# --- Rate limits -------------------------------------------------------------------------------------
# Counted in a cache every gunicorn worker shares: Redis when THROTTLE_CACHE_URL names one, else files
# under the var directory (shared by the processes of one host).
THROTTLE_CACHE_URL = env_str("THROTTLE_CACHE_URL", "")
# A cache that is down or hangs costs a gate call at most this long; then the throttle counts per
# process for THROTTLE_CACHE_RETRY_SECONDS before trying the shared cache again.
THROTTLE_CACHE_TIMEOUT = env_int("THROTTLE_CACHE_TIMEOUT_MS", 250, minimum=1) / 1000
THROTTLE_CACHE_RETRY_SECONDS = env_int("THROTTLE_CACHE_RETRY_SECONDS", 5, minimum=0)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": THROTTLE_CACHE_URL,
         "OPTIONS": {"socket_connect_timeout": THROTTLE_CACHE_TIMEOUT, "socket_timeout": THROTTLE_CACHE_TIMEOUT}}
        if THROTTLE_CACHE_URL.startswith(("redis://", "rediss://", "unix://"))
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
              "LOCATION": str(VAR_DIR / "throttle-cache"), "OPTIONS": {"MAX_ENTRIES": 100_000}}
    ),
}
# Gate calls per token (a token may set its own per-minute rate), DRF rate syntax.
GATE_RATE_LIMIT = env_str("GATE_RATE_LIMIT", "120/min")
# The gate keeps a token it resolved in the process's memory this long, so a CI burst costs no token
# query: a revocation, an expiry moved earlier, a deactivated user or a changed role reaches the gate
# of another process within this window (in the revoking process at once). 0 turns the cache off.
GATE_TOKEN_CACHE_SECONDS = env_int("GATE_TOKEN_CACHE_SECONDS", 5, minimum=0)

# --- Guessing ------------------------------------------------------------------------------------
# The address a request comes from. Directly exposed, it is the socket's peer (REMOTE_ADDR). Behind a
# reverse proxy every request comes from the proxy, so name the header the proxy sets and overwrites
# (e.g. X-Real-IP, or X-Forwarded-For, of which the right-most entry is used: the one the nearest
# proxy appended). Only then is a header read: a client cannot pick its own address by sending one.
CLIENT_ADDRESS_HEADER = env_str("CLIENT_ADDRESS_HEADER", "").strip()
# Sign-in attempts (django-axes): after LOGIN_FAILURE_LIMIT failures for one account, or from one
# address, sign-in is refused for LOGIN_COOLOFF_MINUTES after the last counted failure, right
# password or not. Attempts refused during a lockout are not counted, so the wait stays as told.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
LOGIN_COOLOFF_MINUTES = env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AXES_ENABLED = env_bool("LOGIN_THROTTLE", True)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
# Either one trips the lock: many guesses at one account from many addresses, or many accounts from one.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "clearance.signin.client_address"
AXES_LOCKOUT_CALLABLE = "clearance.signin.lockout_response"
# Successful sign-ins are not logged by axes (the failures are what it is for; lockouts go to the audit
# trail), so its tables grow only under attack.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Bad bearer tokens from one address: past BAD_TOKEN_LIMIT in BAD_TOKEN_WINDOW_SECONDS the API answers
# 429 with Retry-After until the window ends. Counted in the throttle cache; valid tokens are not slowed.
BAD_TOKEN_LIMIT = env_int("BAD_TOKEN_LIMIT", 20, minimum=1)
BAD_TOKEN_WINDOW_SECONDS = env_int("BAD_TOKEN_WINDOW_SECONDS", 300, minimum=1)

# --- Provisioning by SCIM 2.0 (provisioning/) ------------------------------------------------------
# Which Clearance roles an identity provider's groups grant: a JSON object from a SCIM group's
# displayName (matched without regard to case) to a role name or a list of them, e.g.
# {"AI Governance": "governance-lead", "Clearance Auditors": ["auditor"]}. A group not named here is
# kept with its members but grants nothing.
SCIM_GROUP_ROLES = scim_group_roles(env_str("SCIM_GROUP_ROLES", ""))
# SCIM requests per provisioning token, DRF rate syntax; an IdP's full sync comes in bursts.
SCIM_RATE_LIMIT = env_str("SCIM_RATE_LIMIT", "600/min")
# The most resources one SCIM list answers (its "count" is capped here; also its default).
SCIM_MAX_RESULTS = env_int("SCIM_MAX_RESULTS", 200, minimum=1)
# A SCIM request body larger than this is refused (413) before it is parsed; a group's full member
# list in one PUT needs more room than the API's other bodies.
SCIM_MAX_BODY_BYTES = env_int("SCIM_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# django-scim2 reads its own settings dict; only the parts Clearance uses are set (our views and
# adapters do the authentication, the ids and the paging: provisioning/scim/).
SCIM_SERVICE_PROVIDER = {
    "SERVICE_PROVIDER_CONFIG_MODEL": "provisioning.scim.discovery.ServiceProviderConfig",
    "USER_ADAPTER": "provisioning.scim.adapters.ScimUserAdapter",
    "GROUP_ADAPTER": "provisioning.scim.adapters.ScimGroupAdapter",
    "BASE_LOCATION_GETTER": "provisioning.scim.discovery.base_location",
    "AUTHENTICATION_SCHEMES": [{
        "type": "oauthbearertoken", "name": "Bearer token",
        "description": "A Clearance provisioning token (manage.py scim_client), sent as Authorization: Bearer clr_...",
    }],
    "WWW_AUTHENTICATE_HEADER": 'Bearer realm="clearance-scim"',
}

# --- Outages ----------------------------------------------------------------------------------------
# On PostgreSQL every statement of a gate call is cancelled past this (a held lock included) and the
# call answers 503 with Retry-After; keep gunicorn's --timeout well above it. 0 turns it off.
GATE_STATEMENT_TIMEOUT_MS = env_int("GATE_STATEMENT_TIMEOUT_MS", 2000, minimum=0)
OUTAGE_RETRY_AFTER_SECONDS = env_int("OUTAGE_RETRY_AFTER_SECONDS", 5, minimum=1)

# --- Policy ---------------------------------------------------------------------------------------
POLICY_DIR = Path(env_str("POLICY_DIR", str(BASE_DIR / "policies")))
READINESS_POLICY_FILE = env_str("READINESS_POLICY_FILE", "readiness.yaml")
TIERING_POLICY_FILE = env_str("TIERING_POLICY_FILE", "tiering.yaml")
# Compliance frameworks, their mappings to readiness requirements and crosswalks (compliance/loader.py).
FRAMEWORK_DIR = Path(env_str("FRAMEWORK_DIR", str(BASE_DIR / "compliance" / "frameworks")))
# Frameworks imported from OSCAL catalogs (upload form, `manage.py framework_oscal import`) are written here
# and read with FRAMEWORK_DIR's; keep it on storage every web and worker process shares.
FRAMEWORK_IMPORT_DIR = Path(env_str("FRAMEWORK_IMPORT_DIR", str(BASE_DIR / "var" / "frameworks")))
# Review kinds, their deciding role and SLA per risk tier (governance/review_policy.py).
REVIEW_POLICY_FILE = env_str("REVIEW_POLICY_FILE", "reviews.yaml")

# Request attachments (intake): stored under generated names outside the web root, served only
# through a view that checks who may see the request.
ATTACHMENT_DIR = Path(env_str("ATTACHMENT_DIR", str(VAR_DIR / "attachments")))
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
ATTACHMENT_TYPES = {
    ".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".txt": "text/plain", ".md": "text/markdown", ".csv": "text/csv",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redis redelivers an unacknowledged message after the visibility timeout; it must exceed the
    # longest task (hard limit below) or a running task would be delivered twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# Publishing happens from the outbox relay: fail fast when the broker is down, the row stays
# pending and the next sweep retries.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The queue tasks are sent to and workers read by default (a deployment may name its own).
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {
        "task": "clearance.relay_outbox",
        "schedule": env_int("OUTBOX_SWEEP_SECONDS", 15, minimum=1),
    },
    "review-reminders": {
        "task": "governance.send_review_reminders",
        "schedule": env_int("REMINDER_SWEEP_SECONDS", 3600, minimum=1),
    },
    "recheck-approvals": {
        "task": "governance.recheck_approvals",
        "schedule": env_int("APPROVAL_RECHECK_SECONDS", 3600, minimum=1),
    },
    "expire-waivers": {
        "task": "governance.expire_waivers",
        "schedule": env_int("WAIVER_SWEEP_SECONDS", 60, minimum=1),
    },
    # Risk acceptances past their expiry: marked expired, audited, readiness recomputed.
    "expire-risk-acceptances": {
        "task": "risks.expire_acceptances",
        "schedule": env_int("RISK_ACCEPTANCE_SWEEP_SECONDS", 300, minimum=1),
    },
    # Serious incidents whose report to the authority is nearly due or overdue: their people are told once.
    "remind-incident-deadlines": {
        "task": "risks.remind_incident_deadlines",
        "schedule": env_int("INCIDENT_REMINDER_SWEEP_SECONDS", 900, minimum=1),
    },
    "recompute-expired-readiness": {
        "task": "governance.recompute_expired_readiness",
        "schedule": env_int("READINESS_SWEEP_SECONDS", 300, minimum=1),
    },
    # Stored verdicts against a live evaluation: recomputes (and logs) any that disagree.
    "readiness-consistency": {
        "task": "governance.check_readiness_consistency",
        "schedule": env_int("READINESS_CONSISTENCY_SECONDS", 600, minimum=1),
    },
    # Exports rendered in a web request whose process died: failed once their lease has passed.
    "reap-exports": {
        "task": "governance.reap_exports",
        "schedule": env_int("EXPORT_REAP_SECONDS", 60, minimum=1),
    },
    # One dispatcher reads each evidence source's own interval (editable in the app, no deploy).
    # The audit chain's head, signed and appended to AUDIT_CHECKPOINT_FILE (outside the database).
    "audit-checkpoint": {
        "task": "clearance.audit_checkpoint",
        "schedule": env_int("AUDIT_CHECKPOINT_SECONDS", 300, minimum=1),
    },
    "dispatch-evidence-syncs": {
        "task": "catalog.dispatch_due_sources",
        "schedule": env_int("EVIDENCE_DISPATCH_SECONDS", 60, minimum=1),
    },
}

# --- Delivery to completion -----------------------------------------------------------------------
# An outbox message is done when the task that does its work says so, not when it was published: a
# message published but not completed within OUTBOX_REDELIVER_SECONDS is sent again by the sweep
# (every OUTBOX_SWEEP_SECONDS), the wait doubling with each send up to OUTBOX_REDELIVER_MAX_SECONDS.
# Completed messages are kept OUTBOX_KEEP_DAYS for inspection.
OUTBOX_REDELIVER_SECONDS = env_int("OUTBOX_REDELIVER_SECONDS", 120, minimum=1)
OUTBOX_REDELIVER_MAX_SECONDS = env_int("OUTBOX_REDELIVER_MAX_SECONDS", 3600, minimum=OUTBOX_REDELIVER_SECONDS)
OUTBOX_KEEP_DAYS = env_int("OUTBOX_KEEP_DAYS", 7, minimum=1)
# Tracked work (a notification email being sent, a PDF export, an evidence sync run) holds a lease of
# JOB_LEASE_SECONDS that a heartbeat renews every JOB_HEARTBEAT_SECONDS while the work runs. A worker
# that dies stops renewing, and its work is taken back once the lease has passed: about a minute.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 60, minimum=2)
JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 15, minimum=1)
if JOB_HEARTBEAT_SECONDS * 2 > JOB_LEASE_SECONDS:
    # One missed beat (a slow query, a pause) must not lose a live worker its lease.
    raise ImproperlyConfigured(
        f"JOB_HEARTBEAT_SECONDS ({JOB_HEARTBEAT_SECONDS}) must be at most half of JOB_LEASE_SECONDS ({JOB_LEASE_SECONDS})"
    )
# A dossier export taken back from dead workers this many times fails instead of trying again.
EXPORT_MAX_ATTEMPTS = env_int("EXPORT_MAX_ATTEMPTS", 3, minimum=1)

# --- Evidence pipeline ----------------------------------------------------------------------------
# Files a source may read must lie inside these directories; URLs may redirect only within their host.
EVIDENCE_ALLOWED_DIRS = env_list("EVIDENCE_ALLOWED_DIRS", [str(VAR_DIR / "evidence")])
# Sources never fetch from loopback, link-local, private or multicast addresses (checked after DNS,
# on every redirect and at connect time) unless the host (or host:port) is listed here, e.g. an
# MLflow server on the same machine: EVIDENCE_ALLOWED_HOSTS=127.0.0.1,mlflow.internal:5000.
EVIDENCE_ALLOWED_HOSTS = env_list("EVIDENCE_ALLOWED_HOSTS", [])
(VAR_DIR / "evidence").mkdir(exist_ok=True)
EVIDENCE_SECRET_KEY = env_str("EVIDENCE_SECRET_KEY")  # a Fernet key; derived from SECRET_KEY when unset
EVIDENCE_HTTP_TIMEOUT = float(env_int("EVIDENCE_HTTP_TIMEOUT", 20, minimum=1))
EVIDENCE_MAX_JSON_BYTES = env_int("EVIDENCE_MAX_JSON_BYTES", 64_000_000, minimum=1000)
EVIDENCE_BATCH_ROWS = env_int("EVIDENCE_BATCH_ROWS", 5000, minimum=1)
# A sync may import a large export: its own limits, below the Redis visibility timeout (1 h).
EVIDENCE_SYNC_SOFT_TIME_LIMIT = env_int("EVIDENCE_SYNC_SOFT_TIME_LIMIT", 1500, minimum=1)
EVIDENCE_SYNC_TIME_LIMIT = env_int("EVIDENCE_SYNC_TIME_LIMIT", 1800, minimum=1)
EVIDENCE_SYNC_MAX_RETRIES = env_int("EVIDENCE_SYNC_MAX_RETRIES", 4, minimum=0)

# --- Outgoing webhooks (integrations/) -----------------------------------------------------------
# Destinations obey the evidence sources' rule: no loopback, link-local, private or multicast address
# (checked when saved and again, pinned, at every send) unless the host or host:port is listed here.
# A list of its own: a host allowed to be read from is not thereby allowed to receive events.
WEBHOOK_ALLOWED_HOSTS = env_list("WEBHOOK_ALLOWED_HOSTS", [])
# Each attempt waits this long to connect, to send and for each read of the answer.
WEBHOOK_TIMEOUT_SECONDS = float(env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1))
# Of a receiver's answer, at most this much is read (the log keeps its first 500 characters).
WEBHOOK_MAX_RESPONSE_BYTES = env_int("WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024, minimum=1024)
# A failed attempt is retried after WEBHOOK_RETRY_BASE_SECONDS, doubling each time up to
# WEBHOOK_RETRY_MAX_SECONDS; after WEBHOOK_MAX_ATTEMPTS attempts the delivery is marked failed.
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 30, minimum=1)
WEBHOOK_RETRY_MAX_SECONDS = env_int("WEBHOOK_RETRY_MAX_SECONDS", 3600, minimum=WEBHOOK_RETRY_BASE_SECONDS)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8, minimum=1)

# --- Risk register (risks/) ---------------------------------------------------------------------
# Likelihood and impact are each scored 1..N (default 5 x 5); a risk's score is their product.
RISK_LIKELIHOOD_LEVELS = env_int("RISK_LIKELIHOOD_LEVELS", 5, minimum=2)
RISK_IMPACT_LEVELS = env_int("RISK_IMPACT_LEVELS", 5, minimum=2)
# Appetite per risk tier: the highest residual score (likelihood x impact after treatment) a system of
# that tier may carry without an acceptance by its risk owner. A tier not listed has no appetite (0).
RISK_APPETITE = {"prohibited": 0, "high": 6, "limited": 10, "minimal": 15}
# A risk acceptance lasts at most this many days.
RISK_ACCEPTANCE_MAX_DAYS = env_int("RISK_ACCEPTANCE_MAX_DAYS", 365, minimum=1)
# The serious-incident reporting deadlines (EU AI Act Art. 73) end at midnight in this time zone (the
# one of the market surveillance authority you report to); empty: TIME_ZONE.
INCIDENT_REPORTING_TIME_ZONE = env_str("INCIDENT_REPORTING_TIME_ZONE", "Europe/Brussels")
try:
    ZoneInfo(INCIDENT_REPORTING_TIME_ZONE or TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError) as _exc:
    raise ImproperlyConfigured(
        f"INCIDENT_REPORTING_TIME_ZONE must be an IANA time zone such as Europe/Brussels, got "
        f"{INCIDENT_REPORTING_TIME_ZONE!r}") from _exc
# How long before a report's deadline its people are reminded (and again once it is overdue).
INCIDENT_REPORT_WARNING_HOURS = env_int("INCIDENT_REPORT_WARNING_HOURS", 24, minimum=1)

# --- Operations: logs, probes, metrics -------------------------------------------------------------
# One console handler (stderr); LOG_FORMAT=json writes one JSON object per line with the request id
# (and the task inside Celery), text a readable line with the same id.
LOG_FORMAT = env_str("LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}")
LOGGING = logging_config(fmt=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO"))
# /readyz: each check (database, broker, cache, policy) waits at most this long for the broker; the
# database is bounded by DB_CONNECT_TIMEOUT, the cache by THROTTLE_CACHE_TIMEOUT_MS. Checks named in
# READYZ_SOFT_CHECKS are reported but do not make the answer 503 (e.g. "cache,broker": the gate keeps
# answering without them, so an operator may keep such processes in rotation).
READYZ_TIMEOUT_SECONDS = env_int("READYZ_TIMEOUT_MS", 2000, minimum=1) / 1000
READYZ_SOFT_CHECKS = env_list("READYZ_SOFT_CHECKS", [])
if unknown_checks := set(READYZ_SOFT_CHECKS) - {"database", "broker", "cache", "policy"}:
    raise ImproperlyConfigured(f"READYZ_SOFT_CHECKS: unknown check(s) {', '.join(sorted(unknown_checks))}; "
                               f"known: database, broker, cache, policy")
# /metrics: a scraper sends METRICS_TOKEN as a Bearer token, or comes from METRICS_ALLOWED_NETWORKS
# (CIDRs; the address as CLIENT_ADDRESS_HEADER defines it), or both when both are set. Neither set:
# closed (404) unless DEBUG.
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_NETWORKS")
# A Celery worker serves its own metrics (and /healthz) on this port; 0: off.
CELERY_METRICS_PORT = env_int("CELERY_METRICS_PORT", 0, minimum=0)
CELERY_METRICS_ADDRESS = env_str("CELERY_METRICS_ADDRESS", "0.0.0.0")  # noqa: S104 - a pod's own address
