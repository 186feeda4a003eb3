"""Django settings, driven by environment variables so that `sinfonia serve` needs no file.

SINFONIA_DATA          data folder (database, blobs, secret key); default ./sinfonia-data
SINFONIA_DATABASE_URL  postgres://user:pass@host:port/db; SQLite in the data folder when unset
SINFONIA_ID_SCHEME     path of a JSON file describing the project-identifier scheme
SINFONIA_TRASH_RETENTION_DAYS  days a deleted element stays restorable (default 30)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
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


SECRET_KEY = _secret_key()
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
    "sinfonia.web.middleware.PrivacyPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
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

SINFONIA_BLOB_DIR = DATA_DIR / "blobs"
SINFONIA_TMP_DIR = DATA_DIR / "tmp"
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
