"""The ReportIn admin site: Django's own, branded ReportIn, whose landing page is the staff
member's work ("My work": their open tasks by due time, the sign-offs waiting for them, the
overdue counts, then the usual lists), with the supervisors' pages (the sign-off inbox and the
workload by officer) and the auditors' accountability dashboard mounted beside it: every custom
page of the back office is mounted here, none in config/urls.py. It is `admin.site`
(backoffice.apps.ReportInAdminConfig), so every `admin.register` lands here."""

from django.contrib import admin
from django.urls import path, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice import auditing, selectors, workspace


class ReportInAdminSite(admin.AdminSite):
    site_header = _("ReportIn back office")
    site_title = _("ReportIn back office")
    index_title = _("My work")
    index_template = "admin/index.html"  # backoffice/templates/admin/index.html
    # "View site" leads to the web app for phones (the front page).
    site_url = reverse_lazy("api:webapp")

    def index(self, request, extra_context=None):
        user = request.user
        work = selectors.my_work(user=user, now=timezone.now()) if user.has_perm("enforcement.view_investigationtask") else None
        return super().index(request, {"work": work, **(extra_context or {})})

    def get_urls(self):
        return [
            path("sign-offs/", self.admin_view(workspace.signoff_inbox), name="signoff_inbox"),
            path("workload/", self.admin_view(workspace.workload), name="workload"),
            path("accountability/", self.admin_view(auditing.accountability_dashboard), name="accountability-dashboard"),
            path("accountability/verify/", self.admin_view(auditing.audit_verify_view), name="audit-verify"),
            *super().get_urls(),
        ]
