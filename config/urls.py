from django.contrib import admin
from django.urls import include, path

from config import views
from reportin.admin_audit import accountability_dashboard

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("admin/accountability/", admin.site.admin_view(accountability_dashboard), name="accountability-dashboard"),
    path("admin/second-factor/", include("backoffice.urls")),
    path("admin/", admin.site.urls),
    path("", include("reportin.urls", namespace="api")),
]

handler400 = "reportin.api.errors.bad_request"
handler404 = "reportin.api.errors.not_found"
handler500 = "reportin.api.errors.server_error"
