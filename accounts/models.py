from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from dramaturg.models import SendOnceRow

if TYPE_CHECKING:
    from dramatiq import Message


class UserManager(BaseUserManager["User"]):
    """Users are identified by email, compared without regard to case."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


class User(AbstractUser):
    username = None  # type: ignore[assignment]  # the email is the username
    email = models.EmailField(_("email address"), unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]  # email, not username

    class Meta:
        verbose_name = _("user")  # AbstractUser's names, in the page's language (Django's catalog has them)
        verbose_name_plural = _("users")
        constraints = [
            # Guards raw inserts too: "Ann@x.org" and "ann@x.org" are one account.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    # How the emails greet the user; optional (the address is used without it).
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    # The language of the emails sent to the user: chosen at signup (form, or Accept-Language for the API).
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE)
    # When the last "you already have an account" email and password reset email were sent (accounts.notices:
    # at most one of each per interval, so nobody can be mail-bombed through the forms).
    existing_account_notice_at = models.DateTimeField(_("existing account notice sent at"), null=True, editable=False)
    password_reset_email_at = models.DateTimeField(_("password reset email sent at"), null=True, editable=False)

    def save(self, *args, **kwargs) -> None:
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.email

    @property
    def greeting_name(self) -> str:
        """The name emails and pages greet the user by: the display name, else the address."""
        return self.display_name or self.email


class EmailDelivery(SendOnceRow):
    """A user's welcome email: the idempotency record of `send_welcome_email`.

    Created in the signup's transaction (the post_save signal), claimed atomically by the worker that
    sends, so a redelivered or duplicated message never sends a second email. The table is the source of
    truth for owed welcome emails: `reconcile_deliveries` re-enqueues what Redis lost. The app's other
    emails are plain Django mail through the outbox backend (dramaturg.mail.OutboxEmailBackend).
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="email_deliveries", verbose_name=_("user"))
    # When its owner last asked to have a failed email sent again (throttled: WELCOME_EMAIL_RESEND_INTERVAL_S).
    resend_requested_at = models.DateTimeField(_("sending again asked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("email delivery")
        verbose_name_plural = _("email deliveries")
        constraints = [models.UniqueConstraint(fields=["user"], name="accounts_one_welcome_per_user")]

    def __str__(self) -> str:
        return _("Welcome email to user %(user)s (%(status)s)") % {
            "user": self.user_id,
            "status": self.get_status_display(),
        }

    # The actor that sends it: an operator's kill or delete of one of its messages cancels the welcome
    # email it owed (dramaturg.owed_rows).
    send_actors = ("send_welcome_email",)

    @classmethod
    def rows_for_message(
        cls, actor_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> QuerySet[EmailDelivery]:
        """The welcome email's job takes the user's id, not the row's."""
        if actor_name in cls.send_actors and args and isinstance(args[0], int):
            return cls.objects.filter(user_id=args[0])
        return cls.objects.none()

    def send_message(self) -> Message:
        """The job that sends this welcome email, which the reconciler enqueues again while it is owed."""
        from .tasks import send_welcome_email  # the actors import the models

        return send_welcome_email.message(self.user_id)


class LoginEvent(models.Model):
    """One login, recorded from Django's user_logged_in signal: the activity the reports count."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="logins", verbose_name=_("user"))
    at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        verbose_name = _("login")
        verbose_name_plural = _("logins")
        indexes = [models.Index(fields=["user", "at"], name="accounts_login_user_at")]

    def __str__(self) -> str:
        return _("user %(user)s at %(at)s") % {"user": self.user_id, "at": f"{self.at:%Y-%m-%d %H:%M}"}
