"""The operator's view of the job system: thin views over dramaturg.store, staff only (dramaturg.decorators).

One module per page group; this package exports the view callables that dramaturg.urls and dramaturg.admin
mount. The same dead-letter list, confirmation page and action serve the dashboard and the Django
admin, which mounts `dead_list` as its "Failed messages" changelist.
"""

from .actors import actor_detail, actor_list
from .bulk import bulk_detail
from .dead_letters import dead_action, dead_detail, dead_download, dead_list
from .emails import email_action, email_list
from .history import history
from .messages import message_lookup
from .monitoring import health_json, metrics
from .overview import overview, overview_json, queue_detail, queue_pause
from .queue_actions import queue_clear, ready_action
from .retries import retry_action, retry_list
from .schedules import schedule_action, schedule_list
from .search import message_search
from .workers import worker_action, worker_list

__all__ = [
    "actor_detail",
    "actor_list",
    "bulk_detail",
    "dead_action",
    "dead_detail",
    "dead_download",
    "dead_list",
    "email_action",
    "email_list",
    "health_json",
    "history",
    "message_lookup",
    "message_search",
    "metrics",
    "overview",
    "overview_json",
    "queue_clear",
    "queue_detail",
    "queue_pause",
    "ready_action",
    "retry_action",
    "retry_list",
    "schedule_action",
    "schedule_list",
    "worker_action",
    "worker_list",
]
