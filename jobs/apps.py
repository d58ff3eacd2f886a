from django.apps import AppConfig


class JobsConfig(AppConfig):
    """Broker wiring and the operator's view of the job system."""

    name = "jobs"
    label = "jobs"
    verbose_name = "Background jobs"
    default_auto_field = "django.db.models.BigAutoField"
