from django.db import models
from django.utils.translation import gettext_lazy as _


class Report(models.Model):
    """One computed report: a kind over a period, computed by fanned-out chunk jobs."""

    class Kind(models.TextChoices):
        DAILY = "daily", _("Daily activity")
        WEEKLY = "weekly", _("Weekly summary")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    period_start = models.DateField(
        _("period start"), help_text=_("The day, or the Monday of the week, in the project's time zone.")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Identifies the current computation; chunk messages of an earlier run are ignored.
    run_id = models.UUIDField(_("run id"), null=True, blank=True)
    chunks_total = models.PositiveIntegerField(_("chunks in total"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks done"), default=0)
    merge_runs = models.PositiveIntegerField(_("merges"), default=0)  # how many merges completed: one per run
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    duration_s = models.FloatField(_("duration (s)"), null=True, blank=True)
    result = models.JSONField(_("result"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("report")
        verbose_name_plural = _("reports")
        ordering = ["-period_start", "kind"]
        constraints = [models.UniqueConstraint(fields=["kind", "period_start"], name="reports_one_per_period")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period_start}"


class ReportChunk(models.Model):
    """A slice of a report's work (a user-id range) and its partial, mergeable result."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("report"))
    run_id = models.UUIDField(_("run id"))
    index = models.PositiveIntegerField(_("index"))
    first_user_id = models.BigIntegerField(_("first user id"))
    end_user_id = models.BigIntegerField(_("end user id (exclusive)"))
    done = models.BooleanField(_("done"), default=False)
    result = models.JSONField(_("result"), null=True, blank=True)

    class Meta:
        verbose_name = _("report chunk")
        verbose_name_plural = _("report chunks")
        constraints = [models.UniqueConstraint(fields=["report", "run_id", "index"], name="reports_one_chunk")]

    def __str__(self) -> str:
        return _("chunk %(index)s of %(report)s") % {"index": self.index, "report": self.report}
