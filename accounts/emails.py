"""Rendering of the emails the accounts app sends."""
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from .models import EmailDelivery, User


def build_welcome_email(user: User, delivery: EmailDelivery) -> EmailMultiAlternatives:
    context = {"user": user, "site_name": settings.SITE_NAME}
    subject = render_to_string("accounts/email/welcome_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("accounts/email/welcome.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        # One Message-ID per delivery: if a crash after the server accepted the mail
        # makes us send it again, mail systems (and the tests) see the same message.
        headers={"X-Delivery-Id": str(delivery.pk),
                 "Message-ID": f"<welcome-{delivery.pk}-{user.pk}@{settings.EMAIL_MESSAGE_ID_DOMAIN}>"},
    )
    message.attach_alternative(render_to_string("accounts/email/welcome.html", context), "text/html")
    return message
