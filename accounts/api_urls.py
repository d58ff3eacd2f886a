from django.urls import path

from . import views

app_name = "accounts_api"

urlpatterns = [
    path("signup/", views.api_signup, name="signup"),
    path("openapi.json", views.openapi, name="openapi"),
]
