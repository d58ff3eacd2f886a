from django.contrib import admin
from django.urls import include, path

from host.demo import views as demo

urlpatterns = [
    path("jobs/", include("dramaturg.urls")),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),  # the reset link Django's reset email names
    path("demo/password-reset/", demo.password_reset),
    path("demo/notify/", demo.notify),
]
