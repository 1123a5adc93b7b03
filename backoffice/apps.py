from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = _("Staff sign-in")

    def ready(self):
        from django.contrib import admin

        from backoffice.forms import StaffLoginForm

        # Every sign-in to the admin site goes through the throttled, audited service.
        admin.site.login_form = StaffLoginForm


class ReportInAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the ReportIn site (backoffice.site) as `admin.site`
    (INSTALLED_APPS names this instead of django.contrib.admin)."""

    default = False  # not backoffice's own config (BackofficeConfig is)
    default_site = "backoffice.site.ReportInAdminSite"
