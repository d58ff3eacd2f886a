"""Create a development superuser so the dashboard and admin can be opened at once."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import User, normalize_email


class Command(BaseCommand):
    help = "With DEBUG on, create admin@example.com (password $DEV_ADMIN_PASSWORD, default 'admin') if missing."

    def handle(self, **options) -> None:
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: no development admin is created.")
            return
        email = os.environ.get("DEV_ADMIN_EMAIL", "admin@example.com")
        password = os.environ.get("DEV_ADMIN_PASSWORD", "admin")
        if User.objects.filter(email__iexact=email).exists():
            self.stdout.write(f"Development admin: {email} (already there)")
            return
        # bulk_create sends no post_save: the dev admin gets no welcome email (and, being staff,
        # is no signup in the reports).
        admin = User(email=normalize_email(email), is_staff=True, is_superuser=True)
        admin.set_password(password)
        User.objects.bulk_create([admin])
        self.stdout.write(
            f"Development admin: {email} / {password}  (sign in at http://127.0.0.1:8000/accounts/login/)"
        )
