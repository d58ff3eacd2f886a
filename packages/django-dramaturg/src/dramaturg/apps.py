from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class JobsConfig(AppConfig):
    """Broker wiring and the operator's view of the job system."""

    name = "jobs"
    label = "jobs"
    verbose_name = "Background jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every app's tasks module, so every process (web included) knows every actor
        # and queue, whatever it happened to import; declaring a queue registers it.
        autodiscover_modules("tasks")
