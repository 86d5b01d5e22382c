"""Kartoteka settings: environment variables with working defaults.

Every setting can be overridden by an environment variable of the same name.
The embedded default is a SQLite file under ``instance/`` and an in-process
worker; production sets ``DATABASE_URL`` and ``REDIS_URL``.
"""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("KARTOTEKA_INSTANCE") or BASE_DIR / "instance")


def _secret_key() -> str:
    """SECRET_KEY from the environment, else generated once into instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    APP_NAME = "Картотека"
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'kartoteka.db'}")
    INSTANCE_DIR = str(INSTANCE_DIR)
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SECRET_KEY = None  # filled lazily by create_app via _secret_key()

    # Redis: unset means the embedded in-process store and worker thread.
    REDIS_URL = os.environ.get("REDIS_URL", "")
    RQ_QUEUE = os.environ.get("RQ_QUEUE", "kartoteka")

    # Notifications: active channels ("file" writes each message under instance/outbox).
    NOTIFY_CHANNELS = {
        "sms": os.environ.get("NOTIFY_SMS", "file"),  # file | gateway | off
        "email": os.environ.get("NOTIFY_EMAIL", "file"),  # file | smtp | off
        "push": os.environ.get("NOTIFY_PUSH", "file"),  # file | gateway | off
    }
    SMTP_HOST = os.environ.get("SMTP_HOST", "127.0.0.1")
    SMTP_PORT = int(os.environ.get("SMTP_PORT", "25"))
    SMTP_USER = os.environ.get("SMTP_USER", "")
    SMTP_PASSWORD = os.environ.get("SMTP_PASSWORD", "")
    SMTP_FROM = os.environ.get("SMTP_FROM", "clinic@kartoteka.example")
    SMS_GATEWAY_URL = os.environ.get("SMS_GATEWAY_URL", "")
    SMS_GATEWAY_TOKEN = os.environ.get("SMS_GATEWAY_TOKEN", "")
    PUSH_GATEWAY_URL = os.environ.get("PUSH_GATEWAY_URL", "")
    PUSH_GATEWAY_TOKEN = os.environ.get("PUSH_GATEWAY_TOKEN", "")
    GATEWAY_TIMEOUT = float(os.environ.get("GATEWAY_TIMEOUT", "10"))
    REMINDER_HOURS_BEFORE = int(os.environ.get("REMINDER_HOURS_BEFORE", "24"))
    SWEEP_INTERVAL_SECONDS = int(os.environ.get("SWEEP_INTERVAL_SECONDS", "30"))
    # A message left "sending" this long (its worker died) is handed out again.
    SENDING_LEASE_SECONDS = int(os.environ.get("SENDING_LEASE_SECONDS", "120"))
    DELIVERY_RETRIES = [10, 60, 300]  # seconds between attempts on a transient failure

    # Locale and time zone of the clinic.
    BABEL_DEFAULT_LOCALE = os.environ.get("BABEL_DEFAULT_LOCALE", "ru")
    BABEL_DEFAULT_TIMEZONE = os.environ.get("KARTOTEKA_TIMEZONE", "Europe/Moscow")
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {
        "ru": {"flag": "ru", "name": "Русский"},
        "en": {"flag": "gb", "name": "English"},
    }
    KARTOTEKA_CURRENCY = os.environ.get("KARTOTEKA_CURRENCY", "RUB")
    # Lists count at most this many rows (0: exact counts); see datamodel.Interface.query_count.
    KARTOTEKA_COUNT_CAP = int(os.environ.get("KARTOTEKA_COUNT_CAP", "10000"))
    KARTOTEKA_PHONE_REGION = os.environ.get("KARTOTEKA_PHONE_REGION", "RU")

    # Flask-AppBuilder
    FAB_SECURITY_MANAGER_CLASS = "app.security.KartotekaSecurityManager"
    FAB_INDEX_VIEW = "app.views.HomeView"
    FAB_ADD_SECURITY_API = False
    # FAB's screens of raw permissions, view names and their pairs («can_read»,
    # «Field:customer.phone»): the roles screen says the same in words
    FAB_ADD_SECURITY_PERMISSION_VIEW = False
    FAB_ADD_SECURITY_VIEW_MENU_VIEW = False
    FAB_ADD_SECURITY_PERMISSION_VIEWS_VIEW = False
    FAB_API_SWAGGER_UI = False
    AUTH_TYPE = 1  # AUTH_DB
    # FAB's administrator role is the matrix's (app/access.py): `flask fab create-admin`
    # makes the clinic's system administrator, not a role outside the matrix.
    AUTH_ROLE_ADMIN = "Администратор системы"
    AUTH_ROLE_PUBLIC = "Public"
    AUTH_USER_REGISTRATION = False
    FAB_UPDATE_PERMS = True
    APP_THEME = ""
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None

    # Sign-in limits (app/logins.py), counted in the database every worker shares:
    # failures in a row an account, and an address, get before each further failure
    # makes them wait longer (1, 2, 4… minutes, at most the last setting).
    KARTOTEKA_LOGIN_ACCOUNT_FREE = int(os.environ.get("KARTOTEKA_LOGIN_ACCOUNT_FREE", "5"))
    KARTOTEKA_LOGIN_ADDRESS_FREE = int(os.environ.get("KARTOTEKA_LOGIN_ADDRESS_FREE", "20"))
    KARTOTEKA_LOGIN_MAX_DELAY_MINUTES = int(os.environ.get("KARTOTEKA_LOGIN_MAX_DELAY_MINUTES", "15"))
    # How many reverse proxies in front of the app set X-Forwarded-For (0: none, the
    # header is ignored and cannot be spoofed to dodge the per-address limit).
    KARTOTEKA_TRUSTED_PROXIES = int(os.environ.get("KARTOTEKA_TRUSTED_PROXIES", "0"))
    # The token API (/api/v1/security/login, /refresh): off unless set (app/tokens.py).
    KARTOTEKA_TOKEN_API = _bool("KARTOTEKA_TOKEN_API", False)
    KARTOTEKA_TOKEN_REFRESH_HOURS = int(os.environ.get("KARTOTEKA_TOKEN_REFRESH_HOURS", "12"))
    RATELIMIT_ENABLED = False  # FAB's Flask-Limiter: no limit of ours uses it
    KARTOTEKA_IDLE_MINUTES = int(os.environ.get("KARTOTEKA_IDLE_MINUTES", "30"))
    # Host names the app answers as (redirects to other hosts are refused).
    KARTOTEKA_ALLOWED_HOSTS = [h for h in os.environ.get("KARTOTEKA_ALLOWED_HOSTS", "").split(",") if h]

    # Session cookie hardening; Secure is on in production (HTTPS).
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    # The cookie is re-sent when the session changes, not on every response: the
    # idle timer (app/security.py) changes it every 30 s of activity, which keeps
    # its expiry sliding; re-signing it on every page cost a twentieth of a list.
    SESSION_REFRESH_EACH_REQUEST = False

    # Demo users share one password (random when unset, printed by run.py).
    KARTOTEKA_DEMO_PASSWORD = os.environ.get("KARTOTEKA_DEMO_PASSWORD", "")


class TestConfig(Config):
    TESTING = True
    WTF_CSRF_ENABLED = False
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
