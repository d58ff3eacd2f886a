from django.urls import path

from . import views

app_name = "jobs"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("overview.json", views.overview_json, name="overview_json"),
    path("queues/<str:queue>/", views.queue_detail, name="queue"),
    path("dead/", views.dead_list, name="dead_list"),
    path("dead/action/", views.dead_action, name="dead_action"),
    path("dead/<str:queue>/<str:redis_id>/", views.dead_detail, name="dead_detail"),
    path("dead/<str:queue>/<str:redis_id>/download/", views.dead_download, name="dead_download"),
    path("schedules/", views.schedule_list, name="schedules"),
]
