"""Staff sessions: an idle timeout, and the second factor before any admin page."""

import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from backoffice import services
from enforcement import times

# The last-seen time is rewritten at most once a minute (a session write per request otherwise):
# the timeout is exact to a minute.
_TOUCH_SECONDS = 60


class StaffSessionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        now = time.time()
        last_seen = request.session.get(services.SESSION_LAST_SEEN)
        if isinstance(last_seen, (int, float)) and now - last_seen > settings.REPORTIN_STAFF_IDLE_SECONDS:
            services.staff_session_expire(user=user, idle_seconds=int(now - last_seen))
            logout(request)
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not isinstance(last_seen, (int, float)) or now - last_seen >= _TOUCH_SECONDS:
            request.session[services.SESSION_LAST_SEEN] = now
        if self._needs_second_factor(request, user):
            return redirect(f"{reverse('backoffice:second-factor')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _needs_second_factor(request, user) -> bool:
        if not request.path.startswith(reverse("admin:index")):
            return False
        if request.path.startswith(reverse("backoffice:second-factor")) or request.path in (reverse("admin:login"), reverse("admin:logout")):
            return False
        return services.second_factor_required(user) and not services.second_factor_verified(request.session, user)


class StaffTimeZoneMiddleware:
    """Staff see the times that are not about a client in their own zone (their region's, UTC
    without one), named on the page (enforcement.times); a client's times are converted to the
    client's zone where shown."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_staff:
            return self.get_response(request)
        timezone.activate(times.staff_zone(user))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
