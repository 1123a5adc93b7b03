"""The second-factor pages: verify with a security key or an authenticator app, or enrol one
right after the first password sign-in."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from backoffice import services
from backoffice.forms import client_address
from backoffice.models import TotpDevice, WebAuthnCredential


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _rp_id(request) -> str:
    # The relying party is the site's own host name unless configured (a parent domain).
    return settings.REPORTIN_WEBAUTHN_RP_ID or request.get_host().rsplit(":", 1)[0].strip("[]")


def _origin(request) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": {"code": "second_factor_failed", "message": message, "fields": {}}}, status=status)


staff_view = login_required(login_url="admin:login")


@never_cache
@staff_view
def second_factor(request):
    user = request.user
    if services.second_factor_verified(request.session, user) and request.GET.get("add") is None:
        return redirect(_next(request))
    totp = TotpDevice.objects.filter(user=user).first()
    context = {
        **admin.site.each_context(request),
        "title": "Second factor",
        "next": _next(request),
        "enrolled": services.second_factor_enrolled(user),
        "may_enrol": services.may_enrol(request.session, user),
        "has_keys": WebAuthnCredential.objects.filter(user=user).exists(),
        "has_totp": bool(totp and totp.confirmed_at),
        "required": services.second_factor_required(user),
        "error": "",
    }
    return render(request, "backoffice/second_factor.html", context)


@never_cache
@staff_view
def totp_setup(request):
    """Shows a new authenticator-app secret; the code typed back confirms it (totp_submit)."""
    try:
        secret = services.totp_enrol_begin(user=request.user, session=request.session)
    except services.SecondFactorError as exc:
        return render(request, "backoffice/second_factor.html", {**admin.site.each_context(request), "title": "Second factor", "error": str(exc), "next": _next(request)}, status=403)
    context = {
        **admin.site.each_context(request),
        "title": "Set up an authenticator app",
        "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        "uri": services.totp_uri(request.user, secret),
        "next": _next(request),
    }
    return render(request, "backoffice/totp_setup.html", context)


@never_cache
@require_POST
@staff_view
def totp_submit(request):
    try:
        services.totp_verify(user=request.user, code=request.POST.get("code", ""), session=request.session, address=client_address(request))
    except services.SecondFactorError as exc:
        if services.account_locked(request.user):
            logout(request)
            return redirect(reverse("admin:login"))
        template = "backoffice/totp_setup.html" if request.POST.get("setup") else "backoffice/second_factor.html"
        context = {
            **admin.site.each_context(request), "title": "Second factor", "error": str(exc), "next": _next(request),
            "enrolled": services.second_factor_enrolled(request.user), "has_totp": True,
            "has_keys": WebAuthnCredential.objects.filter(user=request.user).exists(),
            "may_enrol": services.may_enrol(request.session, request.user), "required": True,
        }
        return render(request, template, context, status=400)
    return redirect(_next(request))


@never_cache
@require_POST
@staff_view
def webauthn_register_options(request):
    try:
        options = services.webauthn_registration_options(user=request.user, session=request.session, rp_id=_rp_id(request))
    except services.SecondFactorError as exc:
        return _error(str(exc), 403)
    return JsonResponse({"options": options})


@never_cache
@require_POST
@staff_view
def webauthn_register(request):
    try:
        services.webauthn_register(
            user=request.user, session=request.session, credential=request.POST.get("credential", ""),
            rp_id=_rp_id(request), origin=_origin(request), name=request.POST.get("name", ""), address=client_address(request),
        )
    except services.SecondFactorError as exc:
        return _error(str(exc))
    return JsonResponse({"next": _next(request)})


@never_cache
@require_POST
@staff_view
def webauthn_authenticate_options(request):
    try:
        options = services.webauthn_authentication_options(user=request.user, session=request.session, rp_id=_rp_id(request))
    except services.SecondFactorError as exc:
        return _error(str(exc))
    return JsonResponse({"options": options})


@never_cache
@require_POST
@staff_view
def webauthn_authenticate(request):
    try:
        services.webauthn_authenticate(
            user=request.user, session=request.session, credential=request.POST.get("credential", ""),
            rp_id=_rp_id(request), origin=_origin(request), address=client_address(request),
        )
    except services.SecondFactorError as exc:
        return _error(str(exc), 403 if services.account_locked(request.user) else 400)
    return JsonResponse({"next": _next(request)})
