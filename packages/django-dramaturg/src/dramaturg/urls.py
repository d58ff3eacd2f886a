from django.urls import path

from . import views

app_name = "dramaturg"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("overview.json", views.overview_json, name="overview_json"),
    path("queues/<str:queue>/", views.queue_detail, name="queue"),
    path("dead/", views.dead_list, name="dead_list"),
    path("dead/action/", views.dead_action, name="dead_action"),
    path("dead/<str:queue>/<str:redis_id>/", views.dead_detail, name="dead_detail"),
    path("dead/<str:queue>/<str:redis_id>/download/", views.dead_download, name="dead_download"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("queues/<str:queue>/pause/", views.queue_pause, name="queue_pause"),
    path("actors/", views.actor_list, name="actors"),
    path("actors/<str:actor>/", views.actor_detail, name="actor"),
    path("retries/", views.retry_list, name="retries"),
    path("retries/action/", views.retry_action, name="retry_action"),
    path("bulk/<int:pk>/", views.bulk_detail, name="bulk"),
    path("emails/", views.email_list, name="emails"),
    path("emails/action/", views.email_action, name="email_action"),
    path("messages/", views.message_lookup, name="message"),
    path("messages/<str:message_id>/", views.message_lookup, name="message_detail"),
    path("search/", views.message_search, name="search"),
    path("workers/", views.worker_list, name="workers"),
    path("history/", views.history, name="history"),
    path("workers/<str:worker_id>/", views.worker_action, name="worker_action"),
    path("ready/action/", views.ready_action, name="ready_action"),
    path("queues/<str:queue>/clear/", views.queue_clear, name="queue_clear"),
    path("schedules/<str:actor>/", views.schedule_action, name="schedule_action"),
    path("metrics", views.metrics, name="metrics"),
    path("health", views.health_json, name="health"),
]
