from django.contrib import admin
from django.urls import include, path, reverse_lazy
from django.views.generic import RedirectView

from config import views
from reportin.admin_audit import accountability_dashboard, audit_verify_view

# The front page is the web app for phones (it links to admin and the API docs); admin's
# "View site" leads there too.
admin.site.site_url = reverse_lazy("api:webapp")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="api:webapp", permanent=False), name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/accountability/", admin.site.admin_view(accountability_dashboard), name="accountability-dashboard"),
    path("admin/accountability/verify/", admin.site.admin_view(audit_verify_view), name="audit-verify"),
    path("admin/second-factor/", include("backoffice.urls")),
    path("admin/", admin.site.urls),
    path("", include("reportin.urls", namespace="api")),
]

handler400 = "reportin.api.errors.bad_request"
handler404 = "reportin.api.errors.not_found"
handler500 = "reportin.api.errors.server_error"
