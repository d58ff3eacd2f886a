from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The reference project itself: settings, URLs, and the development commands."""

    name = "project"
    verbose_name = "Reference project"
