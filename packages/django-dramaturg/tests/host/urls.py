from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("jobs/", include("dramaturg.urls")),
    path("admin/", admin.site.urls),
]
