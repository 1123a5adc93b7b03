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
        _times_in_admin_name_their_zone()


class ReportInAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the ReportIn site (backoffice.site) as `admin.site`
    (INSTALLED_APPS names this instead of django.contrib.admin)."""

    default = False  # not backoffice's own config (BackofficeConfig is)
    default_site = "backoffice.site.ReportInAdminSite"


def _times_in_admin_name_their_zone() -> None:
    """Every date and time admin shows in its lists and read-only fields, in the staff member's
    zone (activated by backoffice.middleware) with the zone named (enforcement.times.shown).
    Django has no hook for this but its `display_for_field`, which the list and the read-only
    field renderers import by name; DATETIME_FORMAT cannot carry the zone, because the clients'
    notifications are formatted with it too."""
    from django.contrib.admin import helpers, utils
    from django.contrib.admin.templatetags import admin_list
    from django.db import models

    from enforcement import times

    original = utils.display_for_field

    def display_for_field(value, field, empty_value_display, *args, **kwargs):
        if isinstance(field, models.DateTimeField) and value is not None:
            return times.shown(value)
        return original(value, field, empty_value_display, *args, **kwargs)

    helpers.display_for_field = admin_list.display_for_field = display_for_field
