from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportinConfig(AppConfig):
    name = "reportin"
    verbose_name = _("Remote reporting")
