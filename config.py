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
# run.py's embedded default; workers and the sweeper refuse it (app/worker.py).
EMBEDDED_DATABASE_URI = f"sqlite:///{INSTANCE_DIR / 'kartoteka.db'}"


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


def _numbers(name: str, default: str) -> list[float]:
    return [float(x) for x in os.environ.get(name, default).split(",") if x.strip()]


def _horizons(name: str, defaults: dict[str, float]) -> dict[str, float]:
    """Hours per message type; ``name`` in the environment overrides some: «manual=24,marketing=72»."""
    result = dict(defaults)
    for item in os.environ.get(name, "").split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            result[key.strip()] = float(value)
    return result


class Config:
    # The clinic's name: the header of every page and the signature of its messages.
    APP_NAME = os.environ.get("KARTOTEKA_CLINIC_NAME", "Картотека")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", EMBEDDED_DATABASE_URI)
    INSTANCE_DIR = str(INSTANCE_DIR)
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SECRET_KEY = None  # filled lazily by create_app via _secret_key()

    # A request body larger than this is refused (413) before it is read: a customer's
    # file is at most 12 MB (app/files.py), plus room for the form around it.
    MAX_CONTENT_LENGTH = 12 * 1024 * 1024 + 64 * 1024
    # Customers whose last visit (or registration) is older than this are listed for
    # erasure («Срок хранения истёк» on the customers list; a manager confirms).
    RETENTION_YEARS = float(os.environ.get("RETENTION_YEARS", "5"))
    # …but a customer with medical records (the anamnesis) only after this many years:
    # an outpatient's medical documentation is kept 25 years. A daily job counts both
    # and tells the managers («Сроки хранения»); it erases nobody by itself.
    MEDICAL_RETENTION_YEARS = float(os.environ.get("MEDICAL_RETENTION_YEARS", "25"))

    # Redis: unset means the embedded in-process store and worker thread.
    REDIS_URL = os.environ.get("REDIS_URL", "")
    RQ_QUEUE = os.environ.get("RQ_QUEUE", "kartoteka")
    # Redis's socket timeouts, seconds, and how long a page does without Redis after it
    # failed (the double-submit check and the enqueue are skipped; the sweeper sends later)
    REDIS_CONNECT_TIMEOUT = float(os.environ.get("REDIS_CONNECT_TIMEOUT", "2"))
    REDIS_SOCKET_TIMEOUT = float(os.environ.get("REDIS_SOCKET_TIMEOUT", "5"))
    REDIS_RETRY_AFTER_SECONDS = float(os.environ.get("REDIS_RETRY_AFTER_SECONDS", "30"))

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
    SWEEP_INTERVAL_SECONDS = float(os.environ.get("SWEEP_INTERVAL_SECONDS", "30"))
    # A message left "sending" this long (its worker died) is handed out again.
    SENDING_LEASE_SECONDS = float(os.environ.get("SENDING_LEASE_SECONDS", "120"))
    # After a transient failure (a gateway's 500, a mail server's 451, no answer) the
    # message waits the next of these delays (the last one repeats) and is tried again,
    # for as long as its type's horizon lasts; then it is «просрочено».
    RETRY_BACKOFF_SECONDS = _numbers("RETRY_BACKOFF_SECONDS", "10,30,60,300,900,1800")
    # How long a message is worth sending, per type, in hours (a visit reminder: until
    # the visit). MESSAGE_HORIZONS="marketing=72,manual=24" overrides some of them.
    MESSAGE_HORIZONS = _horizons(
        "MESSAGE_HORIZONS",
        {
            "welcome": 72,
            "status_changed": 24,
            "order_created": 24,  # a confirmation is worth a day
            "order_status": 24,
            "visit_reminder": 24,  # and never after the visit
            "visit_moved": 24,  # and never after the visit
            "return_status": 72,
            "manual": 48,
            "marketing": 168,  # a week
        },
    )
    # Workers: RQ's SimpleWorker (jobs in the worker's process) unless "fork" (RQ's
    # Worker, a work horse forked per job). See app/worker.py.
    WORKER_CLASS = os.environ.get("WORKER_CLASS", "simple")
    # Workers and the sweeper log at this level (RQ says a line per job at INFO).
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # `flask kartoteka health` reports a problem when a due message waited longer.
    HEALTH_MAX_WAIT_SECONDS = float(os.environ.get("HEALTH_MAX_WAIT_SECONDS", "600"))
    # Bonuses accrued on a payment burn after this many days (app/payments.py, the hourly expiry job).
    BONUS_LIFETIME_DAYS = int(os.environ.get("BONUS_LIFETIME_DAYS", "365"))

    # Locale and time zone of the clinic.
    BABEL_DEFAULT_LOCALE = os.environ.get("BABEL_DEFAULT_LOCALE", "ru")
    BABEL_DEFAULT_TIMEZONE = os.environ.get("KARTOTEKA_TIMEZONE", "Europe/Moscow")
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = {
        "ru": {"flag": "ru", "name": "Русский"},
        "en": {"flag": "gb", "name": "English"},
    }
    KARTOTEKA_CURRENCY = os.environ.get("KARTOTEKA_CURRENCY", "RUB")
    # `flask kartoteka backup` writes here (default: the instance folder's «backups»)
    KARTOTEKA_BACKUP_DIR = os.environ.get("KARTOTEKA_BACKUP_DIR", "")
    # Lists count at most this many rows (0: exact counts); see datamodel.Interface.query_count.
    KARTOTEKA_COUNT_CAP = int(os.environ.get("KARTOTEKA_COUNT_CAP", "10000"))
    KARTOTEKA_PHONE_REGION = os.environ.get("KARTOTEKA_PHONE_REGION", "RU")

    # Flask-AppBuilder
    FAB_SECURITY_MANAGER_CLASS = "app.admin.security.KartotekaSecurityManager"
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
    # tests stop and start Redis at will: a page asks it again at once (tests/test_redis_down.py
    # sets the pause it has in production)
    REDIS_RETRY_AFTER_SECONDS = 0.0
    WTF_CSRF_ENABLED = False
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
