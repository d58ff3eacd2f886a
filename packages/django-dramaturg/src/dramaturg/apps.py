from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules
from django.utils.translation import gettext_lazy as _


class DramaturgConfig(AppConfig):
    """Broker wiring and the operator's view of the job system."""

    name = "dramaturg"
    label = "dramaturg"
    verbose_name = _("Background jobs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Every app's tasks module, so every process (web included) knows every actor
        # and queue, whatever it happened to import; declaring a queue registers it.
        from . import actors, checks  # noqa: F401  (its actors; its system checks register on import)
        from .mail import outbox  # noqa: F401  (the outbox email actors)

        autodiscover_modules("tasks")
