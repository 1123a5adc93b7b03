from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from config import views

# The front page is the web app for phones (it links to admin and the API docs). The back
# office (admin.site, backoffice.site.ReportInAdminSite) mounts every one of its own pages.
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="api:webapp", permanent=False), name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/second-factor/", include("backoffice.urls")),
    path("admin/", admin.site.urls),
    path("", include("reportin.urls", namespace="api")),
]

handler400 = "reportin.api.errors.bad_request"
handler404 = "reportin.api.errors.not_found"
handler500 = "reportin.api.errors.server_error"
