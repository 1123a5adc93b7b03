from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    name = "backoffice"
    verbose_name = _("Staff sign-in")

    def ready(self):
        from django.contrib import admin

        from backoffice.forms import StaffLoginForm

        # Every sign-in to the admin site goes through the throttled, audited service.
        admin.site.login_form = StaffLoginForm
