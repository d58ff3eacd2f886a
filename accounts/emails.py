"""Rendering of the emails the accounts app sends."""
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .models import EmailDelivery, User

# kind -> (template stem, Message-ID prefix)
_TEMPLATES = {
    EmailDelivery.Kind.WELCOME: ("welcome", "welcome"),
    EmailDelivery.Kind.EXISTING_ACCOUNT: ("existing_account", "account-notice"),
}


def build_email(delivery: EmailDelivery) -> EmailMultiAlternatives:
    """The email a delivery row owes, text + HTML."""
    user: User = delivery.user
    stem, prefix = _TEMPLATES[EmailDelivery.Kind(delivery.kind)]
    context = {"user": user, "site_name": settings.SITE_NAME}
    subject = render_to_string(f"accounts/email/{stem}_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"accounts/email/{stem}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        # One Message-ID per delivery: if a crash after the server accepted the mail
        # makes us send it again, mail systems (and the tests) see the same message.
        headers={"X-Delivery-Id": str(delivery.pk),
                 "Message-ID": f"<{prefix}-{delivery.pk}-{user.pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"},
    )
    message.attach_alternative(render_to_string(f"accounts/email/{stem}.html", context), "text/html")
    return message

