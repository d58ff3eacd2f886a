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
        # Lets a mail log (and the tests) tell a second send of one delivery apart.
        headers={"X-Delivery-Id": str(delivery.pk)},
    )
    message.attach_alternative(render_to_string("accounts/email/welcome.html", context), "text/html")
    return message
