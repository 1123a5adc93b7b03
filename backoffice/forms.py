from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.utils.translation import gettext_lazy as _
from rest_framework.throttling import BaseThrottle

from backoffice import services


def client_address(request) -> str:
    """The address that sent the request, behind as many proxies as REPORTIN_TRUSTED_PROXIES
    says (the same rule as the API's rate limits)."""
    return BaseThrottle().get_ident(request) if request is not None else "unknown"


class StaffLoginForm(AdminAuthenticationForm):
    """The admin sign-in form, checked through the throttled, audited service."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked": _(
            "Too many failed sign-ins: this account or address is locked. Ask a supervisor to unlock it."
        ),
        "delayed": _("Too many failed sign-ins: wait %(seconds)s seconds before trying again."),
    }

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is None or not password:
            return self.cleaned_data
        outcome = services.staff_login_attempt(
            username=username, password=password, address=client_address(self.request), request=self.request
        )
        if outcome.refusal == "locked":
            raise forms.ValidationError(self.error_messages["locked"], code="locked")
        if outcome.refusal == "delayed":
            raise forms.ValidationError(self.error_messages["delayed"], code="delayed", params={"seconds": outcome.wait_seconds})
        if outcome.refusal:
            raise self.get_invalid_login_error()
        self.user_cache = outcome.user
        self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data
