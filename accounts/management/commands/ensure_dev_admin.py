"""Create a development superuser so the dashboard and admin can be opened at once."""
import os

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.models import User


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
        User.objects.create_superuser(email, password)
        self.stdout.write(f"Development admin: {email} / {password}  (log in at http://127.0.0.1:8000/admin/)")
