"""Strings of installed apps that ship no Korean catalog (django-axes, a few of the admin's), listed so that
`makemessages` keeps them in the project's catalog (locale/), which Django consults first. Never imported."""

from django.utils.translation import gettext_noop as _

AXES = [
    _("access attempt"),
    _("access attempts"),
    _("access failure"),
    _("access failures"),
    _("access log"),
    _("access logs"),
    _("access attempt expiration"),
    _("access attempt expirations"),
    _("Access Attempt"),
    _("Access lock out"),
    _("Attempt Time"),
    _("Attempt Remaining"),
    _("Clean up expired attempts"),
    _("Expires At"),
    _("Failed Logins"),
    _("Form Data"),
    _("GET Data"),
    _("POST Data"),
    _("HTTP Accept"),
    _("IP Address"),
    _("Locked Out"),
    _("Logout Time"),
    _("Meta Data"),
    _("Not set"),
    _("Path"),
    _("Session key hash (sha256)"),
    _("The time when access attempt expires and is no longer valid."),
    _("User Agent"),
    _("Username"),
]

# Django's own admin strings that its Korean catalog leaves untranslated.
DJANGO_ADMIN = [
    _("Filter by %(field_name)s"),
    _("- Select an option -"),
]
