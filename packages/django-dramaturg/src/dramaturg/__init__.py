"""django-dramaturg: Dramatiq over Redis for Django (owed work never lost, never sent twice).

The public API is `PUBLIC_API` below (stable within 0.x minor versions); every other name is
internal and may change. The reference project's tests/unit/test_public_api.py holds it to this list.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("django-dramaturg")  # one place: the distribution's pyproject.toml
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0+unknown"

# Dotted names a project may import or write in its settings (this module imports none of them:
# it is imported before Django is set up).
PUBLIC_API = (
    # the app, and its URLs: path("jobs/", include("dramaturg.urls")), namespace "dramaturg"
    "dramaturg",
    "dramaturg.urls",
    # owed work: the transactional outbox and send-once rows
    "dramaturg.outbox.enqueue_on_commit",
    "dramaturg.models.SendOnceRow",
    "dramaturg.sendonce.send",
    "dramaturg.sendonce.email_actor_options",
    "dramaturg.sendonce.OutcomeUnknown",
    "dramaturg.sendonce.enqueue_owed",  # the reconciler: each owed row's send_message() again
    "dramaturg.owed_rows.owe_again",  # "send again": a failed or cancelled row owed anew, its job in the outbox
    "dramaturg.compiled_queries.CompiledSelect",  # a job's hot read, its QuerySet compiled once per thread
    # settings
    "dramaturg.conf.dramatiq_broker",
    "dramaturg.conf.MIDDLEWARE",
    "dramaturg.conf.settings",
    # where a piece of work's messages are
    "dramaturg.messages.find",
    "dramaturg.messages.MessageState",
    # building blocks for a host's own pages and checks
    "dramaturg.health.Problem",
    "dramaturg.limits.sliding_window",
    "dramaturg.limits.Verdict",
    "dramaturg.decorators.staff_required",
    "dramaturg.charts.bar_chart",
    "dramaturg.bounded.bounded",  # a CPU-heavy step of a view, shed past capacity (503 + Retry-After)
    "dramaturg.bounded.Overloaded",
    "dramaturg.templatetags.dramaturg_tags.with_zone",  # times shown with their zone
    # classes named in settings (TASKS, DRAMATIQ_BROKER, MAILERS, MIDDLEWARE, LOGGING)
    "dramaturg.tasks_backend.DramatiqBackend",
    "dramaturg.tasks_backend.task_message",  # the message a @task sends, for a row's send_message()
    "dramaturg.broker.RedisBroker",
    "dramaturg.mail.EmailBackend",
    "dramaturg.mail.OutboxEmailBackend",  # every email through the outbox: MAILERS["default"]
    "dramaturg.mail.AttachmentTooLarge",  # what send() raises past OUTBOX_EMAIL's attachment limit
    "dramaturg.mail.sending_alias",  # the mailer a send-once actor sends through (not the outbox again)
    "dramaturg.unavailable.ServiceUnavailableMiddleware",
    "dramaturg.log.SecretMaskingFilter",
    "dramaturg.log.SkipServiceUnavailable",
    "dramaturg.log.AdminEmailHandler",
    "dramaturg.log.ExpectedFailuresOneLine",  # an expected job failure logged as one line
    "dramaturg.log.ZonedFormatter",  # log times with their offset
)
