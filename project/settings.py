"""Django settings, read from the environment with safe development defaults."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from dramaturg.conf import dramatiq_broker
from project.mailers import mailer_from_url
from project.versions import git_describe

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-secret-key-change-me-in-production-0123456789")
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_dramatiq",
    "project.apps.AxesConfig",  # django-axes, its admin section named in the page's language
    "dramaturg",
    "accounts",
    "reports",
    "project",  # the development commands (project/management/commands)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions, before common: the language from the cookie or Accept-Language (English or Korean).
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads GET or POST: only UTF-8 (ASCII, Latin-1) bodies and query strings (project.errors).
    "project.errors.RequireUtf8",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a view's database-unavailable error into a 503 with Retry-After, not a 500 (its process_exception
    # runs before those of the middleware above it).
    "dramaturg.unavailable.ServiceUnavailableMiddleware",
    # Last: turns a sign-in that django-axes refused (locked out) into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # {{ time|with_zone }} everywhere: times always carry their zone.
            "builtins": ["project.timezones"],
        },
    },
]

# --- Database: SQLite file by default, anything dj-database-url style via DATABASE_URL.
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, workers and scheduler write to one file: WAL plus IMMEDIATE
    # transactions avoid "database is locked" on concurrent writers. The engine is
    # Django's, with start-up checks that do not wait for the write lock (project/sqlite3).
    DATABASES["default"]["ENGINE"] = "project.sqlite3"
    # The busy timeout (seconds a writer waits for the lock) may be set in the URL: sqlite:///db.sqlite3?timeout=5.
    sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    sqlite_options.setdefault("timeout", 20)
    sqlite_options.update(
        {
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Accounts: users sign in at /accounts/login/ (the dashboard still sends staff to the admin's login).
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:account"
# Sign-in throttle (django-axes, on every sign-in: /accounts/login/ and the admin's). Failed sign-ins are
# counted per account and per client address (the TRUSTED_PROXY_COUNT rule); at LOGIN_FAILURE_LIMIT failures,
# each within LOGIN_LOCKOUT_COOLOFF_S of the last, that account / address is locked out until
# LOGIN_LOCKOUT_COOLOFF_S after its last attempt (429 with Retry-After; the right password is refused too).
# LOGIN_LOCKOUT_PARAMETERS: comma-separated groups, "+" combines; "ip_address" alone lets nobody lock an account
# for everyone, at the price of no limit on guesses spread over many addresses. Staff see and reset lockouts in
# the admin (Axes: access attempts).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_LOCKOUT_COOLOFF_S = env.int("LOGIN_LOCKOUT_COOLOFF_S", default=900)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT_COOLOFF_S)
_lockout_groups = env.list("LOGIN_LOCKOUT_PARAMETERS", default=["username", "ip_address"])
if _unknown := {name for group in _lockout_groups for name in group.split("+")} - {"username", "ip_address"}:
    raise ImproperlyConfigured(f"LOGIN_LOCKOUT_PARAMETERS: unknown {sorted(_unknown)}; use username, ip_address")
AXES_LOCKOUT_PARAMETERS = [group.split("+") if "+" in group else group for group in _lockout_groups]
AXES_USERNAME_FORM_FIELD = "username"  # what AuthenticationForm passes to authenticate()
AXES_USERNAME_CALLABLE = "accounts.throttle.login_username"  # normalised: "ANN@x.org" is "ann@x.org"
AXES_CLIENT_IP_CALLABLE = "accounts.throttle.login_client_address"
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"  # the translated 429 page with Retry-After
# A success forgets that account's failures from that address only (accounts.signals): axes' own reset would
# also forget the address's failures on other accounts, so signing in to one's own account between guesses
# would lift the per-address and per-account limits.
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are LoginEvent rows already
AXES_VERBOSE = False  # no start-up line in every process; failures and lockouts are still logged
# Links in emails (password reset) are built from this, never from the request's Host header.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# At most one password reset email per user in this many seconds (no mail-bombing through the form).
PASSWORD_RESET_EMAIL_INTERVAL_S = env.int("PASSWORD_RESET_EMAIL_INTERVAL_S", default=300)
# "Send again" of a failed welcome email: at most once per user in this many seconds.
WELCOME_EMAIL_RESEND_INTERVAL_S = env.int("WELCOME_EMAIL_RESEND_INTERVAL_S", default=300)

# --- Languages: English and Korean (catalogs in locale/, compiled .mo files committed).
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Seoul")
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["project.formats"]  # date-times with their zone (project/formats/)

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

# --- Email: Django 6.1's MAILERS (no EMAIL_BACKEND/EMAIL_HOST/... settings). "default" is the outbox
# (dramaturg.mail.OutboxEmailBackend): every send_mail, mail_admins and password reset email is an owed row and
# its job in the caller's transaction, sent once by a worker through "smtp". "smtp" is built from EMAIL_URL
# (smtp://user:pass@host:port, smtp+tls://, smtp+ssl://, consolemail://, ...: project/mailers.py); the EMAIL_HOST,
# EMAIL_PORT, EMAIL_HOST_USER and EMAIL_HOST_PASSWORD variables, when set, override its parts.
# The development default is the local SMTP sink that `make run` starts.
# A mail server that hangs must not hold a worker thread forever (env EMAIL_TIMEOUT_S): connect,
# greeting and each command. The reply to the end of DATA may take minutes (RFC 5321 §4.5.3.2.6: 10 min):
# the server may be delivering; no answer by then is "outcome unknown" (dramaturg/mail/smtp.py, sendonce.py).
EMAIL_TIMEOUT_S = env.int("EMAIL_TIMEOUT_S", default=10)
EMAIL_DATA_TIMEOUT_S = env.int("EMAIL_DATA_TIMEOUT_S", default=600)
MAILERS = {
    "default": {"BACKEND": "dramaturg.mail.OutboxEmailBackend", "OPTIONS": {"mailer": "smtp"}},
    "smtp": mailer_from_url(
        env.str("EMAIL_URL", default="smtp://127.0.0.1:1025"),
        timeout=EMAIL_TIMEOUT_S,
        data_timeout=EMAIL_DATA_TIMEOUT_S,
        host=env.str("EMAIL_HOST", default=None),
        port=env.int("EMAIL_PORT", default=None),
        username=env.str("EMAIL_HOST_USER", default=None),
        password=env.str("EMAIL_HOST_PASSWORD", default=None),
    ),
}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Welcome Team <welcome@example.com>")
SITE_NAME = env.str("SITE_NAME", default="Dramatiq Reference Project")
EMAIL_MESSAGE_ID_DOMAIN = env.str("EMAIL_MESSAGE_ID_DOMAIN", default="example.com")
# Who is mailed when a health check changes state (dramaturg.alerts), and by Django's mail_admins():
# "ops@example.com,Jane <jane@example.com>". Empty: no such mail.
ADMINS = env.list("ADMINS", default=[])
SERVER_EMAIL = env.str("SERVER_EMAIL", default="jobs@example.com")  # the sender of mail to ADMINS
EMAIL_SUBJECT_PREFIX = env.str("EMAIL_SUBJECT_PREFIX", default=f"[{SITE_NAME}] ")


# --- Redis and Dramatiq
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# High availability: with REDIS_SENTINELS ("host:port,host:port,...") every Redis client asks these
# sentinels for the current master of REDIS_SENTINEL_MASTER and follows a failover without a restart;
# REDIS_URL then gives only the database number and credentials (REDIS_PASSWORD overrides its password).
REDIS_SENTINELS = env.str("REDIS_SENTINELS", default="")
REDIS_SENTINEL_MASTER = env.str("REDIS_SENTINEL_MASTER", default="")
REDIS_SENTINEL_PASSWORD = env.str("REDIS_SENTINEL_PASSWORD", default="")  # the sentinels' own requirepass
REDIS_PASSWORD = env.str("REDIS_PASSWORD", default="")  # the master's, when not in REDIS_URL
DRAMATIQ_NAMESPACE = env.str("DRAMATIQ_NAMESPACE", default="dramatiq")
# A worker silent for this long is presumed dead; its unacked messages go back to their queue.
DRAMATIQ_HEARTBEAT_TIMEOUT_MS = env.int("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", default=60_000)
# Out of a million broker calls, how many also return dead workers' messages to their queues.
DRAMATIQ_MAINTENANCE_CHANCE = env.int("DRAMATIQ_MAINTENANCE_CHANCE", default=1000)
# How often each consumer puts back ids in its ack set that it does not hold (acks lost in a failover).
DRAMATIQ_STRAY_CHECK_INTERVAL_MS = env.int("DRAMATIQ_STRAY_CHECK_INTERVAL_MS", default=10_000)
DRAMATIQ_DEAD_MESSAGE_TTL_MS = env.int("DRAMATIQ_DEAD_MESSAGE_TTL_MS", default=30 * 86_400_000)

DRAMATIQ_QUEUE_EMAILS = "emails"
DRAMATIQ_QUEUE_REPORTS = "reports"

DRAMATIQ_ENCODER = "dramatiq.encoder.JSONEncoder"  # JSON only; never pickle.
DRAMATIQ_BROKER = dramatiq_broker(
    REDIS_URL,
    sentinels=REDIS_SENTINELS,
    sentinel_master=REDIS_SENTINEL_MASTER,
    password=REDIS_PASSWORD,
    sentinel_password=REDIS_SENTINEL_PASSWORD,
    namespace=DRAMATIQ_NAMESPACE,
    heartbeat_timeout_ms=DRAMATIQ_HEARTBEAT_TIMEOUT_MS,
    dead_message_ttl_ms=DRAMATIQ_DEAD_MESSAGE_TTL_MS,
    maintenance_chance=DRAMATIQ_MAINTENANCE_CHANCE,
    stray_check_interval_ms=DRAMATIQ_STRAY_CHECK_INTERVAL_MS,
)

# --- django.tasks on Dramatiq (dramaturg.tasks_backend): @task functions run as actors by the same workers,
# enqueued through the outbox inside a transaction; their results kept in Redis for TASK_RESULT_TTL_S.
TASK_RESULT_TTL_S = env.int("TASK_RESULT_TTL_S", default=86_400)
TASKS = {
    "default": {
        "BACKEND": "dramaturg.tasks_backend.DramatiqBackend",
        "QUEUES": ["default", DRAMATIQ_QUEUE_EMAILS, DRAMATIQ_QUEUE_REPORTS],
        "OPTIONS": {"RESULT_TTL_S": TASK_RESULT_TTL_S},
    },
}

# --- Welcome email
# Signups per client address in any 60 s (form and API, a sliding window); over it: 429 with Retry-After.
SIGNUP_RATE_PER_MINUTE = env.int("SIGNUP_RATE_PER_MINUTE", default=10)
# Password reset requests per client address in any 60 s (a sliding window); over it: 429 with Retry-After.
PASSWORD_RESET_RATE_PER_MINUTE = env.int("PASSWORD_RESET_RATE_PER_MINUTE", default=5)
# Reverse proxies in front of the app that append to X-Forwarded-For. 0: the client is REMOTE_ADDR;
# N: the Nth address from the right of X-Forwarded-For (REMOTE_ADDR if the header is missing or malformed).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Largest JSON body the signup API reads; bigger: 413.
SIGNUP_API_MAX_BODY_BYTES = env.int("SIGNUP_API_MAX_BODY_BYTES", default=16_384)
# At most one "you already have an account" email per user in this many seconds (no mail-bombing).
EXISTING_ACCOUNT_NOTICE_INTERVAL_S = env.int("EXISTING_ACCOUNT_NOTICE_INTERVAL_S", default=3600)

# --- Reports
REPORTS_CHUNK_SIZE = env.int("REPORTS_CHUNK_SIZE", default=5_000)  # users per chunk job
REPORTS_CHUNK_MAX_RETRIES = env.int("REPORTS_CHUNK_MAX_RETRIES", default=3)
REPORTS_DAILY_CRON = env.str("REPORTS_DAILY_CRON", default="0 2 * * *")
REPORTS_WEEKLY_CRON = env.str("REPORTS_WEEKLY_CRON", default="0 3 * * mon")
# A report still `running` after this long has lost its messages (Redis restarted without persistence) and is
# restarted as a new run. Longer than the slowest legitimate run: build (6 attempts x 10 min), a chunk (4 x 5 min)
# and the merge (6 x 5 min), with retry backoff, come to ~3 h (check reports.W001 recomputes it from the actors),
# plus time queued behind other work. A weekly
# report waits for its dailies by being woken when they end, so the same bound holds for it (and restarting a
# weekly whose dailies are still running is harmless: the new run waits for them again).
REPORTS_STUCK_AFTER_S = env.int("REPORTS_STUCK_AFTER_S", default=4 * 3600)
REPORTS_RECONCILE_CRON = env.str("REPORTS_RECONCILE_CRON", default="*/5 * * * *")  # how often stuck runs are sought

# --- django-dramaturg: every key has a default (docs/settings.md); here each is filled from the environment
# variable of the same name (units in the names; the CHANGELOG lists the renamed ones).
DRAMATURG = {
    "EMAIL": {
        "RATE_PER_S": env.int("EMAIL_RATE_PER_S", default=20),  # SMTP sends per second across all workers
        "TIMEOUT_S": EMAIL_TIMEOUT_S,
        "DATA_TIMEOUT_S": EMAIL_DATA_TIMEOUT_S,
        # An email job's time limit: the whole SMTP exchange, the final reply's wait included.
        "TIME_LIMIT_MS": env.int("EMAIL_TIME_LIMIT_MS", default=(EMAIL_DATA_TIMEOUT_S + 60) * 1000),
        "MAX_RETRIES": env.int("EMAIL_MAX_RETRIES", default=8),
        "QUEUE": DRAMATIQ_QUEUE_EMAILS,
    },
    "SEND_ONCE": {
        # A claim on an email row; renewed every third of it, so a killed or paused sender's row is free again.
        "LEASE_S": env.int("EMAIL_SEND_LEASE_S", default=30),
        # A transient failure is sent again at most once per EVERY_S, until FOR_S after the row was created.
        "RETRY_FAILED_EVERY_S": env.int("EMAIL_RETRY_FAILED_EVERY_S", default=3600),
        "RETRY_FAILED_FOR_S": env.int("EMAIL_RETRY_FAILED_FOR_S", default=3 * 86_400),
        # Outcome unknown (no answer after the hand-over): one more send, same Message-ID, this long after.
        "UNKNOWN_RESEND_AFTER_S": env.int("EMAIL_OUTCOME_UNKNOWN_RESEND_AFTER_S", default=86_400),
        # Owed rows older than this are re-enqueued by the reconciler (and reported by the health checks).
        "RECONCILE_AFTER_S": env.int("SEND_ONCE_RECONCILE_AFTER_S", default=600),
        "RECONCILE_CRON": env.str("SEND_ONCE_RECONCILE_CRON", default="*/5 * * * *"),
    },
    "RETRIES": {
        "MAX_RETRIES": env.int("DRAMATIQ_MAX_RETRIES", default=10),
        "MIN_BACKOFF_MS": env.int("DRAMATIQ_MIN_BACKOFF_MS", default=15_000),
        "MAX_BACKOFF_MS": env.int("DRAMATIQ_MAX_BACKOFF_MS", default=3_600_000),
    },
    # Each worker also runs that maintenance on this timer: a killed worker's messages are back within
    # DRAMATIQ_HEARTBEAT_TIMEOUT_MS plus this interval.
    "WORKER": {
        "MAINTENANCE_INTERVAL_MS": env.int("DRAMATIQ_MAINTENANCE_INTERVAL_MS", default=5_000),
        # Each worker process builds one email of each kind in each language at boot, before its first job.
        "WARM_UP": ["accounts.emails.warm_up"],
    },
    "CONSOLE": {
        # Bearer token that opens /jobs/metrics, /jobs/health and /jobs/overview.json to scrapers; empty: staff only.
        "METRICS_TOKEN": env.str("JOBS_METRICS_TOKEN", default=""),
        # The record of recently finished messages (look-up by id): at most this many, none older than this.
        "RECENT_LIMIT": env.int("JOBS_RECENT_LIMIT", default=10_000),
        "RECENT_MAX_AGE_S": env.int("JOBS_RECENT_MAX_AGE_S", default=86_400),
        # Bulk actions on more messages than this run as a job with a progress bar, not in the request.
        "BULK_INLINE_MAX": env.int("JOBS_BULK_INLINE_MAX", default=1_000),
    },
    "HEALTH": {  # manage.py check_jobs, /jobs/health: a problem when ...
        "DEAD_LETTERS_MAX": env.int("JOBS_HEALTH_DEAD_LETTERS_MAX", default=0),  # ... more letters than this
        "DEAD_LETTERS_WINDOW_S": env.int("JOBS_HEALTH_DEAD_LETTERS_WINDOW_S", default=900),  # ... in this window
        "OLDEST_READY_S": env.int("JOBS_HEALTH_OLDEST_READY_S", default=300),  # ... a ready message waits longer
        "OUTBOX_AGE_S": env.int("JOBS_HEALTH_OUTBOX_AGE_S", default=300),  # ... an outbox row is pending longer
        # ... an email sent through the outbox backend is still owed this long after send()
        "OUTBOX_EMAIL_OWED_S": env.int("JOBS_HEALTH_OUTBOX_EMAIL_OWED_S", default=1800),
        "EXTRA_CHECKS": env.list("JOBS_HEALTH_EXTRA_CHECKS", default=["accounts.health.owed_emails"]),
    },
    "ALERTS": {  # mail ADMINS when a check's problem appears (FAILING) or clears (RECOVERED)
        "ENABLED": env.bool("JOBS_HEALTH_ALERTS", default=bool(ADMINS)),
        "CRON": env.str("JOBS_HEALTH_ALERT_CRON", default="* * * * *"),
        # At most one FAILING mail per (check, subject) in this many seconds while it flaps.
        "INTERVAL_S": env.int("JOBS_HEALTH_ALERT_INTERVAL_S", default=3600),
        "BASE_URL": SITE_URL,
    },
    # Django's error mails to ADMINS (dramaturg.errormail): one per subject per INTERVAL_S, at most MAX of them.
    "ERROR_MAIL": {
        "INTERVAL_S": env.int("ADMIN_ERROR_MAIL_INTERVAL_S", default=600),
        "MAX": env.int("ADMIN_ERROR_MAIL_MAX", default=10),
    },
    "WEB": {
        # Retry-After of the 503 answered while Redis or the database is unavailable (dramaturg.unavailable).
        "RETRY_AFTER_S": env.int("SERVICE_UNAVAILABLE_RETRY_AFTER_S", default=5),
        # Signup's password hash (accounts.signup, ~250 ms of CPU) runs in at most this many requests of a web
        # process at once (gunicorn: 2 x cores + 1 processes, so ~2.5 per core); past that a request waits
        # OVERLOAD_WAIT_S for a slot, then is shed: 503 with Retry-After OVERLOAD_RETRY_AFTER_S, answered at
        # once instead of queued until the client gives up.
        "BOUNDED_SLOTS": {"signup-hash": env.int("SIGNUP_HASH_SLOTS", default=1)},
        "BOUNDED_WAIT_S": env.float("OVERLOAD_WAIT_S", default=0.2),
        "OVERLOADED_RETRY_AFTER_S": env.int("OVERLOAD_RETRY_AFTER_S", default=1),
    },
    # The code version workers record at boot (deploy markers on the charts); unset: `git describe --always`.
    "CODE_VERSION": env.str("APP_VERSION", default="") or git_describe(BASE_DIR),
}

# --- Production hardening (manage.py check --deploy is clean with DEBUG off)
SESSION_SERIALIZER = "django.contrib.sessions.serializers.JSONSerializer"  # JSON only, never pickle
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Every handler masks secrets (dramaturg.masking: password=..., 'token': ..., URL passwords) in
# what it writes: Dramatiq prints actor arguments in its own lines (skipped, failed, retried).
# A handler added here must list the filter too.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask_secrets": {"()": "dramaturg.log.SecretMaskingFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        "skip_unavailable": {"()": "dramaturg.log.SkipServiceUnavailable"},
        # An expected failure of a job (no connection, a timeout, a 4xx reply, a rate limit): one line, no traceback.
        "expected_failures": {"()": "dramaturg.log.ExpectedFailuresOneLine"},
    },
    # Every line's time with its offset, in TIME_ZONE (web, workers, scheduler and relay alike).
    "formatters": {
        "plain": {"()": "dramaturg.log.ZonedFormatter", "format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "django.server": {"()": "dramaturg.log.ZonedFormatter", "format": "%(asctime)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_secrets"]},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server", "filters": ["mask_secrets"]},
        # Django's mail of server errors to ADMINS (DEBUG off), without the 503s that /jobs/health and the
        # Redis-down pages answer by design: a probe of a failing check must not mail on every request.
        # Recorded and sent through the outbox by a worker, throttled, never inside the request (dramaturg.log).
        "mail_admins": {
            "level": "ERROR",
            "class": "dramaturg.log.AdminEmailHandler",
            "filters": ["require_debug_false", "skip_unavailable", "mask_secrets"],
        },
    },
    # Django's own loggers as Django sets them up (configuring "django" resets its children), with the
    # handler above; the "django" logger's lines reach the console through the root.
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        # Requests Django refuses as suspicious (too big, too many fields or files, a bad Host): a 400/413
        # any anonymous client can cause, so logged, never mailed.
        "django.security": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "dramatiq.worker.WorkerThread": {"filters": ["expected_failures"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
