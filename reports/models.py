from django.db import models


class Report(models.Model):
    """One computed report: a kind over a period, computed by fanned-out chunk jobs."""

    class Kind(models.TextChoices):
        DAILY = "daily", "Daily activity"
        WEEKLY = "weekly", "Weekly summary"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    period_start = models.DateField(help_text="The day, or the Monday of the week, in the project's time zone.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    # Identifies the current computation; chunk messages of an earlier run are ignored.
    run_id = models.UUIDField(null=True, blank=True)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    merge_runs = models.PositiveIntegerField(default=0)  # how many merges completed: one per run
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-period_start", "kind"]
        constraints = [models.UniqueConstraint(fields=["kind", "period_start"], name="reports_one_per_period")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period_start}"


class ReportChunk(models.Model):
    """A slice of a report's work (a user-id range) and its partial, mergeable result."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="chunks")
    run_id = models.UUIDField()
    index = models.PositiveIntegerField()
    first_user_id = models.BigIntegerField()
    end_user_id = models.BigIntegerField()  # exclusive
    done = models.BooleanField(default=False)
    result = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["report", "run_id", "index"], name="reports_one_chunk")]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.report}"
