from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.views.generic import RedirectView, TemplateView

from .errors import API_PREFIX

admin.site.site_header = admin.site.site_title = _("Dramatiq Reference Project administration")

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("accounts/", include("accounts.urls")),
    path(API_PREFIX, include("accounts.api_urls")),
    path("jobs/", include("dramaturg.urls")),
    path("reports/", include("reports.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language: the language menu in the header
    # Pages that name no icon (the admin's, a JSON answer) make browsers ask for /favicon.ico.
    path("favicon.ico", RedirectView.as_view(url=static("dramaturg/favicon.svg"), permanent=True)),
]

handler400 = "project.errors.bad_request"  # 413 for RequestDataTooBig; JSON under API_PREFIX
