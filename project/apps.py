import axes.apps
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProjectConfig(AppConfig):
    """The reference project itself: settings, URLs, and the development commands."""

    name = "project"
    verbose_name = "Reference project"


class AxesConfig(axes.apps.AppConfig):
    """django-axes under a name the admin shows in the page's language (axes ships no Korean catalog; its
    strings are in the project's, listed in project/third_party_strings.py)."""

    verbose_name = _("Sign-in protection")
