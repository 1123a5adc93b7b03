from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class ReportinConfig(AppConfig):
    name = "reportin"
    verbose_name = _("Remote reporting")

    def ready(self):
        checks.register(check_blind_review_reasons)


def check_blind_review_reasons(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A misspelt reason in REPORTIN_BLIND_REVIEW_REASONS would silently show the score first."""
    from django.conf import settings

    from enforcement.models import TaskReason

    unknown = sorted(set(settings.REPORTIN_BLIND_REVIEW_REASONS) - set(TaskReason.values))
    if not unknown:
        return []
    return [checks.Error(
        f"REPORTIN_BLIND_REVIEW_REASONS names no task reason: {', '.join(unknown)}.",
        hint=f"Task reasons: {', '.join(TaskReason.values)}.", id="reportin.E001",
    )]
