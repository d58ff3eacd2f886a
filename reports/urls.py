from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("<int:pk>/", views.report_detail, name="detail"),
    path("<int:pk>.csv", views.report_csv, name="csv"),
    path("<int:pk>/run/", views.report_workflow, name="workflow"),
]
