from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EnforcementConfig(AppConfig):
    name = "enforcement"
    verbose_name = _("Enforcement")

    def ready(self):
        from enforcement import face_model, zonedata  # noqa: F401 - register their system checks
