"""Django settings, driven by environment variables so that `sinfonia serve` needs no file.

SINFONIA_DATA          data folder (database, blobs, secret key); default ./sinfonia-data
SINFONIA_DATABASE_URL  postgres://user:pass@host:port/db; SQLite in the data folder when unset
SINFONIA_ID_SCHEME     path of a JSON file describing the project-identifier scheme
SINFONIA_TRASH_RETENTION_DAYS  days a deleted element stays restorable (default 30)
SINFONIA_LDAP_*        sign-in against an LDAP directory (see `ldap_settings`, docs/admin.md)
SINFONIA_HTTPS         1 behind a TLS-terminating proxy: secure cookies, HSTS, X-Forwarded-Proto
(docs/deploy.md, docs/security.md)
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("SINFONIA_DATA", "sinfonia-data")).resolve()


def _secret_key() -> str:
    if key := os.environ.get("SINFONIA_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _database(url: str | None) -> dict[str, object]:
    if not url:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "sinfonia.sqlite3",
            "OPTIONS": {
                # WAL lets readers run beside the single writer; IMMEDIATE takes the write lock
                # at BEGIN so concurrent writers queue instead of failing with "database locked".
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                    # A page cache of up to 32 MiB per connection (default 2 MiB): index
                    # searches such as QIDO-RS counts stop re-reading pages from the OS.
                    " PRAGMA cache_size=-32768;"
                    # Pages read in place from the operating system's file cache (memory-
                    # mapped, up to 2 GiB of the file: most builds' cap) instead of copied
                    # into each connection's cache one read() at a time: a search reading
                    # 20,000 rows at a million files (`cardio*`) 85 -> 60 ms
                    # (docs/decisions/0005). Shared with every process, not per connection.
                    " PRAGMA mmap_size=2147418112;"
                ),
            },
        }
    parsed = urlparse(url)
    if parsed.scheme not in ("postgres", "postgresql"):
        raise ImproperlyConfigured(f"SINFONIA_DATABASE_URL: unsupported scheme {parsed.scheme!r}")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")),
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


# LDAP settings: SINFONIA_LDAP_<KEY> in the environment, else <key> in the TOML file that
# SINFONIA_LDAP_CONFIG names. Strings, except the flags and numbers noted.
_LDAP_KEYS = {
    "url": "",  # ldap://host:389 or ldaps://host:636; unset: no LDAP
    "bind_dn": "",  # service account that searches the directory; empty: anonymous
    "bind_password": "",
    "user_base": "",  # where people are searched (subtree)
    "user_filter": "(uid=%(user)s)",
    "user_attrs": "first_name=givenName,last_name=sn,email=mail",
    "group_base": "",  # where groups are searched (subtree); needed for the two below
    "group_type": "groupOfNames",  # or groupOfUniqueNames, posixGroup
    "group_filter": "",  # default: (objectClass=<group_type>)
    "mirror_groups": "",  # comma-separated group names (cn) mirrored to Sinfonia groups
    "admin_group": "",  # name (cn) of the group whose members are site administrators
    "require_group": "",  # DN of a group outside which nobody signs in with LDAP
    "starttls": False,
    "ca_file": "",  # CA certificates to verify the server's certificate with
    "timeout": 10,  # seconds for connecting and for each operation
    "sync_seconds": 3600,  # `serve` deactivates locked or removed accounts this often; 0: never
}


def ldap_settings(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The LDAP configuration in ``environ`` (and its file), or None when no URL is set."""
    from_file: dict[str, Any] = {}
    if path := environ.get("SINFONIA_LDAP_CONFIG"):
        try:
            with open(path, "rb") as fh:
                from_file = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ImproperlyConfigured(f"SINFONIA_LDAP_CONFIG: {exc}") from exc
        if unknown := set(from_file) - set(_LDAP_KEYS):
            raise ImproperlyConfigured(f"SINFONIA_LDAP_CONFIG: unknown keys {sorted(unknown)}")
    config: dict[str, Any] = {}
    for key, default in _LDAP_KEYS.items():
        raw = environ.get(f"SINFONIA_LDAP_{key.upper()}", from_file.get(key, default))
        if isinstance(default, bool):
            config[key] = raw if isinstance(raw, bool) else str(raw).lower() in ("1", "true", "yes")
        elif isinstance(default, int):
            try:
                config[key] = int(raw)
            except ValueError:
                raise ImproperlyConfigured(f"SINFONIA_LDAP_{key.upper()}: not a number") from None
        else:
            config[key] = str(raw).strip()
    if not config["url"]:
        return None
    if not config["user_base"]:
        raise ImproperlyConfigured("SINFONIA_LDAP_URL is set but SINFONIA_LDAP_USER_BASE is not")
    if (config["mirror_groups"] or config["admin_group"]) and not config["group_base"]:
        raise ImproperlyConfigured(
            "SINFONIA_LDAP_MIRROR_GROUPS and SINFONIA_LDAP_ADMIN_GROUP need "
            "SINFONIA_LDAP_GROUP_BASE"
        )
    if config["group_type"] not in ("groupOfNames", "groupOfUniqueNames", "posixGroup"):
        raise ImproperlyConfigured(
            "SINFONIA_LDAP_GROUP_TYPE: groupOfNames, groupOfUniqueNames or posixGroup"
        )
    for pair in filter(None, config["user_attrs"].split(",")):  # empty: copy nothing
        field, _, attribute = (part.strip() for part in pair.partition("="))
        if field not in ("first_name", "last_name", "email") or not attribute:
            raise ImproperlyConfigured(
                f"SINFONIA_LDAP_USER_ATTRS: {pair.strip()!r} is not first_name, last_name or "
                "email = an LDAP attribute"
            )
    return config


SECRET_KEY = _secret_key()
# Former keys, still accepted when reading (sessions, sealed two-factor seeds) during a rotation.
SECRET_KEY_FALLBACKS = [
    k for k in os.environ.get("SINFONIA_SECRET_KEY_FALLBACKS", "").split(",") if k.strip()
]
for _sub in ("tmp", "static"):
    (DATA_DIR / _sub).mkdir(parents=True, exist_ok=True)
DEBUG = os.environ.get("SINFONIA_DEBUG", "") == "1"
ALLOWED_HOSTS = [h for h in os.environ.get("SINFONIA_ALLOWED_HOSTS", "*").split(",") if h]
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("SINFONIA_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django.contrib.messages",
    "ninja",
    "sinfonia.accounts",
    "sinfonia.storage",
    "sinfonia.resources",
    "sinfonia.audit",
    "sinfonia.transfers",
    "sinfonia.dicom",
    "sinfonia.search",
    "sinfonia.web",
    "sinfonia.support",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "sinfonia.web.middleware.IdleSessionMiddleware",
    "sinfonia.web.middleware.TwoFactorEnrolmentMiddleware",
    "sinfonia.web.middleware.PrivacyPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "sinfonia.web.security.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "sinfonia.urls"
ASGI_APPLICATION = "sinfonia.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sinfonia.web.context.portal",
            ]
        },
    }
]

DATABASES = {"default": _database(os.environ.get("SINFONIA_DATABASE_URL"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
# Local passwords first; then the directory, when one is configured (sinfonia.accounts.directory).
SINFONIA_LDAP = ldap_settings(os.environ)
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
if SINFONIA_LDAP is not None:
    AUTHENTICATION_BACKENDS.append("sinfonia.accounts.directory.DirectoryBackend")
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Password policy (docs/security.md): 10 characters or more, not one of the 20,000 most common
# passwords, not all digits, not too close to the user name, names or e-mail address.
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": int(os.environ.get("SINFONIA_PASSWORD_MIN_LENGTH", "10"))},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
WHITENOISE_USE_FINDERS = True  # serve app static files without a collectstatic step
WHITENOISE_AUTOREFRESH = False

# Small multipart uploads only: large transfers use the resumable upload protocol.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = str(DATA_DIR / "tmp")

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# Headers (docs/security.md). nosniff, referrer and opener policies on every response; the
# portal's Content-Security-Policy comes from sinfonia.web.security (SINFONIA_CSP replaces it).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "SAMEORIGIN"  # the previewer frames PDFs from the same origin
# Deliberate: SAMEORIGIN framing (above); HSTS preloading is the operator's decision.
SILENCED_SYSTEM_CHECKS = ["security.W019", "security.W021"]
SINFONIA_CSP = os.environ.get("SINFONIA_CSP", "")
# Behind a TLS-terminating proxy (nginx) that sets X-Forwarded-Proto: cookies only over HTTPS,
# and HSTS (SINFONIA_HSTS_SECONDS, one year by default; 0 turns it off).
SINFONIA_HTTPS = os.environ.get("SINFONIA_HTTPS", "") == "1"
if SINFONIA_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SINFONIA_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = os.environ.get("SINFONIA_HSTS_SUBDOMAINS", "") == "1"
    SECURE_SSL_REDIRECT = os.environ.get("SINFONIA_SSL_REDIRECT", "") == "1"
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    if not SECURE_SSL_REDIRECT:  # the proxy redirects http:// to https:// (docs/deploy.md)
        SILENCED_SYSTEM_CHECKS.append("security.W008")

SINFONIA_BLOB_DIR = DATA_DIR / "blobs"
SINFONIA_TMP_DIR = DATA_DIR / "tmp"
# A helper process makes empty files and folders ahead for blob writes (storage.reserve).
SINFONIA_BLOB_RESERVE = os.environ.get("SINFONIA_BLOB_RESERVE", "1") != "0"
# Helper processes that read STOW-RS instances' headers while the request goes on
# (dicom.readers; serve only); 0: read them in the request's thread.
SINFONIA_HEADER_READERS = int(os.environ.get("SINFONIA_HEADER_READERS", "1"))
# Derived artefacts of blobs (office documents as PDF), keyed by the source's SHA-256: a cache.
SINFONIA_PREVIEW_DIR = DATA_DIR / "previews"
SINFONIA_SOFFICE = os.environ.get("SINFONIA_SOFFICE", "soffice")  # LibreOffice, for previews
SINFONIA_OFFICE_TIMEOUT = int(os.environ.get("SINFONIA_OFFICE_TIMEOUT", "120"))  # seconds
# The study viewer's address with {study} for the Study Instance UID; empty: no viewer button.
SINFONIA_VIEWER_URL = os.environ.get("SINFONIA_VIEWER_URL", "")
SINFONIA_ID_SCHEME = os.environ.get("SINFONIA_ID_SCHEME", "")
SINFONIA_TRASH_RETENTION_DAYS = int(os.environ.get("SINFONIA_TRASH_RETENTION_DAYS", "30"))
SINFONIA_MAX_SIMPLE_UPLOAD = int(os.environ.get("SINFONIA_MAX_SIMPLE_UPLOAD", str(512 * 1024**2)))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": os.environ.get("SINFONIA_LOG_LEVEL", "INFO").upper(),  # "info" works too
    },
}

# Resumable uploads (tus): largest accepted file, and how long an unfinished one is kept.
SINFONIA_MAX_UPLOAD_SIZE = int(os.environ.get("SINFONIA_MAX_UPLOAD_SIZE", str(1024**4)))
SINFONIA_UPLOAD_EXPIRY_HOURS = int(os.environ.get("SINFONIA_UPLOAD_EXPIRY_HOURS", "72"))
SINFONIA_UPLOAD_TOKEN_HOURS = int(os.environ.get("SINFONIA_UPLOAD_TOKEN_HOURS", "72"))

# SFTP (`serve --sftp-port`): host key and staging areas (sftp/home/<user>) live here; each
# user's staging area holds at most SINFONIA_SFTP_QUOTA_BYTES.
SINFONIA_SFTP_DIR = DATA_DIR / "sftp"
SINFONIA_SFTP_QUOTA_BYTES = int(os.environ.get("SINFONIA_SFTP_QUOTA_BYTES", str(50 * 1024**3)))
# Ciphers the SFTP server offers. SSH lets the client's preference win among those offered, and
# OpenSSH clients put chacha20-poly1305 first, which asyncssh computes at a third of AES-GCM's speed
# (AES-NI); so AES-GCM alone by default (OpenSSH >= 6.2, PuTTY/WinSCP/FileZilla of the last years,
# paramiko). Add e.g. "chacha20-poly1305@openssh.com,aes256-ctr" for older clients.
SINFONIA_SFTP_CIPHERS = [
    c.strip()
    for c in os.environ.get(
        "SINFONIA_SFTP_CIPHERS", "aes128-gcm@openssh.com,aes256-gcm@openssh.com"
    ).split(",")
    if c.strip()
]

# ZIP extraction limits (zip-bomb protection): expansion ratio per member, total bytes, members.
SINFONIA_ZIP_MAX_RATIO = int(os.environ.get("SINFONIA_ZIP_MAX_RATIO", "200"))
SINFONIA_ZIP_MAX_TOTAL = int(os.environ.get("SINFONIA_ZIP_MAX_TOTAL", str(200 * 1024**3)))
SINFONIA_ZIP_MAX_MEMBERS = int(os.environ.get("SINFONIA_ZIP_MAX_MEMBERS", "200000"))

# Web portal: sessions end with the browser; the privacy policy must be accepted (again when
# its version changes); the footer's funding notice; contact messages mailed when SMTP is set.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Log-in security (docs/admin.md): sessions end after SINFONIA_SESSION_IDLE_MINUTES without a
# request; after SINFONIA_LOGIN_MAX_FAILURES failed log-ins of one account (or
# SINFONIA_LOGIN_MAX_FAILURES_PER_ADDRESS from one address) within
# SINFONIA_LOGIN_LOCKOUT_MINUTES, further attempts are refused until the window slides past;
# site administrators must set up two-factor log-in when SINFONIA_REQUIRE_2FA_FOR_ADMINS is on.
SINFONIA_SESSION_IDLE_MINUTES = int(os.environ.get("SINFONIA_SESSION_IDLE_MINUTES", "60"))
SINFONIA_LOGIN_MAX_FAILURES = int(os.environ.get("SINFONIA_LOGIN_MAX_FAILURES", "5"))
SINFONIA_LOGIN_MAX_FAILURES_PER_ADDRESS = int(
    os.environ.get("SINFONIA_LOGIN_MAX_FAILURES_PER_ADDRESS", "50")
)
SINFONIA_LOGIN_LOCKOUT_MINUTES = int(os.environ.get("SINFONIA_LOGIN_LOCKOUT_MINUTES", "15"))
SINFONIA_REQUIRE_2FA_FOR_ADMINS = os.environ.get("SINFONIA_REQUIRE_2FA_FOR_ADMINS", "").lower() in (
    "1",
    "true",
    "yes",
    "on",
)
SINFONIA_TOTP_ISSUER = os.environ.get("SINFONIA_TOTP_ISSUER", "SINFONIA")
SINFONIA_PRIVACY_POLICY_VERSION = os.environ.get("SINFONIA_PRIVACY_POLICY_VERSION", "1")
SINFONIA_FUNDING_NOTICE = os.environ.get(
    "SINFONIA_FUNDING_NOTICE",
    "This project has received funding from the European Union's Horizon 2020 research and "
    "innovation programme under grant agreement No 945196.",
)
SINFONIA_SUPPORT_EMAIL = os.environ.get("SINFONIA_SUPPORT_EMAIL", "")
SINFONIA_SUPPORT_DIR = DATA_DIR / "support"
if os.environ.get("SINFONIA_SMTP_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["SINFONIA_SMTP_HOST"]
    EMAIL_PORT = int(os.environ.get("SINFONIA_SMTP_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("SINFONIA_SMTP_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("SINFONIA_SMTP_PASSWORD", "")
    EMAIL_USE_TLS = os.environ.get("SINFONIA_SMTP_TLS", "1") == "1"
DEFAULT_FROM_EMAIL = os.environ.get("SINFONIA_SMTP_FROM", "sinfonia@localhost")
